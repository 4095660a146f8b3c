//! X-Ray filter expressions: `responsetime > 5`, `service("api") { fault }`,
//! `annotation[tier] = "gold" AND !partial`, `rootcause.fault.entity { last and name = "x" }`.
//!
//! The whole language lives here: [`parse`] (lexer, parser) into the [`ast`]; [`prefilter`]
//! narrows the traces an expression can match with one scan of span columns per condition; and
//! [`eval`] decides it exactly on each candidate trace.
//!
//! AWS publishes no grammar; this one is rebuilt from every documented example (the golden file
//! `tests/fixtures/xray-filter-expressions.txt` holds them, and each must parse). A syntax error
//! says where (a 1-based character position) and what was expected.

pub mod ast;
pub mod eval;
mod lexer;
mod parser;
pub mod prefilter;

pub use ast::Filter;

/// Why an expression does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter expression at character {position}: {message}")]
pub struct FilterError {
    /// 1-based character position of the problem.
    pub position: usize,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl FilterError {
    /// An error at a byte offset of the expression.
    pub(crate) fn new(byte_offset: usize, message: String) -> Self {
        Self {
            position: byte_offset + 1,
            message,
        }
    }
}

/// Parses a filter expression.
pub fn parse(expression: &str) -> Result<Filter, FilterError> {
    // Positions are reported in characters; the lexer counts bytes.
    parser::Parser::new(expression)
        .parse_all()
        .map_err(|mut error| {
            let byte = error.position - 1;
            error.position = expression
                .get(..byte)
                .map_or(error.position, |prefix| prefix.chars().count() + 1);
            error
        })
}

#[cfg(test)]
mod tests;
