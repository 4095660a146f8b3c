// The critical path: the chain of work that decided the trace's duration. From a span's end,
// walk back through its children: take the child that finished last before the cursor, charge
// the gap after it to the span itself, descend into it, then move the cursor to its start. A
// child is clipped to its parent first (clock skew can make one overflow). The trace holds no
// dependency facts, so parallel siblings are a guess, as in every tool that draws this.

import { CRITICAL } from "./model.js";

/** Marks the critical path from each root; fills `model.critical` with each span's segments. */
export function computeCriticalPath(model) {
  const { count, parent, start, end } = model;
  const childStart = new Int32Array(count + 1);
  for (let i = 0; i < count; i++) if (parent[i] >= 0) childStart[parent[i] + 1]++;
  for (let i = 0; i < count; i++) childStart[i + 1] += childStart[i];
  const fill = childStart.slice(0, count);
  const children = new Int32Array(Math.max(1, childStart[count]));
  for (let i = 0; i < count; i++) if (parent[i] >= 0) children[fill[parent[i]]++] = i;
  const segments = new Map();
  const charge = (i, from, to) => {
    if (to <= from) return;
    model.flags[i] |= CRITICAL;
    const list = segments.get(i) || [];
    list.push(from, to);
    segments.set(i, list);
  };
  // An explicit stack of (span, boundary) keeps 100,000-deep chains off the call stack.
  const work = [];
  for (let i = 0; i < count; i++) if (parent[i] < 0) work.push([i, end[i]]);
  while (work.length) {
    const [span, boundary] = work.pop();
    const spanStart = start[span];
    let cursor = Math.min(end[span], boundary);
    const from = childStart[span];
    const to = childStart[span + 1];
    const kids = Array.from(children.subarray(from, to)).sort((a, b) => Math.min(end[b], end[span]) - Math.min(end[a], end[span]));
    for (const child of kids) {
      const childEnd = Math.min(end[child], end[span]);
      const childBegin = Math.max(start[child], spanStart);
      if (childEnd > cursor || childBegin >= cursor) continue;
      charge(span, childEnd, cursor);
      work.push([child, childEnd]);
      cursor = childBegin;
    }
    charge(span, spanStart, cursor);
  }
  model.critical = new Map([...segments].map(([i, list]) => [i, Float64Array.from(list)]));
}
