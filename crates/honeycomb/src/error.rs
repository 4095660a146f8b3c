//! The one error type of Honeycomb analysis; the server maps it to Honeycomb's answers.

use combray_query::QueryError;

/// What went wrong, in the terms Honeycomb's API answers with.
#[derive(Debug, thiserror::Error)]
pub enum HoneycombError {
    /// The body is not the JSON the endpoint takes (Honeycomb: 400, `unparseable`).
    #[error("{0}")]
    Unparseable(String),
    /// A field breaks a rule (Honeycomb: 422, `validation-failed`, with the field named).
    #[error("{field}: {description}")]
    Invalid {
        /// The field, as a path into the body (`calculations[1].column`).
        field: String,
        /// `invalid`, `missing`, `incorrect_type` or `already_exists`.
        code: &'static str,
        /// What is wrong and what would be right.
        description: String,
    },
    /// The dataset, query or result does not exist in the caller's environment (404).
    #[error("{0}")]
    NotFound(String),
    /// The question is well formed but cannot be answered as asked (400), such as a range over
    /// seven days.
    #[error("{0}")]
    BadRequest(String),
    /// The name is taken, or the thing is in use (409).
    #[error("{0}")]
    Conflict(String),
    /// Running the query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Stored settings could not be read or written.
    #[error("{0}")]
    Settings(String),
}

impl HoneycombError {
    /// A rule broken by `field`.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            code: "invalid",
            description: description.into(),
        }
    }

    /// A field that must be given and was not.
    pub fn missing(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            code: "missing",
            description: description.into(),
        }
    }
}

/// Results of this crate.
pub type HoneycombResult<T> = Result<T, HoneycombError>;
