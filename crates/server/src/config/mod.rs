//! `combray serve` configuration: an optional `combray.toml`, overridden by `COMBRAY_*`
//! environment variables, overridden by command-line flags. Every option and its default is in
//! `combray serve --help` and in `config/combray.example.toml`.
//!
//! The configuration is one section per owner, and each section's defaults live with the code
//! that uses it: [`StorageSettings`] in storage, [`SqlLimits`] in query, [`XRaySettings`] with
//! the daemon port, [`ReadLimits`] with the read gate, ingest and server settings here. This
//! module only lays what the operator set over those defaults, and validates the result.

mod args;
mod file;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use combray_query::sql::SqlLimits;
use combray_storage::StorageSettings;
use combray_xray::control::ArnScope;

pub use args::ServeArgs;
use file::{read_file, FileConfig};

pub use crate::reads::ReadLimits;
pub use crate::xray::XRaySettings;

/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "combray-data";
/// Default config file, read when present.
pub const DEFAULT_CONFIG_FILE: &str = "combray.toml";
const MIB: u64 = 1024 * 1024;
/// The memory Combray is sized to by default; every memory budget is a share of it.
const DEFAULT_MEMORY_BYTES: u64 = 1024 * MIB;
const DAY: Duration = Duration::from_secs(24 * 3600);

/// The validated configuration the server runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The data directory, the API port and the shared budgets.
    pub server: ServerSettings,
    /// The OTLP receivers.
    pub ingest: IngestSettings,
    /// The WAL, the head, blocks and maintenance.
    pub storage: StorageSettings,
    /// SQL and every other read.
    pub query: QuerySettings,
    /// The X-Ray daemon port.
    pub xray: XRaySettings,
}

/// What the server as a whole runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Where the WAL, keys and (by default) blocks live.
    pub data_dir: PathBuf,
    /// The query API, health and metrics.
    pub api_addr: SocketAddr,
    /// Memory the budgets are shares of.
    pub memory_bytes: u64,
    /// Seconds an overloaded client is told to wait.
    pub retry_after_seconds: u64,
}

/// The OTLP receivers' addresses and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestSettings {
    /// OTLP/HTTP listen address.
    pub otlp_http_addr: SocketAddr,
    /// OTLP/gRPC listen address.
    pub otlp_grpc_addr: SocketAddr,
    /// Largest request body, before and after decompression.
    pub max_body_bytes: usize,
    /// Memory of requests being ingested at once.
    pub max_inflight_bytes: usize,
}

impl IngestSettings {
    /// The defaults for a server sized to `memory_bytes`: requests in flight may take 1/8 of
    /// it, and never less than the largest request, which could otherwise never be taken.
    pub fn for_memory(memory_bytes: u64, max_body_bytes: u64) -> Self {
        Self {
            otlp_http_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 4318)),
            otlp_grpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 4317)),
            max_body_bytes: to_usize(max_body_bytes),
            max_inflight_bytes: to_usize((memory_bytes / 8).max(max_body_bytes)),
        }
    }
}

/// The limits of SQL and of every other read.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySettings {
    /// One SQL query's rows and time, and the memory of all of them.
    pub sql: SqlLimits,
    /// Reads at once and the time of each.
    pub reads: ReadLimits,
}

/// Largest request body by default: OTLP exporters send batches of a few MiB; 64 MiB leaves
/// room for large batches of big spans.
const DEFAULT_MAX_BODY_BYTES: u64 = 64 * MIB;

fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

fn seconds(value: u64) -> Duration {
    Duration::from_secs(value)
}

fn days(value: u64) -> Duration {
    DAY.saturating_mul(u32::try_from(value).unwrap_or(u32::MAX))
}

/// Lays the flag (or environment variable), else the file's value, over the default.
fn set<T>(target: &mut T, flag: Option<T>, file: Option<T>) {
    if let Some(value) = flag.or(file) {
        *target = value;
    }
}

impl Config {
    /// Merges flags and environment (already folded together by clap) over the file over the
    /// defaults, then validates.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = read_file(args.config.as_deref())?;
        let memory = args
            .memory_bytes
            .or(file.limits.memory_bytes)
            .unwrap_or(DEFAULT_MEMORY_BYTES);
        let config = Self {
            server: server_section(args, &file, memory),
            ingest: ingest_section(args, &file, memory),
            storage: storage_section(args, &file, memory)?,
            query: query_section(args, &file, memory),
            xray: xray_section(args, &file, memory),
        };
        config.validate()?;
        Ok(config)
    }
}

fn server_section(args: &ServeArgs, file: &FileConfig, memory: u64) -> ServerSettings {
    let mut server = ServerSettings {
        data_dir: DEFAULT_DATA_DIR.into(),
        api_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 4320)),
        memory_bytes: memory,
        // Long enough to let a burst drain, short enough that OTLP exporters keep the batch.
        retry_after_seconds: 1,
    };
    set(
        &mut server.data_dir,
        args.data_dir.clone(),
        file.data_dir.clone(),
    );
    set(&mut server.api_addr, args.api_addr, file.api.addr);
    set(
        &mut server.retry_after_seconds,
        args.retry_after_seconds,
        file.limits.retry_after_seconds,
    );
    server
}

fn ingest_section(args: &ServeArgs, file: &FileConfig, memory: u64) -> IngestSettings {
    let max_body = args
        .max_body_bytes
        .or(file.limits.max_body_bytes)
        .unwrap_or(DEFAULT_MAX_BODY_BYTES);
    let mut ingest = IngestSettings::for_memory(memory, max_body);
    set(
        &mut ingest.otlp_http_addr,
        args.otlp_http_addr,
        file.otlp.http_addr,
    );
    set(
        &mut ingest.otlp_grpc_addr,
        args.otlp_grpc_addr,
        file.otlp.grpc_addr,
    );
    set(
        &mut ingest.max_inflight_bytes,
        args.max_inflight_bytes.map(to_usize),
        file.limits.max_inflight_bytes.map(to_usize),
    );
    ingest
}

fn storage_section(
    args: &ServeArgs,
    file: &FileConfig,
    memory: u64,
) -> anyhow::Result<StorageSettings> {
    let mut storage = StorageSettings::for_memory(memory);
    let file_fsync = match &file.wal.fsync {
        Some(text) => Some(
            text.parse()
                .map_err(|e: String| anyhow::anyhow!("[wal] fsync: {e}"))?,
        ),
        None => None,
    };
    set(&mut storage.wal_fsync, args.wal_fsync, file_fsync);
    set(
        &mut storage.wal_segment_bytes,
        args.wal_segment_bytes,
        file.wal.segment_bytes,
    );
    storage.wal_skip_damaged = args.wal_skip_damaged || file.wal.skip_damaged.unwrap_or(false);
    let (blocks, limits) = (&file.blocks, &file.limits);
    set(
        &mut storage.max_head_bytes,
        args.max_head_bytes.map(to_usize),
        limits.max_head_bytes.map(to_usize),
    );
    set(
        &mut storage.trace_index_cache_bytes,
        args.trace_index_cache_bytes.map(to_usize),
        limits.trace_index_cache_bytes.map(to_usize),
    );
    set(
        &mut storage.cut.max_head_bytes,
        args.block_max_bytes.map(to_usize),
        blocks.max_bytes.map(to_usize),
    );
    set(
        &mut storage.cut.max_age,
        args.block_max_age_seconds.map(seconds),
        blocks.max_age_seconds.map(seconds),
    );
    set(
        &mut storage.poll_interval,
        args.block_poll_seconds.map(seconds),
        blocks.poll_seconds.map(seconds),
    );
    set(
        &mut storage.retention,
        args.retention_days.map(days),
        blocks.retention_days.map(days),
    );
    set(
        &mut storage.lease_window,
        args.lease_seconds.map(seconds),
        blocks.lease_seconds.map(seconds),
    );
    storage.url = args.storage_url.clone().or(file.storage.url.clone());
    storage.node_id = args.node_id.clone().or(file.node_id.clone());
    Ok(storage)
}

fn query_section(args: &ServeArgs, file: &FileConfig, memory: u64) -> QuerySettings {
    let mut query = QuerySettings {
        sql: SqlLimits::for_memory(memory),
        reads: ReadLimits::default(),
    };
    let sql = &file.sql;
    set(
        &mut query.sql.max_rows,
        args.sql_max_rows.map(to_usize),
        sql.max_rows.map(to_usize),
    );
    set(
        &mut query.sql.timeout,
        args.sql_timeout_seconds.map(seconds),
        sql.timeout_seconds.map(seconds),
    );
    set(
        &mut query.sql.memory_bytes,
        args.sql_memory_bytes.map(to_usize),
        sql.memory_bytes.map(to_usize),
    );
    set(
        &mut query.reads.timeout,
        args.query_timeout_seconds.map(seconds),
        sql.query_timeout_seconds.map(seconds),
    );
    set(
        &mut query.reads.max_concurrent,
        args.max_concurrent_reads.map(to_usize),
        sql.max_concurrent_reads.map(to_usize),
    );
    query
}

fn xray_section(args: &ServeArgs, file: &FileConfig, memory: u64) -> XRaySettings {
    let mut xray = XRaySettings::for_memory(memory);
    let from = &file.xray;
    set(&mut xray.addr, args.xray_addr, from.addr);
    set(
        &mut xray.environment,
        args.xray_environment.clone(),
        from.environment.clone(),
    );
    let ArnScope { region, account } = &mut xray.arns;
    set(region, args.xray_region.clone(), from.region.clone());
    set(
        account,
        args.xray_account_id.clone(),
        from.account_id.clone(),
    );
    set(
        &mut xray.orphan_wait,
        args.xray_orphan_wait_seconds.map(seconds),
        from.orphan_wait_seconds.map(seconds),
    );
    set(
        &mut xray.udp_queue,
        args.xray_udp_queue.map(to_usize),
        from.udp_queue.map(to_usize),
    );
    set(
        &mut xray.max_waiting_bytes,
        args.xray_max_waiting_bytes.map(to_usize),
        from.max_waiting_bytes.map(to_usize),
    );
    xray
}

impl Config {
    fn validate(&self) -> anyhow::Result<()> {
        let ingest = &self.ingest;
        anyhow::ensure!(ingest.max_body_bytes > 0, "max_body_bytes must be positive");
        anyhow::ensure!(
            ingest.max_inflight_bytes >= ingest.max_body_bytes,
            "max_inflight_bytes ({}) must be at least max_body_bytes ({}), or the largest allowed request could never be taken",
            ingest.max_inflight_bytes,
            ingest.max_body_bytes
        );
        anyhow::ensure!(
            self.storage.wal_segment_bytes >= 4096,
            "wal segment_bytes must be at least 4096"
        );
        anyhow::ensure!(
            (1..=60).contains(&self.server.retry_after_seconds),
            "retry_after_seconds must be 1 to 60: OTLP clients drop batches told to wait longer"
        );
        let sql = &self.query.sql;
        anyhow::ensure!(
            sql.max_rows > 0 && !sql.timeout.is_zero() && sql.memory_bytes > 0,
            "sql max_rows, timeout_seconds and memory_bytes must be positive"
        );
        anyhow::ensure!(
            !self.query.reads.timeout.is_zero() && self.query.reads.max_concurrent > 0,
            "sql query_timeout_seconds and max_concurrent_reads must be positive"
        );
        anyhow::ensure!(
            !self.storage.lease_window.is_zero(),
            "blocks lease_seconds must be positive"
        );
        self.validate_xray()
    }

    fn validate_xray(&self) -> anyhow::Result<()> {
        let xray = &self.xray;
        anyhow::ensure!(
            !xray.environment.is_empty()
                && xray
                    .environment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "xray environment {:?} must be letters, digits, '-' or '_'",
            xray.environment
        );
        let account = &xray.arns.account;
        anyhow::ensure!(
            account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()),
            "xray account_id must be 12 digits"
        );
        anyhow::ensure!(xray.udp_queue > 0, "xray udp_queue must be positive");
        Ok(())
    }
}

#[cfg(test)]
mod tests;
