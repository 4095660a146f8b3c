// The trace summary above the waterfall: every span as one rectangle on a canvas (x = time,
// y = waterfall order), with the zoom window drawn over it. Drag to zoom, double-click to reset.
// Below it, a ruler with the window's time ticks.

import { h } from "../lib/dom.js";
import { formatMs } from "../lib/time.js";
import { color, prepare, seriesColor, ticks } from "../charts/canvas.js";
import { ERROR } from "./model.js";

/**
 * @param {HTMLElement} holder @param {import("./model.js").Model} model
 * @param {(from: number, to: number) => void} onZoom ms from the trace's start
 */
export function minimap(holder, model, onZoom) {
  const canvas = h("canvas", { "aria-label": "Trace overview: drag to zoom, double-click to reset" });
  const window_ = h("div", { class: "window" });
  const map = h("div", { class: "minimap", "data-testid": "minimap" }, canvas, window_);
  const lane = h("div", { class: "lane" });
  const ruler = h("div", { class: "ruler" }, lane);
  holder.append(map, ruler);
  let view = [0, model.total];

  function draw() {
    const { context, width, height } = prepare(canvas);
    context.fillStyle = color("panel");
    context.fillRect(0, 0, width, height);
    const rowHeight = Math.max(1, Math.min(6, height / Math.max(1, model.count)));
    const fills = model.services.map((_, s) => seriesColor(s));
    const fault = color("fault");
    const scaleX = width / model.total;
    const scaleY = model.count > 1 ? (height - rowHeight) / (model.count - 1) : 0;
    context.globalAlpha = 0.8;
    for (let i = 0; i < model.count; i++) {
      context.fillStyle = model.flags[i] & ERROR ? fault : fills[model.service[i]];
      context.fillRect(model.start[i] * scaleX, i * scaleY, Math.max(1, model.duration[i] * scaleX), rowHeight);
    }
    context.globalAlpha = 1;
    placeWindow();
  }

  function placeWindow() {
    const whole = view[0] <= 0 && view[1] >= model.total;
    window_.style.display = whole ? "none" : "";
    window_.style.left = `${(view[0] / model.total) * 100}%`;
    window_.style.width = `${((view[1] - view[0]) / model.total) * 100}%`;
    const span = view[1] - view[0];
    const marks = ticks(view[0], view[1], 6).map((t) => h("span", { style: `left:${((t - view[0]) / span) * 100}%` }, formatMs(t)));
    lane.replaceChildren(...marks);
  }

  const msAt = (event) => {
    const rect = canvas.getBoundingClientRect();
    return Math.min(Math.max((event.clientX - rect.left) / rect.width, 0), 1) * model.total;
  };
  let dragFrom = null;
  function onMove(event) {
    const a = dragFrom;
    const b = msAt(event);
    view = [Math.min(a, b), Math.max(a, b)];
    placeWindow();
  }
  function onUp() {
    window.removeEventListener("mousemove", onMove);
    window.removeEventListener("mouseup", onUp);
    dragFrom = null;
    if (view[1] - view[0] < model.total / 1000) view = [0, model.total];
    placeWindow();
    onZoom(view[0], view[1]);
  }
  map.addEventListener("mousedown", (event) => {
    dragFrom = msAt(event);
    window.addEventListener("mousemove", onMove);
    window.addEventListener("mouseup", onUp);
    event.preventDefault();
  });
  map.addEventListener("dblclick", () => {
    view = [0, model.total];
    placeWindow();
    onZoom(0, model.total);
  });
  new ResizeObserver(() => draw()).observe(map);
  draw();
  return {
    /** Shows a window set elsewhere (from the URL). */
    show(from, to) {
      view = [from, to];
      placeWindow();
    },
  };
}
