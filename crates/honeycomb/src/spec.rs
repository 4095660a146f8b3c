//! Honeycomb's Query Specification as the API takes it, and its rules.
//!
//! [`QuerySpec`] is the JSON body, field for field (unknown fields are refused, so a typo is
//! an error rather than a silently different question). [`QuerySpec::validate`] checks every rule
//! Honeycomb states and turns the strings into [`Validated`] terms; each error names the field.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ops::{CalcOp, FilterOp, HavingOp};

/// The time range when none is given: two hours.
pub const DEFAULT_TIME_RANGE: u64 = 7200;

/// A Query Specification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySpec {
    /// What to compute; a bare COUNT when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calculations: Vec<Calculation>,
    /// Which events count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    /// `AND` (the default) or `OR` over `filters`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_combination: Option<String>,
    /// Columns to group by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breakdowns: Vec<String>,
    /// How groups are ranked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orders: Vec<Order>,
    /// Conditions on a group's aggregates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub havings: Vec<Having>,
    /// Most groups in the results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Seconds the query spans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_range: Option<u64>,
    /// Unix seconds the query starts at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    /// Unix seconds the query ends at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    /// Seconds per time-series bucket; chosen from the range when absent or 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<u64>,
    /// Expressions the query may use as columns, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calculated_fields: Vec<NamedExpression>,
    /// Expressions over the named calculations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub formulas: Vec<NamedExpression>,
    /// Accepted and checked; Honeycomb's API never returns comparison results, nor does this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare_time_offset_seconds: Option<u64>,
    /// Aggregates without sample-rate correction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_mode: Option<bool>,
}

/// One calculation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calculation {
    /// `COUNT`, `P99`, `HEATMAP`, …
    pub op: String,
    /// The column it aggregates (none for COUNT and CONCURRENCY).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Its key in results, instead of `OP(column)`; required with `filters`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which events this calculation alone counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    /// `AND` or `OR` over this calculation's filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_combination: Option<String>,
}

/// One filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The column (or calculated field) tested.
    pub column: Option<String>,
    /// `=`, `!=`, `>`, `starts-with`, `exists`, `in`, …
    pub op: String,
    /// What the column is compared with; an array for `in` and `not-in`, none for `exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// One ordering term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// A calculation's op, or none to order by a breakdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// A breakdown, a calculation's column, or a named calculation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// `ascending` (the default) or `descending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

/// One condition on a group's aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Having {
    /// The calculation's op.
    pub calculate_op: String,
    /// The calculation's column (or its name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// `=`, `!=`, `>`, `>=`, `<`, `<=`.
    pub op: String,
    /// The number compared with.
    pub value: f64,
}

/// A calculated field or a formula.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedExpression {
    /// Its name.
    pub name: String,
    /// Its expression, in Honeycomb's calculated-field language.
    pub expression: String,
}

/// A filter with its operator known and its value checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidFilter {
    /// The column tested.
    pub column: String,
    /// The operator.
    pub op: FilterOp,
    /// The values compared with (none for `exists`, one for most, any number for `in`).
    pub values: Vec<Value>,
}

/// A calculation with its operator known.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidCalculation {
    /// The operator.
    pub op: CalcOp,
    /// The column, for the operators that take one.
    pub column: Option<String>,
    /// The key of its value in results.
    pub key: String,
    /// Its own filters, all or any of which must hold.
    pub filters: Vec<ValidFilter>,
    /// Whether any one of `filters` is enough.
    pub any: bool,
}

/// A value of a group that orders and havings can name: a calculation's or a formula's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// The n-th calculation.
    Calculation(usize),
    /// The n-th formula.
    Formula(usize),
}

impl Aggregate {
    /// Its column in planned SQL: `a0…` for calculations, `f0…` for formulas.
    pub fn alias(self) -> String {
        match self {
            Self::Calculation(i) => format!("\"a{i}\""),
            Self::Formula(i) => format!("\"f{i}\""),
        }
    }
}

/// A ranking term: a breakdown's index or an aggregate, and the direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OrderTerm {
    /// By the n-th breakdown; `true` is descending.
    Breakdown(usize, bool),
    /// By a calculation or formula; `true` is descending.
    Aggregate(Aggregate, bool),
}

/// A formula with its expression compiled over the calculations' columns (`a0…`).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidFormula {
    /// Its key in results.
    pub name: String,
    /// SQL over the aggregate columns of one group.
    pub sql: String,
}

/// A having with its calculation found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidHaving {
    /// The calculation or formula it tests.
    pub target: Aggregate,
    /// The comparison.
    pub op: HavingOp,
    /// The number compared with.
    pub value: f64,
}

/// A query whose every rule holds, ready to plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// Calculations (a bare COUNT when the spec had none).
    pub calculations: Vec<ValidCalculation>,
    /// The filters over all events.
    pub filters: Vec<ValidFilter>,
    /// Whether any one of `filters` is enough.
    pub any: bool,
    /// Columns grouped by.
    pub breakdowns: Vec<String>,
    /// Ranking terms, in order.
    pub orders: Vec<OrderTerm>,
    /// Conditions on groups.
    pub havings: Vec<ValidHaving>,
    /// The calculated fields saved for the dataset, which the query may name (the server
    /// fills these in; inline fields of the same name win).
    pub saved_fields: Vec<NamedExpression>,
    /// The calculated fields the query defines inline.
    pub calculated_fields: Vec<NamedExpression>,
    /// Expressions over the calculations; when there are any, results show these instead.
    pub formulas: Vec<ValidFormula>,
    /// Aggregates without sample-rate correction.
    pub usage_mode: bool,
}
