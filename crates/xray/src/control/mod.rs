//! The X-Ray control plane of each environment: groups, sampling rules, tags and the encryption
//! setting. Kept in memory and written through to the object store on every change, so it
//! survives restarts and every node sharing a bucket reads the same settings at start.
//! The document format is in `docs/formats/xray-config.md`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{XRayError, XRayResult};
use crate::groups::{check_filter, check_group_name, Group, InsightsConfiguration, DEFAULT_GROUP};
use crate::rules::{self, SamplingRule, SamplingRuleRecord, SamplingRuleUpdate, DEFAULT_RULE};
use crate::tags::{self, Tag};
use crate::time::{now_seconds, Seconds};

/// Version of the stored document.
pub const CONFIG_FORMAT_VERSION: u32 = 1;
/// Most groups besides `Default`.
pub const MAX_GROUPS: usize = 25;
/// Most sampling rules besides `Default`.
pub const MAX_RULES: usize = 25;

/// `EncryptionConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptionConfig {
    /// The KMS key, for `KMS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Always `ACTIVE`: a change applies at once.
    pub status: String,
    /// `NONE` or `KMS`.
    #[serde(rename = "Type")]
    pub kind: String,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        Self {
            key_id: None,
            status: "ACTIVE".into(),
            kind: "NONE".into(),
        }
    }
}

/// One environment's settings, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EnvironmentConfig {
    format_version: u32,
    groups: Vec<Group>,
    rules: Vec<SamplingRuleRecord>,
    tags: BTreeMap<String, Vec<Tag>>,
    encryption: EncryptionConfig,
    last_rule_modification: Seconds,
}

/// Where ARNs say the resources live.
#[derive(Debug, Clone, PartialEq)]
pub struct ArnScope {
    /// Region in ARNs, such as `us-east-1`.
    pub region: String,
    /// Account id in ARNs, such as `000000000000`.
    pub account: String,
}

impl Default for ArnScope {
    /// The region the AWS SDKs fall back to, and the twelve zeros local emulators use, so ARNs
    /// look like ones the CLI and SDKs expect without naming a real account.
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account: "000000000000".into(),
        }
    }
}

/// Groups, rules, tags and encryption of every environment.
pub struct ControlPlane {
    store: Arc<dyn ObjectStore>,
    scope: ArnScope,
    loaded: tokio::sync::Mutex<HashMap<String, EnvironmentConfig>>,
}

fn config_path(environment: &str) -> Path {
    Path::from(format!("xray/{environment}/config.json"))
}

impl ControlPlane {
    /// A control plane kept in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, scope: ArnScope) -> Self {
        Self {
            store,
            scope,
            loaded: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    fn arn(&self, kind: &str, name: &str) -> String {
        format!(
            "arn:aws:xray:{}:{}:{kind}/{name}",
            self.scope.region, self.scope.account
        )
    }

    fn default_group(&self) -> Group {
        Group {
            group_name: DEFAULT_GROUP.into(),
            group_arn: self.arn("group", DEFAULT_GROUP),
            filter_expression: None,
            insights_configuration: InsightsConfiguration::default(),
        }
    }

    async fn load(&self, environment: &str) -> XRayResult<EnvironmentConfig> {
        match self.store.get(&config_path(environment)).await {
            Ok(object) => {
                let bytes = object
                    .bytes()
                    .await
                    .map_err(|e| XRayError::Internal(format!("cannot read X-Ray settings: {e}")))?;
                let config: EnvironmentConfig = serde_json::from_slice(&bytes).map_err(|e| {
                    XRayError::Internal(format!(
                        "the X-Ray settings of {environment} are corrupt: {e}"
                    ))
                })?;
                if config.format_version > CONFIG_FORMAT_VERSION {
                    return Err(XRayError::Internal(format!(
                        "the X-Ray settings of {environment} have format {}, newer than this build's {CONFIG_FORMAT_VERSION}",
                        config.format_version
                    )));
                }
                Ok(config)
            }
            Err(object_store::Error::NotFound { .. }) => {
                let now = now_seconds();
                Ok(EnvironmentConfig {
                    format_version: CONFIG_FORMAT_VERSION,
                    groups: Vec::new(),
                    rules: vec![rules::default_rule(
                        self.arn("sampling-rule", DEFAULT_RULE),
                        now,
                    )],
                    tags: BTreeMap::new(),
                    encryption: EncryptionConfig::default(),
                    last_rule_modification: now,
                })
            }
            Err(e) => Err(XRayError::Internal(format!(
                "cannot read X-Ray settings: {e}"
            ))),
        }
    }

    /// Reads an environment's settings.
    async fn read<T>(
        &self,
        environment: &str,
        read: impl FnOnce(&EnvironmentConfig) -> XRayResult<T>,
    ) -> XRayResult<T> {
        let mut loaded = self.loaded.lock().await;
        if !loaded.contains_key(environment) {
            let config = self.load(environment).await?;
            loaded.insert(environment.to_owned(), config);
        }
        read(&loaded[environment])
    }

    /// Changes an environment's settings: on a copy, stored, then kept. A failed write changes
    /// nothing.
    async fn change<T>(
        &self,
        environment: &str,
        change: impl FnOnce(&mut EnvironmentConfig) -> XRayResult<T>,
    ) -> XRayResult<T> {
        let mut loaded = self.loaded.lock().await;
        let mut config = match loaded.get(environment) {
            Some(config) => config.clone(),
            None => self.load(environment).await?,
        };
        let answer = change(&mut config)?;
        let json = serde_json::to_vec_pretty(&config)
            .map_err(|e| XRayError::Internal(format!("cannot encode X-Ray settings: {e}")))?;
        self.store
            .put(&config_path(environment), PutPayload::from(json))
            .await
            .map_err(|e| XRayError::Internal(format!("cannot store X-Ray settings: {e}")))?;
        loaded.insert(environment.to_owned(), config);
        Ok(answer)
    }
}

/// Finds a group by name or ARN.
fn find_group<'a>(
    groups: &'a mut [Group],
    name: Option<&str>,
    arn: Option<&str>,
) -> XRayResult<&'a mut Group> {
    groups
        .iter_mut()
        .find(|g| Some(g.group_name.as_str()) == name || Some(g.group_arn.as_str()) == arn)
        .ok_or_else(|| {
            XRayError::invalid(format!(
                "Group not found: {}",
                name.or(arn).unwrap_or("(no GroupName or GroupARN given)")
            ))
        })
}

fn is_default_group(name: Option<&str>, arn: Option<&str>) -> bool {
    name == Some(DEFAULT_GROUP) || arn.is_some_and(|a| a.ends_with(":group/Default"))
}

impl ControlPlane {
    /// Every group, `Default` first.
    pub async fn groups(&self, environment: &str) -> XRayResult<Vec<Group>> {
        let mut groups = vec![self.default_group()];
        groups.extend(self.read(environment, |c| Ok(c.groups.clone())).await?);
        Ok(groups)
    }

    /// One group by name or ARN.
    pub async fn group(
        &self,
        environment: &str,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> XRayResult<Group> {
        if is_default_group(name, arn) {
            return Ok(self.default_group());
        }
        let mut groups = self.read(environment, |c| Ok(c.groups.clone())).await?;
        find_group(&mut groups, name, arn).cloned()
    }

    /// CreateGroup.
    pub async fn create_group(
        &self,
        environment: &str,
        name: &str,
        filter: Option<String>,
        insights: Option<InsightsConfiguration>,
        tags: Vec<Tag>,
    ) -> XRayResult<Group> {
        check_group_name(name)?;
        check_filter(filter.as_deref())?;
        tags::check(&tags)?;
        if name == DEFAULT_GROUP {
            return Err(XRayError::invalid("Default is a reserved group name"));
        }
        let unique: String = (0..20)
            .map(|_| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[rand::random_range(0..32)]))
            .collect();
        let group = Group {
            group_name: name.to_owned(),
            group_arn: self.arn("group", &format!("{name}/{unique}")),
            filter_expression: filter.filter(|f| !f.trim().is_empty()),
            insights_configuration: insights.unwrap_or_default(),
        };
        self.change(environment, |config| {
            if config.groups.iter().any(|g| g.group_name == name) {
                return Err(XRayError::invalid(format!("Group {name} already exists")));
            }
            if config.groups.len() >= MAX_GROUPS {
                return Err(XRayError::invalid(format!(
                    "Groups limit reached: an environment has at most {MAX_GROUPS} groups besides Default"
                )));
            }
            if !tags.is_empty() {
                config.tags.insert(group.group_arn.clone(), tags);
            }
            config.groups.push(group.clone());
            Ok(group)
        })
        .await
    }

    /// UpdateGroup: a new filter and/or insights setting.
    pub async fn update_group(
        &self,
        environment: &str,
        name: Option<&str>,
        arn: Option<&str>,
        filter: Option<String>,
        insights: Option<InsightsConfiguration>,
    ) -> XRayResult<Group> {
        if is_default_group(name, arn) {
            return Err(XRayError::invalid("the Default group cannot be changed"));
        }
        check_filter(filter.as_deref())?;
        self.change(environment, |config| {
            let group = find_group(&mut config.groups, name, arn)?;
            if let Some(filter) = filter {
                group.filter_expression = Some(filter).filter(|f| !f.trim().is_empty());
            }
            if let Some(insights) = insights {
                group.insights_configuration = insights;
            }
            Ok(group.clone())
        })
        .await
    }

    /// DeleteGroup.
    pub async fn delete_group(
        &self,
        environment: &str,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> XRayResult<()> {
        if is_default_group(name, arn) {
            return Err(XRayError::invalid("the Default group cannot be deleted"));
        }
        self.change(environment, |config| {
            let arn = find_group(&mut config.groups, name, arn)?.group_arn.clone();
            config.groups.retain(|g| g.group_arn != arn);
            config.tags.remove(&arn);
            Ok(())
        })
        .await
    }
}

fn find_rule<'a>(
    records: &'a mut [SamplingRuleRecord],
    name: Option<&str>,
    arn: Option<&str>,
) -> XRayResult<&'a mut SamplingRuleRecord> {
    records
        .iter_mut()
        .find(|r| {
            let rule = &r.sampling_rule;
            (name.is_some() && rule.rule_name.as_deref() == name)
                || (arn.is_some() && rule.rule_arn.as_deref() == arn)
        })
        .ok_or_else(|| {
            XRayError::invalid(format!(
                "Sampling rule does not exist: {}",
                name.or(arn).unwrap_or("(no RuleName or RuleARN given)")
            ))
        })
}

impl ControlPlane {
    /// Every rule, by priority then name (the order the SDKs evaluate them in).
    pub async fn rules(&self, environment: &str) -> XRayResult<Vec<SamplingRuleRecord>> {
        let mut rules = self.read(environment, |c| Ok(c.rules.clone())).await?;
        rules.sort_by(|a, b| {
            let (a, b) = (&a.sampling_rule, &b.sampling_rule);
            a.priority
                .cmp(&b.priority)
                .then(a.rule_name.cmp(&b.rule_name))
        });
        Ok(rules)
    }

    /// When any rule was last created, changed or deleted.
    pub async fn last_rule_modification(&self, environment: &str) -> XRayResult<Seconds> {
        self.read(environment, |c| Ok(c.last_rule_modification))
            .await
    }

    /// CreateSamplingRule.
    pub async fn create_rule(
        &self,
        environment: &str,
        mut rule: SamplingRule,
        tags: Vec<Tag>,
    ) -> XRayResult<SamplingRuleRecord> {
        rules::validate(&rule)?;
        tags::check(&tags)?;
        let name = rule.rule_name.clone().unwrap_or_default();
        if name == DEFAULT_RULE {
            return Err(XRayError::invalid("Default is a reserved rule name"));
        }
        rule.rule_arn = Some(self.arn("sampling-rule", &name));
        let now = now_seconds();
        self.change(environment, |config| {
            if config.rules.iter().any(|r| r.sampling_rule.rule_name.as_deref() == Some(&name)) {
                return Err(XRayError::invalid(format!("Sampling rule {name} already exists")));
            }
            let custom = config.rules.len().saturating_sub(1);
            if custom >= MAX_RULES {
                return Err(XRayError::RuleLimitExceeded(format!(
                    "Sampling rule limit reached: an environment has at most {MAX_RULES} rules besides Default"
                )));
            }
            let record = SamplingRuleRecord { sampling_rule: rule, created_at: now, modified_at: now };
            if !tags.is_empty() {
                config.tags.insert(record.sampling_rule.rule_arn.clone().unwrap_or_default(), tags);
            }
            config.rules.push(record.clone());
            config.last_rule_modification = now;
            Ok(record)
        })
        .await
    }

    /// UpdateSamplingRule.
    pub async fn update_rule(
        &self,
        environment: &str,
        update: SamplingRuleUpdate,
    ) -> XRayResult<SamplingRuleRecord> {
        let now = now_seconds();
        self.change(environment, |config| {
            let (name, arn) = (update.rule_name.clone(), update.rule_arn.clone());
            let record = find_rule(&mut config.rules, name.as_deref(), arn.as_deref())?;
            rules::apply_update(&mut record.sampling_rule, update)?;
            record.modified_at = now;
            let record = record.clone();
            config.last_rule_modification = now;
            Ok(record)
        })
        .await
    }

    /// DeleteSamplingRule; returns what was deleted.
    pub async fn delete_rule(
        &self,
        environment: &str,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> XRayResult<SamplingRuleRecord> {
        let now = now_seconds();
        self.change(environment, |config| {
            let record = find_rule(&mut config.rules, name, arn)?.clone();
            if record.sampling_rule.rule_name.as_deref() == Some(DEFAULT_RULE) {
                return Err(XRayError::invalid(
                    "the Default sampling rule cannot be deleted",
                ));
            }
            config
                .rules
                .retain(|r| r.sampling_rule.rule_arn != record.sampling_rule.rule_arn);
            if let Some(arn) = &record.sampling_rule.rule_arn {
                config.tags.remove(arn);
            }
            config.last_rule_modification = now;
            Ok(record)
        })
        .await
    }
}

mod tagging;
