// The service map: X-Ray's service graph (so OTLP and X-Ray services both appear), laid out
// in layers, each node with its request rate, average latency and a health ring in X-Ray's
// colours. A node or edge opens its latency histogram; dragging a range lists those traces.

import { describe, xray } from "../lib/api.js";
import { h, problem, s } from "../lib/dom.js";
import { formatMs, rangeOf } from "../lib/time.js";
import { withRange } from "../lib/url.js";
import { layeredLayout } from "../graph/layout.js";
import { color } from "../charts/canvas.js";
import { histogramChart } from "../charts/histogram.js";

const MAX_NODES = 200;
const RADIUS = 26;

/** ok / error (4xx) / fault (5xx) / throttle (429) counts of X-Ray summary statistics. */
function health(stats) {
  if (!stats) return { ok: 0, error: 0, fault: 0, throttle: 0, total: 0, avg: 0 };
  const throttle = (stats.ErrorStatistics && stats.ErrorStatistics.ThrottleCount) || 0;
  const error = ((stats.ErrorStatistics && stats.ErrorStatistics.TotalCount) || 0) - throttle;
  const fault = (stats.FaultStatistics && stats.FaultStatistics.TotalCount) || 0;
  const total = stats.TotalCount || 0;
  return { ok: stats.OkCount || 0, error, fault, throttle, total, avg: total ? (stats.TotalResponseTime || 0) / total : 0 };
}

/** Keeps the busiest nodes; the rest become one "+N" node that takes over their edges. */
export function limitNodes(services, limit = MAX_NODES) {
  if (services.length <= limit) return services;
  const ranked = [...services].sort((a, b) => health(b.SummaryStatistics).total - health(a.SummaryStatistics).total);
  const kept = ranked.slice(0, limit - 1);
  const hidden = ranked.slice(limit - 1);
  const hiddenIds = new Set(hidden.map((n) => n.ReferenceId));
  const other = { ReferenceId: -1, Name: `+${hidden.length} more`, Type: "collapsed", Edges: [], SummaryStatistics: null, collapsed: hidden.map((n) => n.Name) };
  const redirected = kept.map((n) => ({ ...n, Edges: (n.Edges || []).map((e) => (hiddenIds.has(e.ReferenceId) ? { ...e, ReferenceId: -1 } : e)) }));
  return [...redirected, other];
}

/** An OTel trace id (32 hex) in X-Ray's form, which the X-Ray API takes; others unchanged. */
function xrayId(id) {
  return /^[0-9a-f]{32}$/i.test(id) ? `1-${id.slice(0, 8)}-${id.slice(8)}` : id;
}

export async function render(main, { params, signal }) {
  const range = rangeOf(params);
  main.className = "fill";
  const side = h("aside", { class: "detail hidden", "data-testid": "map-detail" });
  const holder = h("div", { class: "map-canvas", "data-testid": "service-map" });
  main.append(h("div", { class: "map-wrap" }, holder, side));
  holder.append(h("p", { class: "loading" }, "Loading the service map…"));
  let answer;
  try {
    const trace = params.get("trace");
    answer = trace
      ? await xray("TraceGraph", { TraceIds: [xrayId(trace)] }, signal)
      : await xray("ServiceGraph", { StartTime: range.start, EndTime: range.end }, signal);
  } catch (error) {
    holder.replaceChildren(problem(describe(error)));
    return null;
  }
  const services = limitNodes(answer.Services || []);
  if (!services.length) {
    holder.replaceChildren(h("div", { class: "empty" }, "No services called in this range."));
    return null;
  }
  drawMap(holder, side, services, range, params.get("trace"));
  return null;
}

function ring(cx, cy, counts) {
  const parts = [["ok", counts.ok], ["error", counts.error], ["throttle", counts.throttle], ["fault", counts.fault]];
  const total = parts.reduce((n, [, c]) => n + c, 0);
  if (!total) return [s("circle", { cx, cy, r: RADIUS, fill: "none", stroke: color("idle"), "stroke-width": 5 })];
  const arcs = [];
  let angle = -Math.PI / 2;
  for (const [name, count] of parts) {
    if (!count) continue;
    const sweep = (count / total) * Math.PI * 2;
    if (sweep >= Math.PI * 2 - 1e-6) {
      arcs.push(s("circle", { cx, cy, r: RADIUS, fill: "none", stroke: color(name), "stroke-width": 5, "data-health": name }));
      break;
    }
    const end = angle + sweep;
    const large = sweep > Math.PI ? 1 : 0;
    const d = `M ${cx + RADIUS * Math.cos(angle)} ${cy + RADIUS * Math.sin(angle)} A ${RADIUS} ${RADIUS} 0 ${large} 1 ${cx + RADIUS * Math.cos(end)} ${cy + RADIUS * Math.sin(end)}`;
    arcs.push(s("path", { d, fill: "none", stroke: color(name), "stroke-width": 5, "data-health": name }));
    angle = end;
  }
  return arcs;
}

function drawMap(holder, side, services, range, trace) {
  const index = new Map(services.map((n, i) => [n.ReferenceId, i]));
  const edges = [];
  services.forEach((n, a) => (n.Edges || []).forEach((e) => index.has(e.ReferenceId) && edges.push({ a, b: index.get(e.ReferenceId), edge: e })));
  const layout = layeredLayout(services.length, edges.map(({ a, b }) => [a, b]));
  const pad = 80;
  const seconds = range.seconds || 1;
  // A small map is drawn at its natural size, centred, rather than blown up to fill the page.
  const width = Math.max(layout.width + pad * 2, holder.clientWidth || 0);
  const height = Math.max(layout.height + pad * 2, holder.clientHeight || 0);
  const left = -pad - (width - layout.width - pad * 2) / 2;
  const top = -pad - (height - layout.height - pad * 2) / 2;
  const svg = s("svg", { viewBox: `${left} ${top} ${width} ${height}`, role: "img", "aria-label": "Service map" },
    s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: color("idle") }))));
  const select = (element) => {
    svg.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
    element.classList.add("selected");
  };
  for (const { a, b, edge } of edges) {
    const x1 = layout.x[a] + RADIUS;
    const y1 = layout.y[a];
    const x2 = layout.x[b] - RADIUS;
    const y2 = layout.y[b];
    const bend = Math.max(40, Math.abs(x2 - x1) / 2);
    const d = a === b ? `M ${x1 - RADIUS} ${y1 - RADIUS} c 30 -60 60 0 ${RADIUS} ${RADIUS}` : `M ${x1} ${y1} C ${x1 + bend} ${y1} ${x2 - bend} ${y2} ${x2} ${y2}`;
    const counts = health(edge.SummaryStatistics);
    const group = s("g", { class: "edge", "data-edge": `${services[a].Name}→${services[b].Name}` },
      s("path", { d, class: "hit" }), s("path", { d, "marker-end": "url(#arrow)", stroke: counts.fault ? color("fault") : counts.error ? color("error") : undefined }),
      s("title", {}, `${services[a].Name} → ${services[b].Name}: ${counts.total} calls, avg ${formatMs(counts.avg * 1000)}`));
    group.addEventListener("click", () => {
      select(group);
      showDetail(side, { kind: "edge", from: services[a], to: services[b], stats: edge.SummaryStatistics, histogram: edge.ResponseTimeHistogram, range, trace });
    });
    svg.append(group);
  }
  services.forEach((node, i) => {
    const counts = health(node.SummaryStatistics);
    const cx = layout.x[i];
    const cy = layout.y[i];
    // X-Ray's client node carries the name of the service it calls; it is shown, and keyed, as
    // the callers of that service. AWS resources say what kind of resource they are.
    const client = node.Type === "client";
    const label = client ? "Clients" : node.Type && node.Type.startsWith("AWS::") ? `${node.Name} (${node.Type})` : node.Name;
    const group = s("g", { class: "node", "data-node": client ? `client:${node.Name}` : node.Name, tabindex: "0" },
      s("circle", { class: "bg", cx, cy, r: RADIUS - 3 }), ...ring(cx, cy, counts),
      s("text", { x: cx, y: cy + 4, "text-anchor": "middle", "font-size": 11 }, counts.total ? formatMs(counts.avg * 1000) : node.collapsed ? "…" : ""),
      s("text", { x: cx, y: cy + RADIUS + 16, "text-anchor": "middle" }, label),
      s("text", { x: cx, y: cy + RADIUS + 30, "text-anchor": "middle", "font-size": 11, fill: color("muted") }, counts.total ? `${((counts.total / seconds) * 60).toFixed(1)}/min` : ""));
    group.addEventListener("click", () => {
      select(group);
      showDetail(side, { kind: "node", node, stats: node.SummaryStatistics, histogram: node.ResponseTimeHistogram, range, trace });
    });
    svg.append(group);
  });
  holder.replaceChildren(svg, legend());
  panZoom(svg);
}

function legend() {
  return h("div", { class: "legend" }, [["ok", "OK"], ["error", "Error (4xx)"], ["fault", "Fault (5xx)"], ["throttle", "Throttle (429)"], ["idle", "No traffic"]]
    .map(([name, label]) => h("span", { style: "margin-right:10px" }, h("span", { class: "swatch", style: `background:${color(name)}` }), label)));
}

/** Drag pans and the wheel zooms, by rewriting the viewBox. */
function panZoom(svg) {
  let box = svg.viewBox.baseVal;
  let from = null;
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    const factor = event.deltaY > 0 ? 1.15 : 1 / 1.15;
    const rect = svg.getBoundingClientRect();
    const px = box.x + ((event.clientX - rect.left) / rect.width) * box.width;
    const py = box.y + ((event.clientY - rect.top) / rect.height) * box.height;
    box.x = px - (px - box.x) * factor;
    box.y = py - (py - box.y) * factor;
    box.width *= factor;
    box.height *= factor;
  }, { passive: false });
  svg.addEventListener("mousedown", (event) => {
    if (event.target.closest(".node, .edge")) return;
    from = { x: event.clientX, y: event.clientY, bx: box.x, by: box.y };
  });
  window.addEventListener("mousemove", (event) => {
    if (!from || !svg.isConnected) return;
    const rect = svg.getBoundingClientRect();
    box.x = from.bx - ((event.clientX - from.x) / rect.width) * box.width;
    box.y = from.by - ((event.clientY - from.y) / rect.height) * box.height;
  });
  window.addEventListener("mouseup", () => (from = null));
  box = svg.viewBox.baseVal;
}

/** The X-Ray filter expression for a node or an edge, a response-time range and status classes. */
export function filterExpression(target, range, statuses) {
  const scope = target.kind === "edge" ? `edge(${JSON.stringify(target.from.Name)}, ${JSON.stringify(target.to.Name)})` : `service(${JSON.stringify(target.node.Name)})`;
  const conditions = [];
  if (range) conditions.push(`responsetime >= ${+range.min.toFixed(3)} AND responsetime <= ${+range.max.toFixed(3)}`);
  if (statuses.length) conditions.push(`(${statuses.map((st) => `${st} = true`).join(" OR ")})`);
  return conditions.length ? `${scope} { ${conditions.join(" AND ")} }` : scope;
}

/** Bins X-Ray's response-time histogram ({Value seconds, Count}) into even bins for drawing. */
function bins(histogram) {
  if (!histogram || !histogram.length) return [];
  const values = histogram.map((e) => e.Value);
  const low = Math.min(...values);
  const high = Math.max(...values);
  const n = Math.min(40, Math.max(1, histogram.length));
  const width = (high - low) / n || Math.max(high * 0.1, 0.001);
  const out = Array.from({ length: n }, (_, i) => ({ min: low + i * width, max: low + (i + 1) * width, count: 0 }));
  for (const e of histogram) out[Math.min(n - 1, Math.floor((e.Value - low) / width))].count += e.Count;
  return out;
}

function showDetail(side, target) {
  side.classList.remove("hidden");
  const counts = health(target.stats);
  const title = target.kind === "edge" ? `${target.from.Name} → ${target.to.Name}` : `${target.node.Name}${target.node.Type ? ` (${target.node.Type})` : ""}`;
  const statuses = { error: false, fault: false, throttle: false };
  let range = null;
  const link = h("a", { "data-testid": "view-traces" }, "View traces");
  const expression = h("code", { "data-testid": "map-filter" });
  const update = () => {
    const text = filterExpression(target, range, Object.keys(statuses).filter((k) => statuses[k]));
    expression.textContent = text;
    link.href = `/traces?${new URLSearchParams({ mode: "xray", filter: text, start: String(target.range.start), end: String(target.range.end) })}`;
  };
  const canvas = h("canvas", { class: "chart", "data-testid": "map-histogram" });
  side.replaceChildren(
    h("button", { type: "button", class: "copy", style: "float:right", onclick: () => side.classList.add("hidden") }, "✕"),
    h("h2", {}, title),
    h("table", {}, [["requests", counts.total], ["average", formatMs(counts.avg * 1000)], ["ok", counts.ok], ["errors (4xx)", counts.error], ["faults (5xx)", counts.fault], ["throttled (429)", counts.throttle]]
      .map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, String(v))))),
    target.node && target.node.collapsed ? h("p", { class: "muted" }, `Hidden (least busy): ${target.node.collapsed.join(", ")}`) : "",
    h("h3", {}, "Response time distribution"), h("p", { class: "muted" }, "Drag across the histogram to choose a range."), canvas,
    h("p", {}, ...Object.keys(statuses).map((name) => h("label", { style: "margin-right:10px" },
      h("input", { type: "checkbox", "data-testid": `status-${name}`, onchange: (e) => { statuses[name] = e.target.checked; update(); } }), ` ${name}`))),
    h("p", {}, expression), h("p", {}, link, " · ", h("a", { href: withRange("/traces", { service: target.node ? target.node.Name : target.to.Name }) }, "search this service")));
  update();
  histogramChart(canvas, { bins: bins(target.histogram), format: (v) => formatMs(v * 1000), onSelect: (r) => { range = r; update(); } });
}
