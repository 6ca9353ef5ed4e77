// The reviewers' desk in headless Chromium against the real system: desk-rig
// starts Mosquitto, a throwaway PostgreSQL, lane-central and three simulated
// lanes (the edge-agent binary) whose drivers wait to be reviewed, and reports
// what the lanes publish. Skips with a message when Debian's chromium or the
// binaries are missing. Screenshots go to hil-tests/browser/out/desk-*.png.
//
//   cargo build -p edge-agent -p central -p hil-tests --bin desk-rig
//   (cd hil-tests/browser && npm install && node --test desk.test.mjs)
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");
const target = process.env.CARGO_TARGET_DIR || join(root, "target");
const rigBin = process.env.DESK_RIG_BIN || join(target, "debug/desk-rig");
const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);
const out = join(import.meta.dirname, "out");
const USERS = {
  li: ["reviewer", "en", "li-password-2026"],
  chen: ["reviewer", "zh-CN", "chen-password-2026"],
  wang: ["supervisor", "zh-CN", "wang-password-2026"],
  zhao: ["viewer", "en", "zhao-password-2026"],
};

// The rig: its JSON lines as events, waited for by predicate.
class Rig {
  static start() {
    const args = ["--validity", "8s", "--hold-every", "2"];
    for (const [name, [role, lang, pw]] of Object.entries(USERS)) args.push("--user", `${name}:${role}:${lang}:${pw}`);
    const rig = new Rig();
    rig.child = spawn(rigBin, args, { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, RUST_LOG: "warn" } });
    rig.events = [];
    rig.waiters = [];
    createInterface({ input: rig.child.stdout }).on("line", (line) => {
      let ev;
      try { ev = JSON.parse(line); } catch { return; }
      ev.seenAt = Date.now();
      rig.events.push(ev);
      rig.waiters = rig.waiters.filter((w) => !(w.pred(ev) && (w.ok(ev), true)));
    });
    return rig;
  }
  // The first event (already seen, or to come) that matches.
  wait(pred, ms, what) {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`rig: no ${what} within ${ms} ms`)), ms);
      this.waiters.push({ pred, ok: (ev) => { clearTimeout(timer); ok(ev); } });
    });
  }
  send(line) { this.child.stdin.write(line + "\n"); }
  stop() { this.child.stdin.end(); }
}

async function login(browser, desk, name, shot) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => assert.fail(`page error for ${name}: ${e.message}`));
  await page.goto(desk + "/");
  await page.waitForURL(/\/login\?next=/);
  if (shot) await page.screenshot({ path: join(out, "desk-login.png") });
  await page.fill("#name", name);
  await page.fill("#password", USERS[name][2]);
  await page.click("#submit");
  await page.waitForURL(desk + "/");
  await page.waitForSelector("#queue");
  return page;
}

const held = (lane, after) => (e) => e.event === "decision" && e.outcome === "hold" && e.lane === lane && (!after || e.seenAt > after);
const rowOf = (lane, passage) => `#queue li[data-key="DEMO/${lane}/${passage}"]`;
const itemUrl = (desk, lane, passage) => `${desk}/passage/DEMO/${lane}/${encodeURIComponent(passage)}`;

// A decision POSTed from inside a page, as a script there could; returns the status.
const postDecision = (page, lane, passage, withToken) => page.evaluate(async ([lane, passage, withToken]) => {
  const me = await (await fetch("/api/desk/me")).json();
  const headers = { "Content-Type": "application/json" };
  if (withToken) headers["X-CSRF-Token"] = me.csrf;
  const r = await fetch(`/api/desk/items/DEMO/${lane}/${encodeURIComponent(passage)}/decide`, {
    method: "POST", headers, body: JSON.stringify({ outcome: "release", reason: "images_clear" }),
  });
  return r.status;
}, [lane, passage, withToken]);

test("reviewers' desk: queue, claims, decisions back to the lane, roles, CSRF, keys, failures", { timeout: 300_000 }, async (t) => {
  if (!chromium) return t.skip("Debian chromium is not installed (apt-get install chromium)");
  if (!existsSync(rigBin)) return t.skip(`no ${rigBin}: cargo build -p edge-agent -p central -p hil-tests --bin desk-rig`);
  const { chromium: pw } = await import("playwright-core");
  mkdirSync(out, { recursive: true });
  const rig = Rig.start();
  const browser = await pw.launch({ executablePath: chromium, args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"] });
  try {
    const ready = await rig.wait((e) => e.event === "ready", 120_000, "ready");
    const desk = ready.desk;
    // Every lane holds its second vehicle and then waits for a reviewer.
    const first = {};
    for (const lane of ["G01", "G02", "G03"]) first[lane] = (await rig.wait(held(lane), 60_000, `hold on ${lane}`)).passage;

    const li = await login(browser, desk, "li", true);
    for (const lane of ["G01", "G02", "G03"]) await li.waitForSelector(rowOf(lane, first[lane]), { timeout: 10_000 });
    await li.screenshot({ path: join(out, "desk-queue.png") });

    // A second reviewer on the plain queue: new vehicles appear in place.
    const chen = await login(browser, desk, "chen");

    // li opens G01: claimed; chen sees who has it and the server refuses chen's decision.
    await li.click(rowOf("G01", first.G01));
    await li.waitForURL(itemUrl(desk, "G01", first.G01));
    await li.waitForSelector(`${rowOf("G01", first.G01)} .chip.info`);
    const chenItem = await chen.context().newPage();
    await chenItem.goto(itemUrl(desk, "G01", first.G01));
    await chenItem.waitForSelector("#item-claimed");
    assert.match(await chenItem.textContent("#item-claimed"), /li/);
    assert.ok(await chenItem.isDisabled("#decide-release"), "the other reviewer's buttons are off");
    assert.equal(await postDecision(chenItem, "G01", first.G01, true), 409, "the server refuses the other reviewer");
    await chenItem.screenshot({ path: join(out, "desk-claimed-zh.png") });
    await chenItem.close();

    // A viewer looks but cannot decide; a change without the CSRF token is refused.
    const zhao = await login(browser, desk, "zhao");
    await zhao.goto(itemUrl(desk, "G01", first.G01));
    await zhao.waitForSelector("#item-viewer");
    assert.equal(await postDecision(zhao, "G01", first.G01, true), 403, "a viewer cannot decide");
    assert.equal(await postDecision(li, "G01", first.G01, false), 403, "no CSRF token, no change");

    // Z zooms, Esc closes.
    await li.keyboard.press("z");
    await li.waitForSelector("#viewer:not([hidden])");
    await li.keyboard.press("Escape");
    await li.waitForSelector("#viewer", { state: "hidden" });

    // R, a reason by number, Enter: the lane releases, and its record says who.
    const before = Date.now();
    await li.keyboard.press("r");
    await li.waitForSelector("#decide-release.chosen");
    await li.keyboard.press("1");
    await li.waitForSelector("ol.reasons-list li.on");
    await li.screenshot({ path: join(out, "desk-item.png") });
    await li.keyboard.press("Enter");
    await li.waitForSelector('#command[data-state="accepted"]', { timeout: 15_000 });
    assert.match(await li.textContent("#command"), /released/);
    const record = await rig.wait((e) => e.event === "passage" && e.passage === first.G01, 30_000, "G01's record");
    assert.equal(record.review_by, "central:li");
    assert.equal(record.review, "release");
    assert.equal(record.exit, "drove_through");
    await li.screenshot({ path: join(out, "desk-decided.png") });

    // The lane's next held vehicle reaches the queue within 2 s of the lane holding it.
    const next = await rig.wait(held("G01", before), 60_000, "the next hold on G01");
    await chen.waitForSelector(rowOf("G01", next.passage), { timeout: 5_000 });
    const shown = Date.now() - next.seenAt;
    assert.ok(shown < 2000, `shown ${shown} ms after the lane held it`);
    // li is looking at an item: the new one waits behind "N new", nothing moves.
    await li.waitForSelector("button.new:not([hidden])", { timeout: 5_000 });

    // J and K walk the queue.
    await li.click("button.new");
    await li.goto(itemUrl(desk, "G02", first.G02));
    await li.waitForSelector("#item-plate");
    await li.keyboard.press("j");
    await li.waitForURL((u) => !u.pathname.includes("G02"));
    await li.keyboard.press("k");
    await li.waitForURL((u) => u.pathname.includes("G02"));

    // A lane that went away does not answer: the decision fails at expiry and can be issued again.
    rig.send("kill G03");
    await rig.wait((e) => e.event === "killed" && e.lane === "G03", 10_000, "G03 killed");
    await li.goto(itemUrl(desk, "G03", first.G03));
    await li.waitForSelector("#decide-hold:not([disabled])");
    await li.keyboard.press("h");
    await li.keyboard.press("1");
    await li.keyboard.press("Enter");
    await li.waitForSelector('#command[data-state="sent"]', { timeout: 10_000 });
    await li.waitForSelector('#command[data-state="expired"]', { timeout: 30_000 });
    await li.waitForSelector("#decide-again");
    await li.screenshot({ path: join(out, "desk-failed.png") });

    // The other pages, for the eye.
    for (const [path, sel] of [["/wall", ".lane-card"], ["/search", "#results tbody tr"], ["/stats", "img[data-chart]"]]) {
      await li.goto(desk + path);
      await li.waitForSelector(sel);
      await li.waitForTimeout(500);
      await li.screenshot({ path: join(out, `desk-${path.slice(1)}.png`), fullPage: true });
      if (path === "/search") assert.match(await li.textContent("#results"), /central:li/, "search shows who decided");
    }
  } finally {
    await browser.close();
    rig.stop();
  }
});
