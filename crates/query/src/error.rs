//! The query crate's error type.

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter is malformed; the message names it and says what is expected.
    #[error("{0}")]
    InvalidArgument(String),
    /// The thing asked for does not exist in the caller's environment.
    #[error("{0}")]
    NotFound(String),
    /// The query would take more time or memory than it may.
    #[error("{0}")]
    LimitExceeded(String),
    /// The query engine failed while running a valid query.
    #[error("the query failed: {0}")]
    Engine(String),
    /// Stored data could not be read.
    #[error(transparent)]
    Storage(#[from] combray_storage::StorageError),
}
