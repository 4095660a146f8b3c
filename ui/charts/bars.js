// Paired horizontal bars: for each label, one share for the selection and one for the baseline,
// as BubbleUp compares them. Drawn on canvas, one row per label.

import { color, prepare } from "./canvas.js";
import { hideTip, showTip } from "../lib/dom.js";

const ROW = 26;

/**
 * @param {HTMLCanvasElement} canvas
 * @param {{rows: {label: string, selection: number, baseline: number}[], labelWidth?: number}} chart
 */
export function pairedBars(canvas, chart) {
  const labelWidth = chart.labelWidth || 130;
  function draw() {
    const { context, width } = prepare(canvas, Math.max(ROW, chart.rows.length * ROW) + 4);
    const barWidth = Math.max(10, width - labelWidth - 48);
    const most = Math.max(0.0001, ...chart.rows.flatMap((r) => [r.selection, r.baseline]));
    context.font = "11px system-ui, sans-serif";
    context.textBaseline = "middle";
    chart.rows.forEach((row, i) => {
      const top = i * ROW + 2;
      context.fillStyle = color("text");
      context.textAlign = "right";
      context.fillText(fit(context, row.label, labelWidth - 8), labelWidth - 6, top + ROW / 2);
      context.fillStyle = color("select-line");
      context.fillRect(labelWidth, top + 3, (row.selection / most) * barWidth, 9);
      context.fillStyle = color("idle");
      context.fillRect(labelWidth, top + 13, (row.baseline / most) * barWidth, 9);
      context.fillStyle = color("muted");
      context.textAlign = "left";
      context.fillText(percent(row.selection), labelWidth + (row.selection / most) * barWidth + 4, top + 7.5);
      context.fillText(percent(row.baseline), labelWidth + (row.baseline / most) * barWidth + 4, top + 17.5);
    });
  }
  canvas.addEventListener("mousemove", (event) => {
    const rect = canvas.getBoundingClientRect();
    const row = chart.rows[Math.floor((event.clientY - rect.top - 2) / ROW)];
    if (!row) return hideTip();
    showTip(event.clientX, event.clientY, `${row.label}\nselection ${percent(row.selection)}\nbaseline ${percent(row.baseline)}`);
  });
  canvas.addEventListener("mouseleave", hideTip);
  draw();
  return { redraw: draw };
}

function percent(share) {
  return `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`;
}

/** The label cut with an ellipsis to fit `width` pixels. */
function fit(context, text, width) {
  if (context.measureText(text).width <= width) return text;
  let cut = text;
  while (cut.length > 1 && context.measureText(`${cut}…`).width > width) cut = cut.slice(0, -1);
  return `${cut}…`;
}
