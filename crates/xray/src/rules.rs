//! Sampling rules: validation, the `Default` rule, and updates, as X-Ray's API defines them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{XRayError, XRayResult};
use crate::time::Seconds;

/// Name of the rule that always exists.
pub const DEFAULT_RULE: &str = "Default";
/// Priority of the `Default` rule: after every user rule (1..=9999).
pub const DEFAULT_PRIORITY: i64 = 10_000;

/// A sampling rule, with exactly the fields and spelling of X-Ray's `SamplingRule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamplingRule {
    /// 1–32 characters, unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    /// Set by the server.
    #[serde(rename = "RuleARN", default, skip_serializing_if = "Option::is_none")]
    pub rule_arn: Option<String>,
    /// ARN of the resource running the service; the SDKs only use `*`.
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    /// 1–9999; lower first.
    pub priority: i64,
    /// Fraction sampled after the reservoir, 0–1.
    pub fixed_rate: f64,
    /// Traces per second sampled before the fixed rate, shared by every client of the rule.
    pub reservoir_size: i64,
    /// Matches the segment name.
    pub service_name: String,
    /// Matches the segment origin.
    pub service_type: String,
    /// Matches the HTTP host.
    pub host: String,
    /// Matches the HTTP method.
    #[serde(rename = "HTTPMethod")]
    pub http_method: String,
    /// Matches the URL path.
    #[serde(rename = "URLPath")]
    pub url_path: String,
    /// Always 1.
    pub version: i64,
    /// Up to five segment attributes; always echoed, `{}` when empty (the Node SDK needs it).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Adaptive sampling boost, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_rate_boost: Option<serde_json::Value>,
}

/// A rule with its times, as `SamplingRuleRecord`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamplingRuleRecord {
    /// The rule.
    pub sampling_rule: SamplingRule,
    /// When it was created (0 for `Default`).
    pub created_at: Seconds,
    /// When it last changed.
    pub modified_at: Seconds,
}

/// `SamplingRuleUpdate`: a rule by name or ARN, and the fields to change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct SamplingRuleUpdate {
    pub rule_name: Option<String>,
    #[serde(rename = "RuleARN")]
    pub rule_arn: Option<String>,
    #[serde(rename = "ResourceARN")]
    pub resource_arn: Option<String>,
    pub priority: Option<i64>,
    pub fixed_rate: Option<f64>,
    pub reservoir_size: Option<i64>,
    pub host: Option<String>,
    pub service_name: Option<String>,
    pub service_type: Option<String>,
    #[serde(rename = "HTTPMethod")]
    pub http_method: Option<String>,
    #[serde(rename = "URLPath")]
    pub url_path: Option<String>,
    pub attributes: Option<BTreeMap<String, String>>,
    pub sampling_rate_boost: Option<serde_json::Value>,
}

/// The `Default` rule of a new environment: one trace a second, then 5%.
pub fn default_rule(arn: String, now: Seconds) -> SamplingRuleRecord {
    SamplingRuleRecord {
        sampling_rule: SamplingRule {
            rule_name: Some(DEFAULT_RULE.into()),
            rule_arn: Some(arn),
            resource_arn: "*".into(),
            priority: DEFAULT_PRIORITY,
            fixed_rate: 0.05,
            reservoir_size: 1,
            service_name: "*".into(),
            service_type: "*".into(),
            host: "*".into(),
            http_method: "*".into(),
            url_path: "*".into(),
            version: 1,
            attributes: BTreeMap::new(),
            sampling_rate_boost: None,
        },
        created_at: 0.0,
        modified_at: now,
    }
}

fn check_length(field: &str, value: &str, min: usize, max: usize) -> XRayResult<()> {
    let length = value.chars().count();
    if length < min || length > max {
        return Err(XRayError::invalid(format!(
            "{field} must have {min} to {max} characters; {value:?} has {length}"
        )));
    }
    Ok(())
}

/// Checks the name of a rule or group (`field`): 1–32 letters, digits, `-` or `_`.
pub fn check_name(field: &str, name: &str) -> XRayResult<()> {
    check_length(field, name, 1, 32)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(XRayError::invalid(format!(
            "{field} {name:?} may only contain letters, digits, '-' and '_'"
        )));
    }
    Ok(())
}

/// Checks every field of a user rule against the limits of X-Ray's model.
pub fn validate(rule: &SamplingRule) -> XRayResult<()> {
    let name = rule
        .rule_name
        .as_deref()
        .ok_or_else(|| XRayError::invalid("SamplingRule.RuleName is required"))?;
    check_name("RuleName", name)?;
    if !(1..=9999).contains(&rule.priority) {
        return Err(XRayError::invalid(format!(
            "Priority must be from 1 to 9999; got {}",
            rule.priority
        )));
    }
    if !(0.0..=1.0).contains(&rule.fixed_rate) {
        return Err(XRayError::invalid(format!(
            "FixedRate must be from 0 to 1; got {}",
            rule.fixed_rate
        )));
    }
    if rule.reservoir_size < 0 {
        return Err(XRayError::invalid(format!(
            "ReservoirSize must not be negative; got {}",
            rule.reservoir_size
        )));
    }
    if rule.version != 1 {
        return Err(XRayError::invalid(format!(
            "Version must be 1; got {}",
            rule.version
        )));
    }
    check_length("ResourceARN", &rule.resource_arn, 0, 500)?;
    check_length("ServiceName", &rule.service_name, 0, 64)?;
    check_length("ServiceType", &rule.service_type, 0, 64)?;
    check_length("Host", &rule.host, 0, 64)?;
    check_length("HTTPMethod", &rule.http_method, 0, 10)?;
    check_length("URLPath", &rule.url_path, 0, 128)?;
    if rule.attributes.len() > 5 {
        return Err(XRayError::invalid(format!(
            "Attributes may have at most 5 entries; got {}",
            rule.attributes.len()
        )));
    }
    for (key, value) in &rule.attributes {
        check_length("an Attributes key", key, 1, 32)?;
        check_length("an Attributes value", value, 1, 32)?;
    }
    Ok(())
}

/// Applies an update to a rule. The `Default` rule only takes FixedRate and ReservoirSize.
pub fn apply_update(rule: &mut SamplingRule, update: SamplingRuleUpdate) -> XRayResult<()> {
    let is_default = rule.rule_name.as_deref() == Some(DEFAULT_RULE);
    if is_default {
        let others = [
            update.resource_arn.is_some(),
            update.priority.is_some(),
            update.host.is_some(),
            update.service_name.is_some(),
            update.service_type.is_some(),
            update.http_method.is_some(),
            update.url_path.is_some(),
            update.attributes.as_ref().is_some_and(|a| !a.is_empty()),
        ];
        if others.into_iter().any(|changed| changed) {
            return Err(XRayError::invalid(
                "only FixedRate and ReservoirSize of the Default rule can be changed",
            ));
        }
    }
    let mut changed = rule.clone();
    macro_rules! set {
        ($($field:ident),+) => { $(if let Some(value) = update.$field { changed.$field = value; })+ };
    }
    set!(
        resource_arn,
        priority,
        fixed_rate,
        reservoir_size,
        host,
        service_name,
        service_type
    );
    set!(http_method, url_path, attributes);
    if update.sampling_rate_boost.is_some() {
        changed.sampling_rate_boost = update.sampling_rate_boost;
    }
    if is_default {
        // Validate as a user rule would be, but for its fixed priority.
        let mut probe = changed.clone();
        probe.priority = 1;
        validate(&probe)?;
    } else {
        validate(&changed)?;
    }
    *rule = changed;
    Ok(())
}
