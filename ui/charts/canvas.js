// What every chart shares: a canvas sized for the screen's pixel ratio, the theme's colours,
// "nice" axis ticks, the series palette and axis drawing.

/** Sizes a canvas to its CSS box (or the given height) at device resolution; answers its 2D context. */
export function prepare(canvas, cssHeight) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, canvas.clientWidth || canvas.parentElement.clientWidth);
  const height = cssHeight || Math.max(1, canvas.clientHeight);
  if (cssHeight) canvas.style.height = `${cssHeight}px`;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { context, width, height };
}

/** The value of a theme colour (a CSS variable of :root). */
export function color(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(`--${name}`).trim() || "#888";
}

/** Colours for series, distinct in both themes and for the common colour-vision deficiencies. */
export const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
export function seriesColor(index) {
  return PALETTE[index % PALETTE.length];
}

/** About `count` round tick values covering [min, max]. */
export function ticks(min, max, count = 5) {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const first = Math.ceil(min / step) * step;
  const out = [];
  for (let value = first; value <= max + step * 1e-9; value += step) out.push(Number(value.toPrecision(12)));
  return out;
}

/** Round time ticks (Unix seconds) for a window: steps of 1 s up to 1 day. */
export function timeTicks(start, end, count = 6) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  const raw = (end - start) / count;
  const step = steps.find((s) => s >= raw) || 86400;
  const out = [];
  for (let t = Math.ceil(start / step) * step; t <= end; t += step) out.push(t);
  return { ticks: out, step };
}

/** A compact number for axes (`1.2k`, `3.5M`, `0.25`). */
export function compact(value) {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${+(value / 1e9).toPrecision(3)}G`;
  if (abs >= 1e6) return `${+(value / 1e6).toPrecision(3)}M`;
  if (abs >= 1e3) return `${+(value / 1e3).toPrecision(3)}k`;
  if (abs === 0) return "0";
  return `${+value.toPrecision(3)}`;
}

/** The plot area inside the axes' margins. */
export function plotArea(width, height, { left = 48, right = 10, top = 8, bottom = 20 } = {}) {
  return { x: left, y: top, w: Math.max(1, width - left - right), h: Math.max(1, height - top - bottom) };
}

/** Draws the y grid with labels and the x time labels. */
export function drawAxes(context, area, { yTicks, yLabel = compact, y, start, end, x, clock }) {
  context.save();
  context.font = "11px system-ui, sans-serif";
  context.fillStyle = color("muted");
  context.strokeStyle = color("line");
  context.lineWidth = 1;
  context.textAlign = "right";
  context.textBaseline = "middle";
  for (const value of yTicks) {
    const py = Math.round(y(value)) + 0.5;
    context.beginPath();
    context.moveTo(area.x, py);
    context.lineTo(area.x + area.w, py);
    context.stroke();
    context.fillText(yLabel(value), area.x - 6, py);
  }
  if (start !== undefined) {
    const { ticks: times, step } = timeTicks(start, end, Math.max(2, Math.floor(area.w / 90)));
    context.textAlign = "center";
    context.textBaseline = "top";
    for (const t of times) context.fillText(clock(t * 1000, step < 60), x(t), area.y + area.h + 5);
  }
  context.restore();
}

/** Draws markers (deploys and the like) as dashed vertical lines with their colour. */
export function drawMarkers(context, area, markers, x, start, end) {
  context.save();
  context.setLineDash([4, 3]);
  for (const marker of markers || []) {
    const t = marker.start_time;
    if (t < start || t > end) continue;
    context.strokeStyle = marker.color || color("throttle");
    const px = Math.round(x(t)) + 0.5;
    context.beginPath();
    context.moveTo(px, area.y);
    context.lineTo(px, area.y + area.h);
    context.stroke();
  }
  context.restore();
}
