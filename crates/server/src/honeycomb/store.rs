//! Saved queries and finished query results, per environment, in memory.
//!
//! Honeycomb's queries are immutable and referenced by id; results are fetched by id after they
//! are created. Both are kept here, each bounded (the oldest go first). Saved queries are also
//! written to the object store (`combray_honeycomb::settings`), so this is their cache; results
//! are lost on restart, as they would expire anyway.

use std::collections::{HashMap, VecDeque};

use combray_honeycomb::run::QueryData;
use combray_honeycomb::spec::QuerySpec;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

/// Most saved queries and results kept, over all environments.
const MAX_QUERIES: usize = 10_000;
const MAX_RESULTS: usize = 1_000;

/// Query ids and result ids: 11 base58 characters, as Honeycomb's look.
const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn base58_id(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(11)
        .map(|b| BASE58[usize::from(*b) % BASE58.len()] as char)
        .collect()
}

/// A finished result.
#[derive(Debug, Clone)]
pub(super) struct StoredResult {
    /// The dataset it ran over.
    pub dataset: String,
    /// The query it ran.
    pub query_id: String,
    /// The query itself.
    pub query: QuerySpec,
    /// Its answer.
    pub data: QueryData,
    /// The markers over its window, as the markers API answers them.
    pub markers: Vec<serde_json::Value>,
    /// When it finished, RFC 2822 for `Last-Modified`.
    pub finished: std::time::SystemTime,
}

#[derive(Default)]
struct Inner {
    queries: HashMap<(String, String), (String, QuerySpec)>,
    query_order: VecDeque<(String, String)>,
    results: HashMap<(String, String), StoredResult>,
    result_order: VecDeque<(String, String)>,
}

/// Saved queries and results.
#[derive(Default)]
pub(crate) struct QueryStore {
    inner: Mutex<Inner>,
}

impl QueryStore {
    /// The id of `query` saved for `dataset`: derived from both, so saving it again gives the
    /// same id.
    pub(super) fn query_id(environment: &str, dataset: &str, query: &QuerySpec) -> String {
        let json = serde_json::to_vec(query).unwrap_or_default();
        let digest = Sha256::new()
            .chain_update(environment)
            .chain_update([0])
            .chain_update(dataset)
            .chain_update([0])
            .chain_update(&json)
            .finalize();
        base58_id(&digest)
    }

    /// Keeps a saved query in memory; whether it was not kept already.
    pub(super) fn remember(
        &self,
        environment: &str,
        id: &str,
        dataset: &str,
        query: QuerySpec,
    ) -> bool {
        let key = (environment.to_owned(), id.to_owned());
        let mut inner = self.inner.lock();
        let new = inner
            .queries
            .insert(key.clone(), (dataset.to_owned(), query))
            .is_none();
        if new {
            inner.query_order.push_back(key);
            while inner.query_order.len() > MAX_QUERIES {
                if let Some(old) = inner.query_order.pop_front() {
                    inner.queries.remove(&old);
                }
            }
        }
        new
    }

    /// A saved query and its dataset.
    pub(super) fn query(&self, environment: &str, id: &str) -> Option<(String, QuerySpec)> {
        self.inner
            .lock()
            .queries
            .get(&(environment.to_owned(), id.to_owned()))
            .cloned()
    }

    /// Keeps a finished result and returns its id.
    pub(super) fn save_result(&self, environment: &str, result: StoredResult) -> String {
        let id = base58_id(&rand::random::<[u8; 16]>());
        let key = (environment.to_owned(), id.clone());
        let mut inner = self.inner.lock();
        inner.results.insert(key.clone(), result);
        inner.result_order.push_back(key);
        while inner.result_order.len() > MAX_RESULTS {
            if let Some(old) = inner.result_order.pop_front() {
                inner.results.remove(&old);
            }
        }
        id
    }

    /// A kept result.
    pub(super) fn result(&self, environment: &str, id: &str) -> Option<StoredResult> {
        self.inner
            .lock()
            .results
            .get(&(environment.to_owned(), id.to_owned()))
            .cloned()
    }
}

/// A column's id: stable for its name, shaped like Honeycomb's.
pub(super) fn column_id(name: &str) -> String {
    base58_id(&Sha256::digest(name.as_bytes()))
}
