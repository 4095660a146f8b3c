//! Services and operations.

use combray_storage::SpanStore;
use serde::Serialize;

use crate::QueryError;

/// One operation of a service, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationView {
    /// Span name.
    pub name: String,
    /// Kinds the name was seen with (`server`, `client`, ...).
    pub span_kinds: Vec<&'static str>,
}

/// Services with spans in the environment, sorted.
pub fn services(store: &dyn SpanStore, environment: &str) -> Vec<String> {
    store.services(environment)
}

/// Operations of one service, sorted by name.
pub fn operations(
    store: &dyn SpanStore,
    environment: &str,
    service: &str,
) -> Result<Vec<OperationView>, QueryError> {
    let operations = store
        .operations(environment, service)
        .ok_or_else(|| QueryError::NotFound(format!("service {service:?} has no spans")))?;
    Ok(operations
        .into_iter()
        .map(|operation| OperationView {
            name: operation.name,
            span_kinds: operation.kinds.iter().map(|kind| kind.as_str()).collect(),
        })
        .collect())
}
