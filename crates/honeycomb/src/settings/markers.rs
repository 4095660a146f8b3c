//! Markers (`/1/markers/{dataset}`): a deploy, an incident, any moment or span of time drawn
//! on a dataset's graphs; and marker settings (`/1/marker_settings/{dataset}`): the colour of
//! each marker type. Markers on `__all__` belong to every dataset of the environment.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::derived::ALL_DATASETS;
use super::{base58_id, length, now_rfc3339, random_hex, Document};
use crate::error::{HoneycombError, HoneycombResult};

/// Most markers an environment keeps; the oldest go first.
pub(super) const MAX_MARKERS: usize = 10_000;

/// A marker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// 8 hex characters.
    pub id: String,
    /// The dataset's slug, or `__all__`.
    pub dataset: String,
    /// Unix seconds.
    pub start_time: i64,
    /// Unix seconds; none for a moment.
    pub end_time: Option<i64>,
    /// What happened.
    pub message: String,
    /// Groups markers, and picks their colour.
    #[serde(rename = "type")]
    pub kind: String,
    /// A link to more.
    pub url: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// The body of a marker's create or update; omitted fields are empty (an update erases them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkerInput {
    /// Unix seconds; now when omitted.
    #[serde(default)]
    pub start_time: Option<i64>,
    /// Unix seconds.
    #[serde(default)]
    pub end_time: Option<i64>,
    /// What happened.
    #[serde(default)]
    pub message: Option<String>,
    /// Its type.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// A link.
    #[serde(default)]
    pub url: Option<String>,
    /// Accepted on updates, where it must be the one in the path.
    #[serde(default)]
    pub id: Option<String>,
}

/// A marker type's colour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkerSetting {
    /// 11 base58 characters.
    pub id: String,
    /// The dataset's slug, or `__all__`.
    pub dataset: String,
    /// The marker type it colours.
    #[serde(rename = "type")]
    pub kind: String,
    /// `#rrggbb`.
    pub color: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, none until the first update.
    pub updated_at: Option<String>,
}

impl MarkerSetting {
    /// As Honeycomb's API answers it.
    pub fn to_api(&self) -> Value {
        json!({
            "id": self.id, "type": self.kind, "color": self.color,
            "created_at": self.created_at, "updated_at": self.updated_at,
        })
    }
}

/// The body of a marker setting's create or update.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkerSettingInput {
    /// The marker type.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// `#rrggbb`.
    #[serde(default)]
    pub color: String,
    /// Accepted on updates, where it must be the one in the path.
    #[serde(default)]
    pub id: Option<String>,
}

fn valid_color(color: &str) -> bool {
    color.len() == 7 && color.starts_with('#') && color[1..].chars().all(|c| c.is_ascii_hexdigit())
}

impl Document {
    /// A marker as the API answers it, with its type's colour when one is set.
    pub fn marker_json(&self, marker: &Marker) -> Value {
        let color = self
            .marker_settings
            .iter()
            .filter(|s| s.kind == marker.kind)
            .find(|s| s.dataset == marker.dataset)
            .or_else(|| {
                self.marker_settings
                    .iter()
                    .find(|s| s.kind == marker.kind && s.dataset == ALL_DATASETS)
            })
            .map(|s| s.color.clone());
        let mut value = json!({
            "id": marker.id, "created_at": marker.created_at, "updated_at": marker.updated_at,
            "start_time": marker.start_time, "message": marker.message, "type": marker.kind,
            "url": marker.url,
        });
        if let Some(end) = marker.end_time {
            value["end_time"] = json!(end);
        }
        if let Some(color) = color {
            value["color"] = json!(color);
        }
        value
    }

    /// The markers of `dataset` (exactly that one, or only the environment's for `__all__`).
    pub fn markers_of(&self, dataset: &str) -> Vec<&Marker> {
        self.markers
            .iter()
            .filter(|m| m.dataset == dataset)
            .collect()
    }

    /// The markers a graph of `dataset` over `[start, end)` draws: the dataset's and the
    /// environment's that overlap it.
    pub fn markers_in(&self, dataset: &str, start: i64, end: i64) -> Vec<&Marker> {
        self.markers
            .iter()
            .filter(|m| m.dataset == dataset || m.dataset == ALL_DATASETS)
            .filter(|m| m.start_time < end && m.end_time.unwrap_or(m.start_time) >= start)
            .collect()
    }

    fn checked_marker(input: MarkerInput, now: i64) -> HoneycombResult<MarkerInput> {
        let start = input.start_time.unwrap_or(now);
        if start < 0 {
            return Err(HoneycombError::invalid(
                "start_time",
                "must be Unix seconds",
            ));
        }
        if input.end_time.is_some_and(|end| end < start) {
            return Err(HoneycombError::invalid(
                "end_time",
                "must not be before start_time",
            ));
        }
        length("message", input.message.as_deref().unwrap_or(""), 0, 4096)?;
        length("type", input.kind.as_deref().unwrap_or(""), 0, 255)?;
        length("url", input.url.as_deref().unwrap_or(""), 0, 2048)?;
        Ok(MarkerInput {
            start_time: Some(start),
            ..input
        })
    }

    /// Creates a marker on `dataset`; `now` is Unix seconds.
    pub fn create_marker(
        &mut self,
        dataset: &str,
        input: MarkerInput,
        now: i64,
    ) -> HoneycombResult<Marker> {
        let input = Self::checked_marker(input, now)?;
        let stamp = now_rfc3339();
        let marker = Marker {
            id: random_hex(4),
            dataset: dataset.to_owned(),
            start_time: input.start_time.unwrap_or(now),
            end_time: input.end_time,
            message: input.message.unwrap_or_default(),
            kind: input.kind.unwrap_or_default(),
            url: input.url.unwrap_or_default(),
            created_at: stamp.clone(),
            updated_at: stamp,
        };
        self.markers.push(marker.clone());
        if self.markers.len() > MAX_MARKERS {
            let excess = self.markers.len() - MAX_MARKERS;
            self.markers.drain(..excess);
        }
        Ok(marker)
    }

    fn marker_index(&self, dataset: &str, id: &str) -> HoneycombResult<usize> {
        self.markers
            .iter()
            .position(|m| m.dataset == dataset && m.id == id)
            .ok_or_else(|| HoneycombError::NotFound("marker not found".into()))
    }

    /// Replaces a marker; what the body omits is erased.
    pub fn update_marker(
        &mut self,
        dataset: &str,
        id: &str,
        input: MarkerInput,
        now: i64,
    ) -> HoneycombResult<Marker> {
        let index = self.marker_index(dataset, id)?;
        if input.id.as_deref().is_some_and(|given| given != id) {
            return Err(HoneycombError::BadRequest(
                "the id in the body does not match the URL".into(),
            ));
        }
        let input = Self::checked_marker(input, now)?;
        let marker = &mut self.markers[index];
        marker.start_time = input.start_time.unwrap_or(now);
        marker.end_time = input.end_time;
        marker.message = input.message.unwrap_or_default();
        marker.kind = input.kind.unwrap_or_default();
        marker.url = input.url.unwrap_or_default();
        marker.updated_at = now_rfc3339();
        Ok(marker.clone())
    }

    /// Deletes a marker and answers it.
    pub fn delete_marker(&mut self, dataset: &str, id: &str) -> HoneycombResult<Marker> {
        let index = self.marker_index(dataset, id)?;
        Ok(self.markers.remove(index))
    }

    /// The marker settings of `dataset`.
    pub fn marker_settings_of(&self, dataset: &str) -> Vec<&MarkerSetting> {
        self.marker_settings
            .iter()
            .filter(|s| s.dataset == dataset)
            .collect()
    }

    /// One marker setting.
    pub fn marker_setting(&self, dataset: &str, id: &str) -> HoneycombResult<&MarkerSetting> {
        self.marker_settings
            .iter()
            .find(|s| s.dataset == dataset && s.id == id)
            .ok_or_else(|| HoneycombError::NotFound("marker setting not found".into()))
    }

    /// Sets the colour of a marker type on `dataset`.
    pub fn create_marker_setting(
        &mut self,
        dataset: &str,
        input: MarkerSettingInput,
    ) -> HoneycombResult<MarkerSetting> {
        length("type", &input.kind, 1, 255)?;
        if !valid_color(&input.color) {
            return Err(HoneycombError::invalid("color", "must be #rrggbb"));
        }
        if self
            .marker_settings
            .iter()
            .any(|s| s.dataset == dataset && s.kind == input.kind)
        {
            return Err(HoneycombError::Conflict(format!(
                "a marker setting for type {:?} already exists",
                input.kind
            )));
        }
        let setting = MarkerSetting {
            id: base58_id(),
            dataset: dataset.to_owned(),
            kind: input.kind,
            color: input.color,
            created_at: now_rfc3339(),
            updated_at: None,
        };
        self.marker_settings.push(setting.clone());
        Ok(setting)
    }

    /// Changes a marker setting's colour (its type cannot change).
    pub fn update_marker_setting(
        &mut self,
        dataset: &str,
        id: &str,
        input: MarkerSettingInput,
    ) -> HoneycombResult<MarkerSetting> {
        let current = self.marker_setting(dataset, id)?;
        if !input.kind.is_empty() && input.kind != current.kind {
            return Err(HoneycombError::invalid(
                "type",
                "a marker setting's type cannot change",
            ));
        }
        if input.id.as_deref().is_some_and(|given| given != id) {
            return Err(HoneycombError::BadRequest(
                "the id in the body does not match the URL".into(),
            ));
        }
        if !valid_color(&input.color) {
            return Err(HoneycombError::invalid("color", "must be #rrggbb"));
        }
        let setting = self
            .marker_settings
            .iter_mut()
            .find(|s| s.dataset == dataset && s.id == id)
            .ok_or_else(|| HoneycombError::NotFound("marker setting not found".into()))?;
        setting.color = input.color;
        setting.updated_at = Some(now_rfc3339());
        Ok(setting.clone())
    }

    /// Deletes a marker setting and answers it.
    pub fn delete_marker_setting(
        &mut self,
        dataset: &str,
        id: &str,
    ) -> HoneycombResult<MarkerSetting> {
        self.marker_setting(dataset, id)?;
        let index = self
            .marker_settings
            .iter()
            .position(|s| s.dataset == dataset && s.id == id)
            .unwrap_or_default();
        Ok(self.marker_settings.remove(index))
    }
}
