// BubbleUp's answer: per column, the selection against the baseline (the query's other events),
// most different first; each with "add to WHERE" (the value or bin most over-represented in the
// selection) and "group by".

import { call, describe } from "../lib/api.js";
import { h, problem } from "../lib/dom.js";
import { compact } from "../charts/canvas.js";
import { pairedBars } from "../charts/bars.js";

/** Columns drawn at once; the rest follow on "show more". */
const SHOWN = 12;

/** Runs BubbleUp for a selection and draws it into `holder`. */
export async function runBubbleUp(holder, { dataset, spec, selection, signal, onAddFilter, onGroupBy }) {
  holder.replaceChildren(h("h2", {}, "BubbleUp"), h("p", { class: "loading" }, "Comparing the selection with the baseline…"));
  let answer;
  try {
    answer = await call("/api/v1/bubbleup", { method: "POST", body: { dataset, query: spec, selection }, signal });
  } catch (error) {
    if (error.name === "AbortError") return;
    holder.replaceChildren(h("h2", {}, "BubbleUp"), problem(describe(error)));
    return;
  }
  const list = h("div", { class: "bubbleup-columns", "data-testid": "bubbleup-columns" });
  holder.replaceChildren(
    h("h2", {}, "BubbleUp"),
    h("p", { class: "muted", "data-testid": "bubbleup-counts" },
      `${compact(answer.selection_count)} events selected, ${compact(answer.baseline_count)} in the baseline. `,
      h("span", { class: "legend-chip selection" }), " selection ", h("span", { class: "legend-chip baseline" }), " baseline"),
    list);
  const show = (columns) => columns.forEach((column) => list.append(columnCard(column, { onAddFilter, onGroupBy })));
  show(answer.columns.slice(0, SHOWN));
  if (answer.columns.length > SHOWN) {
    const more = h("button", { type: "button", onclick: () => { more.remove(); show(answer.columns.slice(SHOWN)); } },
      `show ${answer.columns.length - SHOWN} more columns`);
    holder.append(more);
  }
  if (!answer.columns.length) list.append(h("p", { class: "muted" }, "No column tells the selection apart."));
}

function columnCard(column, { onAddFilter, onGroupBy }) {
  const measure = column.kind === "measure";
  const rows = column.shares.map((share) => ({
    label: measure ? `${compact(share.min)} – ${compact(share.max)}` : share.value === null ? "(none)" : String(share.value),
    selection: share.selection, baseline: share.baseline, share,
  }));
  const canvas = h("canvas", { class: "bars" });
  const card = h("div", { class: "card bubbleup-column", "data-column": column.column },
    h("div", { class: "bubbleup-head" },
      h("strong", {}, column.column), h("span", { class: "muted" }, ` score ${column.score.toFixed(2)}`),
      h("span", { class: "actions" },
        h("button", { type: "button", class: "copy", "data-action": "where", onclick: () => onAddFilter(...filtersFor(column)) }, "add to WHERE"),
        h("button", { type: "button", class: "copy", "data-action": "group", onclick: () => onGroupBy(column.column) }, "group by"))),
    canvas);
  requestAnimationFrame(() => pairedBars(canvas, { rows }));
  return card;
}

/** The filters that keep what the selection has most over the baseline: its value, or its bin. */
function filtersFor(column) {
  const lead = [...column.shares].sort((a, b) => (b.selection - b.baseline) - (a.selection - a.baseline))[0];
  if (column.kind === "measure") {
    return [{ column: column.column, op: ">=", value: lead.min }, { column: column.column, op: "<", value: lead.max }];
  }
  if (lead.value === null) return [{ column: column.column, op: "does-not-exist" }];
  return [{ column: column.column, op: "=", value: lead.value }];
}
