//! Saved queries, one object each (`honeycomb/<environment>/queries/<id>.json`): queries are
//! immutable and their ids derive from their content, so saving one again writes the same
//! object, and a link to a query keeps working after a restart.

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::Settings;
use crate::error::{HoneycombError, HoneycombResult};
use crate::spec::QuerySpec;

/// A saved query and the dataset it was saved for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedQuery {
    /// The dataset, as named when it was saved.
    pub dataset: String,
    /// The Query Specification.
    pub query: QuerySpec,
}

fn query_path(environment: &str, id: &str) -> Path {
    Path::from(format!("honeycomb/{environment}/queries/{id}.json"))
}

/// Whether `id` can name a saved query: ids are base58, so anything else is no query at all
/// (and never reaches the object store as a path).
fn plausible(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

impl Settings {
    /// Stores a saved query under its id.
    pub async fn put_query(
        &self,
        environment: &str,
        id: &str,
        saved: &SavedQuery,
    ) -> HoneycombResult<()> {
        if !plausible(id) {
            return Err(HoneycombError::Settings(format!(
                "{id:?} is not a query id"
            )));
        }
        let json = serde_json::to_vec(saved)
            .map_err(|e| HoneycombError::Settings(format!("cannot encode a saved query: {e}")))?;
        self.store
            .put(&query_path(environment, id), PutPayload::from(json))
            .await
            .map_err(|e| HoneycombError::Settings(format!("cannot store a saved query: {e}")))?;
        Ok(())
    }

    /// The saved query of `id`, if there is one.
    pub async fn get_query(
        &self,
        environment: &str,
        id: &str,
    ) -> HoneycombResult<Option<SavedQuery>> {
        if !plausible(id) {
            return Ok(None);
        }
        match self.store.get(&query_path(environment, id)).await {
            Ok(object) => {
                let bytes = object.bytes().await.map_err(|e| {
                    HoneycombError::Settings(format!("cannot read a saved query: {e}"))
                })?;
                serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                    HoneycombError::Settings(format!("the saved query {id} is corrupt: {e}"))
                })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(HoneycombError::Settings(format!(
                "cannot read a saved query: {e}"
            ))),
        }
    }
}
