//! Groups: a name, an ARN and a filter expression; `Default` always exists and holds every trace.

use serde::{Deserialize, Serialize};

use crate::error::{XRayError, XRayResult};

/// The group that always exists.
pub const DEFAULT_GROUP: &str = "Default";

/// `InsightsConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InsightsConfiguration {
    /// Insights on.
    #[serde(default)]
    pub insights_enabled: bool,
    /// Notifications on.
    #[serde(default)]
    pub notifications_enabled: bool,
}

/// `Group` (and `GroupSummary`, which has the same fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Group {
    /// 1–32 characters, unique.
    pub group_name: String,
    /// `arn:aws:xray:<region>:<account>:group/<name>/<id>`.
    #[serde(rename = "GroupARN")]
    pub group_arn: String,
    /// The filter; absent for `Default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_expression: Option<String>,
    /// Insights settings.
    pub insights_configuration: InsightsConfiguration,
}

/// Checks a group name: 1–32 letters, digits, `-` or `_`.
pub fn check_group_name(name: &str) -> XRayResult<()> {
    crate::rules::check_name("GroupName", name)
}

/// Checks a filter expression with the same parser GetTraceSummaries uses.
pub fn check_filter(filter: Option<&str>) -> XRayResult<()> {
    if let Some(text) = filter.filter(|t| !t.trim().is_empty()) {
        crate::filter::parse(text).map_err(|e| XRayError::invalid(e.to_string()))?;
    }
    Ok(())
}
