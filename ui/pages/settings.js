// Settings: the key in use (what it may do, as /1/auth says), X-Ray groups and sampling rules
// with their live statistics, and markers.

import { call, describe } from "../lib/api.js";
import { h, problem } from "../lib/dom.js";
import { groupsCard, rulesCard } from "../settings/xray.js";
import { markersCard } from "../settings/markers.js";

export async function render(main, { signal }) {
  const key = h("div", { class: "card", "data-testid": "key-card" }, h("h2", {}, "Key"));
  const groups = h("div", { class: "card", "data-testid": "groups-card" }, h("h2", {}, "X-Ray groups"));
  const rules = h("div", { class: "card", "data-testid": "rules-card" }, h("h2", {}, "Sampling rules"));
  const markers = h("div", { class: "card", "data-testid": "markers-card" }, h("h2", {}, "Markers"));
  main.append(h("h1", {}, "Settings"), h("div", { class: "settings" }, key, rules, groups, markers));
  const datasets = await call("/1/datasets", { signal }).then((list) => ["__all__", ...list.map((d) => d.slug)]).catch(() => ["__all__"]);
  await Promise.all([keyCard(key, signal), groupsCard(groups, signal), rulesCard(rules, signal), markersCard(markers, { datasets, signal })]);
  return null;
}

async function keyCard(card, signal) {
  try {
    const auth = await call("/1/auth", { signal });
    const allowed = Object.entries(auth.api_key_access || {}).filter(([, on]) => on).map(([what]) => what);
    card.append(h("table", { "data-testid": "auth" }, [["type", auth.type], ["environment", auth.environment && auth.environment.name], ["may use", allowed.join(", ")]]
      .map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", { "data-key": k }, v || "")))),
    h("p", { class: "muted" }, auth.id
      ? "Keys are created and revoked with `combray keys` on the server; the API does not list them."
      : "This server has no keys, so every API answers without one. Create them with `combray keys create --env NAME --kind configuration`."));
  } catch (error) {
    if (error.name !== "AbortError") card.append(problem(describe(error)));
  }
}
