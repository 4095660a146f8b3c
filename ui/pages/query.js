// Query: Honeycomb's builder over the Query Data API, its charts and results table, and
// BubbleUp on a box dragged over the heatmap or on one result group. The dataset, the spec
// (`q`, a QuerySpec without its time) and the BubbleUp selection (`sel`) live in the URL.

import { call, describe, runQuery } from "../lib/api.js";
import { h, problem, toast } from "../lib/dom.js";
import { rangeOf } from "../lib/time.js";
import { navigate, replaceParams } from "../lib/url.js";
import { queryWindow } from "../lib/honeycomb.js";
import { queryBuilder } from "../query/builder.js";
import { showResult } from "../query/results.js";
import { runBubbleUp } from "../query/bubbleup.js";
import { ClauseError } from "../query/clauses.js";

const DEFAULT_SPEC = { calculations: [{ op: "COUNT" }, { op: "HEATMAP", column: "duration_ms" }] };

function fromUrl(params, name, fallback) {
  try {
    return params.get(name) ? JSON.parse(params.get(name)) : fallback;
  } catch {
    return fallback;
  }
}

/**
 * A result's link (`/query?dataset=D&result_id=R`, as the Query Data API answers `query_url`)
 * opens the query of that result over its own window, written into the URL as this page keeps it.
 */
async function fromResultLink(params, signal) {
  const dataset = params.get("dataset") || "__all__";
  const found = await call(`/1/query_results/${encodeURIComponent(dataset)}/${encodeURIComponent(params.get("result_id"))}`, { signal });
  const spec = { ...found.query };
  const { start_time: start, end_time: end, time_range: seconds } = spec;
  for (const name of ["id", "start_time", "end_time", "time_range"]) delete spec[name];
  const next = new URLSearchParams({ dataset, q: JSON.stringify(spec) });
  const span = seconds || 7200;
  const window_ = start !== undefined ? [start, end ?? start + span] : end !== undefined ? [end - span, end] : null;
  if (window_) {
    next.set("start", String(window_[0]));
    next.set("end", String(window_[1]));
  } else next.set("range", `${span}s`);
  history.replaceState(null, "", `/query?${next}`);
  return new URLSearchParams(location.search);
}

export async function render(main, { params: given, signal }) {
  const params = given.get("result_id") && !given.get("q") ? await fromResultLink(given, signal) : given;
  const dataset = params.get("dataset") || "__all__";
  const spec = fromUrl(params, "q", DEFAULT_SPEC);
  const range = rangeOf(params);
  const [datasets, columns] = await Promise.all([
    call("/1/datasets", { signal }).then((list) => ["__all__", ...list.map((d) => d.slug)]),
    call(`/1/columns/${encodeURIComponent(dataset)}`, { signal }).then((list) => list.map((c) => c.key_name)).catch(() => []),
  ]);
  const status = h("div", { class: "query-status", role: "status" });
  const results = h("div", { class: "query-results", "data-testid": "query-output" });
  const bubbleup = h("div", { class: "bubbleup hidden", "data-testid": "bubbleup" });
  const go = (next, selection) => {
    navigate(`/query?${new URLSearchParams(withoutEmpty({ ...Object.fromEntries(params), dataset, q: JSON.stringify(next), sel: selection ? JSON.stringify(selection) : "" }))}`);
  };
  const builder = queryBuilder(spec, {
    datasets: datasets.includes(dataset) ? datasets : [...datasets, dataset], dataset, columns,
    onRun: () => {
      try {
        go(builder.read());
      } catch (error) {
        if (!(error instanceof ClauseError)) throw error;
        status.replaceChildren(problem(error.message));
      }
    },
    onDataset: (next) => navigate(`/query?${new URLSearchParams(withoutEmpty({ ...Object.fromEntries(params), dataset: next, sel: "" }))}`),
  });
  main.append(h("h1", {}, "Query"), builder.element, status, h("div", { class: "query-layout" }, results, bubbleup));

  const w = queryWindow(range, spec.granularity);
  const timed = { ...spec, start_time: w.start, end_time: w.end, granularity: w.step };
  delete timed.time_range;
  status.replaceChildren(h("p", { class: "loading" }, "Running…"));
  let answer;
  try {
    answer = await runQuery(dataset, timed, { signal });
  } catch (error) {
    if (error.name === "AbortError") return null;
    status.replaceChildren(problem(describe(error)));
    return null;
  }
  status.replaceChildren();
  const heatmapColumn = (spec.calculations || []).find((c) => c.op === "HEATMAP")?.column;
  const bubble = (selection) => {
    replaceParams({ sel: JSON.stringify(selection) });
    bubbleup.classList.remove("hidden");
    runBubbleUp(bubbleup, {
      dataset, spec: timed, selection, signal,
      onAddFilter: (...filters) => {
        filters.forEach((f) => builder.addFilter(f));
        go(builder.read());
      },
      onGroupBy: (column) => {
        builder.addBreakdown(column);
        go(builder.read());
      },
    });
  };
  const selection = fromUrl(params, "sel", null);
  showResult(results, {
    spec, result: answer.result, window: w, selection: selection && selection.heatmap,
    onBox: (box) => bubble({ heatmap: { column: heatmapColumn, ...box } }),
    onGroup: (group) => bubble({ group }),
    onCell: (cell) => openTraceIn(dataset, timed, heatmapColumn, cell, signal).catch((error) => error.name !== "AbortError" && toast(describe(error))),
  });
  if (selection) bubble(selection);
  return null;
}

function withoutEmpty(values) {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined && v !== null && v !== ""));
}

/**
 * Opens a trace with an event in one heatmap cell: the query's own events (its filters and
 * window) grouped by trace, counting only those in the cell's time and value range.
 */
async function openTraceIn(dataset, timed, column, cell, signal) {
  const inCell = [
    { column: "combray.cell_time", op: ">=", value: cell.start_time }, { column: "combray.cell_time", op: "<", value: cell.end_time },
    { column, op: ">=", value: cell.min }, { column, op: "<", value: cell.max },
    // Events sent without a trace have no trace id; they cannot be opened.
    { column: "trace.trace_id", op: "exists" },
  ];
  const lookup = {
    ...timed, breakdowns: ["trace.trace_id"], limit: 1, orders: [{ op: "COUNT", order: "descending" }],
    calculated_fields: [...(timed.calculated_fields || []), { name: "combray.cell_time", expression: "EVENT_TIMESTAMP()" }],
    calculations: [{ op: "COUNT", name: "in_cell", filters: inCell }],
  };
  delete lookup.havings;
  const { result } = await runQuery(dataset, lookup, { signal, disableSeries: true });
  const top = (result.data.results || [])[0];
  if (!top || !top.data.in_cell || !top.data["trace.trace_id"]) {
    toast("No traced event in that cell.");
    return;
  }
  navigate(`/trace/${top.data["trace.trace_id"]}`);
}
