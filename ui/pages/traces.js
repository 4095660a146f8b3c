// Trace search: by service, operation, duration, status and attributes (our search API), or by
// an X-Ray filter expression (GetTraceSummaries, with the environment's groups to pick from).
// A scatter of duration over time above a sortable list; every field is in the URL.

import { call, describe, xray } from "../lib/api.js";
import { h, problem } from "../lib/dom.js";
import { formatMs, formatTime, nsToMs, rangeOf } from "../lib/time.js";
import { navigate, replaceParams } from "../lib/url.js";
import { scatterChart } from "../charts/scatter.js";

const FIELDS = ["service", "name", "min_duration", "max_duration", "status", "attrs", "limit", "filter"];
const SORTS = {
  recent: (a, b) => b.t - a.t,
  oldest: (a, b) => a.t - b.t,
  longest: (a, b) => b.ms - a.ms,
  shortest: (a, b) => a.ms - b.ms,
  spans: (a, b) => (b.spans ?? 0) - (a.spans ?? 0),
  errors: (a, b) => b.errors - a.errors,
};

/** `key=value key2="two words"` → pairs (logfmt, as Jaeger's search box takes tags). */
export function parseAttributes(text) {
  const pairs = [];
  const pattern = /([^\s=]+)=("([^"]*)"|\S*)/g;
  for (let match; (match = pattern.exec(text || "")); ) pairs.push([match[1], match[3] ?? match[2]]);
  return pairs;
}

export async function render(main, { params, signal }) {
  const range = rangeOf(params);
  const form = await searchForm(params, signal);
  const results = h("div", { "data-testid": "trace-results" });
  main.append(h("h1", {}, "Traces"), form, results);
  const query = Object.fromEntries(FIELDS.map((f) => [f, params.get(f) || ""]));
  if (params.get("mode") === "xray" && !query.filter) return null;
  results.append(h("p", { class: "loading" }, "Searching…"));
  let found;
  try {
    found = params.get("mode") === "xray" ? await xraySearch(query, range, signal) : await ownSearch(query, range, signal);
  } catch (error) {
    if (error.name === "AbortError") return null;
    results.replaceChildren(problem(describe(error)));
    return null;
  }
  showResults(results, found, range, params.get("sort") || "recent");
  return null;
}

async function ownSearch(query, range, signal) {
  const search = new URLSearchParams({ start: String(range.start), end: String(range.end), limit: query.limit || "100" });
  for (const field of ["service", "name", "min_duration", "max_duration", "status"]) if (query[field]) search.set(field, query[field]);
  for (const [key, value] of parseAttributes(query.attrs)) search.append(`attr.${key}`, value);
  const answer = await call(`/api/v1/traces?${search}`, { signal });
  return {
    note: `${answer.traces.length} of ${answer.matched} matching traces`,
    rows: answer.traces.map((t) => ({
      id: t.trace_id, t: nsToMs(t.start_unix_nano) / 1000, ms: t.duration_ms, error: t.error, errors: t.error_count,
      spans: t.span_count, label: `${t.root_service}: ${t.root_name}`, root: t.has_root,
    })),
  };
}

async function xraySearch(query, range, signal) {
  const rows = [];
  let token;
  let scanned = 0;
  do {
    const page = await xray("TraceSummaries", { StartTime: range.start, EndTime: range.end, FilterExpression: query.filter, NextToken: token }, signal);
    scanned = page.TracesProcessedCount ?? scanned;
    for (const s of page.TraceSummaries || []) {
      const entry = s.EntryPoint ? s.EntryPoint.Name : (s.ServiceIds && s.ServiceIds[0] ? s.ServiceIds[0].Name : "");
      const request = s.Http && s.Http.HttpURL ? ` ${s.Http.HttpMethod || ""} ${s.Http.HttpURL}` : "";
      rows.push({
        id: s.Id, t: s.StartTime, ms: (s.Duration || 0) * 1000, error: s.HasFault || s.HasError, errors: (s.HasFault ? 1 : 0) + (s.HasError ? 1 : 0),
        spans: null, label: `${entry}:${request}`, root: true,
      });
    }
    token = page.NextToken;
  } while (token && rows.length < Number(query.limit || 100));
  return { note: `${rows.length} traces match of ${scanned} scanned`, rows };
}

async function searchForm(params, signal) {
  const xrayMode = params.get("mode") === "xray";
  const value = (name) => params.get(name) || "";
  const services = await call("/api/v1/services", { signal }).then((a) => a.services).catch(() => []);
  const service = h("select", { name: "service", "aria-label": "Service" }, h("option", { value: "" }, "any service"), services.map((s) => h("option", { value: s }, s)));
  service.value = value("service");
  const operation = h("input", { name: "name", placeholder: "span name", list: "operations", value: value("name"), "aria-label": "Span name" });
  const operations = h("datalist", { id: "operations" });
  const loadOperations = async () => {
    if (!service.value) return operations.replaceChildren();
    const answer = await call(`/api/v1/services/${encodeURIComponent(service.value)}/operations`).catch(() => ({ operations: [] }));
    operations.replaceChildren(...answer.operations.map((o) => h("option", { value: o.name })));
  };
  service.addEventListener("change", loadOperations);
  loadOperations();
  const status = h("select", { name: "status", "aria-label": "Status" }, ["", "error", "ok", "unset"].map((s) => h("option", { value: s }, s || "any status")));
  status.value = value("status");
  const filter = h("input", { name: "filter", class: "mono", style: "flex:1;min-width:360px", placeholder: 'service("api") { fault = true } AND responsetime > 1', value: value("filter"), "aria-label": "X-Ray filter expression", "data-search": "" });
  const groups = h("select", { "aria-label": "X-Ray group" }, h("option", { value: "" }, "groups…"));
  xray("Groups", {}, signal).then((answer) => {
    for (const g of answer.Groups || []) if (g.FilterExpression) groups.append(h("option", { value: g.FilterExpression }, g.GroupName));
  }).catch(() => {});
  groups.addEventListener("change", () => {
    filter.value = groups.value;
  });
  const field = (label, input) => h("label", {}, label, input);
  const own = h("div", { class: `form-row${xrayMode ? " hidden" : ""}` },
    field("Service", service), field("Span name", h("span", {}, operation, operations)),
    field("Min duration", h("input", { name: "min_duration", placeholder: "100ms", size: 8, value: value("min_duration"), "aria-label": "Min duration" })),
    field("Max duration", h("input", { name: "max_duration", placeholder: "2s", size: 8, value: value("max_duration"), "aria-label": "Max duration" })),
    field("Status", status),
    field("Attributes (key=value …)", h("input", { name: "attrs", placeholder: "http.status_code=500", size: 28, value: value("attrs"), "aria-label": "Attributes", "data-search": xrayMode ? undefined : "" })));
  const xrayRow = h("div", { class: `form-row${xrayMode ? "" : " hidden"}` }, field("X-Ray filter expression", filter), field("Group", groups));
  const mode = h("select", { name: "mode", "aria-label": "Search mode" }, h("option", { value: "" }, "by fields"), h("option", { value: "xray" }, "by X-Ray filter expression"));
  mode.value = xrayMode ? "xray" : "";
  mode.addEventListener("change", () => {
    own.classList.toggle("hidden", mode.value === "xray");
    xrayRow.classList.toggle("hidden", mode.value !== "xray");
  });
  const limit = h("select", { name: "limit", "aria-label": "Limit" }, ["20", "100", "500", "1000"].map((n) => h("option", { value: n }, `${n} traces`)));
  limit.value = value("limit") || "100";
  const form = h("form", { class: "search", autocomplete: "off" }, own, xrayRow,
    h("div", { class: "form-row" }, mode, limit, h("button", { class: "primary", type: "submit", "data-testid": "search" }, "Search")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = { range: params.get("range"), start: params.get("start"), end: params.get("end"), sort: params.get("sort") };
    for (const [name, v] of data) if (v && (name !== "filter" || mode.value === "xray")) next[name] = v;
    if (mode.value === "xray") for (const f of ["service", "name", "min_duration", "max_duration", "status", "attrs"]) delete next[f];
    navigate("/traces", Object.fromEntries(Object.entries(next).filter(([, v]) => v)));
  });
  return form;
}

function showResults(holder, found, range, sort) {
  if (!found.rows.length) {
    holder.replaceChildren(h("div", { class: "empty" }, "No traces match in this range. Widen the range or loosen a condition."));
    return;
  }
  const canvas = h("canvas", { class: "chart", "data-testid": "scatter" });
  const body = h("tbody");
  const headers = [["Trace", null], ["Start", "recent"], ["Duration", "longest"], ["Spans", "spans"], ["Errors", "errors"]];
  const head = h("tr", {}, headers.map(([label, key]) => h("th", {
    class: `${key ? "sortable" : ""}${key === sort || (key && SORTS[sort] && sort.startsWith(key)) ? " sorted" : ""}${label !== "Trace" && label !== "Start" ? " num" : ""}`,
    onclick: key ? () => {
      const next = sort === key ? { recent: "oldest", longest: "shortest" }[key] || key : key;
      replaceParams({ sort: next });
      fill(next);
    } : undefined,
  }, label)));
  const fill = (order) => {
    const rows = [...found.rows].sort(SORTS[order] || SORTS.recent);
    body.replaceChildren(...rows.map((r) => h("tr", { class: "clickable", "data-trace": r.id, onclick: () => navigate(`/trace/${r.id}`) },
      h("td", {}, h("a", { href: `/trace/${r.id}` }, r.label), r.root ? "" : h("span", { class: "muted", title: "The root span has not arrived" }, " (no root)"), h("div", { class: "mono muted" }, r.id)),
      h("td", {}, formatTime(r.t * 1000)),
      h("td", { class: "num" }, formatMs(r.ms)),
      h("td", { class: "num" }, r.spans ?? "–"),
      h("td", { class: "num" }, r.errors ? h("span", { class: "pill err" }, r.errors) : "0"))));
  };
  fill(sort);
  holder.replaceChildren(h("p", { class: "muted" }, found.note), canvas, h("table", { class: "grid" }, h("thead", {}, head), body));
  scatterChart(canvas, {
    points: found.rows.map((r) => ({ t: r.t, ms: r.ms, error: r.error, id: r.id, label: r.label })),
    start: range.start, end: range.end, onPick: (id) => navigate(`/trace/${id}`),
  });
}
