// The span side panel: identity, timing and status, the exception, X-Ray's segment blocks,
// attributes, resource, scope, events and links, and the raw JSON — each copyable.

import { copyButton, h } from "../lib/dom.js";
import { formatMs, formatTime, nsToMs } from "../lib/time.js";

const XRAY_DOCUMENT = "aws.xray.document";

function valueText(value) {
  return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
}

/** A key/value table, keys sorted; empty maps show nothing. */
function table(map, testid) {
  const keys = Object.keys(map || {}).sort();
  if (!keys.length) return h("p", { class: "muted" }, "none");
  return h("table", { "data-testid": testid }, keys.map((key) => h("tr", {}, h("td", {}, key), h("td", { "data-key": key }, valueText(map[key])))));
}

function section(title, ...content) {
  return h("section", {}, h("h3", {}, title), ...content);
}

/** The exception the span recorded: its own exception.* attributes, else its exception event's. */
function exceptionOf(span) {
  const event = span.events.find((e) => e.name === "exception");
  const from = span.attributes["exception.type"] || span.attributes["exception.message"] ? span.attributes : event ? event.attributes : null;
  if (!from) return null;
  return { type: from["exception.type"], message: from["exception.message"], stack: from["exception.stacktrace"] };
}

const ANNOTATION = "annotation.";
const METADATA = "aws.xray.metadata.";

/** Attributes under `prefix`, keyed by the rest of their name; JSON text parsed when `json`. */
function prefixed(attributes, prefix, json) {
  const out = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (!key.startsWith(prefix)) continue;
    let parsed = value;
    if (json && typeof value === "string") {
      try {
        parsed = JSON.parse(value);
      } catch {
        parsed = value;
      }
    }
    out[key.slice(prefix.length)] = parsed;
  }
  return out;
}

/**
 * X-Ray's blocks for a span from a segment or subsegment: annotations and metadata from the
 * span's own attributes (every subsegment keeps them), and the http, sql, aws and cause blocks
 * from the segment document, which rides on the segment's top span only.
 */
function xrayBlocks(span) {
  const text = span.attributes[XRAY_DOCUMENT];
  let doc = null;
  if (typeof text === "string") {
    try {
      doc = JSON.parse(text);
    } catch {
      doc = null;
    }
  }
  if (span.protocol !== "xray" && !doc) return [];
  const annotations = doc?.annotations || prefixed(span.attributes, ANNOTATION, false);
  const metadata = doc?.metadata || prefixed(span.attributes, METADATA, true);
  const blocks = [section("Annotations", table(annotations, "xray-annotations"))];
  if (Object.keys(metadata).length) blocks.push(section("Metadata", h("pre", { "data-testid": "xray-metadata" }, JSON.stringify(metadata, null, 2))));
  if (!doc) return blocks;
  for (const name of ["http", "sql", "aws", "cause"]) {
    if (doc[name]) blocks.push(section(name === "sql" ? "SQL" : name[0].toUpperCase() + name.slice(1), h("pre", { "data-testid": `xray-${name}` }, JSON.stringify(doc[name], null, 2))));
  }
  blocks.push(section("Segment document", copyButton(text, "copy document"), h("details", {}, h("summary", {}, doc.id ? `segment ${doc.id}` : "show"), h("pre", {}, JSON.stringify(doc, null, 2)))));
  return blocks;
}

/**
 * Renders the panel for one span.
 * @param {HTMLElement} panel @param {any} trace the API trace @param {any} span
 * @param {{selectSpan: (spanId: string) => void, close: () => void}} actions
 */
export function showDetail(panel, trace, span, actions) {
  const attributes = { ...span.attributes };
  delete attributes[XRAY_DOCUMENT];
  const start = nsToMs(span.start_unix_nano);
  const link = `${location.origin}/trace/${trace.trace_id}?span=${span.span_id}`;
  const exception = exceptionOf(span);
  const overview = {
    service: span.service,
    kind: span.kind,
    start: formatTime(start, { millis: true }),
    offset: `+${formatMs(span.offset_nano / 1e6)}`,
    duration: formatMs(span.duration_nano / 1e6),
    status: span.status.message ? `${span.status.code}: ${span.status.message}` : span.status.code,
    protocol: span.protocol,
    "sample rate": span.sample_rate,
  };
  if (span.trace_state) overview["trace state"] = span.trace_state;
  const dropped = Object.entries(span.dropped || {}).filter(([, n]) => n > 0);
  if (dropped.length) overview.dropped = dropped.map(([what, n]) => `${n} ${what}`).join(", ");
  panel.replaceChildren(
    h("div", { class: "detail-head" },
      h("button", { type: "button", class: "copy", style: "float:right", title: "Close (Esc)", onclick: actions.close }, "✕"),
      h("h2", { "data-testid": "detail-name" }, span.name)),
    h("p", { class: "mono" },
      "span ", span.span_id, copyButton(span.span_id), " ",
      span.parent_span_id ? h("a", { href: `?span=${span.parent_span_id}`, onclick: (e) => { e.preventDefault(); actions.selectSpan(span.parent_span_id); } }, "parent") : span.orphan ? "orphan (parent not received)" : "root",
      copyButton(link, "copy link")),
    table(overview, "detail-overview"),
    exception ? section("Exception", h("p", { class: "error" }, `${exception.type || ""}${exception.message ? `: ${exception.message}` : ""}`), exception.stack ? h("pre", {}, exception.stack) : null) : "",
    ...xrayBlocks(span),
    section("Attributes", table(attributes, "detail-attributes")),
    section("Resource", table(span.resource, "detail-resource")),
    section("Scope", table({ name: span.scope.name, version: span.scope.version, ...span.scope.attributes }, "detail-scope")),
    section(`Events (${span.events.length})`, span.events.length ? h("ol", { "data-testid": "detail-events" }, span.events.map((event) =>
      h("li", {}, h("strong", {}, event.name), ` +${formatMs(event.offset_nano / 1e6)} `, Object.keys(event.attributes).length ? table(event.attributes) : ""))) : h("p", { class: "muted" }, "none")),
    section(`Links (${span.links.length})`, span.links.length ? h("ul", { "data-testid": "detail-links" }, span.links.map((l) => {
      const same = l.trace_id === trace.trace_id;
      return h("li", { class: "mono" }, h("a", {
        href: `/trace/${l.trace_id}?span=${l.span_id}`,
        onclick: same ? (e) => { e.preventDefault(); actions.selectSpan(l.span_id); } : undefined,
      }, same ? `span ${l.span_id}` : `trace ${l.trace_id} span ${l.span_id}`), Object.keys(l.attributes || {}).length ? table(l.attributes) : "");
    })) : h("p", { class: "muted" }, "none")),
    section("Raw JSON", copyButton(() => JSON.stringify(span, null, 2), "copy JSON"), h("details", {}, h("summary", {}, "show"), h("pre", {}, JSON.stringify(span, null, 2)))),
  );
}
