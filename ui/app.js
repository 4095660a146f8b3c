// The shell: routes the URL to a page, keeps the header's range, zone and key controls, and
// asks for a configuration key once when the server has keys.

import { onKeyWanted, storedKey, storeKey, whoAmI, describe } from "./lib/api.js";
import { h } from "./lib/dom.js";
import { onNavigate, navigate, params, replaceParams } from "./lib/url.js";
import { setUtc, useUtc, zoneLabel } from "./lib/time.js";

const PAGES = {
  home: () => import("./pages/home.js"),
  traces: () => import("./pages/traces.js"),
  trace: () => import("./pages/trace.js"),
  map: () => import("./pages/map.js"),
  query: () => import("./pages/query.js"),
  settings: () => import("./pages/settings.js"),
};

const KNOWN_KEYS = "combray.keys";
const main = document.getElementById("view");
let current = { controller: null, cleanup: null };
let generation = 0;

function pageOf(path) {
  if (path === "/" || path === "") return { page: "home" };
  const trace = /^\/trace\/([^/]+)$/.exec(path);
  if (trace) return { page: "trace", id: decodeURIComponent(trace[1]) };
  const name = path.replace(/^\/|\/$/g, "");
  return PAGES[name] ? { page: name } : { page: "home" };
}

async function route() {
  const mine = ++generation;
  if (current.controller) current.controller.abort();
  if (current.cleanup) current.cleanup();
  current = { controller: new AbortController(), cleanup: null };
  const { page, id } = pageOf(location.pathname);
  for (const link of document.querySelectorAll("nav.pages a")) {
    link.classList.toggle("current", link.dataset.page === page || (page === "trace" && link.dataset.page === "traces"));
  }
  syncRange();
  const module = await PAGES[page]();
  if (mine !== generation) return;
  main.replaceChildren();
  main.className = "";
  main.dataset.page = page;
  const context = { params: params(), id, signal: current.controller.signal, rerender: route };
  try {
    current.cleanup = (await module.render(main, context)) || null;
  } catch (error) {
    if (error && error.name === "AbortError") return;
    main.append(h("div", { class: "problem", role: "alert" }, describe(error)));
  }
}

/** The range select shows the URL's range (or "custom" for an absolute one). */
function syncRange() {
  const select = document.getElementById("range");
  const query = params();
  const custom = select.querySelector("option[value=custom]");
  if (query.get("start") && query.get("end")) {
    if (!custom) select.append(h("option", { value: "custom" }, "Custom range"));
    select.value = "custom";
    return;
  }
  if (custom) custom.remove();
  const range = query.get("range") || "1h";
  if (!select.querySelector(`option[value="${CSS.escape(range)}"]`)) select.append(h("option", { value: range }, `Last ${range}`));
  select.value = range;
}

function setUpHeader() {
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[href]");
    if (!link || link.target || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith("/ui/") || url.pathname.startsWith("/api/")) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  document.getElementById("range").addEventListener("change", (event) => {
    if (event.target.value === "custom") return;
    replaceParams({ range: event.target.value, start: null, end: null }, { push: true });
    route();
  });
  const zone = document.getElementById("zone");
  zone.textContent = zoneLabel();
  zone.addEventListener("click", () => {
    setUtc(!useUtc());
    zone.textContent = zoneLabel();
    route();
  });
  document.getElementById("goto").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("goto-trace");
    const id = input.value.trim();
    if (id) navigate(`/trace/${encodeURIComponent(id)}`);
    input.value = "";
    input.blur();
  });
  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest("input, textarea, select, [contenteditable]");
    if (event.key === "/" && !typing) {
      event.preventDefault();
      const search = main.querySelector("[data-search]") || document.getElementById("goto-trace");
      search.focus();
    }
  });
  document.getElementById("key-button").addEventListener("click", () => askForKey(""));
}

function knownKeys() {
  try {
    return JSON.parse(sessionStorage.getItem(KNOWN_KEYS) || "{}");
  } catch {
    return {};
  }
}

/** Shows the environment of the key in use; with keys of several environments, a switch. */
function showEnvironment(environment) {
  const holder = document.getElementById("environment");
  const keys = knownKeys();
  const names = Object.keys(keys);
  if (names.length < 2) {
    holder.replaceChildren(environment ? `env: ${environment}` : "");
    return;
  }
  const select = h("select", { "aria-label": "Environment", onchange: (event) => {
    storeKey(keys[event.target.value]);
    showEnvironment(event.target.value);
    route();
  } }, names.map((name) => h("option", { value: name }, name)));
  select.value = environment;
  holder.replaceChildren(select);
}

let asking = false;
/** Asks for a configuration key; an ingest key is refused with a message and asked again. */
function askForKey(message) {
  if (asking) return;
  asking = true;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  const error = document.getElementById("key-error");
  error.textContent = message;
  input.value = "";
  dialog.showModal();
  dialog.addEventListener("close", async function onClose() {
    dialog.removeEventListener("close", onClose);
    asking = false;
    if (dialog.returnValue !== "save" || !input.value.trim()) return;
    const previous = storedKey();
    storeKey(input.value.trim());
    try {
      const who = await whoAmI();
      if (who.type === "configuration") {
        const keys = knownKeys();
        keys[who.environment] = storedKey();
        sessionStorage.setItem(KNOWN_KEYS, JSON.stringify(keys));
        showEnvironment(who.environment);
        route();
        return;
      }
      storeKey(previous);
      askForKey(who.type === "ingest"
        ? "That is an ingest key: it can send data but not read it. Paste a configuration key."
        : "The server does not know that key.");
    } catch (failure) {
      storeKey(previous);
      askForKey(describe(failure));
    }
  });
}

async function start() {
  setUpHeader();
  onNavigate(route);
  onKeyWanted(() => askForKey(storedKey() ? "The server refused the key in use." : ""));
  route();
  try {
    const who = await whoAmI();
    if (who.type === "configuration") showEnvironment(who.environment);
    else if (who.type === "ingest") askForKey("The key in use is an ingest key; the UI needs a configuration key.");
    else askForKey("");
  } catch (error) {
    document.getElementById("environment").textContent = describe(error);
  }
}

start();
