//! The operators of the Query Specification: calculations, filters and havings.

/// A calculation's operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CalcOp {
    /// Events, weighted by sample rate.
    Count,
    /// Events in progress at once.
    Concurrency,
    /// Distinct values (never weighted).
    CountDistinct,
    /// Weighted sum.
    Sum,
    /// Weighted mean over the events that have the column.
    Avg,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// A weighted percentile: its name (`P99`) and fraction (0.99).
    Percentile(&'static str, f64),
    /// A histogram of the column's values.
    Heatmap,
    /// The rate of change of AVG between buckets.
    RateAvg,
    /// The rate of change of SUM between buckets.
    RateSum,
    /// The rate of change of MAX between buckets.
    RateMax,
}

const PERCENTILES: [(&str, f64); 13] = [
    ("P001", 0.001),
    ("P01", 0.01),
    ("P05", 0.05),
    ("P10", 0.1),
    ("P20", 0.2),
    ("P25", 0.25),
    ("P50", 0.5),
    ("P75", 0.75),
    ("P80", 0.8),
    ("P90", 0.9),
    ("P95", 0.95),
    ("P99", 0.99),
    ("P999", 0.999),
];

impl CalcOp {
    /// Every operator's name, for error messages.
    pub const NAMES: &'static str = "COUNT, CONCURRENCY, COUNT_DISTINCT, SUM, AVG, MIN, MAX, \
        P001, P01, P05, P10, P20, P25, P50, P75, P80, P90, P95, P99, P999, HEATMAP, RATE_AVG, \
        RATE_SUM, RATE_MAX";

    /// The operator named `name` (as Honeycomb spells it).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "COUNT" => Self::Count,
            "CONCURRENCY" => Self::Concurrency,
            "COUNT_DISTINCT" => Self::CountDistinct,
            "SUM" => Self::Sum,
            "AVG" => Self::Avg,
            "MIN" => Self::Min,
            "MAX" => Self::Max,
            "HEATMAP" => Self::Heatmap,
            "RATE_AVG" => Self::RateAvg,
            "RATE_SUM" => Self::RateSum,
            "RATE_MAX" => Self::RateMax,
            other => {
                let (name, fraction) = PERCENTILES.iter().find(|(n, _)| *n == other)?;
                Self::Percentile(name, *fraction)
            }
        })
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Count => "COUNT",
            Self::Concurrency => "CONCURRENCY",
            Self::CountDistinct => "COUNT_DISTINCT",
            Self::Sum => "SUM",
            Self::Avg => "AVG",
            Self::Min => "MIN",
            Self::Max => "MAX",
            Self::Percentile(name, _) => name,
            Self::Heatmap => "HEATMAP",
            Self::RateAvg => "RATE_AVG",
            Self::RateSum => "RATE_SUM",
            Self::RateMax => "RATE_MAX",
        }
    }

    /// Whether it aggregates a column (all but COUNT and CONCURRENCY do).
    pub fn takes_column(self) -> bool {
        !matches!(self, Self::Count | Self::Concurrency)
    }

    /// The key of its value in results: `COUNT`, or `OP(column)`.
    pub fn key(self, column: Option<&str>) -> String {
        match column {
            Some(column) => format!("{}({column})", self.name()),
            None => self.name().to_owned(),
        }
    }
}

/// How many values a filter operator takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arity {
    /// `exists`, `does-not-exist`.
    None,
    /// Most operators.
    One,
    /// `in`, `not-in`.
    List,
}

/// A filter's operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FilterOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `starts-with`
    StartsWith,
    /// `does-not-start-with`
    NotStartsWith,
    /// `ends-with`
    EndsWith,
    /// `does-not-end-with`
    NotEndsWith,
    /// `contains`
    Contains,
    /// `does-not-contain`
    NotContains,
    /// `exists`
    Exists,
    /// `does-not-exist`
    NotExists,
    /// `in`
    In,
    /// `not-in`
    NotIn,
}

const FILTER_OPS: [(&str, FilterOp); 16] = [
    ("=", FilterOp::Eq),
    ("!=", FilterOp::Ne),
    (">", FilterOp::Gt),
    (">=", FilterOp::Ge),
    ("<", FilterOp::Lt),
    ("<=", FilterOp::Le),
    ("starts-with", FilterOp::StartsWith),
    ("does-not-start-with", FilterOp::NotStartsWith),
    ("ends-with", FilterOp::EndsWith),
    ("does-not-end-with", FilterOp::NotEndsWith),
    ("contains", FilterOp::Contains),
    ("does-not-contain", FilterOp::NotContains),
    ("exists", FilterOp::Exists),
    ("does-not-exist", FilterOp::NotExists),
    ("in", FilterOp::In),
    ("not-in", FilterOp::NotIn),
];

impl FilterOp {
    /// Every operator, for error messages.
    pub const NAMES: &'static str = "= != > >= < <= starts-with does-not-start-with ends-with \
        does-not-end-with contains does-not-contain exists does-not-exist in not-in";

    /// The operator written `text`.
    pub fn parse(text: &str) -> Option<Self> {
        FILTER_OPS
            .iter()
            .find(|(t, _)| *t == text)
            .map(|(_, op)| *op)
    }

    /// How written: `starts-with`.
    pub fn text(self) -> &'static str {
        FILTER_OPS
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("", |(t, _)| t)
    }

    /// How many values it takes.
    pub fn arity(self) -> Arity {
        match self {
            Self::Exists | Self::NotExists => Arity::None,
            Self::In | Self::NotIn => Arity::List,
            _ => Arity::One,
        }
    }
}

/// A having's comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HavingOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl HavingOp {
    /// The comparison written `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "=" => Self::Eq,
            "!=" => Self::Ne,
            ">" => Self::Gt,
            ">=" => Self::Ge,
            "<" => Self::Lt,
            "<=" => Self::Le,
            _ => return None,
        })
    }

    /// Its SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "<>",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
        }
    }
}
