// The URL is the state of every view: pages read their parameters from it and write changes
// back, so a pasted link opens the same view.

/** The current query string. */
export function params() {
  return new URLSearchParams(location.search);
}

/** Listeners run on every navigation (link, back/forward, or `navigate`). */
const listeners = new Set();
export function onNavigate(listener) {
  listeners.add(listener);
}
function notify() {
  listeners.forEach((listener) => listener());
}
window.addEventListener("popstate", notify);

/** Goes to `path` (with a query string already in it, or `query` as pairs), adding history. */
export function navigate(path, query) {
  const url = query ? `${path}?${new URLSearchParams(query)}` : path;
  if (url === location.pathname + location.search) return;
  history.pushState(null, "", url);
  notify();
}

/** Rewrites the current view's parameters without reloading it (empty values are dropped). */
export function replaceParams(values, { push = false } = {}) {
  const next = params();
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined || value === null || value === "") next.delete(name);
    else next.set(name, value);
  }
  const url = `${location.pathname}${next.toString() ? `?${next}` : ""}`;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

/** A link to a path with the range parameters the current view carries. */
export function withRange(path, extra = {}) {
  const current = params();
  const next = new URLSearchParams();
  for (const name of ["range", "start", "end"]) {
    if (current.get(name)) next.set(name, current.get(name));
  }
  for (const [name, value] of Object.entries(extra)) {
    if (value !== undefined && value !== null && value !== "") next.set(name, value);
  }
  const text = next.toString();
  return text ? `${path}?${text}` : path;
}
