// Markers (deploys, incidents) of a dataset or of every dataset (`__all__`), with Honeycomb's
// Markers API: list, create, edit the message, delete. Their colours come from marker settings.

import { call, change, describe } from "../lib/api.js";
import { h, problem } from "../lib/dom.js";
import { formatTime } from "../lib/time.js";

/** A Markers API call, then the list drawn again. */
function act(path, options, redraw) {
  return change(() => call(path, options), redraw);
}

export async function markersCard(card, { datasets, signal }) {
  const choose = h("select", { name: "marker-dataset", onchange: () => refresh() },
    datasets.map((d) => h("option", { value: d }, d === "__all__" ? "every dataset (__all__)" : d)));
  const list = h("div", { "data-testid": "marker-list" });
  const type = h("input", { name: "marker-type", placeholder: "deploy", style: "width:120px" });
  const message = h("input", { name: "marker-message", placeholder: "v1.4.2 to production", style: "width:280px" });
  const url = h("input", { name: "marker-url", placeholder: "https://…", style: "width:200px" });
  const base = () => `/1/markers/${encodeURIComponent(choose.value)}`;
  const create = h("button", { type: "button", class: "primary", "data-testid": "create-marker", onclick: () => act(base(), {
    method: "POST", body: { type: type.value.trim(), message: message.value.trim(), url: url.value.trim() },
  }, refresh) }, "Add marker now");
  card.replaceChildren(h("h2", {}, "Markers"), h("p", {}, choose), list, h("div", { class: "form-row" }, type, message, url, create));

  /** Lists the chosen dataset's markers, newest first, each editable. */
  async function refresh() {
    const path = base();
    let markers;
    try {
      markers = await call(path, { signal });
    } catch (error) {
      if (error.name !== "AbortError") list.replaceChildren(problem(describe(error)));
      return;
    }
    const rows = [...markers].sort((a, b) => b.start_time - a.start_time).map((marker) => {
      const text = h("input", { value: marker.message || "", style: "width:100%", "aria-label": "Message" });
      return h("tr", { "data-marker": marker.id },
        h("td", {}, marker.color ? h("span", { class: "chip", style: `background:${marker.color}` }) : ""),
        h("td", { class: "muted" }, formatTime(marker.start_time * 1000)), h("td", {}, marker.type || ""), h("td", {}, text),
        h("td", {},
          h("button", { type: "button", class: "copy", onclick: () => act(`${path}/${marker.id}`, { method: "PUT", body: { ...marker, message: text.value } }, refresh) }, "save"),
          h("button", { type: "button", class: "copy", onclick: () => act(`${path}/${marker.id}`, { method: "DELETE" }, refresh) }, "delete")));
    });
    list.replaceChildren(rows.length
      ? h("table", { class: "grid", "data-testid": "markers" }, h("thead", {}, h("tr", {}, ["", "Time", "Type", "Message", ""].map((t) => h("th", {}, t)))), h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No markers on this dataset."));
  }
  await refresh();
}
