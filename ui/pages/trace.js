// The trace page: header, span filters and find, the minimap, the waterfall and the span panel.
// Its state (selected span, filters, zoom) is in the URL.

import { call, describe } from "../lib/api.js";
import { copyButton, h, problem } from "../lib/dom.js";
import { formatMs, formatTime, nsToMs } from "../lib/time.js";
import { params, replaceParams } from "../lib/url.js";
import { ERROR, HAS_CHILDREN, buildModel, matchSpans } from "../waterfall/model.js";
import { computeCriticalPath } from "../waterfall/critical.js";
import { Waterfall } from "../waterfall/view.js";
import { minimap } from "../waterfall/minimap.js";
import { showDetail } from "../waterfall/detail.js";

/** `250ms`, `1.5s`, `2m`, `10us`, a bare number as ms → ms (0 when empty or unreadable). */
export function parseDurationMs(text) {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m)?\s*$/.exec(text || "");
  if (!match) return 0;
  const unit = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60000 }[match[2] || "ms"];
  return Number(match[1]) * unit;
}

export async function render(main, { id, signal }) {
  main.className = "fill";
  performance.mark("combray:trace-start");
  main.append(h("div", { class: "loading" }, `Loading trace ${id}…`));
  let trace;
  try {
    trace = await call(`/api/v1/traces/${encodeURIComponent(id)}`, { signal });
  } catch (error) {
    main.replaceChildren(problem(describe(error)));
    return null;
  }
  performance.mark("combray:trace-fetched");
  const model = buildModel(trace);
  computeCriticalPath(model);
  return draw(main, trace, model);
}

function header(trace, model) {
  const root = trace.spans[0];
  const errors = model.flags.reduce((n, f) => n + (f & ERROR ? 1 : 0), 0);
  return h("div", { class: "trace-head" },
    h("h1", { "data-testid": "trace-title" }, root ? `${root.service}: ${root.name}` : "Trace"),
    h("span", { class: "mono" }, trace.trace_id, copyButton(trace.trace_id)),
    h("span", {}, formatTime(nsToMs(trace.start_unix_nano), { millis: true })),
    h("span", { "data-testid": "trace-duration" }, formatMs(trace.duration_ms)),
    h("span", { "data-testid": "span-count" }, `${trace.span_count} spans`),
    errors ? h("span", { class: "pill err" }, `${errors} errors`) : null,
    h("span", {}, trace.services.map((s) => h("span", { class: "pill" }, s))),
    h("a", { href: `/map?trace=${trace.trace_id}` }, "service map"));
}

function draw(main, trace, model) {
  const url = params();
  const panel = h("aside", { class: "detail hidden", "data-testid": "span-detail" });
  const waterfallHolder = h("div", { class: "waterfall" });
  const controls = filterControls(model, url);
  main.replaceChildren(header(trace, model), controls.element, h("div", { class: "trace-body" }, waterfallHolder, panel));

  let view;
  const closeDetail = () => {
    panel.classList.add("hidden");
    view.selected = -1;
    view.draw();
    replaceParams({ span: null });
  };
  const selectSpan = (spanId) => {
    const index = model.bySpanId.get(spanId);
    if (index !== undefined) view.select(index);
  };
  const map = minimap(waterfallHolder, model, (from, to) => {
    view.setWindow(from, to);
    const whole = from <= 0 && to >= model.total;
    replaceParams({ from: whole ? null : from.toFixed(3), to: whole ? null : to.toFixed(3) });
  });
  view = new Waterfall(waterfallHolder, model, {
    onSelect(index) {
      panel.classList.remove("hidden");
      showDetail(panel, trace, model.spans[index], { selectSpan, close: closeDetail });
      replaceParams({ span: model.spans[index].span_id });
    },
  });
  controls.attach(view);
  const from = Number(url.get("from"));
  const to = Number(url.get("to"));
  if (to > from) {
    view.setWindow(from, to);
    map.show(from, to);
  }
  if (model.count > 2000 && !url.get("span")) view.collapseAll(4);
  if (url.get("span")) selectSpan(url.get("span"));
  performance.mark("combray:trace-drawn");
  performance.measure("combray:trace", "combray:trace-start", "combray:trace-drawn");

  const keys = (event) => keyboard(event, view, controls, panel, closeDetail);
  document.addEventListener("keydown", keys);
  return () => document.removeEventListener("keydown", keys);
}

function keyboard(event, view, controls, panel, closeDetail) {
  if (event.target.closest("input, textarea, select")) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  const selected = view.selected;
  switch (event.key) {
    case "j": case "ArrowDown": view.step(1); break;
    case "k": case "ArrowUp": view.step(-1); break;
    case "ArrowLeft": if (selected >= 0 && view.model.flags[selected] & HAS_CHILDREN) view.toggle(selected, false); break;
    case "ArrowRight": if (selected >= 0 && view.model.flags[selected] & HAS_CHILDREN) view.toggle(selected, true); break;
    case "n": controls.find(1); break;
    case "N": controls.find(-1); break;
    case "e": view.next((i) => view.model.flags[i] & ERROR); break;
    case "Escape": if (!panel.classList.contains("hidden")) closeDetail(); break;
    default: return;
  }
  event.preventDefault();
}

/** The filter bar: service, name, minimum duration and attribute filters; find; toggles. */
function filterControls(model, url) {
  const service = h("select", { "aria-label": "Service filter" }, h("option", { value: "" }, "any service"), model.services.map((s) => h("option", { value: s }, s)));
  service.value = url.get("service") || "";
  const name = h("input", { placeholder: "span name", "aria-label": "Span name filter", "data-search": "", value: url.get("name") || "" });
  const min = h("input", { placeholder: "min duration (100ms)", "aria-label": "Minimum duration", value: url.get("min") || "" });
  const attribute = h("input", { placeholder: "attribute key=value", "aria-label": "Attribute filter", value: url.get("attr") || "" });
  const only = h("input", { type: "checkbox", "aria-label": "Matches only" });
  only.checked = url.get("only") === "1";
  const critical = h("input", { type: "checkbox", "aria-label": "Critical path" });
  critical.checked = url.get("critical") === "1";
  const counter = h("span", { class: "muted", "data-testid": "match-count" });
  let view;
  let cursor = -1;
  const apply = () => {
    view.matches = matchSpans(model, { service: service.value, name: name.value, minMs: parseDurationMs(min.value), attribute: attribute.value });
    view.onlyMatches = only.checked && !!view.matches;
    view.showCritical = critical.checked;
    const found = view.matches ? view.matches.reduce((n, m) => n + m, 0) : 0;
    counter.textContent = view.matches ? `${found} of ${model.count} spans match` : `${model.count} spans`;
    cursor = -1;
    replaceParams({ service: service.value, name: name.value, min: min.value, attr: attribute.value, only: only.checked ? "1" : null, critical: critical.checked ? "1" : null });
    view.refresh();
  };
  for (const input of [service, only, critical]) input.addEventListener("change", apply);
  for (const input of [name, min, attribute]) input.addEventListener("input", apply);
  const find = (direction) => {
    if (!view.matches) return;
    const n = model.count;
    for (let k = 1; k <= n; k++) {
      const i = (((cursor < 0 ? (direction > 0 ? -1 : 0) : cursor) + direction * k) % n + n) % n;
      if (view.matches[i]) {
        cursor = i;
        view.select(i);
        return;
      }
    }
  };
  const element = h("div", { class: "trace-tools" },
    service, name, min, attribute,
    h("label", {}, only, " matches only"),
    h("button", { type: "button", title: "Previous match (N)", onclick: () => find(-1) }, "◀"),
    h("button", { type: "button", title: "Next match (n)", onclick: () => find(1), "data-testid": "find-next" }, "▶"),
    counter,
    h("label", { title: "The chain of work that decided the trace's duration" }, critical, " critical path"),
    h("button", { type: "button", title: "Next error span (e)", onclick: () => view.next((i) => model.flags[i] & ERROR), "data-testid": "next-error" }, "next error"),
    h("button", { type: "button", onclick: () => view.collapseAll(1) }, "collapse all"),
    h("button", { type: "button", onclick: () => view.expandAll() }, "expand all"));
  return {
    element,
    find,
    attach(waterfall) {
      view = waterfall;
      apply();
    },
  };
}
