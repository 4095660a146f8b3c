// The waterfall's row model: a trace's spans as parallel typed arrays (no object per row), so
// collapsing, filtering and finding over 100,000 spans allocate a few arrays, not 100,000
// objects. The API answers spans depth-first from the roots, so a subtree is a contiguous run.

export const ERROR = 1;
export const HAS_CHILDREN = 2;
export const SKEW = 4;
export const CRITICAL = 8;

/**
 * @typedef {object} Model
 * @property {any[]} spans the API's span objects, in waterfall order
 * @property {number} count
 * @property {Float64Array} start offset from the trace's start, ms
 * @property {Float64Array} duration ms
 * @property {Float64Array} end ms
 * @property {Uint16Array} depth
 * @property {Int32Array} parent index of the parent span, -1 for a root
 * @property {Int32Array} subtreeEnd index after the span's last descendant
 * @property {Uint16Array} service index into `services`
 * @property {Uint8Array} flags ERROR, HAS_CHILDREN, SKEW, CRITICAL bits
 * @property {string[]} services
 * @property {Map<string, number>} bySpanId
 * @property {number} total the trace's duration, ms
 * @property {Map<number, Float64Array>} critical per span on the critical path, its [from, to) pairs
 */

/** Builds the model of an API trace (`GET /api/v1/traces/{id}`). @returns {Model} */
export function buildModel(trace) {
  const spans = trace.spans;
  const count = spans.length;
  const start = new Float64Array(count);
  const duration = new Float64Array(count);
  const end = new Float64Array(count);
  const depth = new Uint16Array(count);
  const parent = new Int32Array(count).fill(-1);
  const subtreeEnd = new Int32Array(count);
  const service = new Uint16Array(count);
  const flags = new Uint8Array(count);
  const services = [];
  const serviceIndex = new Map();
  const bySpanId = new Map();
  let total = 0;
  for (let i = 0; i < count; i++) {
    const span = spans[i];
    start[i] = span.offset_nano / 1e6;
    duration[i] = span.duration_nano / 1e6;
    end[i] = start[i] + duration[i];
    if (end[i] > total) total = end[i];
    depth[i] = span.depth;
    bySpanId.set(span.span_id, i);
    let s = serviceIndex.get(span.service);
    if (s === undefined) {
      s = services.length;
      services.push(span.service);
      serviceIndex.set(span.service, s);
    }
    service[i] = s;
    if (span.status && span.status.code === "error") flags[i] |= ERROR;
  }
  // Parents and subtree ends from the depth-first order: a stack of open ancestors.
  const stack = new Int32Array(Math.max(1, count));
  let top = 0;
  for (let i = 0; i < count; i++) {
    while (top > 0 && depth[stack[top - 1]] >= depth[i]) subtreeEnd[stack[--top]] = i;
    if (top > 0 && depth[i] > 0) {
      const p = stack[top - 1];
      parent[i] = p;
      flags[p] |= HAS_CHILDREN;
      if (start[i] < start[p] - 1e-6 || end[i] > end[p] + 1e-6) flags[i] |= SKEW;
    }
    stack[top++] = i;
  }
  while (top > 0) subtreeEnd[stack[--top]] = count;
  return { spans, count, start, duration, end, depth, parent, subtreeEnd, service, flags, services, bySpanId, total: total || 1, critical: new Map() };
}

/**
 * The rows to show: every span not inside a collapsed subtree, or with `matches` and
 * `onlyMatches`, only the matching spans. @returns {Int32Array} span indices in order
 */
export function visibleRows(model, collapsed, matches, onlyMatches) {
  const rows = new Int32Array(model.count);
  let n = 0;
  if (matches && onlyMatches) {
    for (let i = 0; i < model.count; i++) if (matches[i]) rows[n++] = i;
    return rows.subarray(0, n);
  }
  for (let i = 0; i < model.count; ) {
    rows[n++] = i;
    i = collapsed[i] ? model.subtreeEnd[i] : i + 1;
  }
  return rows.subarray(0, n);
}

/**
 * Which spans meet every set filter: service, name (substring, any case), minimum duration
 * (ms) and an attribute `key=value` (or `key` alone). Answers null when no filter is set.
 */
export function matchSpans(model, { service, name, minMs, attribute }) {
  if (!service && !name && !(minMs > 0) && !attribute) return null;
  const wanted = service ? model.services.indexOf(service) : -1;
  const needle = name ? name.toLowerCase() : "";
  let key = "";
  let value = null;
  if (attribute) {
    const at = attribute.indexOf("=");
    key = (at < 0 ? attribute : attribute.slice(0, at)).trim();
    value = at < 0 ? null : attribute.slice(at + 1).trim();
  }
  const matches = new Uint8Array(model.count);
  for (let i = 0; i < model.count; i++) {
    if (service && model.service[i] !== wanted) continue;
    if (minMs > 0 && model.duration[i] < minMs) continue;
    const span = model.spans[i];
    if (needle && !span.name.toLowerCase().includes(needle)) continue;
    if (key) {
      const found = key in span.attributes ? span.attributes[key] : span.resource ? span.resource[key] : undefined;
      if (found === undefined || (value !== null && String(found) !== value)) continue;
    }
    matches[i] = 1;
  }
  return matches;
}

/** Opens every collapsed ancestor of a span, so it has a row. */
export function reveal(model, collapsed, index) {
  for (let p = model.parent[index]; p >= 0; p = model.parent[p]) collapsed[p] = 0;
}

/** Collapses every span with children deeper than `level` (0 keeps only the roots open). */
export function collapseBelow(model, collapsed, level) {
  for (let i = 0; i < model.count; i++) collapsed[i] = model.flags[i] & HAS_CHILDREN && model.depth[i] >= level ? 1 : 0;
}
