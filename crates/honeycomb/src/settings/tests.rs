use std::sync::Arc;

use object_store::memory::InMemory;

use super::*;

fn accept(_: &str) -> Result<(), String> {
    Ok(())
}

fn field(alias: &str, expression: &str) -> DerivedColumnInput {
    DerivedColumnInput {
        alias: alias.into(),
        expression: expression.into(),
        description: String::new(),
        id: None,
    }
}

#[tokio::test]
async fn settings_survive_a_restart_and_a_failed_change_changes_nothing() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let settings = Settings::new(Arc::clone(&store));
    let saved = settings
        .change("prod", |d| {
            d.create_derived("api", field("slow", "GT($duration_ms, 100)"), &accept)
        })
        .await
        .unwrap();
    let refused = settings
        .change("prod", |d| {
            d.create_derived("api", field("slow", "1"), &accept)
        })
        .await;
    assert!(matches!(refused, Err(HoneycombError::Conflict(_))));
    let marker = settings
        .change("prod", |d| {
            d.create_marker(
                "api",
                MarkerInput {
                    message: Some("deploy 42".into()),
                    kind: Some("deploy".into()),
                    ..MarkerInput::default()
                },
                1_700_000_000,
            )
        })
        .await
        .unwrap();
    assert_eq!(marker.id.len(), 8);

    let reopened = Settings::new(store);
    let (fields, markers) = reopened
        .read("prod", |d| {
            Ok((d.usable_fields("api"), d.markers_of("api").len()))
        })
        .await
        .unwrap();
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].name, saved.alias);
    assert_eq!(markers, 1);
    let other = reopened
        .read("staging", |d| Ok(d.usable_fields("api").len()))
        .await
        .unwrap();
    assert_eq!(other, 0, "environments do not share settings");
}

#[test]
fn dataset_fields_win_over_environment_fields_and_aliases_clash_across_scopes() {
    let mut d = Document::default();
    d.create_derived("__all__", field("tier", "\"env\""), &accept)
        .unwrap();
    assert!(matches!(
        d.create_derived("api", field("tier", "\"api\""), &accept),
        Err(HoneycombError::Conflict(_))
    ));
    d.create_derived("api", field("fast", "LT($duration_ms, 10)"), &accept)
        .unwrap();
    let names: Vec<String> = d.usable_fields("api").into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["tier", "fast"]);
    assert_eq!(d.usable_fields("__all__").len(), 1);
    let refused = d.create_derived("api", field("bad", "IF(1)"), &|_| {
        Err("invalid arguments for op IF".into())
    });
    assert!(matches!(refused, Err(HoneycombError::BadRequest(m)) if m.contains("op IF")));
    assert!(matches!(
        d.create_derived("api", field("", "1"), &accept),
        Err(HoneycombError::Invalid { .. })
    ));
}

#[test]
fn markers_take_their_colour_erase_omitted_fields_on_update_and_overlap_windows() {
    let mut d = Document::default();
    let input = |start: i64, end: Option<i64>| MarkerInput {
        start_time: Some(start),
        end_time: end,
        message: Some("m".into()),
        kind: Some("deploy".into()),
        url: Some("https://ci/1".into()),
        id: None,
    };
    let a = d.create_marker("api", input(100, None), 0).unwrap();
    d.create_marker("__all__", input(200, Some(300)), 0)
        .unwrap();
    d.create_marker("web", input(150, None), 0).unwrap();
    d.create_marker_setting(
        "api",
        MarkerSettingInput {
            kind: "deploy".into(),
            color: "#ff0000".into(),
            id: None,
        },
    )
    .unwrap();
    assert_eq!(d.marker_json(&d.markers[0].clone())["color"], "#ff0000");
    assert!(d.marker_json(&d.markers[2].clone()).get("color").is_none());
    let shown: Vec<i64> = d
        .markers_in("api", 250, 400)
        .iter()
        .map(|m| m.start_time)
        .collect();
    assert_eq!(
        shown,
        [200],
        "a span marker overlapping the window is drawn"
    );
    let updated = d
        .update_marker(
            "api",
            &a.id,
            MarkerInput {
                start_time: Some(120),
                ..MarkerInput::default()
            },
            0,
        )
        .unwrap();
    assert_eq!(
        (
            updated.message.as_str(),
            updated.kind.as_str(),
            updated.url.as_str()
        ),
        ("", "", "")
    );
    assert!(d.create_marker("api", input(100, Some(50)), 0).is_err());
    assert!(d
        .create_marker_setting(
            "api",
            MarkerSettingInput {
                kind: "x".into(),
                color: "red".into(),
                id: None
            }
        )
        .is_err());
    let deleted = d.delete_marker("api", &a.id).unwrap();
    assert_eq!(deleted.start_time, 120);
    assert!(matches!(
        d.delete_marker("api", &a.id),
        Err(HoneycombError::NotFound(_))
    ));
}
