// A layered (Sugiyama-style) layout for service maps, left to right: cycles broken by
// reversing back edges, layers by longest path from the callers, order within a layer by
// barycentre sweeps, then even spacing. Plenty for the few hundred nodes a map shows.

/**
 * @param {number} count nodes 0..count-1
 * @param {[number, number][]} edges caller → callee
 * @param {{layerGap?: number, nodeGap?: number}} [options]
 * @returns {{x: Float64Array, y: Float64Array, layer: Int32Array, width: number, height: number}}
 */
export function layeredLayout(count, edges, { layerGap = 220, nodeGap = 110 } = {}) {
  const out = Array.from({ length: count }, () => []);
  for (const [a, b] of edges) if (a !== b) out[a].push(b);
  const forward = acyclic(count, out);
  const layer = longestPathLayers(count, forward);
  const layers = [];
  for (let i = 0; i < count; i++) (layers[layer[i]] ||= []).push(i);
  const incoming = Array.from({ length: count }, () => []);
  for (let a = 0; a < count; a++) for (const b of forward[a]) incoming[b].push(a);
  orderLayers(layers.map((l) => l || []), forward, incoming);
  const x = new Float64Array(count);
  const y = new Float64Array(count);
  const tallest = Math.max(1, ...layers.map((l) => (l ? l.length : 0)));
  layers.forEach((nodes, depth) => {
    if (!nodes) return;
    const offset = ((tallest - nodes.length) * nodeGap) / 2;
    nodes.forEach((node, index) => {
      x[node] = depth * layerGap;
      y[node] = offset + index * nodeGap;
    });
  });
  return { x, y, layer, width: Math.max(1, layers.length - 1) * layerGap, height: (tallest - 1) * nodeGap };
}

/** The edges with every back edge of a depth-first search reversed, so the graph has no cycle. */
function acyclic(count, out) {
  const state = new Uint8Array(count); // 0 new, 1 on the path, 2 done
  const forward = Array.from({ length: count }, () => []);
  for (let root = 0; root < count; root++) {
    if (state[root]) continue;
    const stack = [[root, 0]];
    state[root] = 1;
    while (stack.length) {
      const frame = stack[stack.length - 1];
      const [node, next] = frame;
      if (next >= out[node].length) {
        state[node] = 2;
        stack.pop();
        continue;
      }
      frame[1]++;
      const target = out[node][next];
      if (state[target] === 1) forward[target].push(node);
      else {
        forward[node].push(target);
        if (!state[target]) {
          state[target] = 1;
          stack.push([target, 0]);
        }
      }
    }
  }
  return forward;
}

/** Each node's layer: the longest chain of callers above it (Kahn's order over the DAG). */
function longestPathLayers(count, forward) {
  const indegree = new Int32Array(count);
  for (const targets of forward) for (const b of targets) indegree[b]++;
  const layer = new Int32Array(count);
  const queue = [];
  for (let i = 0; i < count; i++) if (!indegree[i]) queue.push(i);
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head];
    for (const b of forward[node]) {
      layer[b] = Math.max(layer[b], layer[node] + 1);
      if (--indegree[b] === 0) queue.push(b);
    }
  }
  return layer;
}

/** Barycentre sweeps, down then up, to cut crossings. */
function orderLayers(layers, forward, incoming) {
  const position = new Map();
  const place = (nodes) => nodes.forEach((n, i) => position.set(n, i));
  layers.forEach(place);
  const centre = (node, neighbours) => {
    const known = neighbours(node).filter((m) => position.has(m));
    return known.length ? known.reduce((s, m) => s + position.get(m), 0) / known.length : position.get(node);
  };
  for (let sweep = 0; sweep < 4; sweep++) {
    const down = sweep % 2 === 0;
    const order = down ? layers.keys() : [...layers.keys()].reverse();
    for (const depth of order) {
      const neighbours = down ? (n) => incoming[n] : (n) => forward[n];
      const weights = new Map(layers[depth].map((n) => [n, centre(n, neighbours)]));
      layers[depth].sort((a, b) => weights.get(a) - weights.get(b));
      place(layers[depth]);
    }
  }
}
