// The technician page in headless Chromium against the agent binary on the
// simulated lane (embedded Mosquitto). Skips with a message when Debian's
// chromium or the agent binary is missing. Screenshots go to
// hil-tests/browser/out/ to be looked at.
//
//   cargo build -p edge-agent && (cd hil-tests/browser && npm install && npm test)
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");
const agentBin = process.env.EDGE_AGENT_BIN || join(root, "target/debug/edge-agent");
const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);
const out = join(import.meta.dirname, "out");

const freePort = () => new Promise((ok) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => ok(p)); });
});

// Each edit must find what it changes: a first match in a comment (the demo's header names its
// broker's address) once left every agent on the demo's fixed port, so the two agents of the
// language test shared one broker and one client id and threw each other off every 250 ms.
function edit(text, edits) {
  return edits.reduce((t, [from, to]) => {
    if (!(typeof from === "string" ? t.includes(from) : from.test(t))) {
      throw new Error(`config/demo.toml has no ${from}: update page.test.mjs`);
    }
    return t.replace(from, to);
  }, text);
}

async function startAgent(web_extra = "") {
  const dir = mkdtempSync(join(tmpdir(), "edge-browser-"));
  const [broker, web] = [await freePort(), await freePort()];
  const demo = edit(readFileSync(join(root, "config/demo.toml"), "utf8"), [
    ['engine = "ppocr"', 'engine = "sim-truth"'],
    ['embedded_listen = "127.0.0.1:18830"', `embedded_listen = "127.0.0.1:${broker}"`],
    ['data_dir = "../.cache/demo-data"', `data_dir = ${JSON.stringify(join(dir, "data"))}`],
    ["\n[sim]\n", `\n[web]\nlisten = "127.0.0.1:${web}"\n${web_extra}\n[sim]\n`],
    ["vehicles = 0 ", "vehicles = 4 "],
    [/arrival_gap = .*/, 'arrival_gap = "300ms"'],
  ]);
  writeFileSync(join(dir, "lane.toml"), demo);
  const child = spawn(agentBin, ["run", "--config", join(dir, "lane.toml")], { env: { ...process.env, RUST_LOG: "warn" }, stdio: ["ignore", "ignore", "inherit"] });
  const base = `http://127.0.0.1:${web}`;
  let exited = null;
  child.on("exit", (code, signal) => { exited = signal || code; });
  // The page answers once the agent is up; bounded wait.
  for (let i = 0; i < 300; i++) {
    if (exited !== null) throw new Error(`the agent exited (${exited}) before its page came up`);
    try { if ((await fetch(base + "/api/status")).ok) return { child, base }; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error("the agent's page did not come up");
}

test("technician page: lights, passages with images, actions", { timeout: 120_000 }, async (t) => {
  if (!chromium) return t.skip("Debian chromium is not installed (apt-get install chromium)");
  if (!existsSync(agentBin)) return t.skip(`no agent binary at ${agentBin}: cargo build -p edge-agent`);
  const { chromium: pw } = await import("playwright-core");
  mkdirSync(out, { recursive: true });
  const { child, base } = await startAgent();
  const browser = await pw.launch({ executablePath: chromium, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(base + "/");
    // Ten devices, all green.
    await page.waitForSelector("#devices tr >> nth=9");
    assert.equal(await page.locator("#devices .light.ok").count(), 10);
    assert.equal(await page.locator("#uplink").textContent(), "connected");
    // All four vehicles: passages with their camera images, loaded for real.
    await page.waitForFunction(() => document.querySelectorAll(".passage").length >= 4, null, { timeout: 60_000 });
    const loaded = await page.$$eval(".passage img", (imgs) => imgs.filter((i) => i.complete && i.naturalWidth > 0).length);
    assert.ok(loaded >= 4, `camera images shown: ${loaded}`);
    await page.screenshot({ path: join(out, "page.png"), fullPage: true });

    // Traffic over: the barrier cycle runs; then a snapshot appears.
    await page.click("#cycle");
    await page.waitForFunction(() => document.querySelector("#result").textContent.startsWith("opened and closed"), null, { timeout: 30_000 });
    await page.selectOption("#camera", "plate-front");
    await page.click("#snapshot");
    await page.waitForFunction(() => { const i = document.querySelector("#snap img"); return i && i.complete && i.naturalWidth === 320; }, null, { timeout: 30_000 });
    await page.screenshot({ path: join(out, "actions.png"), fullPage: true });
  } finally {
    await browser.close();
    child.kill("SIGTERM");
  }
});

// The same words in Chinese: chosen by the browser's language when the lane file leaves it
// open, by the lane file when it names one, and switchable on the page.
test("technician page in Chinese and English", { timeout: 120_000 }, async (t) => {
  if (!chromium) return t.skip("Debian chromium is not installed (apt-get install chromium)");
  if (!existsSync(agentBin)) return t.skip(`no agent binary at ${agentBin}: cargo build -p edge-agent`);
  const { chromium: pw } = await import("playwright-core");
  mkdirSync(out, { recursive: true });
  const open = await startAgent();
  const fixed = await startAgent('language = "zh"');
  const browser = await pw.launch({ executablePath: chromium, args: ["--no-sandbox"] });
  try {
    // The browser asks for Chinese; the lane file says nothing: Chinese.
    const zh = await (await browser.newContext({ locale: "zh-CN" })).newPage();
    await zh.goto(open.base + "/");
    await zh.waitForSelector("#devices tr >> nth=9");
    assert.equal(await zh.getAttribute("html", "lang"), "zh-CN");
    assert.equal(await zh.locator("h2").first().textContent(), "设备");
    await zh.waitForFunction(() => document.querySelector("#uplink").textContent === "已连接", null, { timeout: 30_000 });
    assert.equal(await zh.locator("#cycle").textContent(), "道闸起落测试");
    const kinds = await zh.$$eval("#devices td.muted:nth-child(3)", (tds) => tds.map((td) => td.textContent));
    assert.ok(kinds.includes("车辆检测器") && kinds.includes("抓拍相机") && kinds.includes("道闸"), kinds.join(","));
    await zh.waitForFunction(() => document.querySelectorAll(".passage").length >= 1, null, { timeout: 60_000 });
    const badge = await zh.locator(".passage .outcome").first().textContent();
    assert.ok(["放行", "待审", "查验", "未判定"].includes(badge), badge);
    await zh.waitForFunction(() => document.querySelectorAll(".passage").length >= 4, null, { timeout: 60_000 });
    await zh.click("#cycle");
    await zh.waitForFunction(() => document.querySelector("#result").textContent.startsWith("已抬杆并落杆"), null, { timeout: 30_000 });
    await zh.screenshot({ path: join(out, "page-zh.png"), fullPage: true });

    // The browser asks for English: English, with the CLI's words.
    const en = await (await browser.newContext({ locale: "en-US" })).newPage();
    await en.goto(open.base + "/");
    await en.waitForSelector("#devices tr >> nth=9");
    assert.equal(await en.locator("h2").first().textContent(), "Devices");
    const enKinds = await en.$$eval("#devices td.muted:nth-child(3)", (tds) => tds.map((td) => td.textContent));
    assert.ok(enKinds.includes("presence sensor") && enKinds.includes("under-vehicle camera"), enKinds.join(","));

    // The lane file says Chinese: Chinese even for an English browser; the button switches.
    const chosen = await (await browser.newContext({ locale: "en-US" })).newPage();
    await chosen.goto(fixed.base + "/");
    await chosen.waitForSelector("#devices tr >> nth=9");
    assert.equal(await chosen.locator("h2").first().textContent(), "设备");
    await chosen.click("#lang");
    assert.equal(await chosen.locator("h2").first().textContent(), "Devices");
    await chosen.waitForFunction(() => document.querySelector("#uplink").textContent === "connected", null, { timeout: 30_000 });
  } finally {
    await browser.close();
    open.child.kill("SIGTERM");
    fixed.child.kill("SIGTERM");
  }
});
