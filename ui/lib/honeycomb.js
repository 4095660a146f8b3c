// Reading Honeycomb query results for charts: groups keyed by their breakdown values, series
// as one array per group and calculation, bucket-aligned.

import { roundingUnit } from "./time.js";

/** The key of a result's group: its breakdown values joined. */
export function groupKey(data, breakdowns) {
  return breakdowns.map((b) => (data[b] === undefined ? "" : String(data[b]))).join(" · ");
}

/** The number of buckets and the first bucket's start of a window with a granularity. */
export function buckets(start, end, step) {
  const first = Math.floor(start / step) * step;
  return { first, count: Math.max(1, Math.ceil((end - first) / step)) };
}

/**
 * Per group, per calculation, one value per bucket (null where absent).
 * @returns {Map<string, Record<string, (number|null)[]>>}
 */
export function seriesByGroup(result, breakdowns, names, start, end, step) {
  const { first, count } = buckets(start, end, step);
  const groups = new Map();
  for (const point of (result.data && result.data.series) || []) {
    const key = groupKey(point.data, breakdowns);
    let group = groups.get(key);
    if (!group) {
      group = Object.fromEntries(names.map((n) => [n, new Array(count).fill(null)]));
      groups.set(key, group);
    }
    const bucket = Math.floor((Date.parse(point.time) / 1000 - first) / step);
    if (bucket < 0 || bucket >= count) continue;
    for (const name of names) if (point.data[name] !== undefined) group[name][bucket] = point.data[name];
  }
  return groups;
}

/** A granularity (seconds) giving about `target` buckets over a window, from round steps. */
export function granularityFor(seconds, target = 60) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400];
  return steps.find((s) => seconds / s <= target) || 86400;
}

/**
 * The window and bucket width a Query Data API result covers for a range, as the server works
 * them out: ends rounded down (to the minute up to 6 h, 5 minutes up to 2 days, 30 minutes
 * beyond), and without a granularity the first round step giving at most 120 buckets.
 */
export function queryWindow(range, granularity) {
  const seconds = range.end - range.start;
  const unit = roundingUnit(seconds);
  const start = range.start - (range.start % unit);
  const end = range.end - (range.end % unit);
  const span = Math.max(1, end - start);
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
  const step = granularity || steps.find((s) => span / s <= 120) || Math.ceil(span / 120);
  return { start, end, step, first: Math.floor(start / step) * step };
}
