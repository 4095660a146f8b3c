// Time-series line charts (one line per group) and sparklines, on canvas.

import { color, compact, drawAxes, drawMarkers, plotArea, prepare, seriesColor, ticks } from "./canvas.js";
import { formatClock, formatTime } from "../lib/time.js";
import { hideTip, showTip } from "../lib/dom.js";

/**
 * A sparkline of one series (values in time order, nulls as gaps), with markers as ticks.
 * @param {HTMLCanvasElement} canvas @param {(number|null)[]} values
 */
export function sparkline(canvas, values, { stroke, markers = [], start, end } = {}) {
  const { context, width, height } = prepare(canvas, canvas.clientHeight || 28);
  const present = values.filter((v) => v !== null && v !== undefined);
  const max = Math.max(...present, 0);
  const min = Math.min(...present, 0);
  const span = max - min || 1;
  const x = (i) => (values.length < 2 ? width / 2 : (i / (values.length - 1)) * (width - 2) + 1);
  const y = (v) => height - 2 - ((v - min) / span) * (height - 4);
  if (start !== undefined) {
    context.fillStyle = color("throttle");
    for (const marker of markers) {
      if (marker.start_time < start || marker.start_time > end) continue;
      context.fillRect(Math.round(((marker.start_time - start) / (end - start)) * width), 0, 1, height);
    }
  }
  context.strokeStyle = stroke || color("accent");
  context.lineWidth = 1.5;
  context.beginPath();
  let drawing = false;
  values.forEach((value, i) => {
    if (value === null || value === undefined) {
      drawing = false;
      return;
    }
    if (drawing) context.lineTo(x(i), y(value));
    else context.moveTo(x(i), y(value));
    drawing = true;
  });
  context.stroke();
  context.fillStyle = context.strokeStyle;
  for (const i of isolated(values)) context.fillRect(x(i) - 1.5, y(values[i]) - 1.5, 3, 3);
}

/** Indexes of values with no value beside them: a line cannot show them, so they get a dot. */
function isolated(values) {
  const present = (i) => values[i] !== null && values[i] !== undefined;
  const out = [];
  for (let i = 0; i < values.length; i++) if (present(i) && !present(i - 1) && !present(i + 1)) out.push(i);
  return out;
}

/**
 * A line chart over a window, one line per series. Series hold one value per bucket (null where
 * absent). Redraws when its box is resized; hovering shows every series' value at that bucket.
 * @param {HTMLCanvasElement} canvas
 * @param {{start: number, end: number, step: number, series: {name: string, values: (number|null)[]}[], markers?: any[], height?: number, format?: (v: number) => string}} chart
 */
export function lineChart(canvas, chart) {
  const format = chart.format || compact;
  let area;
  let x;
  function draw() {
    const { context, width, height } = prepare(canvas, chart.height || 200);
    area = plotArea(width, height);
    let max = 0;
    for (const s of chart.series) for (const v of s.values) if (v !== null && v > max) max = v;
    const yTicks = ticks(0, max || 1, Math.max(2, Math.floor(area.h / 40)));
    const top = Math.max(yTicks[yTicks.length - 1], max) || 1;
    x = (t) => area.x + ((t - chart.start) / (chart.end - chart.start)) * area.w;
    const y = (v) => area.y + area.h - (v / top) * area.h;
    drawAxes(context, area, { yTicks, yLabel: format, y, start: chart.start, end: chart.end, x, clock: formatClock });
    drawMarkers(context, area, chart.markers, x, chart.start, chart.end);
    chart.series.forEach((s, index) => {
      context.strokeStyle = s.color || seriesColor(index);
      context.lineWidth = 1.5;
      context.beginPath();
      let drawing = false;
      s.values.forEach((value, i) => {
        const t = chart.start + (i + 0.5) * chart.step;
        if (value === null || value === undefined) {
          drawing = false;
          return;
        }
        if (drawing) context.lineTo(x(t), y(value));
        else context.moveTo(x(t), y(value));
        drawing = true;
      });
      context.stroke();
      context.fillStyle = context.strokeStyle;
      for (const i of isolated(s.values)) context.fillRect(x(chart.start + (i + 0.5) * chart.step) - 2, y(s.values[i]) - 2, 4, 4);
    });
  }
  canvas.addEventListener("mousemove", (event) => {
    if (!area) return;
    const rect = canvas.getBoundingClientRect();
    const t = chart.start + ((event.clientX - rect.left - area.x) / area.w) * (chart.end - chart.start);
    const bucket = Math.floor((t - chart.start) / chart.step);
    if (bucket < 0 || t > chart.end) return hideTip();
    const lines = [formatTime((chart.start + bucket * chart.step) * 1000)];
    chart.series.slice(0, 12).forEach((s) => {
      const value = s.values[bucket];
      lines.push(`${s.name}: ${value === null || value === undefined ? "–" : format(value)}`);
    });
    for (const marker of chart.markers || []) {
      if (Math.abs(x(marker.start_time) - (event.clientX - rect.left)) < 4) lines.push(`◆ ${marker.message || marker.type}`);
    }
    showTip(event.clientX, event.clientY, lines.join("\n"));
  });
  canvas.addEventListener("mouseleave", hideTip);
  const observer = new ResizeObserver(() => draw());
  observer.observe(canvas);
  draw();
  return { redraw: draw, dispose: () => observer.disconnect() };
}
