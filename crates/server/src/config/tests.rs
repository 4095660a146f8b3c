use super::*;
use combray_storage::wal::FsyncPolicy;

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn defaults_bind_loopback_and_flags_beat_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "data_dir = \"/from/file\"\n[api]\naddr = \"127.0.0.1:9999\"\n[wal]\nfsync = \"never\"\n",
    )
    .unwrap();
    let defaults = Config::load(&ServeArgs {
        config: Some(file.clone()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(defaults.server.data_dir, PathBuf::from("/from/file"));
    assert_eq!(defaults.server.api_addr, addr("127.0.0.1:9999"));
    assert_eq!(defaults.ingest.otlp_http_addr, addr("127.0.0.1:4318"));
    assert_eq!(defaults.ingest.otlp_grpc_addr, addr("127.0.0.1:4317"));
    assert_eq!(defaults.storage.wal_fsync, FsyncPolicy::Never);
    assert_eq!(defaults.ingest.max_body_bytes, 64 * 1024 * 1024);
    let flagged = Config::load(&ServeArgs {
        config: Some(file),
        data_dir: Some("/from/flag".into()),
        wal_fsync: Some(FsyncPolicy::Always),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(flagged.server.data_dir, PathBuf::from("/from/flag"));
    assert_eq!(flagged.storage.wal_fsync, FsyncPolicy::Always);
}

#[test]
fn unknown_keys_and_missing_explicit_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[wal]\nfsink = \"never\"\n").unwrap();
    let error = Config::load(&ServeArgs {
        config: Some(file),
        ..Default::default()
    })
    .unwrap_err();
    assert!(error.to_string().contains("fsink"), "{error}");
    let missing = Config::load(&ServeArgs {
        config: Some(dir.path().join("absent.toml")),
        ..Default::default()
    });
    assert!(missing.is_err());
}

#[test]
fn memory_bytes_scales_every_budget_and_an_explicit_budget_wins() {
    const GIB: usize = 1 << 30;
    let four = Config::load(&ServeArgs {
        memory_bytes: Some(4 << 30),
        max_head_bytes: Some(1 << 30),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(four.server.memory_bytes, 4 << 30);
    assert_eq!(four.storage.max_head_bytes, GIB, "the explicit flag");
    assert_eq!(four.ingest.max_inflight_bytes, 4 * GIB / 8);
    assert_eq!(four.query.sql.memory_bytes, 4 * GIB / 16 * 3);
    assert_eq!(four.xray.max_waiting_bytes, 4 * GIB / 32);
    assert_eq!(four.xray.udp_queue_bytes, 4 * GIB / 32);
    assert_eq!(four.storage.compact_max_input_bytes, 4 << 27);
    assert_eq!(four.storage.trace_index_cache_bytes, 4 * GIB / 16);
    // The shares of the default add up to the whole, compaction counted twice (its inputs and
    // the block it builds from them).
    let default = Config::load(&ServeArgs::default()).unwrap();
    let shares = default.storage.max_head_bytes
        + default.storage.trace_index_cache_bytes
        + default.ingest.max_inflight_bytes
        + default.query.sql.memory_bytes
        + default.xray.max_waiting_bytes
        + default.xray.udp_queue_bytes
        + 2 * default.storage.compact_max_input_bytes as usize;
    assert_eq!(shares, GIB);
    // A small budget still takes the largest request.
    let small = Config::load(&ServeArgs {
        memory_bytes: Some(256 << 20),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(small.ingest.max_inflight_bytes, small.ingest.max_body_bytes);
}

mod example_file {
    use super::*;

    /// The annotated example must parse and spell out exactly the built-in defaults.
    #[test]
    fn the_example_config_matches_the_defaults() {
        let example = example_path();
        let from_example = Config::load(&ServeArgs {
            config: Some(example),
            ..Default::default()
        })
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.toml");
        std::fs::write(&empty, "").unwrap();
        let defaults = Config::load(&ServeArgs {
            config: Some(empty),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(from_example, defaults);
    }
}

/// Every flag of `combray serve` is in the example file, named by its environment variable.
#[test]
fn the_example_config_lists_every_flag() {
    use clap::{Args, Command};
    let example = std::fs::read_to_string(example_path()).unwrap();
    let command = ServeArgs::augment_args(Command::new("serve"));
    let mut missing = Vec::new();
    for arg in command.get_arguments() {
        let Some(env) = arg.get_env() else { continue };
        let env = env.to_string_lossy();
        if env != "COMBRAY_CONFIG" && !example.contains(env.as_ref()) {
            missing.push(env.into_owned());
        }
    }
    assert!(missing.is_empty(), "not in the example: {missing:?}");
}

/// The annotated example config, found at run time so that a test binary reused from a build in
/// another checkout reads this checkout's file.
fn example_path() -> std::path::PathBuf {
    let package = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets the package dir");
    std::path::Path::new(&package).join("../../config/combray.example.toml")
}
