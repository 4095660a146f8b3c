// A latency histogram (bars over value bins) with a draggable range, as X-Ray's service map
// shows for a node or an edge: dragging selects [min, max) for "view traces".

import { color, compact, plotArea, prepare, ticks } from "./canvas.js";
import { hideTip, showTip } from "../lib/dom.js";

/**
 * @param {HTMLCanvasElement} canvas
 * @param {{bins: {min: number, max: number, count: number}[], format: (v: number) => string,
 *   onSelect?: (range: {min: number, max: number}) => void, height?: number}} chart
 */
export function histogramChart(canvas, chart) {
  let area;
  let range = null;
  let dragFrom = null;
  const low = chart.bins.length ? chart.bins[0].min : 0;
  const high = chart.bins.length ? chart.bins[chart.bins.length - 1].max : 1;
  const valueAt = (px) => low + ((px - area.x) / area.w) * (high - low);
  function draw() {
    const { context, width, height } = prepare(canvas, chart.height || 140);
    area = plotArea(width, height, { left: 40, bottom: 20 });
    const most = Math.max(1, ...chart.bins.map((b) => b.count));
    const x = (v) => area.x + ((v - low) / (high - low || 1)) * area.w;
    context.font = "11px system-ui, sans-serif";
    context.fillStyle = color("muted");
    context.textAlign = "right";
    context.textBaseline = "middle";
    for (const t of ticks(0, most, 3)) context.fillText(compact(t), area.x - 6, area.y + area.h - (t / most) * area.h);
    context.textAlign = "center";
    context.textBaseline = "top";
    for (const t of ticks(low, high, Math.max(2, Math.floor(area.w / 80)))) context.fillText(chart.format(t), x(t), area.y + area.h + 5);
    context.fillStyle = color("accent");
    for (const bin of chart.bins) {
      const h = (bin.count / most) * area.h;
      context.fillRect(x(bin.min) + 0.5, area.y + area.h - h, Math.max(1, x(bin.max) - x(bin.min) - 1), h);
    }
    if (range) {
      context.fillStyle = color("select");
      context.strokeStyle = color("select-line");
      context.fillRect(x(range.min), area.y, x(range.max) - x(range.min), area.h);
      context.strokeRect(x(range.min), area.y, x(range.max) - x(range.min), area.h);
    }
  }
  function clampedX(event) {
    const rect = canvas.getBoundingClientRect();
    return Math.min(Math.max(event.clientX - rect.left, area.x), area.x + area.w);
  }
  function onMove(event) {
    const a = valueAt(dragFrom);
    const b = valueAt(clampedX(event));
    range = { min: Math.min(a, b), max: Math.max(a, b) };
    draw();
  }
  function onUp() {
    window.removeEventListener("mousemove", onMove);
    window.removeEventListener("mouseup", onUp);
    dragFrom = null;
    if (range && range.max > range.min && chart.onSelect) chart.onSelect(range);
  }
  canvas.addEventListener("mousedown", (event) => {
    if (!area) return;
    dragFrom = clampedX(event);
    range = null;
    window.addEventListener("mousemove", onMove);
    window.addEventListener("mouseup", onUp);
    event.preventDefault();
  });
  canvas.addEventListener("mousemove", (event) => {
    if (!area || dragFrom !== null) return;
    const v = valueAt(clampedX(event));
    const bin = chart.bins.find((b) => v >= b.min && v < b.max);
    if (bin) showTip(event.clientX, event.clientY, `${chart.format(bin.min)} – ${chart.format(bin.max)}: ${compact(bin.count)}`);
  });
  canvas.addEventListener("mouseleave", hideTip);
  const observer = new ResizeObserver(() => draw());
  observer.observe(canvas);
  draw();
  return { dispose: () => observer.disconnect() };
}
