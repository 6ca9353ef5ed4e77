// The other pages: the lane wall, search (each hit links to its passage's own
// URL), and statistics (charts drawn by the server as SVG).
"use strict";
(() => {
  const { el, t } = Desk;
  const passageLink = (p) => `/passage/${encodeURIComponent(p.site)}/${encodeURIComponent(p.lane)}/${encodeURIComponent(p.id)}`;

  Desk.views.wall = {
    page: true,
    mount(main) {
      this.main = main;
      this.grid = el("div", { class: "wall", id: "wall" });
      main.append(el("h1", { text: t("wall.title") }), this.grid);
      let timer = null;
      this.off = Desk.on((ev) => {
        if (["lane", "alarm", "item", "resync"].includes(ev.type)) {
          clearTimeout(timer);
          timer = setTimeout(() => this.load(), 300);
        }
      });
      this.load();
      this.every = setInterval(() => this.load(), 15000);
    },
    unmount() { this.off(); clearInterval(this.every); },
    async load() {
      const data = await Desk.api("GET", "/api/desk/wall").catch(() => null);
      if (!data) return;
      if (!data.lanes.length) { this.grid.replaceChildren(el("p", { class: "muted", text: t("wall.none") })); return; }
      this.grid.replaceChildren(...data.lanes.map((l) => this.card(l)));
    },
    alarm(l, a) {
      const ack = Desk.can("reviewer")
        ? el("button", { type: "button", class: "ack", text: t("wall.ack"), onclick: async () => { await Desk.api("POST", `/api/desk/alarms/${a.id}/ack`).catch(() => {}); this.load(); } })
        : null;
      return el("div", { class: "alarm-row", title: a.message },
        el("span", {}, `${Desk.fmtTime(a.raised_at, l.site)} `, Desk.word("alarm", a.kind)), ack);
    },
    card(l) {
      const state = l.state === "unknown" ? t("wall.unknown") : t(`wall.${l.state}`);
      // An offline lane's last health is history, not news: greyed.
      const devices = (l.devices || []).map((d) => el("span", { class: `dot ${d.state} ${l.state === "online" ? "" : "stale"}`, title: `${d.device} (${d.kind}): ${d.state}${d.reason ? " — " + d.reason : ""}` }));
      const bad = (l.devices || []).filter((d) => d.state !== "ok").map((d) => `${d.device}: ${d.reason || d.state}`);
      const last = l.last_passage;
      const gaps = l.gaps || { outstanding: 0, healed: 0, given_up: 0 };
      const pending = (l.keys || []).some((k) => k.state === "pending") && !(l.keys || []).some((k) => k.state === "approved");
      return el("div", { class: `lane-card ${l.state}`, "data-lane": `${l.site}/${l.lane}` },
        el("div", { class: "name" }, el("span", { text: `${l.site}/${l.lane}` }),
          el("span", { class: `state ${l.state}`, text: `${state}${l.since ? " · " + t("wall.since", { when: Desk.fmtTime(l.since, l.site) }) : ""}` })),
        el("dl", {},
          el("dt", { text: t("wall.devices") }), el("dd", {}, el("div", { class: "dots" }, ...devices), bad.length ? el("div", { class: "muted", text: bad.join("; ") }) : null),
          el("dt", { text: t("wall.alarms") }), el("dd", {}, String(l.open_alarms), ...(l.alarms || []).map((a) => this.alarm(l, a))),
          el("dt", { text: t("wall.last_passage") }), el("dd", {}, last
            ? el("a", { href: passageLink({ site: l.site, lane: l.lane, id: last.id }), text: `${Desk.fmtTime(last.arrived_at, l.site)} · ${last.plate || "—"} · ${Desk.word("outcome", last.final_outcome)}` })
            : "–"),
          el("dt", { text: t("wall.waiting") }), el("dd", { text: String(l.waiting) }),
          el("dt", { text: t("wall.gaps") }), el("dd", { class: gaps.outstanding || gaps.given_up ? "warn" : "", text: t("wall.gaps_detail", gaps) }),
          l.trail_state === "broken" ? el("dd", { class: "chip bad", text: `${t("wall.trail_broken")}: ${l.trail_detail || ""}` }) : null,
          pending ? el("dd", { class: "chip warn", text: t("wall.key_pending") }) : null));
    },
  };

  Desk.views.search = {
    page: true,
    mount(main) {
      const site = (Desk.me.sites[0] || {}).site;
      const field = (label, input) => el("label", {}, label, input);
      const q = new URLSearchParams(location.search);
      this.form = el("form", { class: "filters", id: "search-form", onsubmit: (e) => { e.preventDefault(); this.run(false); } },
        field(t("search.q"), el("input", { name: "q", value: q.get("q") || "", autofocus: true, size: 18 })),
        field(t("search.lane"), el("input", { name: "lane", value: q.get("lane") || "", size: 6, placeholder: t("search.any") })),
        field(t("search.from"), el("input", { name: "from", type: "datetime-local", value: q.get("from") || "" })),
        field(t("search.to"), el("input", { name: "to", type: "datetime-local", value: q.get("to") || "" })),
        field(t("search.decision"), el("select", { name: "decision" }, el("option", { value: "", text: t("search.any") }),
          ...["release", "hold", "inspection"].map((o) => el("option", { value: o, text: Desk.word("outcome", o), selected: q.get("decision") === o })))),
        field(t("search.reason"), el("input", { name: "reason", value: q.get("reason") || "", size: 14 })),
        el("button", { type: "submit", text: t("search.go") }));
      this.site = site;
      this.body = el("tbody");
      this.more = el("button", { type: "button", hidden: true, text: t("search.more"), onclick: () => this.run(true) });
      const head = el("tr", {}, ...[t("search.time"), t("item.lane"), t("item.plate"), t("item.containers"), t("search.lane_decision"), t("search.final"), t("search.by"), t("search.exit")].map((h) => el("th", { text: h })));
      main.append(el("h1", { text: t("search.title") }), this.form, el("table", { class: "results", id: "results" }, el("thead", {}, head), this.body), this.more);
      this.run(false);
    },
    async run(more) {
      const f = new FormData(this.form);
      const p = new URLSearchParams();
      for (const k of ["q", "lane", "decision", "reason"]) if (f.get(k)) p.set(k, f.get(k));
      for (const k of ["from", "to"]) if (f.get(k)) p.set(k, Desk.localToIso(f.get(k), this.site));
      const shown = new URLSearchParams();
      for (const [k, v] of f.entries()) if (v) shown.set(k, v);
      history.replaceState(null, "", `/search${shown.toString() ? "?" + shown : ""}`);
      if (more && this.last) { p.set("before_at", this.last.arrived_at); p.set("before_id", this.last.id); }
      const data = await Desk.api("GET", `/api/desk/search?${p}`).catch((e) => ({ error: e.message }));
      if (data.error) { this.body.replaceChildren(el("tr", {}, el("td", { colspan: 8, class: "muted", text: data.error }))); return; }
      const rows = data.passages.map((x) => el("tr", { onclick: () => Desk.go(passageLink(x)) },
        el("td", { class: "mono", text: Desk.fmtTime(x.arrived_at, x.site, true) }),
        el("td", { text: `${x.site}/${x.lane}` }),
        el("td", {}, el("a", { href: passageLink(x), text: x.plate || "—" })),
        el("td", { class: "mono", text: x.containers.join(" ") }),
        el("td", { text: `${Desk.word("outcome", x.lane_outcome)}${x.lane_reasons.length ? " · " + x.lane_reasons.map(Desk.reasonWord).join(", ") : ""}` }),
        el("td", { text: Desk.word("outcome", x.final_outcome) }),
        el("td", { text: x.review_by || "" }),
        el("td", { text: Desk.word("exit", x.exit) })));
      if (more) this.body.append(...rows);
      else this.body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 8, class: "muted", text: t("search.none") }))]));
      this.last = data.passages[data.passages.length - 1] || this.last;
      this.more.hidden = !data.more;
    },
  };

  Desk.views.stats = {
    page: true,
    mount(main) {
      this.days = 7;
      this.site = "";
      const range = el("select", { id: "stats-days", onchange: (e) => { this.days = e.target.value; this.load(); } },
        ...[1, 7, 30, 90].map((n) => el("option", { value: n, selected: n === 7, text: t("stats.days", { n }) })));
      const sites = Desk.me.sites.length > 1
        ? el("select", { onchange: (e) => { this.site = e.target.value; this.load(); } }, el("option", { value: "", text: t("search.any") }), ...Desk.me.sites.map((s) => el("option", { value: s.site, text: s.site })))
        : null;
      this.figures = el("div", { class: "figures" });
      this.charts = el("div", { class: "charts" });
      main.append(el("h1", { text: t("stats.title") }), el("form", { class: "filters" }, el("label", {}, t("stats.range"), range), sites ? el("label", {}, t("stats.site"), sites) : null), this.figures, this.charts);
      this.load();
    },
    async load() {
      const p = new URLSearchParams({ days: this.days });
      if (this.site) p.set("site", this.site);
      const data = await Desk.api("GET", `/api/desk/stats?${p}`).catch(() => null);
      if (data) {
        const ratio = data.passages ? Math.round((100 * data.direct) / data.passages) : 0;
        this.figures.replaceChildren(
          el("div", {}, el("div", { class: "n", text: String(data.passages) }), el("div", { class: "muted", text: t("stats.passages") })),
          el("div", {}, el("div", { class: "n", text: `${ratio}%` }), el("div", { class: "muted", text: t("stats.direct") })));
      }
      this.charts.replaceChildren(...["direct-release", "in-lane", "review", "reasons"].map((c) => el("img", { src: `/api/desk/charts/${c}.svg?${p}`, alt: c, "data-chart": c })));
    },
  };
})();
