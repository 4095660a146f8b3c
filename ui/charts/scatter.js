// Duration against time for search results: one dot per trace, red for traces with errors;
// a click opens the trace under the pointer.

import { color, drawAxes, plotArea, prepare, ticks } from "./canvas.js";
import { formatClock, formatMs, formatTime } from "../lib/time.js";
import { hideTip, showTip } from "../lib/dom.js";

/**
 * @param {HTMLCanvasElement} canvas
 * @param {{points: {t: number, ms: number, error: boolean, id: string, label: string}[],
 *   start: number, end: number, onPick: (id: string) => void, height?: number}} chart
 *   `t` in Unix seconds.
 */
export function scatterChart(canvas, chart) {
  let area;
  let screen = new Float32Array(0);
  function draw() {
    const { context, width, height } = prepare(canvas, chart.height || 160);
    area = plotArea(width, height, { left: 56 });
    const times = chart.points.map((p) => p.t);
    const start = Math.min(chart.start, ...times);
    const end = Math.max(chart.end, ...times);
    const max = Math.max(1, ...chart.points.map((p) => p.ms));
    const yTicks = ticks(0, max, Math.max(2, Math.floor(area.h / 36)));
    const top = Math.max(max, yTicks[yTicks.length - 1]);
    const x = (t) => area.x + ((t - start) / (end - start || 1)) * area.w;
    const y = (ms) => area.y + area.h - (ms / top) * area.h;
    drawAxes(context, area, { yTicks, yLabel: formatMs, y, start, end, x, clock: formatClock });
    screen = new Float32Array(chart.points.length * 2);
    const ok = color("accent");
    const bad = color("fault");
    chart.points.forEach((p, i) => {
      const px = x(p.t);
      const py = y(p.ms);
      screen[i * 2] = px;
      screen[i * 2 + 1] = py;
      context.fillStyle = p.error ? bad : ok;
      context.globalAlpha = 0.75;
      context.beginPath();
      context.arc(px, py, 4, 0, Math.PI * 2);
      context.fill();
    });
    context.globalAlpha = 1;
  }
  /** The nearest dot within 8 px of the pointer. */
  function nearest(event) {
    const rect = canvas.getBoundingClientRect();
    const px = event.clientX - rect.left;
    const py = event.clientY - rect.top;
    let best = -1;
    let bestDistance = 64;
    for (let i = 0; i < chart.points.length; i++) {
      const d = (screen[i * 2] - px) ** 2 + (screen[i * 2 + 1] - py) ** 2;
      if (d < bestDistance) {
        bestDistance = d;
        best = i;
      }
    }
    return best;
  }
  canvas.addEventListener("mousemove", (event) => {
    const i = nearest(event);
    canvas.style.cursor = i >= 0 ? "pointer" : "default";
    if (i < 0) return hideTip();
    const p = chart.points[i];
    showTip(event.clientX, event.clientY, `${p.label}\n${formatMs(p.ms)} · ${formatTime(p.t * 1000)}`);
  });
  canvas.addEventListener("mouseleave", hideTip);
  canvas.addEventListener("click", (event) => {
    const i = nearest(event);
    if (i >= 0) {
      hideTip();
      chart.onPick(chart.points[i].id);
    }
  });
  const observer = new ResizeObserver(() => draw());
  observer.observe(canvas);
  draw();
  return { dispose: () => observer.disconnect() };
}
