// The review view: the queue of held vehicles on the left (oldest first, age
// timers, plain-word reasons, who is on it) and the open vehicle on the right.
// Rows never move under the reviewer: vehicles that arrive meanwhile wait
// behind an "N new" button; vehicles decided elsewhere drop out.
"use strict";
(() => {
  const { el, t } = Desk;
  const key = (i) => `${i.site}/${i.lane}/${i.passage}`;
  const path = (i) => `/passage/${encodeURIComponent(i.site)}/${encodeURIComponent(i.lane)}/${encodeURIComponent(i.passage)}`;

  const view = {
    mount(main, parts) {
      this.rows = []; // shown, in the order they were shown
      this.pending = []; // arrived since, behind the button
      this.selected = null;
      this.list = el("ol", { class: "queue", id: "queue" });
      this.newButton = el("button", { class: "new", type: "button", hidden: true, onclick: () => this.showNew() });
      this.empty = el("div", { class: "queue-empty", text: t("queue.empty") });
      this.pane = el("section", { id: "item-pane" });
      main.append(el("div", { class: "split" },
        el("aside", {}, el("div", { class: "queue-head" }, el("h2", { text: t("queue.title") }), this.newButton), this.empty, this.list),
        this.pane));
      let timer = null;
      this.off = Desk.on((ev) => {
        if (["item", "command", "lane", "resync", "hello"].includes(ev.type)) {
          clearTimeout(timer);
          timer = setTimeout(() => this.refresh(), 120);
        }
      });
      this.refresh().then(() => this.update(parts));
    },
    unmount() {
      this.off();
      if (Desk.item.current) Desk.item.current.close();
    },
    update(parts) {
      if (parts[0] === "passage" && parts.length >= 4) {
        const [site, lane, passage] = parts.slice(1, 4);
        this.selected = `${site}/${lane}/${passage}`;
        if (!Desk.item.current || Desk.item.current.key !== this.selected) Desk.item.open(this.pane, site, lane, passage);
      } else {
        this.selected = null;
        if (Desk.item.current) Desk.item.current.close();
        this.pane.replaceChildren(el("div", { class: "pick", text: t("queue.pick") }));
      }
      this.render();
    },
    async refresh() {
      let data;
      try {
        data = await Desk.api("GET", "/api/desk/queue");
      } catch (e) {
        return;
      }
      const now = new Map(data.items.map((i) => [key(i), i]));
      // Rows keep their place; their contents follow the server.
      this.rows = this.rows
        .filter((r) => now.has(key(r)) || key(r) === this.selected)
        .map((r) => now.get(key(r)) || Object.assign({}, r, { closed: true }));
      this.pending = this.pending.filter((p) => now.has(key(p))).map((p) => now.get(key(p)));
      const shown = new Set([...this.rows, ...this.pending].map(key));
      const fresh = data.items.filter((i) => !shown.has(key(i)));
      // With a vehicle open (the reviewer's cursor) new ones wait behind the
      // button; with none open they join the end of the list at once.
      if (!this.selected) this.rows.push(...this.pending.splice(0), ...fresh);
      else this.pending.push(...fresh);
      this.render();
    },
    showNew() {
      this.rows.push(...this.pending.splice(0));
      this.render();
    },
    render() {
      const open = this.rows.filter((r) => !r.closed);
      this.empty.hidden = open.length + this.pending.length > 0;
      this.newButton.hidden = this.pending.length === 0;
      this.newButton.textContent = t("queue.new", { n: this.pending.length }) + " ↓";
      this.list.replaceChildren(...this.rows.map((i) => this.row(i)));
      Desk.summary([...open, ...this.pending]);
    },
    row(i) {
      const age = Desk.ageSeconds(i.decided_at);
      const claim = i.claimed_by
        ? el("span", { class: "chip info", text: i.claimed_by === Desk.me.name ? t("queue.yours") : t("queue.in_review_by", { name: i.claimed_by }) })
        : null;
      const cmd = i.command || {};
      const cmdChip = cmd.state === "sent" ? el("span", { class: "chip", text: t("queue.sent") })
        : ["rejected", "expired"].includes(cmd.state) ? el("span", { class: "chip bad", text: t("queue.failed") })
        : i.on_hold ? el("span", { class: "chip info", text: t("queue.on_hold", { outcome: Desk.word("outcome", cmd.action), name: cmd.issued_by }) }) : null;
      const li = el("li", {
        class: [key(i) === this.selected ? "on" : "", i.escalated_at ? "escalated" : "", i.closed ? "closed" : ""].join(" "),
        "data-key": key(i),
        onclick: () => Desk.go(path(i)),
      },
        el("div", { class: "row1" },
          el("span", { class: "plate", text: i.plate || "—" }),
          el("span", { class: "lane", text: `${i.site}/${i.lane}` }),
          el("span", { class: `age ${Desk.ageClass(age)}`, "data-since": i.decided_at, text: Desk.fmtAge(age) })),
        i.containers.length ? el("div", { class: "row2", text: i.containers.join("  ") }) : null,
        el("div", { class: "row3" },
          el("span", { class: `chip ${i.outcome === "inspection" ? "bad" : "warn"}`, text: Desk.word("outcome", i.outcome) }),
          ...i.reasons.map((r) => el("span", { class: "chip", text: Desk.reasonWord(r) })),
          i.escalated_at ? el("span", { class: "chip bad", text: t("queue.escalated") }) : null,
          i.lane_state === "offline" ? el("span", { class: "chip bad", text: t("queue.lane_offline") }) : null,
          claim, cmdChip));
      return li;
    },
    tick() {
      document.querySelectorAll("#queue .age[data-since]").forEach((e) => {
        const s = Desk.ageSeconds(e.dataset.since);
        e.textContent = Desk.fmtAge(s);
        e.className = `age ${Desk.ageClass(s)}`;
      });
      if (Desk.item.current) Desk.item.current.tick();
    },
    move(step) {
      const open = this.rows.filter((r) => !r.closed || key(r) === this.selected);
      if (!open.length) return;
      const at = open.findIndex((r) => key(r) === this.selected);
      const next = open[Math.min(open.length - 1, Math.max(0, at < 0 ? 0 : at + step))];
      if (next) Desk.go(path(next), true);
    },
    onKey(e, typing) {
      if (!typing && (e.key === "j" || e.key === "J")) { e.preventDefault(); this.move(1); return; }
      if (!typing && (e.key === "k" || e.key === "K")) { e.preventDefault(); this.move(-1); return; }
      if (Desk.item.current) Desk.item.current.onKey(e, typing);
    },
  };
  Desk.views.review = view;
})();
