// X-Ray's groups and sampling rules, through the same API operations the AWS CLI calls:
// create, edit and delete each; every rule with the sampling statistics the SDKs reported in its
// newest reporting window.

import { change, describe, xray } from "../lib/api.js";
import { h, problem } from "../lib/dom.js";

/** A form row of labelled inputs; `values()` answers what is typed, by name. */
function fields(specs) {
  const inputs = specs.map(([name, label, value = "", width = "140px"]) => h("label", {}, label, h("input", { name, value: String(value), style: `width:${width}` })));
  return {
    element: h("div", { class: "form-row" }, inputs),
    values: () => Object.fromEntries(inputs.map((label) => { const input = label.querySelector("input"); return [input.name, input.value.trim()]; })),
  };
}

/** Runs an X-Ray operation, then redraws the card. */
function act(operation, body, redraw) {
  return change(() => xray(operation, body), redraw);
}

export async function groupsCard(card, signal) {
  const redraw = () => groupsCard(card, signal);
  let groups;
  try {
    groups = (await xray("Groups", {}, signal)).Groups || [];
  } catch (error) {
    if (error.name !== "AbortError") card.replaceChildren(h("h2", {}, "X-Ray groups"), problem(describe(error)));
    return;
  }
  const form = fields([["GroupName", "Name"], ["FilterExpression", "Filter expression", "", "360px"]]);
  const create = h("button", { type: "button", class: "primary", "data-testid": "create-group", onclick: () => {
    const { GroupName, FilterExpression } = form.values();
    act("CreateGroup", { GroupName, ...(FilterExpression ? { FilterExpression } : {}) }, redraw);
  } }, "Create group");
  const rows = groups.map((group) => {
    const filter = h("input", { value: group.FilterExpression || "", style: "width:100%", "aria-label": `Filter of ${group.GroupName}` });
    return h("tr", { "data-group": group.GroupName },
      h("td", {}, group.GroupName), h("td", {}, filter),
      h("td", {}, group.InsightsConfiguration && group.InsightsConfiguration.InsightsEnabled ? "on" : "off"),
      h("td", {},
        h("button", { type: "button", class: "copy", onclick: () => act("UpdateGroup", { GroupARN: group.GroupARN, FilterExpression: filter.value.trim() }, redraw) }, "save"),
        group.GroupName === "Default" ? "" : h("button", { type: "button", class: "copy", onclick: () => act("DeleteGroup", { GroupARN: group.GroupARN }, redraw) }, "delete")));
  });
  card.replaceChildren(h("h2", {}, "X-Ray groups"),
    rows.length ? h("table", { class: "grid", "data-testid": "groups" }, h("thead", {}, h("tr", {}, ["Name", "Filter expression", "Insights", ""].map((t) => h("th", {}, t)))), h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No groups yet."),
    h("h3", {}, "New group"), form.element, create);
}

const RULE_FIELDS = [["RuleName", "Name"], ["Priority", "Priority", 1000, "80px"], ["FixedRate", "Fixed rate", 0.05, "80px"],
  ["ReservoirSize", "Reservoir /s", 1, "80px"], ["ServiceName", "Service", "*"], ["ServiceType", "Service type", "*", "100px"],
  ["Host", "Host", "*", "100px"], ["HTTPMethod", "Method", "*", "70px"], ["URLPath", "URL path", "*"], ["ResourceARN", "Resource ARN", "*", "100px"]];
const NUMERIC = new Set(["Priority", "FixedRate", "ReservoirSize"]);

/** What a rule matches, naming only the fields that are not `*`. */
function matchesText(rule) {
  const named = [["service", rule.ServiceName], ["type", rule.ServiceType], ["host", rule.Host], ["method", rule.HTTPMethod],
    ["path", rule.URLPath], ["resource", rule.ResourceARN]].filter(([, value]) => value && value !== "*");
  return named.length ? named.map(([what, value]) => `${what} ${value}`).join(" · ") : "every request";
}

function ruleBody(values) {
  const rule = { Version: 1 };
  for (const [name, value] of Object.entries(values)) rule[name] = NUMERIC.has(name) ? Number(value) : value;
  return rule;
}

export async function rulesCard(card, signal) {
  const redraw = () => rulesCard(card, signal);
  let rules;
  let stats;
  try {
    [rules, stats] = await Promise.all([
      xray("GetSamplingRules", {}, signal).then((a) => a.SamplingRuleRecords || []),
      xray("SamplingStatisticSummaries", {}, signal).then((a) => a.SamplingStatisticSummaries || []),
    ]);
  } catch (error) {
    if (error.name !== "AbortError") card.replaceChildren(h("h2", {}, "Sampling rules"), problem(describe(error)));
    return;
  }
  // Summaries come newest first, one per rule and reporting window; each row shows its newest.
  const statsOf = new Map();
  for (const summary of stats) if (!statsOf.has(summary.RuleName)) statsOf.set(summary.RuleName, summary);
  const rows = rules.map(({ SamplingRule: rule }) => {
    const live = statsOf.get(rule.RuleName) || {};
    const edit = fields([["FixedRate", "", rule.FixedRate, "70px"], ["ReservoirSize", "", rule.ReservoirSize, "60px"], ["Priority", "", rule.Priority, "70px"]]);
    // X-Ray's Default rule keeps its priority; only its rate and reservoir change.
    const custom = rule.RuleName !== "Default";
    if (!custom) edit.element.querySelector("input[name=Priority]").disabled = true;
    return h("tr", { "data-rule": rule.RuleName },
      h("td", {}, rule.RuleName), h("td", { class: "mono" }, matchesText(rule)),
      h("td", {}, edit.element),
      h("td", { class: "num", "data-stat": "requests" }, String(live.RequestCount ?? 0)),
      h("td", { class: "num", "data-stat": "sampled" }, String(live.SampledCount ?? 0)),
      h("td", { class: "num", "data-stat": "borrowed" }, String(live.BorrowCount ?? 0)),
      h("td", {},
        h("button", { type: "button", class: "copy", onclick: () => {
          const values = edit.values();
          const update = { RuleName: rule.RuleName, FixedRate: Number(values.FixedRate), ReservoirSize: Number(values.ReservoirSize) };
          if (custom) update.Priority = Number(values.Priority);
          act("UpdateSamplingRule", { SamplingRuleUpdate: update }, redraw);
        } }, "save"),
        custom ? h("button", { type: "button", class: "copy", onclick: () => act("DeleteSamplingRule", { RuleName: rule.RuleName }, redraw) }, "delete") : ""));
  });
  const form = fields(RULE_FIELDS);
  const create = h("button", { type: "button", class: "primary", "data-testid": "create-rule", onclick: () => act("CreateSamplingRule", { SamplingRule: ruleBody(form.values()) }, redraw) }, "Create rule");
  card.replaceChildren(h("h2", {}, "Sampling rules"),
    h("p", { class: "muted" }, "Requests, sampled and borrowed are what the SDKs reported for each rule in its newest reporting window."),
    h("table", { class: "grid", "data-testid": "rules" },
      h("thead", {}, h("tr", {}, ["Rule", "Matches", "Fixed rate · reservoir · priority", "Requests", "Sampled", "Borrowed", ""].map((t, i) => h("th", { class: i >= 3 && i <= 5 ? "num" : "" }, t)))),
      h("tbody", {}, rows)),
    h("h3", {}, "New rule"), form.element, create);
}
