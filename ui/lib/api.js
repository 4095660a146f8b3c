// Every call the UI makes to the API port goes through here: the key from session storage, one
// error type with the server's message, and the Honeycomb query round trip.

import { toast } from "./dom.js";

const KEY_STORAGE = "combray.key";

/** An API answer that was not 2xx, carrying the server's own message. */
export class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function storedKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function storeKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/** Listeners told when a call is refused for want of a key (401), so the app can ask once. */
const keyWanted = new Set();
export function onKeyWanted(listener) {
  keyWanted.add(listener);
}

/** The server's message from any of its error shapes (ours, Honeycomb's problem, X-Ray's). */
function messageOf(body, status) {
  if (body && typeof body === "object") {
    if (body.type_detail && body.type_detail.length) {
      return body.type_detail.map((d) => `${d.field}: ${d.description}`).join("; ");
    }
    return body.error || body.detail || body.Message || body.message || body.title || `HTTP ${status}`;
  }
  return body ? String(body) : `HTTP ${status}`;
}

/**
 * Sends one request and answers its JSON body (null for an empty one).
 * @param {string} path @param {{method?: string, body?: any, signal?: AbortSignal}} [options]
 */
export async function call(path, options = {}) {
  const headers = { Accept: "application/json" };
  const key = storedKey();
  if (key) headers["X-Honeycomb-Team"] = key;
  let body;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  const response = await fetch(path, { method: options.method || (body ? "POST" : "GET"), headers, body, signal: options.signal });
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!response.ok) {
    if (response.status === 401) keyWanted.forEach((listener) => listener());
    throw new ApiError(response.status, messageOf(parsed, response.status));
  }
  return parsed;
}

/** An X-Ray API operation (POST to its path), as the AWS SDKs call it. */
export function xray(operation, body = {}, signal) {
  return call(`/${operation}`, { method: "POST", body, signal });
}

/** What the stored key is: `{type, environment}` from Honeycomb's `/1/auth`, or null with no keys. */
export async function whoAmI() {
  try {
    const auth = await call("/1/auth");
    return { type: auth.type, environment: auth.environment && auth.environment.name };
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return { type: "missing", environment: null };
    throw error;
  }
}

/**
 * Runs a Honeycomb Query Specification on a dataset: saves it, creates a result and reads it.
 * Combray's results are complete when created, so this polls only if one is not.
 */
export async function runQuery(dataset, spec, { signal, disableSeries = false } = {}) {
  const ds = encodeURIComponent(dataset);
  const query = await call(`/1/queries/${ds}`, { method: "POST", body: spec, signal });
  const created = await call(`/1/query_results/${ds}`, {
    method: "POST",
    body: { query_id: query.id, disable_series: disableSeries },
    signal,
  });
  let result = created;
  for (let wait = 50; !result.complete; wait = Math.min(wait * 2, 1000)) {
    await new Promise((resolve) => setTimeout(resolve, wait));
    result = await call(`/1/query_results/${ds}/${created.id}`, { signal });
  }
  if (!result.data) result = await call(`/1/query_results/${ds}/${created.id}`, { signal });
  return { queryId: query.id, result };
}

/** Runs a change (a call), then `done`; a refusal is shown as a toast and nothing else happens. */
export async function change(request, done) {
  try {
    await request();
    done();
  } catch (error) {
    toast(describe(error));
  }
}

/** The API's error as text for the page, with a hint on keys. */
export function describe(error) {
  if (error instanceof ApiError) {
    if (error.status === 401) return `${error.message} — set a configuration key (Key, top right).`;
    if (error.status === 403) return `${error.message} — this page needs a configuration key, not an ingest key.`;
    return error.message;
  }
  if (error && error.name === "AbortError") return "cancelled";
  return String(error && error.message ? error.message : error);
}
