// One vehicle, opened: claimed for this reviewer (the lease renewed while the
// page shows it, let go when it closes), every piece of evidence (evidence.js),
// and the decision bar — R/H/I, a reason by number, Enter to send — with the
// command's fate shown as the lane answers.
"use strict";
(() => {
  const { el, t } = Desk;
  const enc = encodeURIComponent;

  class Item {
    constructor(pane, site, lane, passage) {
      Object.assign(this, { pane, site, lane, passage, key: `${site}/${lane}/${passage}` });
      this.base = `/api/desk/items/${enc(site)}/${enc(lane)}/${enc(passage)}`;
      this.choice = null;
      this.corrections = [];
      this.mine = false;
      this.notice = null;
      let timer = null;
      this.off = Desk.on((ev) => {
        const ours = ev.site === site && ev.lane === lane && (ev.passage === passage || ev.type === "lane");
        if (ours || ev.type === "resync") {
          clearTimeout(timer);
          timer = setTimeout(() => this.load(), 100);
        }
      });
      this.onHide = () => this.letGo(true);
      window.addEventListener("pagehide", this.onHide);
    }

    async load() {
      try {
        this.data = await Desk.api("GET", this.base);
      } catch (e) {
        this.pane.replaceChildren(el("div", { class: "item" }, el("div", { class: "notice bad", text: e.status === 404 ? t("item.not_found") : t("common.error", { message: e.message }) })));
        return;
      }
      const it = this.data.item;
      if (it && it.state === "waiting" && Desk.can("reviewer") && !this.closed) {
        if (!it.claimed_by || it.claimed_by === Desk.me.name) await this.claim(false);
        else this.mine = false;
      } else {
        this.mine = false;
      }
      this.render();
    }

    async claim(takeover) {
      try {
        const r = await Desk.api("POST", `${this.base}/claim`, { takeover });
        this.mine = true;
        this.notice = null;
        if (this.data.item) Object.assign(this.data.item, { claimed_by: r.claimed_by, lease_until: r.lease_until });
        clearInterval(this.renew);
        this.renew = setInterval(() => this.keepClaim(), (Desk.me.lease_s * 1000) / 3);
      } catch (e) {
        this.mine = false;
        this.notice = { cls: "warn", text: e.message };
      }
    }

    async keepClaim() {
      if (!this.mine || this.closed) return;
      try {
        await Desk.api("POST", `${this.base}/claim`, { takeover: false });
      } catch (e) {
        this.mine = false;
        clearInterval(this.renew);
        this.notice = { cls: "warn", text: e.status === 409 ? e.message : t("item.claim_lost") };
        this.render();
      }
    }

    letGo(unloading) {
      clearInterval(this.renew);
      if (!this.mine) return;
      this.mine = false;
      const headers = { "X-CSRF-Token": Desk.me.csrf };
      fetch(`${this.base}/claim`, { method: "DELETE", headers, keepalive: !!unloading }).catch(() => {});
    }

    close() {
      this.closed = true;
      this.letGo(false);
      this.off();
      window.removeEventListener("pagehide", this.onHide);
      if (Desk.item.current === this) Desk.item.current = null;
    }

    // Whether this reviewer may send a decision now.
    canDecide() {
      const it = this.data && this.data.item;
      const cmd = it && it.command;
      const pending = cmd && cmd.state === "sent" && Date.parse(cmd.expires_at) > Desk.serverNow();
      return !!(it && it.state === "waiting" && this.mine && !pending && Desk.can("reviewer"));
    }

    render() {
      const d = this.data;
      if (!d) return;
      const r = d.record || {};
      const it = d.item;
      const plate = (r.reads && r.reads.plates && r.reads.plates[0] && r.reads.plates[0].text) || (it && it.plate) || "—";
      const containers = ((r.reads && r.reads.containers) || []).map((c) => c.code);
      const decision = r.decision || {};
      const head = el("div", { class: "item-head" },
        el("span", { class: "plate", id: "item-plate", text: plate }),
        el("span", { class: "containers", text: containers.join("  ") }),
        el("span", { class: "where", text: `${d.site}/${d.lane} · ${Desk.fmtTime(r.arrived_at, d.site)}` }),
        it && it.state === "waiting" ? el("span", { class: "age", id: "item-age", "data-since": it.decided_at }) : null);
      const reasons = el("div", { class: "reasons" },
        decision.outcome ? el("span", { class: `chip ${decision.outcome === "release" ? "good" : decision.outcome === "inspection" ? "bad" : "warn"}`, text: `${t("item.lane_decided")}: ${Desk.word("outcome", decision.outcome)}` }) : null,
        ...(decision.reasons || []).map((x) => el("span", { class: "chip warn", text: Desk.reasonWord(x) })),
        el("span", { class: "chip", text: d.complete ? t("item.complete") : t("item.in_lane") }),
        d.verified_by_key ? el("span", { class: "chip good", text: t("item.verified", { key: d.verified_by_key }) }) : null,
        d.lane_info && d.lane_info.state === "offline" ? el("span", { class: "chip bad", text: t("queue.lane_offline") }) : null);
      this.pane.replaceChildren(el("div", { class: "item", "data-key": this.key }, head, reasons, ...this.status(), this.decideBar(), Desk.evidence.render(this)));
      this.tick();
    }

    // Who holds it, and what became of the last decision.
    status() {
      const it = this.data.item;
      const out = [];
      if (this.notice) out.push(el("div", { class: `notice ${this.notice.cls}`, id: "item-notice", text: this.notice.text }));
      if (!it) out.push(el("div", { class: "notice", text: t("item.not_waiting") }));
      else if (it.state === "gone") out.push(el("div", { class: "notice warn", text: t("item.gone") }));
      else if (it.state === "decided") out.push(el("div", { class: "notice good", id: "item-decided", text: t("item.decided") }));
      else if (it.state === "waiting" && !Desk.can("reviewer")) out.push(el("div", { class: "notice", id: "item-viewer", text: t("item.viewer_only") }));
      else if (it.state === "waiting" && it.claimed_by && it.claimed_by !== Desk.me.name) {
        out.push(el("div", { class: "notice warn", id: "item-claimed" }, t("item.claimed_by_other", { name: it.claimed_by }), " ",
          Desk.can("supervisor") ? el("button", { type: "button", id: "takeover", text: t("item.take_over"), onclick: async () => { await this.claim(true); this.render(); } }) : null));
      }
      if (it && it.state === "waiting" && it.on_hold) out.push(el("div", { class: "notice", id: "item-on-hold", text: t("item.on_hold") }));
      return out;
    }

    decideBar() {
      const may = this.canDecide();
      const button = (outcome, k) => el("button", {
        type: "button", class: `${outcome} ${this.choice && this.choice.outcome === outcome ? "chosen" : ""}`, id: `decide-${outcome}`,
        disabled: !may, onclick: () => this.choose(outcome),
      }, el("kbd", { text: k }), " ", t(`decide.${outcome}`));
      const bar = el("div", { class: "decide" },
        el("div", { class: "buttons" }, button("release", "R"), button("hold", "H"), button("inspection", "I"), el("span", { class: "keys", text: t("decide.keys") })));
      if (this.choice && may) bar.append(this.form());
      const cmd = this.data.item && this.data.item.command;
      if (cmd) bar.append(this.commandLine(cmd));
      return bar;
    }

    form() {
      const reasons = Desk.me.reasons.filter((r) => r.outcomes.includes(this.choice.outcome));
      const list = el("ol", { class: "reasons-list" }, ...reasons.map((r, i) => el("li", {
        class: this.choice.reason === r.code ? "on" : "", "data-code": r.code,
        onclick: () => { this.choice.reason = r.code; this.render(); },
      }, el("kbd", { text: String(i + 1) }), Desk.lang === "en" ? r.en : r.zh)));
      const comment = el("textarea", { id: "decide-comment", placeholder: t("decide.comment"), value: this.choice.comment || "", oninput: (e) => (this.choice.comment = e.target.value) });
      const send = el("button", { type: "button", class: "go", id: "decide-send", disabled: !this.choice.reason, onclick: () => this.send() }, el("kbd", { text: "Enter" }), " ", t("decide.send"));
      const cancel = el("button", { type: "button", onclick: () => { this.choice = null; this.render(); } }, el("kbd", { text: "Esc" }), " ", t("decide.cancel"));
      const fixes = this.corrections.map((c) => el("div", { class: "muted", text: `✎ ${c.original || "—"} → ${c.corrected} (${t("item.correction_pending")})` }));
      return el("div", { class: "form" },
        el("div", {}, el("div", { class: "muted", text: this.choice.reason ? t("decide.reason") : t("decide.choose_reason") }), list),
        el("div", {}, comment, ...fixes, el("div", { class: "send" }, send, cancel)));
    }

    commandLine(cmd) {
      const site = this.site;
      const by = t("decide.by", { name: cmd.issued_by });
      let text;
      if (cmd.state === "sent") text = t("decide.sent", { at: Desk.fmtTime(cmd.issued_at, site), until: Desk.fmtTime(cmd.expires_at, site) });
      else if (cmd.state === "accepted") text = t("decide.accepted", { outcome: Desk.word("ack", cmd.outcome) });
      else if (cmd.state === "rejected") text = t("decide.rejected", { reason: Desk.word("rejection", cmd.reason) });
      else text = t("decide.expired", { until: Desk.fmtTime(cmd.expires_at, site) });
      const again = ["rejected", "expired"].includes(cmd.state) && this.canDecide()
        ? el("button", { type: "button", id: "decide-again", text: t("decide.again"), onclick: () => { this.choice = { outcome: cmd.action, reason: null }; this.render(); } })
        : null;
      return el("div", { class: `cmd ${cmd.state}`, id: "command", "data-state": cmd.state },
        el("span", { text: `${Desk.word("outcome", cmd.action)} · ${by} — ${text}` }), cmd.detail && cmd.state !== "sent" ? el("span", { class: "muted", text: cmd.detail }) : null, again);
    }

    choose(outcome) {
      if (!this.canDecide()) return;
      this.choice = { outcome, reason: null, comment: this.choice ? this.choice.comment : "" };
      this.render();
    }

    async send() {
      if (!this.choice || !this.choice.reason || !this.canDecide()) return;
      const body = { outcome: this.choice.outcome, reason: this.choice.reason, comment: this.choice.comment || "", corrections: this.corrections };
      try {
        await Desk.api("POST", `${this.base}/decide`, body);
        this.choice = null;
        this.corrections = [];
        this.notice = null;
      } catch (e) {
        this.notice = { cls: "bad", text: e.message };
      }
      await this.load();
    }

    // A correction: kept for the decision while deciding, else saved at once.
    async correct(kind, original, corrected) {
      if (this.canDecide()) {
        this.corrections = this.corrections.filter((c) => !(c.kind === kind && c.original === original));
        this.corrections.push({ kind, original, corrected });
        this.render();
        return;
      }
      try {
        await Desk.api("POST", `${this.base}/corrections`, [{ kind, original, corrected }]);
        this.notice = { cls: "good", text: t("item.correction_saved") };
      } catch (e) {
        this.notice = { cls: "bad", text: e.message };
      }
      await this.load();
    }

    tick() {
      const age = document.getElementById("item-age");
      if (age) {
        const s = Desk.ageSeconds(age.dataset.since);
        age.textContent = Desk.fmtAge(s);
        age.className = `age ${Desk.ageClass(s)}`;
      }
      const cmd = this.data && this.data.item && this.data.item.command;
      if (cmd && cmd.state === "sent" && Date.parse(cmd.expires_at) < Desk.serverNow() - 3000 && !this.reloadedAfterExpiry) {
        this.reloadedAfterExpiry = true;
        this.load();
      }
    }

    onKey(e, typing) {
      const k = e.key;
      if (k === "Escape") {
        if (this.choice) { this.choice = null; this.render(); }
        if (typing) e.target.blur();
        return;
      }
      if (typing && k === "Enter" && !e.shiftKey && e.target.id === "decide-comment" && this.choice && this.choice.reason) {
        e.preventDefault();
        this.send();
        return;
      }
      if (typing) return;
      const outcome = { r: "release", h: "hold", i: "inspection" }[k.toLowerCase()];
      if (outcome) { e.preventDefault(); this.choose(outcome); return; }
      if (this.choice && /^[1-9]$/.test(k)) {
        const reasons = Desk.me.reasons.filter((r) => r.outcomes.includes(this.choice.outcome));
        const r = reasons[Number(k) - 1];
        if (r) { this.choice.reason = r.code; this.render(); }
        return;
      }
      if (k === "Enter" && this.choice) { e.preventDefault(); this.send(); return; }
      if (k === "z" || k === "Z") { e.preventDefault(); Desk.viewer.openFocused(); }
    }
  }

  Desk.item = {
    current: null,
    open(pane, site, lane, passage) {
      if (Desk.item.current) Desk.item.current.close();
      const item = new Item(pane, site, lane, passage);
      Desk.item.current = item;
      pane.replaceChildren(el("div", { class: "item muted", text: t("item.loading") }));
      item.load();
      return item;
    },
  };
})();
