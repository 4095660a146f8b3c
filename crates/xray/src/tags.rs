//! Resource tags: at most 50 per resource, keys 1–128 characters, values 0–256, `aws:` reserved.

use serde::{Deserialize, Serialize};

use crate::error::{XRayError, XRayResult};

/// Most tags one resource may carry.
pub const MAX_TAGS: usize = 50;

/// `Tag`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// 1–128 characters.
    pub key: String,
    /// 0–256 characters.
    pub value: String,
}

/// Checks tags a caller gives.
pub fn check(tags: &[Tag]) -> XRayResult<()> {
    for tag in tags {
        let key_length = tag.key.chars().count();
        if !(1..=128).contains(&key_length) {
            return Err(XRayError::invalid(format!(
                "tag key {:?} must have 1 to 128 characters",
                tag.key
            )));
        }
        if tag.value.chars().count() > 256 {
            return Err(XRayError::invalid(format!(
                "the value of tag {:?} is longer than 256 characters",
                tag.key
            )));
        }
        if tag.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(XRayError::invalid(format!(
                "tag key {:?} uses the reserved prefix aws:",
                tag.key
            )));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(XRayError::invalid(format!(
            "at most {MAX_TAGS} tags; got {}",
            tags.len()
        )));
    }
    Ok(())
}

/// Checks keys a caller wants removed.
pub fn check_removal(keys: &[String]) -> XRayResult<()> {
    if let Some(key) = keys
        .iter()
        .find(|k| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(XRayError::invalid(format!(
            "tag key {key:?} uses the reserved prefix aws:"
        )));
    }
    Ok(())
}

/// Adds or overwrites tags; past [`MAX_TAGS`], nothing changes.
pub fn merge(existing: &mut Vec<Tag>, new_tags: Vec<Tag>, arn: &str) -> XRayResult<()> {
    let mut merged = existing.clone();
    for tag in new_tags {
        match merged.iter_mut().find(|t| t.key == tag.key) {
            Some(old) => old.value = tag.value,
            None => merged.push(tag),
        }
    }
    if merged.len() > MAX_TAGS {
        return Err(XRayError::TooManyTags {
            message: format!(
                "a resource has at most {MAX_TAGS} tags; this would make {}",
                merged.len()
            ),
            resource_name: arn.to_owned(),
        });
    }
    *existing = merged;
    Ok(())
}
