//! Tags and the encryption setting of the control plane.

use super::{ControlPlane, EncryptionConfig, EnvironmentConfig};
use crate::error::{XRayError, XRayResult};
use crate::tags::{self, Tag};

fn resource_exists(config: &EnvironmentConfig, arn: &str) -> bool {
    config.groups.iter().any(|g| g.group_arn == arn)
        || config
            .rules
            .iter()
            .any(|r| r.sampling_rule.rule_arn.as_deref() == Some(arn))
}

fn not_found(arn: &str) -> XRayError {
    XRayError::ResourceNotFound {
        message: format!("Resource not found: {arn}"),
        resource_name: arn.to_owned(),
    }
}

impl ControlPlane {
    /// ListTagsForResource.
    pub async fn tags(&self, environment: &str, arn: &str) -> XRayResult<Vec<Tag>> {
        self.read(environment, |config| {
            if !resource_exists(config, arn) {
                return Err(not_found(arn));
            }
            Ok(config.tags.get(arn).cloned().unwrap_or_default())
        })
        .await
    }

    /// TagResource: adds or overwrites tags.
    pub async fn tag(&self, environment: &str, arn: &str, new_tags: Vec<Tag>) -> XRayResult<()> {
        tags::check(&new_tags)?;
        self.change(environment, |config| {
            if !resource_exists(config, arn) {
                return Err(not_found(arn));
            }
            let tags = config.tags.entry(arn.to_owned()).or_default();
            tags::merge(tags, new_tags, arn)
        })
        .await
    }

    /// UntagResource.
    pub async fn untag(&self, environment: &str, arn: &str, keys: Vec<String>) -> XRayResult<()> {
        tags::check_removal(&keys)?;
        self.change(environment, |config| {
            if !resource_exists(config, arn) {
                return Err(not_found(arn));
            }
            if let Some(tags) = config.tags.get_mut(arn) {
                tags.retain(|t| !keys.contains(&t.key));
            }
            Ok(())
        })
        .await
    }

    /// GetEncryptionConfig.
    pub async fn encryption(&self, environment: &str) -> XRayResult<EncryptionConfig> {
        self.read(environment, |c| Ok(c.encryption.clone())).await
    }

    /// PutEncryptionConfig.
    pub async fn set_encryption(
        &self,
        environment: &str,
        kind: &str,
        key_id: Option<String>,
    ) -> XRayResult<EncryptionConfig> {
        let encryption = match (kind, key_id) {
            ("NONE", None) => EncryptionConfig::default(),
            ("NONE", Some(_)) => {
                return Err(XRayError::invalid("KeyId must not be given with Type NONE"))
            }
            ("KMS", Some(key)) if !key.is_empty() && key.len() <= 3000 => EncryptionConfig {
                key_id: Some(key),
                ..EncryptionConfig {
                    kind: "KMS".into(),
                    ..EncryptionConfig::default()
                }
            },
            ("KMS", _) => {
                return Err(XRayError::invalid(
                    "Type KMS needs a KeyId of 1 to 3000 characters",
                ))
            }
            (other, _) => {
                return Err(XRayError::invalid(format!(
                    "Type must be NONE or KMS; got {other:?}"
                )))
            }
        };
        self.change(environment, |config| {
            config.encryption = encryption.clone();
            Ok(encryption)
        })
        .await
    }
}
