// Zoom and pan over one image of the open vehicle, its OCR boxes and changed
// regions drawn at any scale: wheel or +/- to zoom at the pointer, drag or
// arrow keys to pan, Z to toggle fit / 3×, ←/→ (or , and .) for the other
// images, Esc to close.
"use strict";
(() => {
  const { el } = Desk;
  let gallery = [], index = 0, scale = 1, x = 0, y = 0, fit = 1;

  const root = () => document.getElementById("viewer");
  const stage = () => root().querySelector(".stage");
  const canvas = () => root().querySelector(".canvas");

  function apply() {
    canvas().style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
    root().querySelector(".hint").textContent = `${Math.round((scale / fit) * 100)}%`;
  }

  function fitToStage() {
    const g = gallery[index], s = stage().getBoundingClientRect();
    fit = Math.min(s.width / g.width, s.height / g.height) || 1;
    scale = fit;
    x = (s.width - g.width * scale) / 2;
    y = (s.height - g.height * scale) / 2;
    apply();
  }

  function zoomAt(factor, px, py) {
    const next = Math.min(fit * 12, Math.max(fit * 0.5, scale * factor));
    x = px - ((px - x) * next) / scale;
    y = py - ((py - y) * next) / scale;
    scale = next;
    apply();
  }

  function show(i) {
    index = (i + gallery.length) % gallery.length;
    const g = gallery[index];
    const img = canvas().querySelector("img");
    img.src = g.src;
    img.width = g.width;
    img.height = g.height;
    const svg = canvas().querySelector("svg");
    svg.setAttribute("viewBox", `0 0 ${g.width} ${g.height}`);
    svg.setAttribute("width", g.width);
    svg.setAttribute("height", g.height);
    svg.replaceChildren();
    for (const o of g.overlays || []) {
      const [x0, y0, x1, y1] = o.box;
      svg.append(el("rect", { class: o.cls, x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0) }));
      if (o.label) svg.append(el("text", { x: x0, y: Math.max(12, y0 - 4), "font-size": Math.max(12, g.height / 40), text: o.label }));
    }
    root().querySelector(".title").textContent = `${g.title} (${index + 1}/${gallery.length})`;
    fitToStage();
  }

  Desk.viewer = {
    setGallery(g) {
      gallery = g;
    },
    open(g, i) {
      gallery = g;
      if (!gallery.length) return;
      root().hidden = false;
      show(i || 0);
    },
    openFocused() {
      if (root().hidden) Desk.viewer.open(gallery, 0);
      else if (scale > fit * 1.01) fitToStage();
      else zoomAt(3, stage().clientWidth / 2, stage().clientHeight / 2);
    },
    close() {
      root().hidden = true;
    },
  };

  // Keys while the viewer is open; true when taken.
  Desk.viewerKey = (e) => {
    if (root().hidden) return false;
    const s = stage().getBoundingClientRect();
    const step = 60;
    switch (e.key) {
      case "Escape": Desk.viewer.close(); break;
      case "z": case "Z": Desk.viewer.openFocused(); break;
      case "+": case "=": zoomAt(1.25, s.width / 2, s.height / 2); break;
      case "-": zoomAt(0.8, s.width / 2, s.height / 2); break;
      case "ArrowLeft": if (e.shiftKey || scale <= fit * 1.01) show(index - 1); else { x += step; apply(); } break;
      case "ArrowRight": if (e.shiftKey || scale <= fit * 1.01) show(index + 1); else { x -= step; apply(); } break;
      case "ArrowUp": y += step; apply(); break;
      case "ArrowDown": y -= step; apply(); break;
      case ",": show(index - 1); break;
      case ".": show(index + 1); break;
      default: return true; // nothing else reaches the page behind
    }
    e.preventDefault();
    return true;
  };

  document.addEventListener("DOMContentLoaded", () => {
    const st = stage();
    root().querySelector(".close").onclick = () => Desk.viewer.close();
    st.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = st.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    let drag = null;
    st.addEventListener("pointerdown", (e) => {
      drag = { px: e.clientX, py: e.clientY, x, y };
      st.setPointerCapture(e.pointerId);
      st.classList.add("dragging");
    });
    st.addEventListener("pointermove", (e) => {
      if (!drag) return;
      x = drag.x + e.clientX - drag.px;
      y = drag.y + e.clientY - drag.py;
      apply();
    });
    const end = () => { drag = null; st.classList.remove("dragging"); };
    st.addEventListener("pointerup", end);
    st.addEventListener("pointercancel", end);
    st.addEventListener("dblclick", (e) => {
      const r = st.getBoundingClientRect();
      if (scale > fit * 1.01) fitToStage(); else zoomAt(3, e.clientX - r.left, e.clientY - r.top);
    });
    window.addEventListener("resize", () => { if (!root().hidden) fitToStage(); });
  });
})();
