//! What Honeycomb's API keeps besides events, per environment: datasets created ahead of
//! their first event, saved calculated fields, markers and marker settings, and saved queries.
//!
//! Kept in memory and written through to the object store on every change
//! (`honeycomb/<environment>/config.json`, format in `docs/formats/honeycomb-config.md`), so it
//! survives restarts and every node sharing a bucket reads the same settings at start.

mod derived;
mod markers;
mod queries;

use std::collections::HashMap;
use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{HoneycombError, HoneycombResult};

pub use derived::{DerivedColumn, DerivedColumnInput};
pub use markers::{Marker, MarkerInput, MarkerSetting, MarkerSettingInput};
pub use queries::SavedQuery;

/// Version of the stored document.
pub const SETTINGS_FORMAT_VERSION: u32 = 1;

/// A dataset created through `POST /1/datasets`, before or besides the services that send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRecord {
    /// As given.
    pub name: String,
    /// Its slug.
    pub slug: String,
    /// Free text.
    pub description: String,
    /// How deep JSON values are expanded into columns (kept; Combray's columns are typed).
    pub expand_json_depth: u8,
    /// RFC 3339.
    pub created_at: String,
}

/// One environment's settings, as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Document {
    format_version: u32,
    /// Datasets created through the API.
    #[serde(default)]
    pub datasets: Vec<DatasetRecord>,
    /// Saved calculated fields.
    #[serde(default)]
    pub derived_columns: Vec<DerivedColumn>,
    /// Markers.
    #[serde(default)]
    pub markers: Vec<Marker>,
    /// Marker colours by type.
    #[serde(default)]
    pub marker_settings: Vec<MarkerSetting>,
}

/// The current time, RFC 3339 to the second, as Honeycomb writes `created_at`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// `bytes` random bytes as lowercase hex: marker ids look like Honeycomb's (`d1c84ec0`).
fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// Ids shaped as Honeycomb's: 11 base58 characters.
fn base58_id() -> String {
    const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    (0..11)
        .map(|_| BASE58[usize::from(rand::random::<u8>()) % BASE58.len()] as char)
        .collect()
}

/// Checks a text field's length in characters.
fn length(field: &str, value: &str, min: usize, max: usize) -> HoneycombResult<()> {
    let n = value.chars().count();
    if n < min || n > max {
        let rule = if min == 0 {
            format!("at most {max} characters")
        } else {
            format!("{min} to {max} characters")
        };
        return Err(HoneycombError::invalid(
            field,
            format!("must be {rule}, got {n}"),
        ));
    }
    Ok(())
}

fn settings_path(environment: &str) -> Path {
    Path::from(format!("honeycomb/{environment}/config.json"))
}

/// The settings of every environment.
pub struct Settings {
    store: Arc<dyn ObjectStore>,
    loaded: tokio::sync::Mutex<HashMap<String, Document>>,
}

impl Settings {
    /// Settings kept in `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            loaded: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    async fn load(&self, environment: &str) -> HoneycombResult<Document> {
        let failed = |e: &dyn std::fmt::Display| {
            HoneycombError::Settings(format!("cannot read the Honeycomb settings: {e}"))
        };
        match self.store.get(&settings_path(environment)).await {
            Ok(object) => {
                let bytes = object.bytes().await.map_err(|e| failed(&e))?;
                let document: Document = serde_json::from_slice(&bytes).map_err(|e| {
                    HoneycombError::Settings(format!(
                        "the Honeycomb settings of {environment} are corrupt: {e}"
                    ))
                })?;
                if document.format_version > SETTINGS_FORMAT_VERSION {
                    return Err(HoneycombError::Settings(format!(
                        "the Honeycomb settings of {environment} have format {}, newer than this build's {SETTINGS_FORMAT_VERSION}",
                        document.format_version
                    )));
                }
                Ok(document)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(Document {
                format_version: SETTINGS_FORMAT_VERSION,
                ..Document::default()
            }),
            Err(e) => Err(failed(&e)),
        }
    }

    /// Reads an environment's settings.
    pub async fn read<T>(
        &self,
        environment: &str,
        read: impl FnOnce(&Document) -> HoneycombResult<T>,
    ) -> HoneycombResult<T> {
        let mut loaded = self.loaded.lock().await;
        if !loaded.contains_key(environment) {
            let document = self.load(environment).await?;
            loaded.insert(environment.to_owned(), document);
        }
        read(&loaded[environment])
    }

    /// Changes an environment's settings: on a copy, stored, then kept. A failed change or
    /// write changes nothing.
    pub async fn change<T>(
        &self,
        environment: &str,
        change: impl FnOnce(&mut Document) -> HoneycombResult<T>,
    ) -> HoneycombResult<T> {
        let mut loaded = self.loaded.lock().await;
        let mut document = match loaded.get(environment) {
            Some(document) => document.clone(),
            None => self.load(environment).await?,
        };
        let answer = change(&mut document)?;
        let json = serde_json::to_vec_pretty(&document).map_err(|e| {
            HoneycombError::Settings(format!("cannot encode the Honeycomb settings: {e}"))
        })?;
        self.store
            .put(&settings_path(environment), PutPayload::from(json))
            .await
            .map_err(|e| {
                HoneycombError::Settings(format!("cannot store the Honeycomb settings: {e}"))
            })?;
        loaded.insert(environment.to_owned(), document);
        Ok(answer)
    }
}

impl Document {
    /// Creates a dataset, or answers the one of that slug: `(dataset, created)`.
    pub fn create_dataset(
        &mut self,
        name: &str,
        description: &str,
        expand_json_depth: u8,
        slug: String,
    ) -> HoneycombResult<(DatasetRecord, bool)> {
        length("name", name, 1, 255)?;
        length("description", description, 0, 1024)?;
        if expand_json_depth > 10 {
            return Err(HoneycombError::invalid(
                "expand_json_depth",
                "must be between 0 and 10",
            ));
        }
        if let Some(existing) = self.datasets.iter().find(|d| d.slug == slug) {
            return Ok((existing.clone(), false));
        }
        let record = DatasetRecord {
            name: name.to_owned(),
            slug,
            description: description.to_owned(),
            expand_json_depth,
            created_at: now_rfc3339(),
        };
        self.datasets.push(record.clone());
        Ok((record, true))
    }
}

#[cfg(test)]
mod tests;
