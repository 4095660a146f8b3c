// A query result drawn: one line chart per calculation with a line per group, each HEATMAP as a
// heatmap (its groups summed, on the axis they share), markers on every chart, and the results
// table below with a colour per charted group.

import { h } from "../lib/dom.js";
import { formatMs } from "../lib/time.js";
import { groupKey, seriesByGroup } from "../lib/honeycomb.js";
import { compact, seriesColor } from "../charts/canvas.js";
import { lineChart } from "../charts/line.js";
import { heatmapChart } from "../charts/heatmap.js";
import { calculationKey } from "./clauses.js";

/** Groups drawn as lines; the rest are in the table only. */
const CHARTED = 10;

/** How a calculation's values read: durations in ms as durations, the rest compactly. */
function formatterOf(calculation) {
  const timed = calculation.column && /duration_ms$/.test(calculation.column) && !/^COUNT/.test(calculation.op);
  return timed ? formatMs : (v) => compact(v);
}

/** The names a result's data holds: the formulas when the query has them, else the calculations. */
function measures(spec) {
  if (spec.formulas && spec.formulas.length) return spec.formulas.map((f) => ({ key: f.name, calculation: { op: "FORMULA" } }));
  return (spec.calculations || [{ op: "COUNT" }]).map((c) => ({ key: calculationKey(c), calculation: c }));
}

/**
 * Draws `result` into `holder`.
 * @param {{spec: any, result: any, window: {first: number, end: number, step: number},
 *   onBox: (box: any) => void, onCell: (cell: any) => void, onGroup: (group: Record<string, any>) => void,
 *   selection?: any}} options
 */
export function showResult(holder, { spec, result, window: w, onBox, onCell, onGroup, selection }) {
  const breakdowns = spec.breakdowns || [];
  const rows = (result.data && result.data.results) || [];
  const names = measures(spec);
  const groups = seriesByGroup(result, breakdowns, names.map((n) => n.key), w.first, w.end, w.step);
  const order = rows.map((r) => groupKey(r.data, breakdowns));
  const markers = result.markers || [];
  const charts = h("div", { class: "query-charts" });
  holder.append(charts);
  let heatmap = null;
  for (const { key, calculation } of names) {
    const canvas = h("canvas", { class: "chart", "data-testid": calculation.op === "HEATMAP" ? "heatmap" : "line-chart", "data-calculation": key });
    charts.append(h("div", { class: "card chart-card" }, h("h3", {}, key), canvas));
    if (calculation.op === "HEATMAP") {
      const columns = heatmapColumns(result, key, w);
      if (!columns) {
        canvas.replaceWith(h("p", { class: "muted" }, "No values in this range."));
        continue;
      }
      heatmap = heatmapChart(canvas, {
        start: w.first, end: w.end, step: w.step, ...columns, markers, selection, format: formatterOf(calculation),
        onSelect: onBox, onCell,
      });
      continue;
    }
    const series = order.slice(0, CHARTED).map((group, i) => ({
      name: group || "all", color: seriesColor(i), values: (groups.get(group) || {})[key] || [],
    }));
    lineChart(canvas, { start: w.first, end: w.end, step: w.step, series, markers, format: formatterOf(calculation) });
  }
  holder.append(resultTable(rows, breakdowns, names, onGroup));
  return { heatmap };
}

/** The heatmap's columns: per bucket, the counts of every group added up. */
function heatmapColumns(result, key, w) {
  const byTime = new Map();
  let axis = null;
  for (const point of (result.data && result.data.series) || []) {
    const value = point.data[key];
    if (!value || !value.counts) continue;
    axis = axis || value;
    const time = Date.parse(point.time) / 1000;
    const counts = byTime.get(time) || new Array(value.counts.length).fill(0);
    value.counts.forEach((c, i) => (counts[i] += c));
    byTime.set(time, counts);
  }
  if (!axis) return null;
  const columns = [...byTime].filter(([time]) => time >= w.first && time < w.end).map(([time, counts]) => ({ time, counts }));
  return { columns, min: axis.min_value, stepSize: axis.step_size || 1, bins: axis.counts.length };
}

function resultTable(rows, breakdowns, names, onGroup) {
  if (!rows.length) return h("p", { class: "muted", "data-testid": "no-results" }, "No events matched in this range.");
  const plain = names.filter((n) => n.calculation.op !== "HEATMAP");
  // A lone HEATMAP has nothing to tabulate: its chart is the answer.
  if (!plain.length && !breakdowns.length) return "";
  const head = h("tr", {}, h("th", {}), breakdowns.map((b) => h("th", {}, b)), plain.map((n) => h("th", { class: "num" }, n.key)),
    breakdowns.length ? h("th", {}) : null);
  const body = rows.map((row, i) => h("tr", { "data-group": groupKey(row.data, breakdowns) },
    h("td", {}, i < CHARTED ? h("span", { class: "chip", style: `background:${seriesColor(i)}` }) : ""),
    breakdowns.map((b) => h("td", { "data-column": b }, row.data[b] === undefined ? h("span", { class: "muted" }, "(none)") : String(row.data[b]))),
    plain.map((n) => h("td", { class: "num", "data-column": n.key, title: row.data[n.key] === undefined ? undefined : String(row.data[n.key]) }, row.data[n.key] === undefined ? "–" : formatterOf(n.calculation)(row.data[n.key]))),
    breakdowns.length ? h("td", {}, h("button", {
      type: "button", class: "copy", title: "Compare this group with the rest",
      onclick: () => onGroup(Object.fromEntries(breakdowns.filter((b) => row.data[b] !== undefined).map((b) => [b, row.data[b]]))),
    }, "BubbleUp")) : null));
  return h("table", { class: "grid", "data-testid": "query-results" }, h("thead", {}, head), h("tbody", {}, body));
}
