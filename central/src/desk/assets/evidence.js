// Everything the lane saw of one vehicle, side by side: reads with their
// confidence against the declaration (mismatches marked, corrections kept
// beside the original), every image with its OCR boxes, the under-vehicle
// scan between its reference and its heat map, seals, the empty-box check,
// the lane's checks, and the timeline of lane and central together.
"use strict";
(() => {
  const { el, t } = Desk;
  const SVG = "http://www.w3.org/2000/svg";

  // An image with its overlays (OCR boxes, changed regions) in image pixels.
  function frame(img, overlays, gallery) {
    const box = el("div", { class: "frame", title: t("item.zoom_hint") });
    const w = img.width || 1, h = img.height || 1;
    const src = img.url || img.preview;
    if (!src) return null;
    box.append(el("img", { src, alt: img.device || "", loading: "lazy" }));
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "boxes");
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.setAttribute("preserveAspectRatio", "none");
    for (const o of overlays || []) {
      const [x0, y0, x1, y1] = o.box;
      svg.append(el("rect", { class: o.cls, x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0) }));
      if (o.label) svg.append(el("text", { x: x0, y: Math.max(12, y0 - 4), "font-size": Math.max(12, h / 30), text: o.label }));
    }
    box.append(svg);
    const entry = { src, title: img.title || img.device, width: w, height: h, overlays };
    gallery.push(entry);
    box.addEventListener("click", () => Desk.viewer.open(gallery, gallery.indexOf(entry)));
    return box;
  }

  function ocrBoxes(record, device) {
    const lines = (record.reads && record.reads.lines) || [];
    return lines.filter((l) => l.camera === device && Array.isArray(l.box)).map((l) => ({
      cls: "ocr", box: l.box, label: `${l.text} ${Number(l.confidence).toFixed(2)}`,
    }));
  }

  function previewOf(record, sha) {
    for (const c of record.captures || []) {
      if (c.image && c.image.sha256 === sha && c.image.preview_jpeg) return `data:image/jpeg;base64,${c.image.preview_jpeg}`;
    }
    return null;
  }

  function shot(img, record, gallery, overlays, title) {
    const stored = img.stored;
    const data = Object.assign({}, img, { preview: stored ? null : previewOf(record, img.sha256), title: title || img.device });
    const f = frame(data, overlays, gallery);
    return el("div", { class: `shot ${stored ? "" : "pending"}`, "data-role": img.role, "data-device": img.device },
      f || el("div", { class: "frame", text: t("item.image_pending") }),
      el("div", { class: "cap" }, el("span", { text: title || img.device }), el("span", { text: stored ? `${img.width}×${img.height}` : t("item.image_pending") })));
  }

  function conf(c) {
    if (c === undefined || c === null) return el("span", { text: "–" });
    return el("span", { class: `conf ${c < 0.8 ? "low" : ""}`, text: Number(c).toFixed(2) });
  }

  // The correction cell: the machine's read, any correction, and a way to make one.
  function fixCell(item, kind, original) {
    const d = item.data;
    const done = d.corrections.filter((c) => c.kind === kind && c.original === original).pop();
    const pending = item.corrections.find((c) => c.kind === kind && c.original === original);
    const cell = el("td", { class: "fix-cell" });
    if (done) cell.append(el("div", { class: "muted", text: t("item.corrected_by", { name: done.by, text: done.corrected }) }));
    if (pending) cell.append(el("div", { class: "muted", text: `→ ${pending.corrected} (${t("item.correction_pending")})` }));
    if (Desk.can("reviewer")) {
      const start = el("button", { type: "button", class: "correct", title: t("item.correct"), text: "✎" });
      start.onclick = () => {
        const input = el("input", { class: "fix", value: (pending && pending.corrected) || original, "data-kind": kind });
        input.onkeydown = (e) => {
          if (e.key === "Enter") { e.preventDefault(); e.stopPropagation(); if (input.value.trim()) item.correct(kind, original, input.value.trim()); }
          if (e.key === "Escape") { e.stopPropagation(); item.render(); }
        };
        cell.replaceChildren(input);
        input.focus();
        input.select();
      };
      cell.append(start);
    }
    return cell;
  }

  function reads(item) {
    const d = item.data, r = d.record, decl = d.declaration;
    const rows = [];
    const plates = (r.reads && r.reads.plates) || [];
    const plate = plates[0];
    const plateText = plate ? plate.text : "";
    const plateBad = decl && plateText && plateText !== decl.plate;
    rows.push(el("tr", { class: plateBad || !plate ? "mismatch" : "" },
      el("td", { text: t("item.plate") }),
      el("td", { class: "mono", text: plateText || t("item.missing") }),
      el("td", {}, conf(plate && plate.confidence)),
      el("td", { class: "muted cams", text: plate ? plate.cameras.join(", ") : "" }),
      el("td", { class: "mono", text: decl ? decl.plate : "–" }),
      fixCell(item, "plate", plateText)));
    const declared = decl ? decl.containers : [];
    const readCodes = ((r.reads && r.reads.containers) || []);
    for (const c of readCodes) {
      const bad = (decl && !declared.includes(c.code)) || !c.check_digit_ok;
      rows.push(el("tr", { class: bad ? "mismatch" : "" },
        el("td", { text: t("item.containers") }),
        el("td", { class: "mono", text: c.code + (c.check_digit_ok ? "" : " ✗") }),
        el("td", {}, conf(c.confidence)),
        el("td", { class: "muted cams", text: c.cameras.join(", ") }),
        el("td", { class: "mono", text: decl ? (declared.includes(c.code) ? c.code : t("item.not_declared")) : "–" }),
        fixCell(item, "container", c.code)));
    }
    for (const code of declared.filter((x) => !readCodes.some((c) => c.code === x))) {
      rows.push(el("tr", { class: "mismatch" }, el("td", { text: t("item.containers") }), el("td", { text: t("item.missing") }), el("td"), el("td"), el("td", { class: "mono", text: code }), fixCell(item, "container", "")));
    }
    if (!readCodes.length && !declared.length) {
      rows.push(el("tr", {}, el("td", { text: t("item.containers") }), el("td", { class: "muted", text: t("item.missing") }), el("td"), el("td"), el("td"), fixCell(item, "container", "")));
    }
    const head = el("tr", {}, ...["", t("item.read"), t("item.confidence"), t("item.cameras"), t("item.declared"), ""].map((h) => el("th", { text: h })));
    return el("div", { class: "panel", id: "reads" }, el("h2", { text: t("item.reads") }),
      el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)),
      decl ? el("p", { class: "muted", text: `${decl.file} · ${Desk.t("decl.line", { n: decl.line })} · ${decl.uploaded_by}` })
        : el("p", { class: "muted", text: t("item.no_declaration") }));
  }

  function images(item, gallery) {
    const d = item.data, r = d.record;
    const shots = d.images.filter((i) => ["plate_image", "container_image"].includes(i.role))
      .map((i) => shot(i, r, gallery, ocrBoxes(r, i.device)));
    if (!shots.length) return null;
    return el("div", { class: "panel", id: "images" }, el("h2", { text: t("item.images") }), el("div", { class: "shots" }, ...shots));
  }

  function uvss(item, gallery) {
    const d = item.data, r = d.record, u = r.uvss;
    const scan = d.images.find((i) => i.role === "uvss_scan");
    const overlay = d.images.find((i) => i.role === "uvss_overlay");
    if (!scan && !u) return null;
    const regions = ((u && u.regions) || []).map((g) => ({ cls: "region", box: [g.x, g.y, g.x + g.w, g.y + g.h], label: g.score.toFixed(2) }));
    const ref = d.reference
      ? shot({ url: d.reference.url, stored: true, device: "reference", role: "reference", width: scan && scan.width, height: scan && scan.height }, r, gallery, [],
        t("item.uvss_reference", { when: Desk.fmtTime(d.reference.arrived_at, d.reference.site, true) }))
      : el("div", { class: "shot pending" }, el("div", { class: "frame", text: t("item.uvss_no_reference") }));
    const verdict = u ? `${Desk.word("uvss", u.verdict)} · ${Number(u.score).toFixed(2)}${u.reason ? " · " + u.reason : ""}` : "";
    return el("div", { class: "panel", id: "uvss" }, el("h2", {}, t("item.uvss"), el("span", { class: "verdict", text: verdict })),
      el("div", { class: "uvss" }, ref,
        scan ? shot(scan, r, gallery, regions, t("item.uvss_this")) : el("div"),
        overlay ? shot(overlay, r, gallery, [], t("item.uvss_overlay")) : el("div")));
  }

  function seals(item) {
    const r = item.data.record;
    const cap = (r.captures || []).find((c) => c.kind === "seals");
    if (!cap) return null;
    const declared = (item.data.declaration && item.data.declaration.seals) || [];
    const heard = cap.seals || [];
    const rows = heard.map((s) => el("tr", { class: s.status !== "sealed" || (declared.length && !declared.includes(s.id)) ? "mismatch" : "" },
      el("td", { class: "mono", text: s.id }), el("td", { text: Desk.word("seal", s.status) }), el("td", { text: `${s.battery_pct}%` }),
      el("td", { text: Desk.fmtTime(s.sealed_at, item.site, true) })));
    for (const id of declared.filter((x) => !heard.some((s) => s.id === x))) {
      rows.push(el("tr", { class: "mismatch" }, el("td", { class: "mono", text: id }), el("td", { text: t("item.missing") }), el("td"), el("td")));
    }
    const head = el("tr", {}, ...[t("item.seal_id"), "", t("item.battery"), t("item.sealed_at")].map((h) => el("th", { text: h })));
    return el("div", { class: "panel", id: "seals" }, el("h2", { text: t("item.seals") }),
      rows.length ? el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)) : el("p", { class: "muted", text: t("item.no_seals") }));
  }

  function empty(item, gallery) {
    const r = item.data.record, e = r.empty_check, ei = r.empty_image;
    if (!e && !ei) return null;
    const img = item.data.images.find((i) => i.role === "empty_check");
    return el("div", { class: "panel", id: "empty" }, el("h2", { text: t("item.empty") }),
      el("dl", { class: "kv" },
        el("div", { text: `${t("item.detector")}: ${e && e.verdict ? Desk.word("empty", e.verdict) : "–"}${e && e.confidence != null ? " · " + Number(e.confidence).toFixed(2) : ""}${e && e.error ? " · " + e.error : ""}` }),
        el("div", { text: `${t("item.image_check")}: ${ei ? Desk.word("empty", ei.verdict) + " · " + Number(ei.score).toFixed(2) : "–"}${ei && ei.reason ? " · " + ei.reason : ""}` })),
      img ? el("div", { class: "shots" }, shot(img, r, gallery, [])) : null);
  }

  function checks(item) {
    const list = ((item.data.record.decision || {}).checks) || [];
    if (!list.length) return null;
    const name = (n) => {
      const [word, arg] = n.split(/:(.*)/s);
      return Desk.has(`check.${word}`) ? t(`check.${word}`) + (arg ? ` ${arg}` : "") : n;
    };
    return el("div", { class: "panel", id: "checks" }, el("h2", { text: t("item.checks") }),
      el("ul", { class: "checks" }, ...list.map((c) => el("li", { class: `check-${c.result}` },
        el("span", { class: `mark-${c.result}`, title: Desk.word("result", c.result) }), el("span", { text: name(c.name) }), el("span", { class: "muted", text: c.detail })))));
  }

  function timeline(item) {
    const d = item.data, stages = d.record.stages || [];
    const start = stages.length ? Date.parse(stages[0].started_at) : 0;
    const end = stages.reduce((m, s) => Math.max(m, Date.parse(s.ended_at || s.started_at) || 0), start + 1);
    const span = Math.max(1, end - start);
    const gantt = el("div", { class: "gantt" }, ...stages.flatMap((s) => {
      const a = Date.parse(s.started_at) - start, b = (Date.parse(s.ended_at) || Desk.serverNow()) - start;
      const bar = el("span", { class: s.outcome && s.outcome !== "ok" ? "bad" : "" });
      bar.style.left = `${(100 * a) / span}%`;
      bar.style.width = `${Math.max(0.3, (100 * (Math.min(b, span) - a)) / span)}%`;
      return [el("span", { text: Desk.word("stage", s.stage) }), el("div", { class: "bar" }, bar),
        el("span", { class: "mono muted", text: s.duration_ms != null ? `${s.duration_ms} ms` : "…" })];
    }));
    const story = el("ol", { class: "story", id: "story" }, ...d.story.map((e) => el("li", {},
      el("span", { class: "mono muted", text: Desk.fmtTime(e.at, d.site) }),
      el("span", { class: `src-${e.source}`, text: t(`story.${e.source}`) }),
      el("span", { text: storyText(e, d.site) }))));
    return el("div", { class: "panel", id: "timeline" }, el("h2", { text: t("item.timeline") }), gantt, el("h2", { class: "spaced", text: t("item.story") }), story);
  }

  function storyText(e, site) {
    switch (e.kind) {
      case "stage": return `${Desk.word("stage", e.stage)}${e.ms != null ? ` · ${e.ms} ms` : ""}${e.outcome && e.outcome !== "ok" ? ` · ${e.outcome}` : ""}`;
      case "decision": case "review": return `${t(`story.${e.kind}`, { outcome: Desk.word("outcome", e.outcome) })} · ${e.by}${(e.reasons || []).length ? " · " + e.reasons.map(Desk.reasonWord).join(", ") : ""}`;
      case "completed": return `${t("story.completed")} · ${Desk.word("exit", e.exit)}${(e.flags || []).length ? " · " + e.flags.map((f) => Desk.word("flag", f)).join(", ") : ""}`;
      case "alarm": return `${Desk.word("alarm", e.alarm)} · ${e.message}`;
      case "command_sent": return `${t("story.command_sent", { action: Desk.word("outcome", e.action) })} · ${e.by}`;
      case "ack": return `${t("story.ack")}: ${Desk.word("state", e.state)} · ${e.outcome ? Desk.word("ack", e.outcome) : Desk.word("rejection", e.reason)}`;
      case "audit": return `${e.by} · ${Desk.word("audit", e.action)}${e.detail && e.detail.reason ? " · " + e.detail.reason : ""}${e.detail && e.detail.corrected ? ` · ${e.detail.original || "—"} → ${e.detail.corrected}` : ""}${e.detail && e.detail.from ? " · " + e.detail.from : ""}`;
      default: return t(`story.${e.kind}`, { outcome: "" });
    }
  }

  Desk.evidence = {
    render(item) {
      const gallery = [];
      const body = el("div", { class: "evidence" },
        el("div", { class: "grid2" }, reads(item), checks(item)),
        images(item, gallery), uvss(item, gallery),
        el("div", { class: "grid2" }, seals(item), empty(item, gallery)),
        timeline(item));
      Desk.viewer.setGallery(gallery);
      return body;
    },
  };
})();
