// The desk's core: words, the API (with the CSRF token on every change), times
// in the site's zone, the path router (every passage has its own URL), live
// updates from /api/desk/events, and the keyboard. Views register themselves
// in Desk.views and are shown by path. All text reaches the page through
// textContent: nothing from the server is parsed as HTML.
"use strict";
const Desk = (window.Desk = {
  me: null,
  words: null,
  lang: "zh-CN",
  views: {},
  current: null,
  offset: 0,
  listeners: [],
});

Desk.t = (key, vars) => {
  const w = Desk.words;
  let s = (w[Desk.lang] && w[Desk.lang][key]) || w.en[key] || key;
  for (const [k, v] of Object.entries(vars || {})) s = s.split(`{${k}}`).join(String(v));
  return s;
};
Desk.has = (key) => !!(Desk.words.en[key]);

// el("div", {class: "x", onclick: f}, child, "text", ...)
Desk.el = (tag, attrs, ...children) => {
  const ns = ["svg", "rect", "text", "g", "line"].includes(tag) ? "http://www.w3.org/2000/svg" : null;
  const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.setAttribute("class", v);
    else if (k === "text") e.textContent = v;
    else if (k in e && !ns && k !== "list") e[k] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
};

Desk.api = async (method, path, body) => {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && Desk.me) headers["X-CSRF-Token"] = Desk.me.csrf;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401) {
    location.assign(`/login?expired=1&next=${encodeURIComponent(location.pathname + location.search)}`);
    throw new Error("session ended");
  }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(data.error || r.statusText);
    err.status = r.status;
    throw err;
  }
  if (data && data.now) Desk.offset = Date.parse(data.now) - Date.now();
  return data;
};

// Times: each site's own zone, the user's language.
Desk.zone = (site) => {
  const s = (Desk.me.sites || []).find((x) => x.site === site) || (Desk.me.sites || [])[0];
  return (s && s.timezone) || "UTC";
};
Desk.serverNow = () => Date.now() + Desk.offset;
Desk.fmtTime = (iso, site, withDate) => {
  if (!iso) return "–";
  const d = new Date(iso);
  const opts = { timeZone: Desk.zone(site), hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: opts.timeZone }).format(new Date(Desk.serverNow()));
  const day = new Intl.DateTimeFormat("en-CA", { timeZone: opts.timeZone }).format(d);
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-US", Object.assign({ hourCycle: "h23" }, opts)).formatToParts(d).map((x) => [x.type, x.value]));
  const time = `${p.hour}:${p.minute}:${p.second}`;
  return withDate || day !== today ? `${day} ${time}` : time;
};
// A local time typed for a site ("2026-03-01T08:00") to an instant.
Desk.localToIso = (local, site) => {
  if (!local) return null;
  const guess = Date.parse(local + "Z");
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", { timeZone: Desk.zone(site), hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
      .formatToParts(new Date(guess)).map((p) => [p.type, p.value]));
  const shown = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return new Date(guess - (shown - guess)).toISOString();
};
Desk.ageSeconds = (iso) => Math.max(0, Math.floor((Desk.serverNow() - Date.parse(iso)) / 1000));
Desk.fmtAge = (s) => {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = String(m).padStart(2, "0"), ss = String(sec).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
};
Desk.ageClass = (s) => (s >= Desk.me.red_s ? "red" : s >= Desk.me.amber_s ? "amber" : "");
Desk.reasonWord = (r) => {
  const [word, arg] = String(r).split(/:(.*)/s);
  const k = `reason.${word}`;
  return Desk.has(k) ? Desk.t(k) + (arg ? ` (${arg})` : "") : r;
};
Desk.word = (prefix, value) => (Desk.has(`${prefix}.${value}`) ? Desk.t(`${prefix}.${value}`) : String(value ?? "–"));
Desk.can = (role) => ["viewer", "reviewer", "supervisor"].indexOf(Desk.me.role) >= ["viewer", "reviewer", "supervisor"].indexOf(role);

// Live updates: one EventSource; views subscribe with Desk.on.
Desk.on = (fn) => {
  Desk.listeners.push(fn);
  return () => (Desk.listeners = Desk.listeners.filter((f) => f !== fn));
};
function connect() {
  const live = document.getElementById("live");
  const es = new EventSource("/api/desk/events");
  es.onopen = () => { live.classList.remove("down"); live.textContent = Desk.t("top.live"); };
  es.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch { return; }
    if (ev.type === "hello" && ev.now) Desk.offset = Date.parse(ev.now) - Date.now();
    for (const f of Desk.listeners) f(ev);
  };
  es.onerror = async () => {
    live.classList.add("down");
    live.textContent = Desk.t("top.reconnecting");
    // The stream ends when the session does: find out which.
    try { await Desk.api("GET", "/api/desk/me"); } catch { /* redirected */ }
  };
}

// The queue count and the escalation banner, on every page.
Desk.summary = (items) => {
  const count = document.getElementById("queue-count");
  count.textContent = String(items.length);
  const oldest = items.reduce((m, i) => Math.max(m, Desk.ageSeconds(i.decided_at)), 0);
  count.className = "count " + (items.length ? Desk.ageClass(oldest) : "");
  const escalated = items.filter((i) => i.escalated_at);
  const banner = document.getElementById("banner");
  banner.hidden = !(escalated.length && Desk.can("supervisor"));
  banner.textContent = Desk.t("queue.escalated_banner", { n: escalated.length, limit: Desk.fmtAge(Desk.me.red_s) });
};
async function countQueue() {
  if (Desk.current === Desk.views.review) return; // it keeps the count itself
  const q = await Desk.api("GET", "/api/desk/queue").catch(() => null);
  if (q) Desk.summary(q.items);
}

// Paths to views: /, /passage/S/L/ID -> review; /wall, /search, ... -> theirs.
Desk.go = (path, replace) => {
  if (replace) history.replaceState(null, "", path);
  else if (location.pathname + location.search !== path) history.pushState(null, "", path);
  route();
};
function route() {
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const name = parts[0] === "passage" || parts.length === 0 ? "review" : parts[0];
  const view = Desk.views[name] || Desk.views.review;
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("on", a.dataset.nav === (name === "review" ? "queue" : name)));
  if (Desk.current !== view) {
    if (Desk.current && Desk.current.unmount) Desk.current.unmount();
    const main = document.getElementById("main");
    main.replaceChildren();
    main.className = view.page ? "page" : "";
    Desk.current = view;
    view.mount(main, parts);
  } else if (view.update) {
    view.update(parts);
  }
}
Desk.applyWords = (root) => {
  (root || document).querySelectorAll("[data-w]").forEach((e) => (e.textContent = Desk.t(e.dataset.w)));
};
function chrome() {
  document.documentElement.lang = Desk.lang;
  document.title = Desk.t("app.title");
  Desk.applyWords();
  document.getElementById("who").textContent = `${Desk.me.name} · ${Desk.t("role." + Desk.me.role)}`;
  document.getElementById("lang").textContent = Desk.t("top.language");
}

document.addEventListener("DOMContentLoaded", async () => {
  const [words, me] = await Promise.all([fetch("/assets/words.json").then((r) => r.json()), Desk.api("GET", "/api/desk/me")]);
  Desk.words = words;
  Desk.me = me;
  Desk.lang = me.language;
  localStorage.setItem("desk.lang", me.language);
  chrome();
  document.getElementById("lang").onclick = async () => {
    Desk.me = await Desk.api("PUT", "/api/desk/me", { language: Desk.lang === "en" ? "zh-CN" : "en" });
    Desk.lang = Desk.me.language;
    localStorage.setItem("desk.lang", Desk.lang);
    chrome();
    const v = Desk.current;
    Desk.current = null;
    if (v && v.unmount) v.unmount();
    route();
  };
  document.getElementById("logout").onclick = async () => {
    await Desk.api("DELETE", "/api/desk/session").catch(() => {});
    location.assign("/login");
  };
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[href^='/']");
    if (!a || a.target || e.ctrlKey || e.metaKey || e.shiftKey || a.hasAttribute("download")) return;
    e.preventDefault();
    Desk.go(a.getAttribute("href"));
  });
  window.addEventListener("popstate", route);
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName);
    const help = document.getElementById("help");
    if (!help.hidden && (e.key === "Escape" || e.key === "?")) { help.hidden = true; return; }
    if (Desk.viewerKey && Desk.viewerKey(e)) return;
    if (!typing && e.key === "?") { help.hidden = false; return; }
    if (Desk.current && Desk.current.onKey) Desk.current.onKey(e, typing);
  });
  const clock = () => {
    const site = (Desk.me.sites[0] || {}).site;
    document.getElementById("clock").textContent = Desk.fmtTime(new Date(Desk.serverNow()).toISOString(), site);
  };
  clock();
  setInterval(() => {
    clock();
    if (Desk.current && Desk.current.tick) Desk.current.tick();
  }, 1000);
  let counting = null;
  Desk.on((ev) => {
    if (["item", "resync", "hello"].includes(ev.type)) {
      clearTimeout(counting);
      counting = setTimeout(countQueue, 400);
    }
  });
  connect();
  route();
});
