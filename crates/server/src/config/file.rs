//! The shape of `combray.toml`: the same options as the flags, grouped in sections. Unknown
//! keys are an error so that a typo does not pass silently.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::DEFAULT_CONFIG_FILE;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) data_dir: Option<PathBuf>,
    #[serde(default)]
    pub(super) otlp: FileOtlp,
    #[serde(default)]
    pub(super) api: FileApi,
    #[serde(default)]
    pub(super) wal: FileWal,
    #[serde(default)]
    pub(super) limits: FileLimits,
    #[serde(default)]
    pub(super) blocks: FileBlocks,
    #[serde(default)]
    pub(super) storage: FileStorage,
    #[serde(default)]
    pub(super) sql: FileSql,
    #[serde(default)]
    pub(super) xray: FileXRay,
    pub(super) node_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileXRay {
    pub(super) addr: Option<SocketAddr>,
    pub(super) environment: Option<String>,
    pub(super) region: Option<String>,
    pub(super) account_id: Option<String>,
    pub(super) orphan_wait_seconds: Option<u64>,
    pub(super) udp_queue: Option<u64>,
    pub(super) max_waiting_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSql {
    pub(super) query_timeout_seconds: Option<u64>,
    pub(super) max_concurrent_reads: Option<u64>,
    pub(super) max_rows: Option<u64>,
    pub(super) timeout_seconds: Option<u64>,
    pub(super) memory_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileBlocks {
    pub(super) max_bytes: Option<u64>,
    pub(super) max_age_seconds: Option<u64>,
    pub(super) poll_seconds: Option<u64>,
    pub(super) retention_days: Option<u64>,
    pub(super) lease_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileStorage {
    pub(super) url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileOtlp {
    pub(super) http_addr: Option<SocketAddr>,
    pub(super) grpc_addr: Option<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileApi {
    pub(super) addr: Option<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileWal {
    pub(super) fsync: Option<String>,
    pub(super) skip_damaged: Option<bool>,
    pub(super) segment_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileLimits {
    pub(super) memory_bytes: Option<u64>,
    pub(super) max_body_bytes: Option<u64>,
    pub(super) max_inflight_bytes: Option<u64>,
    pub(super) max_head_bytes: Option<u64>,
    pub(super) trace_index_cache_bytes: Option<u64>,
    pub(super) retry_after_seconds: Option<u64>,
}

/// Reads the file named, or `combray.toml` when it exists.
pub(super) fn read_file(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
    let path = explicit.unwrap_or(Path::new(DEFAULT_CONFIG_FILE));
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            return Ok(FileConfig::default());
        }
        Err(error) => anyhow::bail!("cannot read config file {}: {error}", path.display()),
    };
    toml::from_str(&text)
        .map_err(|error| anyhow::anyhow!("config file {}: {error}", path.display()))
}
