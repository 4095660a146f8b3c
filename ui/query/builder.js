// Honeycomb's query builder: VISUALIZE, WHERE (each filter its own box, AND or OR), GROUP BY,
// ORDER BY, LIMIT, HAVING, granularity and calculated fields, over a QuerySpec without its time
// (the page's range supplies that). Column names are offered from the dataset's columns.

import { h } from "../lib/dom.js";
import {
  calculatedFieldsText, calculationText, filterText, havingText, orderText, parseCalculatedFields,
  parseCalculation, parseFilter, parseHaving, parseOrder, splitList,
} from "./clauses.js";

const GRANULARITIES = [["", "auto"], ["1", "1 s"], ["10", "10 s"], ["30", "30 s"], ["60", "1 min"], ["300", "5 min"],
  ["900", "15 min"], ["3600", "1 h"], ["86400", "1 day"]];
const CALCULATIONS = ["COUNT", "CONCURRENCY", "COUNT_DISTINCT(", "SUM(", "AVG(", "MIN(", "MAX(", "P50(", "P90(", "P95(", "P99(",
  "P999(", "HEATMAP(", "RATE_AVG(", "RATE_SUM(", "RATE_MAX("];

/**
 * The builder's form. `read()` answers the spec it holds (throwing a ClauseError naming the
 * clause it cannot read); `onRun` is called when the person runs it.
 * @param {any} spec @param {{datasets: string[], dataset: string, columns: string[], onRun: () => void, onDataset: (d: string) => void}} options
 */
export function queryBuilder(spec, { datasets, dataset, columns, onRun, onDataset }) {
  const listId = "query-columns";
  const columnList = h("datalist", { id: listId }, columns.map((c) => h("option", { value: c })),
    CALCULATIONS.map((c) => h("option", { value: c })));
  const input = (name, value, placeholder, width) => h("input", {
    name, value, placeholder, list: listId, autocomplete: "off", spellcheck: "false", style: width ? `width:${width}` : undefined,
    onkeydown: (event) => event.key === "Enter" && (event.preventDefault(), onRun()),
  });
  const datasetSelect = h("select", { name: "dataset", onchange: (event) => onDataset(event.target.value) },
    datasets.map((d) => h("option", { value: d, selected: d === dataset }, d === "__all__" ? "all datasets (__all__)" : d)));
  const visualize = input("visualize", (spec.calculations || [{ op: "COUNT" }]).map(calculationText).join(", "), "COUNT, P99(duration_ms), HEATMAP(duration_ms)", "100%");
  const filters = h("div", { class: "clause", "data-testid": "where" });
  const addFilter = (text = "") => {
    const box = input("where", text, "column op value, e.g. http.status_code >= 500");
    filters.insertBefore(h("span", { class: "filter" }, box,
      h("button", { type: "button", class: "copy", title: "Remove this filter", onclick: (e) => e.target.closest(".filter").remove() }, "✕")), more);
    return box;
  };
  const more = h("button", { type: "button", onclick: () => addFilter().focus() }, "+ filter");
  const combination = h("select", { name: "filter_combination" },
    h("option", { value: "AND", selected: spec.filter_combination !== "OR" }, "all (AND)"),
    h("option", { value: "OR", selected: spec.filter_combination === "OR" }, "any (OR)"));
  filters.append(combination, more);
  const shown = spec.filters && spec.filters.length ? spec.filters.map(filterText) : [""];
  shown.forEach((text) => addFilter(text));
  const groupBy = input("group_by", (spec.breakdowns || []).join(", "), "service.name, http.route", "100%");
  const orderBy = input("order_by", (spec.orders || []).map(orderText).join(", "), "COUNT desc");
  const limit = h("input", { name: "limit", type: "number", min: "1", max: "10000", value: spec.limit || "", placeholder: "100", style: "width:90px" });
  const having = input("having", (spec.havings || []).map(havingText).join(", "), "COUNT > 10");
  const granularity = h("select", { name: "granularity" }, GRANULARITIES.map(([value, label]) =>
    h("option", { value, selected: String(spec.granularity || "") === value }, label)));
  const fields = h("textarea", { name: "calculated_fields", rows: "2", placeholder: "slow = GT($duration_ms, 500)", spellcheck: "false", style: "width:100%" },
    calculatedFieldsText(spec.calculated_fields));
  const run = h("button", { type: "button", class: "primary", "data-testid": "run-query", onclick: onRun }, "Run query");
  const element = h("div", { class: "builder", "data-testid": "query-builder" }, columnList,
    h("label", {}, "DATASET"), h("div", { class: "clause" }, datasetSelect),
    h("label", {}, "VISUALIZE"), h("div", { class: "clause" }, visualize),
    h("label", {}, "WHERE"), filters,
    h("label", {}, "GROUP BY"), h("div", { class: "clause" }, groupBy),
    h("label", {}, "ORDER BY"), h("div", { class: "clause" }, orderBy, h("span", { class: "muted" }, "LIMIT"), limit, h("span", { class: "muted" }, "HAVING"), having),
    h("label", {}, "GRANULARITY"), h("div", { class: "clause" }, granularity),
    h("label", {}, "CALCULATED"), h("div", { class: "clause" }, fields),
    h("span"), h("div", { class: "clause" }, run));

  /** The spec the form holds now. */
  function read() {
    const calculations = splitList(visualize.value || "COUNT").map(parseCalculation);
    const out = { calculations };
    const where = [...filters.querySelectorAll("input[name=where]")].map((box) => box.value.trim()).filter(Boolean).map(parseFilter);
    if (where.length) out.filters = where;
    if (where.length > 1 && combination.value === "OR") out.filter_combination = "OR";
    const breakdowns = splitList(groupBy.value);
    if (breakdowns.length) out.breakdowns = breakdowns;
    const orders = splitList(orderBy.value).map((text) => parseOrder(text, calculations));
    if (orders.length) out.orders = orders;
    const havings = splitList(having.value).map(parseHaving);
    if (havings.length) out.havings = havings;
    if (limit.value) out.limit = Number(limit.value);
    if (granularity.value) out.granularity = Number(granularity.value);
    const calculated = parseCalculatedFields(fields.value);
    if (calculated.length) out.calculated_fields = calculated;
    return out;
  }

  return {
    element,
    read,
    /** Adds a filter clause (from BubbleUp's "add to WHERE"). */
    addFilter(filter) {
      const empty = [...filters.querySelectorAll("input[name=where]")].find((box) => !box.value.trim());
      (empty || addFilter()).value = filterText(filter);
    },
    /** Adds a column to GROUP BY (from BubbleUp's "group by"). */
    addBreakdown(column) {
      const current = splitList(groupBy.value);
      if (!current.includes(column)) groupBy.value = [...current, column].join(", ");
    },
  };
}
