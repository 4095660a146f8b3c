// A latency heatmap: one column per time bucket, one row per value bin, shaded by count on a
// log scale. Dragging draws a box (time × value) for BubbleUp; a click names one cell.

import { color, compact, drawAxes, drawMarkers, plotArea, prepare, ticks } from "./canvas.js";
import { formatClock, formatTime } from "../lib/time.js";
import { hideTip, showTip } from "../lib/dom.js";

/** Pale teal for few to dark blue for many, as Honeycomb's heatmaps read. */
function shade(fraction) {
  const light = [199, 233, 226];
  const dark = [8, 48, 107];
  const mix = (a, b) => Math.round(a + (b - a) * fraction);
  return `rgb(${mix(light[0], dark[0])},${mix(light[1], dark[1])},${mix(light[2], dark[2])})`;
}

/**
 * @param {HTMLCanvasElement} canvas
 * @param {{start: number, end: number, step: number, columns: {time: number, counts: number[]}[],
 *   min: number, stepSize: number, bins: number, markers?: any[], height?: number,
 *   format?: (v: number) => string, selection?: any,
 *   onSelect?: (box: {start_time: number, end_time: number, min: number, max: number}) => void,
 *   onCell?: (cell: {start_time: number, end_time: number, min: number, max: number}) => void}} chart
 */
export function heatmapChart(canvas, chart) {
  const format = chart.format || compact;
  const top = chart.min + chart.stepSize * chart.bins;
  let area;
  let x;
  let y;
  let drag = null;
  let selection = chart.selection || null;

  function draw() {
    const { context, width, height } = prepare(canvas, chart.height || 240);
    area = plotArea(width, height);
    x = (t) => area.x + ((t - chart.start) / (chart.end - chart.start)) * area.w;
    y = (v) => area.y + area.h - ((v - chart.min) / (top - chart.min || 1)) * area.h;
    const yTicks = ticks(chart.min, top, Math.max(2, Math.floor(area.h / 40)));
    drawAxes(context, area, { yTicks, yLabel: format, y, start: chart.start, end: chart.end, x, clock: formatClock });
    let most = 0;
    for (const column of chart.columns) for (const c of column.counts) if (c > most) most = c;
    const logMost = Math.log1p(most) || 1;
    const cellHeight = area.h / chart.bins;
    for (const column of chart.columns) {
      const left = x(column.time);
      const w = Math.max(1, x(column.time + chart.step) - left - 0.5);
      column.counts.forEach((count, bin) => {
        if (!count) return;
        context.fillStyle = shade(0.12 + 0.88 * (Math.log1p(count) / logMost));
        context.fillRect(left, area.y + area.h - (bin + 1) * cellHeight, w, Math.ceil(cellHeight));
      });
    }
    drawMarkers(context, area, chart.markers, x, chart.start, chart.end);
    const box = drag ? boxOf(drag) : selection;
    if (box) {
      const left = x(box.start_time);
      const right = x(box.end_time);
      const upper = y(Math.min(box.max, top));
      const lower = y(box.min);
      context.fillStyle = color("select");
      context.strokeStyle = color("select-line");
      context.lineWidth = 1.5;
      context.fillRect(left, upper, right - left, lower - upper);
      context.strokeRect(left, upper, right - left, lower - upper);
    }
  }

  /** The time bucket and value bin under a point, clamped to the plot. */
  function cellAt(event) {
    const rect = canvas.getBoundingClientRect();
    const px = Math.min(Math.max(event.clientX - rect.left, area.x), area.x + area.w - 0.01);
    const py = Math.min(Math.max(event.clientY - rect.top, area.y + 0.01), area.y + area.h);
    const bucket = Math.floor(((px - area.x) / area.w) * ((chart.end - chart.start) / chart.step));
    const bin = Math.min(chart.bins - 1, Math.floor(((area.y + area.h - py) / area.h) * chart.bins));
    return { bucket, bin };
  }

  /** The box a drag covers, snapped to whole buckets and bins. */
  function boxOf({ from, to }) {
    const b0 = Math.min(from.bucket, to.bucket);
    const b1 = Math.max(from.bucket, to.bucket) + 1;
    const v0 = Math.min(from.bin, to.bin);
    const v1 = Math.max(from.bin, to.bin) + 1;
    return {
      start_time: chart.start + b0 * chart.step,
      end_time: Math.min(chart.end, chart.start + b1 * chart.step),
      min: chart.min + v0 * chart.stepSize,
      // The largest value sits on the top bin's upper edge, so a box reaching the top reaches past it.
      max: chart.min + (v1 === chart.bins ? v1 + 1 : v1) * chart.stepSize,
    };
  }

  function onMove(event) {
    drag.to = cellAt(event);
    draw();
  }
  function onUp() {
    window.removeEventListener("mousemove", onMove);
    window.removeEventListener("mouseup", onUp);
    const box = boxOf(drag);
    const single = drag.from.bucket === drag.to.bucket && drag.from.bin === drag.to.bin;
    drag = null;
    if (single && chart.onCell) {
      draw();
      chart.onCell(box);
      return;
    }
    selection = box;
    draw();
    if (chart.onSelect) chart.onSelect(box);
  }
  canvas.addEventListener("mousedown", (event) => {
    if (!area || event.button !== 0) return;
    const cell = cellAt(event);
    drag = { from: cell, to: cell };
    window.addEventListener("mousemove", onMove);
    window.addEventListener("mouseup", onUp);
    event.preventDefault();
  });
  canvas.addEventListener("mousemove", (event) => {
    if (!area || drag) return;
    const { bucket, bin } = cellAt(event);
    const column = chart.columns.find((c) => Math.round((c.time - chart.start) / chart.step) === bucket);
    const count = column ? column.counts[bin] || 0 : 0;
    const low = chart.min + bin * chart.stepSize;
    showTip(event.clientX, event.clientY,
      `${formatTime((chart.start + bucket * chart.step) * 1000)}\n${format(low)} – ${format(low + chart.stepSize)}: ${compact(count)}`);
  });
  canvas.addEventListener("mouseleave", hideTip);
  const observer = new ResizeObserver(() => draw());
  observer.observe(canvas);
  draw();
  return {
    redraw: draw,
    clearSelection() {
      selection = null;
      draw();
    },
    dispose: () => observer.disconnect(),
  };
}
