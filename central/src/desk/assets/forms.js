// Pre-declarations (upload, problems by line, each lane's answer) and the
// export of reviewed passages as labelled data.
"use strict";
(() => {
  const { el, t } = Desk;

  // Spreadsheets in China save CSV as GBK more often than UTF-8.
  async function readText(file) {
    const bytes = await file.arrayBuffer();
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return new TextDecoder("gbk").decode(bytes);
    }
  }

  Desk.views.declarations = {
    page: true,
    mount(main) {
      main.append(el("h1", { text: t("decl.title") }));
      if (!Desk.can("supervisor")) {
        main.append(el("p", { class: "muted", text: t("decl.supervisors") }));
      }
      this.file = el("input", { type: "file", id: "decl-file", accept: ".csv,.json,text/csv,application/json" });
      this.lanes = el("select", { id: "decl-lanes", multiple: true, size: 4 });
      this.result = el("div", { id: "decl-result" });
      this.history = el("div", { id: "decl-history" });
      const form = el("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); this.upload(); } },
        el("label", {}, t("decl.file"), this.file),
        el("label", {}, `${t("decl.lanes")} (${t("decl.all_lanes")})`, this.lanes),
        el("button", { type: "submit", id: "decl-upload", disabled: !Desk.can("supervisor"), text: t("decl.upload") }));
      main.append(el("p", { class: "muted", text: t("decl.help") }), form, this.result, el("h2", { class: "spaced", text: t("decl.history") }), this.history);
      this.off = Desk.on((ev) => { if (ev.type === "command" || ev.type === "resync") this.load(); });
      Desk.api("GET", "/api/desk/wall").then((w) => this.lanes.replaceChildren(...w.lanes.map((l) => el("option", { value: `${l.site}/${l.lane}`, text: `${l.site}/${l.lane}` })))).catch(() => {});
      this.load();
    },
    unmount() { this.off(); },
    async upload() {
      const f = this.file.files[0];
      if (!f) return;
      const lanes = [...this.lanes.selectedOptions].map((o) => o.value);
      try {
        const r = await Desk.api("POST", "/api/desk/declarations", { file_name: f.name, content: await readText(f), lanes });
        if (!r.accepted) {
          this.result.replaceChildren(el("div", { class: "notice bad", text: t("decl.problems", { n: r.problem_count || r.problems.length }) }),
            el("ol", { class: "problems", id: "decl-problems" }, ...r.problems.map((p) => el("li", { text: `${t("decl.line", { n: p.line })}: ${p.message}` }))));
        } else {
          const lanesSent = new Set(r.commands.map((c) => `${c.site}/${c.lane}`)).size;
          this.result.replaceChildren(el("div", { class: "notice good", text: t("decl.sent", { rows: r.rows, lanes: lanesSent }) }));
        }
      } catch (e) {
        this.result.replaceChildren(el("div", { class: "notice bad", text: e.message }));
      }
      this.load();
    },
    async load() {
      const data = await Desk.api("GET", "/api/desk/declarations").catch(() => null);
      if (!data) return;
      const head = el("tr", {}, ...["", t("decl.file"), t("decl.rows"), t("decl.lanes")].map((h) => el("th", { text: h })));
      const rows = data.imports.map((i) => {
        // One chip per lane: its worst answer over the batches.
        const byLane = new Map();
        const rank = { rejected: 3, expired: 2, sent: 1, accepted: 0 };
        for (const c of i.lanes || []) {
          const k = `${c.site}/${c.lane}`;
          if (!byLane.has(k) || rank[c.state] > rank[byLane.get(k).state]) byLane.set(k, c);
        }
        const chips = [...byLane.entries()].map(([k, c]) => el("span", {
          class: `chip ${c.state === "accepted" ? "good" : c.state === "sent" ? "" : "bad"}`, "data-lane": k, "data-state": c.state,
          title: c.detail || c.reason || "", text: `${k}: ${Desk.word("state", c.state)}`,
        }));
        return el("tr", {}, el("td", { class: "mono", text: `${Desk.fmtTime(i.uploaded_at, undefined, true)} · ${i.uploaded_by}` }),
          el("td", { text: i.file }), el("td", { text: String(i.rows) }), el("td", {}, el("div", { class: "dots" }, ...chips)));
      });
      this.history.replaceChildren(el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
    },
  };

  Desk.views.export = {
    page: true,
    mount(main) {
      const site = (Desk.me.sites[0] || {}).site;
      const from = el("input", { type: "datetime-local", id: "export-from" });
      const to = el("input", { type: "datetime-local", id: "export-to" });
      const link = el("a", { id: "export-link", download: true, class: "chip info" }, t("export.download"));
      const refresh = () => {
        const p = new URLSearchParams();
        if (from.value) p.set("from", Desk.localToIso(from.value, site));
        if (to.value) p.set("to", Desk.localToIso(to.value, site));
        link.href = `/api/desk/export?${p}`;
      };
      from.onchange = refresh;
      to.onchange = refresh;
      refresh();
      main.append(el("h1", { text: t("export.title") }), el("p", { class: "muted", text: t("export.help") }),
        el("form", { class: "filters" }, el("label", {}, t("search.from"), from), el("label", {}, t("search.to"), to)), link);
    },
  };
})();
