//! The rules of the Query Specification, checked field by field: [`QuerySpec::validate`].

use serde_json::Value;

use crate::error::{HoneycombError, HoneycombResult};
use crate::ops::{CalcOp, FilterOp, HavingOp};
use crate::spec::{
    Aggregate, Calculation, Filter, Having, NamedExpression, Order, OrderTerm, QuerySpec,
    ValidCalculation, ValidFilter, ValidFormula, ValidHaving, Validated,
};

/// Most entries in each list (calculations, filters, breakdowns, orders, havings, …).
const MAX_ENTRIES: usize = 100;

fn combination(value: Option<&str>, field: &str) -> HoneycombResult<bool> {
    match value {
        None | Some("AND") => Ok(false),
        Some("OR") => Ok(true),
        Some(other) => Err(HoneycombError::invalid(
            field,
            format!("must be AND or OR, not {other:?}"),
        )),
    }
}

fn at_most(list: usize, field: &str) -> HoneycombResult<()> {
    if list > MAX_ENTRIES {
        return Err(HoneycombError::invalid(
            field,
            format!("at most {MAX_ENTRIES} entries are allowed, got {list}"),
        ));
    }
    Ok(())
}

fn validate_filter(filter: &Filter, field: &str) -> HoneycombResult<ValidFilter> {
    let op = FilterOp::parse(&filter.op).ok_or_else(|| {
        HoneycombError::invalid(
            format!("{field}.op"),
            format!(
                "unknown filter operator {:?}; use one of {}",
                filter.op,
                FilterOp::NAMES
            ),
        )
    })?;
    let column = match filter.column.as_deref() {
        Some(column) if !column.is_empty() => column.to_owned(),
        _ => {
            return Err(HoneycombError::missing(
                format!("{field}.column"),
                "a filter needs a column",
            ))
        }
    };
    let values = match (op.arity(), &filter.value) {
        (crate::ops::Arity::None, None | Some(Value::Null)) => Vec::new(),
        (crate::ops::Arity::None, Some(_)) => {
            return Err(HoneycombError::invalid(
                format!("{field}.value"),
                format!("{} does not take a value", filter.op),
            ))
        }
        (crate::ops::Arity::List, Some(Value::Array(values))) if !values.is_empty() => {
            values.clone()
        }
        (crate::ops::Arity::List, _) => {
            return Err(HoneycombError::invalid(
                format!("{field}.value"),
                format!("{} needs a non-empty array of values", filter.op),
            ))
        }
        (
            crate::ops::Arity::One,
            Some(value @ (Value::String(_) | Value::Number(_) | Value::Bool(_))),
        ) => {
            vec![value.clone()]
        }
        (crate::ops::Arity::One, _) => {
            return Err(HoneycombError::invalid(
                format!("{field}.value"),
                format!(
                    "operator {} requires a string, number or boolean value",
                    filter.op
                ),
            ))
        }
    };
    Ok(ValidFilter { column, op, values })
}

pub(crate) fn validate_filters(
    filters: &[Filter],
    field: &str,
) -> HoneycombResult<Vec<ValidFilter>> {
    at_most(filters.len(), field)?;
    filters
        .iter()
        .enumerate()
        .map(|(i, f)| validate_filter(f, &format!("{field}[{i}]")))
        .collect()
}

fn validate_calculation(calc: &Calculation, field: &str) -> HoneycombResult<ValidCalculation> {
    let op = CalcOp::parse(&calc.op).ok_or_else(|| {
        HoneycombError::invalid(
            format!("{field}.op"),
            format!(
                "unknown calculation {:?}; use one of {}",
                calc.op,
                CalcOp::NAMES
            ),
        )
    })?;
    let column = calc.column.clone().filter(|c| !c.is_empty());
    match (op.takes_column(), &column) {
        (true, None) => {
            return Err(HoneycombError::missing(
                format!("{field}.column"),
                format!("{} requires a column", calc.op),
            ))
        }
        (false, Some(_)) => {
            return Err(HoneycombError::invalid(
                format!("{field}.column"),
                format!("{} does not take a column", calc.op),
            ))
        }
        _ => {}
    }
    if !calc.filters.is_empty() && calc.name.is_none() {
        return Err(HoneycombError::missing(
            format!("{field}.name"),
            "a calculation with its own filters needs a name",
        ));
    }
    let key = calc
        .name
        .clone()
        .unwrap_or_else(|| op.key(column.as_deref()));
    Ok(ValidCalculation {
        op,
        column,
        key,
        filters: validate_filters(&calc.filters, &format!("{field}.filters"))?,
        any: combination(
            calc.filter_combination.as_deref(),
            &format!("{field}.filter_combination"),
        )?,
    })
}

/// The calculations and formulas orders and havings may name.
struct Aggregates<'a> {
    calculations: &'a [ValidCalculation],
    formulas: &'a [ValidFormula],
}

impl Aggregates<'_> {
    /// The aggregate an order or having names: a calculation by op and column, or a
    /// calculation or formula by the name in `column`.
    fn find(&self, op: Option<&str>, column: Option<&str>) -> Option<Aggregate> {
        let calculation =
            self.calculations
                .iter()
                .position(|calc| match op.and_then(CalcOp::parse) {
                    Some(op) => calc.op == op && calc.column.as_deref() == column,
                    None => column.is_some_and(|name| calc.key == name),
                });
        if let Some(i) = calculation {
            return Some(Aggregate::Calculation(i));
        }
        let formula = self
            .formulas
            .iter()
            .position(|f| op.is_none() && column == Some(f.name.as_str()));
        formula.map(Aggregate::Formula)
    }

    fn is_heatmap(&self, aggregate: Aggregate) -> bool {
        matches!(aggregate, Aggregate::Calculation(i) if self.calculations[i].op == CalcOp::Heatmap)
    }
}

/// Formulas compiled over the calculations, which they name by `$name`.
fn validate_formulas(
    formulas: &[NamedExpression],
    calculations: &[ValidCalculation],
) -> HoneycombResult<Vec<ValidFormula>> {
    if !formulas.is_empty() && calculations.iter().any(|c| c.op == CalcOp::Heatmap) {
        return Err(HoneycombError::invalid(
            "formulas",
            "HEATMAP calculations cannot be used with formulas",
        ));
    }
    let resolve = |name: &str| {
        let i = calculations.iter().position(|c| c.key == name)?;
        Some(crate::columns::Column {
            sql: format!("\"a{i}\""),
            kind: crate::columns::Kind::Float,
        })
    };
    let mut valid: Vec<ValidFormula> = Vec::with_capacity(formulas.len());
    for (i, formula) in formulas.iter().enumerate() {
        let field = format!("formulas[{i}]");
        if formula.name.is_empty() {
            return Err(HoneycombError::missing(
                format!("{field}.name"),
                "a formula needs a name",
            ));
        }
        let taken = calculations.iter().any(|c| c.key == formula.name)
            || valid.iter().any(|f| f.name == formula.name);
        if taken {
            return Err(HoneycombError::Invalid {
                field: format!("{field}.name"),
                code: "already_exists",
                description: format!("duplicate name {:?}", formula.name),
            });
        }
        let compiled = crate::derived::compile(&formula.expression, &resolve).map_err(|e| {
            let hint = if e.starts_with("unknown column") {
                format!("{e}: a formula names the query's calculations by their name, as $name")
            } else {
                e
            };
            HoneycombError::invalid(format!("{field}.expression"), hint)
        })?;
        valid.push(ValidFormula {
            name: formula.name.clone(),
            sql: compiled.sql,
        });
    }
    Ok(valid)
}

fn validate_order(
    order: &Order,
    field: &str,
    aggregates: &Aggregates<'_>,
    breakdowns: &[String],
) -> HoneycombResult<OrderTerm> {
    let descending = match order.order.as_deref() {
        None | Some("ascending") => false,
        Some("descending") => true,
        Some(other) => {
            return Err(HoneycombError::invalid(
                format!("{field}.order"),
                format!("must be ascending or descending, not {other:?}"),
            ))
        }
    };
    let column = order.column.as_deref();
    if order.op.is_none() {
        if let Some(index) = breakdowns.iter().position(|b| Some(b.as_str()) == column) {
            return Ok(OrderTerm::Breakdown(index, descending));
        }
    }
    let aggregate = aggregates
        .find(order.op.as_deref(), column)
        .ok_or_else(|| {
            HoneycombError::invalid(
                field,
                "an order must name a breakdown, one of the query's calculations or a formula",
            )
        })?;
    if aggregates.is_heatmap(aggregate) {
        return Err(HoneycombError::invalid(field, "HEATMAP cannot be ordered"));
    }
    Ok(OrderTerm::Aggregate(aggregate, descending))
}

fn validate_having(
    having: &Having,
    field: &str,
    aggregates: &Aggregates<'_>,
) -> HoneycombResult<ValidHaving> {
    let op = HavingOp::parse(&having.op).ok_or_else(|| {
        HoneycombError::invalid(
            format!("{field}.op"),
            format!("must be one of = != > >= < <=, not {:?}", having.op),
        )
    })?;
    let named = aggregates
        .find(Some(&having.calculate_op), having.column.as_deref())
        .or_else(|| aggregates.find(None, having.column.as_deref()));
    let target = named.ok_or_else(|| {
        HoneycombError::invalid(
            field,
            format!("{} missing matching calculation", having.calculate_op),
        )
    })?;
    if aggregates.is_heatmap(target) {
        return Err(HoneycombError::invalid(
            field,
            "HEATMAP cannot be used in a having",
        ));
    }
    Ok(ValidHaving {
        target,
        op,
        value: having.value,
    })
}

impl QuerySpec {
    /// Checks every rule and returns the query in checked terms.
    pub fn validate(&self) -> HoneycombResult<Validated> {
        at_most(self.calculations.len(), "calculations")?;
        at_most(self.breakdowns.len(), "breakdowns")?;
        at_most(self.orders.len(), "orders")?;
        at_most(self.havings.len(), "havings")?;
        at_most(self.calculated_fields.len(), "calculated_fields")?;
        at_most(self.formulas.len(), "formulas")?;
        let mut calculations = self
            .calculations
            .iter()
            .enumerate()
            .map(|(i, c)| validate_calculation(c, &format!("calculations[{i}]")))
            .collect::<HoneycombResult<Vec<_>>>()?;
        if calculations.is_empty() {
            calculations.push(ValidCalculation {
                op: CalcOp::Count,
                column: None,
                key: CalcOp::Count.key(None),
                filters: Vec::new(),
                any: false,
            });
        }
        for (i, calc) in calculations.iter().enumerate() {
            if calculations[..i].iter().any(|c| c.key == calc.key) {
                return Err(HoneycombError::Invalid {
                    field: format!("calculations[{i}]"),
                    code: "already_exists",
                    description: format!("duplicate name {:?}", calc.key),
                });
            }
        }
        let formulas = validate_formulas(&self.formulas, &calculations)?;
        for (i, field) in self.calculated_fields.iter().enumerate() {
            if field.name.is_empty() {
                return Err(HoneycombError::missing(
                    format!("calculated_fields[{i}].name"),
                    "a calculated field needs a name",
                ));
            }
            crate::derived::check(&field.expression).map_err(|e| {
                HoneycombError::invalid(format!("calculated_fields[{i}].expression"), e)
            })?;
        }
        if let Some(limit) = self.limit {
            if !(1..=10_000).contains(&limit) {
                return Err(HoneycombError::invalid(
                    "limit",
                    "must be between 1 and 10000",
                ));
            }
        }
        if let Some(offset) = self.compare_time_offset_seconds {
            const ALLOWED: [u64; 8] = [1800, 3600, 7200, 28800, 86400, 604800, 2419200, 15724800];
            if !ALLOWED.contains(&offset) {
                return Err(HoneycombError::invalid(
                    "compare_time_offset_seconds",
                    format!("must be one of {ALLOWED:?}"),
                ));
            }
        }
        let aggregates = Aggregates {
            calculations: &calculations,
            formulas: &formulas,
        };
        let orders = self
            .orders
            .iter()
            .enumerate()
            .map(|(i, o)| validate_order(o, &format!("orders[{i}]"), &aggregates, &self.breakdowns))
            .collect::<HoneycombResult<Vec<_>>>()?;
        let havings = self
            .havings
            .iter()
            .enumerate()
            .map(|(i, h)| validate_having(h, &format!("havings[{i}]"), &aggregates))
            .collect::<HoneycombResult<Vec<_>>>()?;
        Ok(Validated {
            filters: validate_filters(&self.filters, "filters")?,
            any: combination(self.filter_combination.as_deref(), "filter_combination")?,
            calculations,
            breakdowns: self.breakdowns.clone(),
            orders,
            havings,
            saved_fields: Vec::new(),
            calculated_fields: self.calculated_fields.clone(),
            formulas,
            usage_mode: self.usage_mode.unwrap_or(false),
        })
    }
}
