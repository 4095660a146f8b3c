// The query builder's clauses as text, to and from the parts of a Honeycomb QuerySpec:
// `P99(duration_ms)`, `http.status_code >= 500`, `COUNT desc`, `COUNT > 10`. The server
// validates the spec; this only turns what a person typed into its shape, and says what it
// cannot read.

/** Filter operators, longest first so `>=` is read before `>`. */
const FILTER_OPS = ["does-not-start-with", "does-not-end-with", "does-not-contain", "does-not-exist", "starts-with", "ends-with",
  "contains", "exists", "not-in", "in", ">=", "<=", "!=", "=", ">", "<"];
const UNARY = new Set(["exists", "does-not-exist"]);
const LISTS = new Set(["in", "not-in"]);
const HAVING_OPS = [">=", "<=", "!=", "=", ">", "<"];

/** A clause that could not be read, with what was wrong. */
export class ClauseError extends Error {}

/** A typed value: numbers and booleans as such, `"quoted"` text as text, anything else as text. */
export function typedValue(text) {
  const trimmed = text.trim();
  if (/^".*"$/.test(trimmed)) return trimmed.slice(1, -1);
  if (trimmed === "true" || trimmed === "false") return trimmed === "true";
  if (trimmed !== "" && Number.isFinite(Number(trimmed))) return Number(trimmed);
  return trimmed;
}

function valueText(value) {
  if (typeof value === "string" && (value === "true" || value === "false" || (value.trim() !== "" && Number.isFinite(Number(value))))) return `"${value}"`;
  return String(value);
}

/** Splits on commas outside parentheses and quotes. */
export function splitList(text) {
  const out = [];
  let depth = 0;
  let quoted = false;
  let current = "";
  for (const char of text) {
    if (char === '"') quoted = !quoted;
    if (!quoted && char === "(") depth++;
    if (!quoted && char === ")") depth--;
    if (!quoted && depth === 0 && char === ",") {
      out.push(current.trim());
      current = "";
    } else current += char;
  }
  out.push(current.trim());
  return out.filter((part) => part !== "");
}

/** `P99(duration_ms)` → `{op: "P99", column: "duration_ms"}`; `COUNT` → `{op: "COUNT"}`. */
export function parseCalculation(text) {
  const match = /^([A-Za-z0-9_]+)\s*(?:\(\s*([^()]*?)\s*\))?$/.exec(text.trim());
  if (!match) throw new ClauseError(`"${text}" is not a calculation like COUNT or P99(duration_ms)`);
  const op = match[1].toUpperCase();
  return match[2] ? { op, column: match[2] } : { op };
}

export function calculationText(calculation) {
  return calculation.column ? `${calculation.op}(${calculation.column})` : calculation.op;
}

/** The key a result's `data` holds a calculation under (its name when it has one). */
export function calculationKey(calculation) {
  return calculation.name || calculationText(calculation);
}

/** `http.status_code >= 500`, `region in us-east-1, eu-west-1`, `error exists`. */
export function parseFilter(text) {
  const trimmed = text.trim();
  const space = trimmed.search(/\s/);
  if (space < 0) throw new ClauseError(`"${text}" needs an operator, as in "duration_ms > 100"`);
  const column = trimmed.slice(0, space);
  const rest = trimmed.slice(space).trim();
  const op = FILTER_OPS.find((candidate) => rest === candidate || rest.startsWith(`${candidate} `) || (/^[<>=!]/.test(candidate) && rest.startsWith(candidate)));
  if (!op) throw new ClauseError(`"${text}": unknown operator; use one of ${FILTER_OPS.join(" ")}`);
  const value = rest.slice(op.length).trim();
  if (UNARY.has(op)) {
    if (value) throw new ClauseError(`"${text}": ${op} takes no value`);
    return { column, op };
  }
  if (!value) throw new ClauseError(`"${text}": ${op} needs a value`);
  if (LISTS.has(op)) return { column, op, value: splitList(value).map(typedValue) };
  return { column, op, value: typedValue(value) };
}

export function filterText(filter) {
  if (UNARY.has(filter.op)) return `${filter.column} ${filter.op}`;
  const value = Array.isArray(filter.value) ? filter.value.map(valueText).join(", ") : valueText(filter.value);
  return `${filter.column} ${filter.op} ${value}`;
}

/** `COUNT desc`, `P99(duration_ms)`, `service.name asc`: a calculation when `calculations` has it. */
export function parseOrder(text, calculations) {
  const match = /^(.*?)(?:\s+(asc|desc|ascending|descending))?$/i.exec(text.trim());
  const target = match[1].trim();
  const order = match[2] && match[2].toLowerCase().startsWith("asc") ? "ascending" : "descending";
  const calculation = calculations.find((c) => calculationText(c) === target || c.name === target);
  if (calculation) return calculation.column ? { op: calculation.op, column: calculation.column, order } : { op: calculation.op, order };
  if (/\(/.test(target) || /^[A-Z_0-9]+$/.test(target)) {
    const parsed = parseCalculation(target);
    return { ...parsed, order };
  }
  return { column: target, order };
}

export function orderText(order) {
  const target = order.op ? calculationText(order) : order.column;
  return `${target} ${order.order === "ascending" ? "asc" : "desc"}`;
}

/** `COUNT > 10`, `P99(duration_ms) >= 500`. */
export function parseHaving(text) {
  const trimmed = text.trim();
  const op = HAVING_OPS.map((candidate) => [candidate, trimmed.indexOf(candidate)]).filter(([, at]) => at > 0).sort((a, b) => a[1] - b[1] || b[0].length - a[0].length)[0];
  if (!op) throw new ClauseError(`"${text}" is not a having like "COUNT > 10"`);
  const calculation = parseCalculation(trimmed.slice(0, op[1]));
  const value = Number(trimmed.slice(op[1] + op[0].length));
  if (!Number.isFinite(value)) throw new ClauseError(`"${text}": the value must be a number`);
  return { calculate_op: calculation.op, ...(calculation.column ? { column: calculation.column } : {}), op: op[0], value };
}

export function havingText(having) {
  return `${calculationText({ op: having.calculate_op, column: having.column })} ${having.op} ${having.value}`;
}

/** `name = expression` per line → calculated fields. */
export function parseCalculatedFields(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const at = line.indexOf("=");
    if (at <= 0) throw new ClauseError(`"${line}" is not a calculated field like "slow = GT($duration_ms, 500)"`);
    return { name: line.slice(0, at).trim(), expression: line.slice(at + 1).trim() };
  });
}

export function calculatedFieldsText(fields) {
  return (fields || []).map((f) => `${f.name} = ${f.expression}`).join("\n");
}
