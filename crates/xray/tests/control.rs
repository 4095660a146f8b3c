//! The control plane keeps its settings in the object store: a new instance over the same store
//! (a restart, or another node) sees them, and a document from a newer build is refused.

use std::sync::Arc;

use combray_xray::control::{ArnScope, ControlPlane};
use combray_xray::rules::SamplingRuleUpdate;
use combray_xray::XRayError;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

fn scope() -> ArnScope {
    ArnScope {
        region: "eu-west-1".into(),
        account: "123456789012".into(),
    }
}

#[tokio::test]
async fn settings_survive_a_new_instance_and_stay_per_environment() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let first = ControlPlane::new(Arc::clone(&store), scope());
    let group = first
        .create_group(
            "prod",
            "slow",
            Some("responsetime > 2".into()),
            None,
            Vec::new(),
        )
        .await
        .unwrap();
    assert!(group
        .group_arn
        .starts_with("arn:aws:xray:eu-west-1:123456789012:group/slow/"));
    first
        .update_rule(
            "prod",
            SamplingRuleUpdate {
                rule_name: Some("Default".into()),
                fixed_rate: Some(0.5),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let second = ControlPlane::new(Arc::clone(&store), scope());
    let groups = second.groups("prod").await.unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[1], group);
    let rules = second.rules("prod").await.unwrap();
    assert_eq!(rules[0].sampling_rule.fixed_rate, 0.5);
    // Another environment has only the defaults.
    assert_eq!(second.groups("dev").await.unwrap().len(), 1);
    assert_eq!(
        second.rules("dev").await.unwrap()[0]
            .sampling_rule
            .fixed_rate,
        0.05
    );
}

#[tokio::test]
async fn a_document_from_a_newer_format_is_refused_not_overwritten() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let path = Path::from("xray/prod/config.json");
    let newer = br#"{"format_version": 2, "groups": [], "rules": [], "tags": {},
        "encryption": {"Status": "ACTIVE", "Type": "NONE"}, "last_rule_modification": 0}"#;
    store
        .put(&path, PutPayload::from_static(newer))
        .await
        .unwrap();
    let control = ControlPlane::new(Arc::clone(&store), scope());
    let error = control
        .create_group("prod", "g", None, None, Vec::new())
        .await
        .unwrap_err();
    assert!(
        matches!(error, XRayError::Internal(ref m) if m.contains("format 2")),
        "{error}"
    );
    let kept = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(&kept[..], &newer[..]);
}
