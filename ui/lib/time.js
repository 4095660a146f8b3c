// Time ranges, the UTC/local switch, and the formats every page shows times and durations in.

const ZONE_STORAGE = "combray.zone";
const UNITS = { s: 1, m: 60, h: 3600, d: 86400 };

/** Whether times are shown in UTC (the default) or the browser's zone. */
export function useUtc() {
  return localStorage.getItem(ZONE_STORAGE) !== "local";
}
export function setUtc(utc) {
  localStorage.setItem(ZONE_STORAGE, utc ? "utc" : "local");
}

/**
 * A range from the URL: relative (`15m`, `1h`, `7d`) or absolute (`start` and `end` as Unix
 * seconds). Answers `{start, end, seconds, relative}` with Unix seconds.
 * @param {URLSearchParams} params
 */
export function rangeOf(params, fallback = "1h") {
  const fixedStart = Number(params.get("start"));
  const fixedEnd = Number(params.get("end"));
  if (fixedStart > 0 && fixedEnd > fixedStart) return { start: fixedStart, end: fixedEnd, seconds: fixedEnd - fixedStart, relative: null };
  const text = params.get("range") || fallback;
  const seconds = parseSpan(text) || parseSpan(fallback);
  // Honeycomb's Query Data API rounds a window's ends down (to the minute up to 6 h, 5 minutes
  // up to 2 days, half an hour beyond); ending the window on the next such boundary keeps the
  // last seconds' spans in every chart.
  const unit = roundingUnit(seconds);
  const end = Math.ceil(Date.now() / 1000 / unit) * unit;
  return { start: end - seconds, end, seconds, relative: text };
}

/** The step the Query Data API rounds a window's ends down to: a minute up to 6 h, 5 minutes up
 * to 2 days, half an hour beyond. */
export function roundingUnit(seconds) {
  return seconds <= 6 * 3600 ? 60 : seconds <= 2 * 86400 ? 300 : 1800;
}

/** `90s`, `15m`, `2h`, `7d` → seconds (null when it is not such a span). */
export function parseSpan(text) {
  const match = /^(\d+(?:\.\d+)?)([smhd])$/.exec(String(text || "").trim());
  return match ? Math.round(Number(match[1]) * UNITS[match[2]]) : null;
}

/** `12.50` → `12.5`, `3.00` → `3`; zeros before the point stay (`200`). */
function trimZeros(text) {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

/** A duration given in ms, in the unit that reads best (`850µs`, `12.3ms`, `4.20s`, `3m 5s`). */
export function formatMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  if (ms < 0) return `-${formatMs(-ms)}`;
  if (ms === 0) return "0";
  if (ms < 1) return `${trimZeros((ms * 1000).toPrecision(3))}µs`;
  if (ms < 1000) return `${trimZeros(ms.toPrecision(3))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m ${Math.round((ms % 60_000) / 1000)}s`;
}

/** A duration in nanoseconds, as `formatMs` writes it. */
export function formatNs(ns) {
  return formatMs(Number(ns) / 1e6);
}

/** A Unix time (ms) as `2026-12-03 17:49:30.123` in the chosen zone, with the zone's label. */
export function formatTime(ms, { millis = false, label = true } = {}) {
  const date = new Date(ms);
  const utc = useUtc();
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  const parts = utc
    ? [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds(), date.getUTCMilliseconds()]
    : [date.getFullYear(), date.getMonth() + 1, date.getDate(), date.getHours(), date.getMinutes(), date.getSeconds(), date.getMilliseconds()];
  let text = `${parts[0]}-${pad(parts[1])}-${pad(parts[2])} ${pad(parts[3])}:${pad(parts[4])}:${pad(parts[5])}`;
  if (millis) text += `.${pad(parts[6], 3)}`;
  return label ? `${text} ${zoneLabel()}` : text;
}

/** A clock time for chart axes (`17:49` or `17:49:30`). */
export function formatClock(ms, withSeconds = false) {
  const date = new Date(ms);
  const utc = useUtc();
  const pad = (n) => String(n).padStart(2, "0");
  const hours = utc ? date.getUTCHours() : date.getHours();
  const minutes = utc ? date.getUTCMinutes() : date.getMinutes();
  const seconds = utc ? date.getUTCSeconds() : date.getSeconds();
  return withSeconds ? `${pad(hours)}:${pad(minutes)}:${pad(seconds)}` : `${pad(hours)}:${pad(minutes)}`;
}

export function zoneLabel() {
  if (useUtc()) return "UTC";
  const offset = -new Date().getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

/** Nanoseconds as a decimal string (the API's absolute times) → Unix milliseconds. */
export function nsToMs(text) {
  return Number(BigInt(text) / 1000n) / 1000;
}

/** A count per second, compact (`1.2k/s`). */
export function formatRate(perSecond) {
  if (!perSecond) return "0/s";
  if (perSecond >= 1000) return `${(perSecond / 1000).toFixed(1)}k/s`;
  if (perSecond >= 10) return `${perSecond.toFixed(0)}/s`;
  if (perSecond >= 0.1) return `${perSecond.toFixed(2)}/s`;
  return `${(perSecond * 60).toFixed(2)}/min`;
}

export function formatPercent(fraction) {
  if (fraction === null || fraction === undefined || Number.isNaN(fraction)) return "–";
  const percent = fraction * 100;
  return `${percent < 10 && percent > 0 ? percent.toFixed(2) : percent.toFixed(1)}%`;
}
