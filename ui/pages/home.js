// Home: every service's request rate, error rate and P50/P95/P99 over the range, each with a
// sparkline and the environment's markers; the slowest and the failing operations; recent traces.

import { call, describe, runQuery } from "../lib/api.js";
import { h, problem } from "../lib/dom.js";
import { formatClock, formatMs, formatPercent, formatRate, nsToMs, rangeOf } from "../lib/time.js";
import { withRange } from "../lib/url.js";
import { granularityFor, groupKey, queryWindow, seriesByGroup } from "../lib/honeycomb.js";
import { sparkline } from "../charts/line.js";
import { color } from "../charts/canvas.js";

/** Requests are the spans that enter a service: server and consumer spans, and trace roots. */
const ENTRY = {
  filters: [
    { column: "span.kind", op: "in", value: ["server", "consumer"] },
    { column: "trace.parent_id", op: "does-not-exist" },
  ],
  filter_combination: "OR",
};
const ERRORS = { op: "COUNT", name: "errors", filters: [{ column: "error", op: "=", value: true }] };
/** What a service's "query" link opens: latency by operation, with its heatmap. */
const SERVICE_QUERY = { calculations: [{ op: "HEATMAP", column: "duration_ms" }, { op: "P99", column: "duration_ms" }, { op: "COUNT" }], breakdowns: ["name"] };
const NAMES = ["COUNT", "errors", "P50(duration_ms)", "P95(duration_ms)", "P99(duration_ms)"];

export async function render(main, { params, signal }) {
  performance.mark("combray:home-start");
  const range = rangeOf(params);
  const step = granularityFor(range.seconds, 40);
  const window_ = { start_time: range.start, end_time: range.end };
  const services = h("div", { class: "card", "data-testid": "services" }, h("h2", {}, "Services"), h("p", { class: "loading" }, "Loading…"));
  const slowest = h("div", { class: "card" }, h("h2", {}, "Slowest operations (P99)"));
  const failing = h("div", { class: "card" }, h("h2", {}, "Failing operations"));
  const recent = h("div", { class: "card" }, h("h2", {}, "Recent traces"));
  main.append(h("h1", {}, "Home"), services, h("div", { class: "cards", style: "margin-top:16px" }, slowest, failing, recent));

  const spec = {
    ...window_, ...ENTRY, granularity: step, breakdowns: ["service.name"], limit: 1000,
    calculations: [{ op: "COUNT" }, ERRORS, ...["P50", "P95", "P99"].map((op) => ({ op, column: "duration_ms" }))],
    orders: [{ op: "COUNT", order: "descending" }],
  };
  const load = [
    runQuery("__all__", spec, { signal }).then(({ result }) => showServices(services, result, range, step, signal)),
    runQuery("__all__", {
      ...window_, ...ENTRY, breakdowns: ["service.name", "name"], limit: 10,
      calculations: [{ op: "P99", column: "duration_ms" }, { op: "COUNT" }], orders: [{ op: "P99", column: "duration_ms", order: "descending" }],
    }, { signal, disableSeries: true }).then(({ result }) => showOperations(slowest, result, "P99(duration_ms)", formatMs)),
    runQuery("__all__", {
      ...window_, breakdowns: ["service.name", "name"], limit: 10,
      calculations: [{ op: "COUNT" }], filters: [{ column: "error", op: "=", value: true }], orders: [{ op: "COUNT", order: "descending" }],
    }, { signal, disableSeries: true }).then(({ result }) => showOperations(failing, result, "COUNT", (n) => `${n} errors`, "error")),
    call(`/api/v1/traces?start=${range.start}&end=${range.end}&limit=10`, { signal }).then((answer) => showRecent(recent, answer.traces)),
  ];
  const outcomes = await Promise.allSettled(load);
  const holders = [services, slowest, failing, recent];
  outcomes.forEach((outcome, i) => {
    if (outcome.status === "rejected" && outcome.reason.name !== "AbortError") {
      holders[i].querySelector(".loading")?.remove();
      holders[i].append(problem(describe(outcome.reason)));
    }
  });
  performance.mark("combray:home-drawn");
  performance.measure("combray:home", "combray:home-start", "combray:home-drawn");
  return null;
}

async function showServices(holder, result, range, step, signal) {
  const w = queryWindow(range, step);
  const groups = seriesByGroup(result, ["service.name"], NAMES, w.first, w.end, step);
  const everywhere = result.markers || [];
  const rows = (result.data.results || []).map((r) => r.data);
  holder.querySelector(".loading")?.remove();
  if (!rows.length) {
    holder.append(h("div", { class: "empty" }, "No requests in this range. Send spans to 127.0.0.1:4318 (OTLP/HTTP), 4317 (gRPC) or UDP 2000 (X-Ray)."));
    return;
  }
  const painters = new Map();
  const spark = (name, values, stroke) => {
    const canvas = h("canvas", { class: "spark" });
    const paint = (markers) => sparkline(canvas, values, { stroke, markers, start: w.first, end: w.end });
    painters.get(name).push(paint);
    requestAnimationFrame(() => paint(everywhere));
    return canvas;
  };
  const body = rows.map((data) => {
    const name = data["service.name"];
    painters.set(name, []);
    const series = groups.get(groupKey(data, ["service.name"])) || {};
    const count = data.COUNT || 0;
    const rate = (series.COUNT || []).map((v) => (v === null ? 0 : v / step));
    const errorRate = (series.COUNT || []).map((v, i) => (v ? (series.errors[i] || 0) / v : null));
    return h("tr", { "data-service": name },
      h("td", {}, h("a", { href: withRange("/traces", { service: name }) }, name), " ",
        h("a", { class: "muted", title: `Query ${name}`, href: withRange("/query", { dataset: name, q: JSON.stringify(SERVICE_QUERY) }) }, "query")),
      h("td", { class: "num" }, formatRate(count / range.seconds)), h("td", {}, spark(name, rate)),
      h("td", { class: "num" }, formatPercent(count ? (data.errors || 0) / count : null)), h("td", {}, spark(name, errorRate, color("fault"))),
      h("td", { class: "num" }, formatMs(data["P50(duration_ms)"])),
      h("td", { class: "num" }, formatMs(data["P95(duration_ms)"])),
      h("td", { class: "num" }, formatMs(data["P99(duration_ms)"])), h("td", {}, spark(name, series["P99(duration_ms)"] || [])));
  });
  const head = ["Service", "Requests", "", "Errors", "", "P50", "P95", "P99", ""];
  holder.append(h("table", { class: "grid" }, h("thead", {}, h("tr", {}, head.map((t, i) => h("th", { class: [1, 3, 5, 6, 7].includes(i) ? "num" : "" }, t)))), h("tbody", {}, body)));
  // Each service's own markers (its deploys) join the environment's on its sparklines.
  const inRange = (m) => m.start_time >= w.first && m.start_time <= w.end;
  const own = await Promise.all(rows.map((d) => call(`/1/markers/${encodeURIComponent(d["service.name"])}`, { signal }).catch(() => [])));
  const seen = new Set(everywhere.map((m) => m.id));
  rows.forEach((d, i) => {
    const mine = own[i].filter(inRange);
    mine.forEach((m) => seen.add(m.id));
    if (mine.length) painters.get(d["service.name"]).forEach((paint) => paint([...everywhere, ...mine]));
  });
  if (seen.size) holder.append(h("p", { class: "muted", "data-testid": "marker-note" }, `${seen.size} marker(s) in range, drawn on the sparklines`));
}

function showOperations(holder, result, name, format, kind) {
  const rows = (result.data.results || []).map((r) => r.data);
  if (!rows.length) {
    holder.append(h("p", { class: "muted" }, kind === "error" ? "No errors in this range." : "No requests in this range."));
    return;
  }
  holder.append(h("table", { class: "grid" }, h("tbody", {}, rows.map((d) => h("tr", {},
    h("td", {}, h("a", { href: withRange("/traces", { service: d["service.name"], name: d.name, status: kind === "error" ? "error" : undefined }) }, `${d["service.name"]}: ${d.name}`)),
    h("td", { class: "num" }, format(d[name])))))));
}

function showRecent(holder, traces) {
  if (!traces.length) {
    holder.append(h("p", { class: "muted" }, "No traces in this range."));
    return;
  }
  holder.append(h("table", { class: "grid" }, h("tbody", {}, traces.map((t) => h("tr", {},
    h("td", {}, h("a", { href: `/trace/${t.trace_id}` }, `${t.root_service}: ${t.root_name}`)),
    h("td", { class: "muted num" }, formatClock(nsToMs(t.start_unix_nano), true)),
    h("td", { class: "num" }, formatMs(t.duration_ms)))))));
}
