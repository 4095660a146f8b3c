//! `combray serve` configuration: an optional `combray.toml`, overridden by `COMBRAY_*`
//! environment variables, overridden by command-line flags. Every option and its default is in
//! `combray serve --help` and in `config/combray.example.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use combray_storage::wal::FsyncPolicy;
use serde::Deserialize;

/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "combray-data";
/// Default config file, read when present.
pub const DEFAULT_CONFIG_FILE: &str = "combray.toml";
const MIB: u64 = 1024 * 1024;

/// Flags of `combray serve`. Each can also be set with the environment variable shown.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Config file (TOML). Read when it exists; an explicitly named file must exist
    /// [default: combray.toml]
    #[arg(long, env = "COMBRAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for the write-ahead log, keys and (later) blocks [default: ./combray-data]
    #[arg(long, env = "COMBRAY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// OTLP/HTTP listen address [default: 127.0.0.1:4318]
    #[arg(long, env = "COMBRAY_OTLP_HTTP_ADDR")]
    pub otlp_http_addr: Option<SocketAddr>,
    /// OTLP/gRPC listen address [default: 127.0.0.1:4317]
    #[arg(long, env = "COMBRAY_OTLP_GRPC_ADDR")]
    pub otlp_grpc_addr: Option<SocketAddr>,
    /// Query API, health and metrics listen address [default: 127.0.0.1:4320]
    #[arg(long, env = "COMBRAY_API_ADDR")]
    pub api_addr: Option<SocketAddr>,
    /// Memory Combray is sized to stay within: the budgets of the head, ingest, SQL, compaction
    /// and X-Ray default to shares of it (docs/reliability.md) [default: 1073741824]
    #[arg(long, env = "COMBRAY_MEMORY_BYTES")]
    pub memory_bytes: Option<u64>,
    /// Largest request body in bytes, checked before and after decompression [default: 67108864]
    #[arg(long, env = "COMBRAY_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<u64>,
    /// Memory that requests being ingested may hold at once; past it, 503
    /// [default: an eighth of --memory-bytes, at least --max-body-bytes]
    #[arg(long, env = "COMBRAY_MAX_INFLIGHT_BYTES")]
    pub max_inflight_bytes: Option<u64>,
    /// Memory the in-memory head may hold; past it, 503 [default: 3/8 of --memory-bytes]
    #[arg(long, env = "COMBRAY_MAX_HEAD_BYTES")]
    pub max_head_bytes: Option<u64>,
    /// When the WAL syncs: group (concurrent requests share one fsync), always, never
    /// [default: group]
    #[arg(long, env = "COMBRAY_WAL_FSYNC")]
    pub wal_fsync: Option<FsyncPolicy>,
    /// Start even if a WAL segment is damaged beyond a torn last write: replay its intact records
    /// and keep the damaged copy in <data-dir>/wal/quarantine (without it, start-up refuses)
    #[arg(long, env = "COMBRAY_WAL_SKIP_DAMAGED")]
    pub wal_skip_damaged: bool,
    /// Size at which a WAL segment is closed and a new one started [default: 134217728]
    #[arg(long, env = "COMBRAY_WAL_SEGMENT_BYTES")]
    pub wal_segment_bytes: Option<u64>,
    /// Cut the in-memory head into a block once it holds this many bytes [default: 67108864]
    #[arg(long, env = "COMBRAY_BLOCK_MAX_BYTES")]
    pub block_max_bytes: Option<u64>,
    /// Cut the in-memory head into a block once its oldest span is this old [default: 30]
    #[arg(long, env = "COMBRAY_BLOCK_MAX_AGE_SECONDS")]
    pub block_max_age_seconds: Option<u64>,
    /// Where blocks live: a directory, file:///path, or s3://bucket/prefix (credentials, region
    /// and AWS_ENDPOINT_URL from the standard AWS environment) [default: <data-dir>/objects]
    #[arg(long, env = "COMBRAY_STORAGE_URL")]
    pub storage_url: Option<String>,
    /// Seconds between looks for blocks that other nodes sharing the storage published
    /// [default: 10]
    #[arg(long, env = "COMBRAY_BLOCK_POLL_SECONDS")]
    pub block_poll_seconds: Option<u64>,
    /// Days blocks are kept; older ones are deleted by maintenance [default: 30]
    #[arg(long, env = "COMBRAY_RETENTION_DAYS")]
    pub retention_days: Option<u64>,
    /// Seconds of one maintenance lease window: the node that takes a window's lease compacts
    /// and expires blocks until it ends, and publishes nothing after [default: 60]
    #[arg(long, env = "COMBRAY_LEASE_SECONDS")]
    pub lease_seconds: Option<u64>,
    /// This node's id in the object store [default: a random id kept in <data-dir>/node_id]
    #[arg(long, env = "COMBRAY_NODE_ID")]
    pub node_id: Option<String>,
    /// Rows a SQL query may return; more are cut off and the answer says so [default: 10000]
    #[arg(long, env = "COMBRAY_SQL_MAX_ROWS")]
    pub sql_max_rows: Option<u64>,
    /// Seconds a SQL query may run [default: 30]
    #[arg(long, env = "COMBRAY_SQL_TIMEOUT_SECONDS")]
    pub sql_timeout_seconds: Option<u64>,
    /// Memory all running SQL queries may hold, counted by DataFusion and by the allocator
    /// [default: 3/16 of --memory-bytes]
    #[arg(long, env = "COMBRAY_SQL_MEMORY_BYTES")]
    pub sql_memory_bytes: Option<u64>,
    /// Seconds a read (trace, search, services, every X-Ray read) may run; past it, 422
    /// [default: 30]
    #[arg(long, env = "COMBRAY_QUERY_TIMEOUT_SECONDS")]
    pub query_timeout_seconds: Option<u64>,
    /// Reads that may run at once; more are answered 503 [default: 16]
    #[arg(long, env = "COMBRAY_MAX_CONCURRENT_READS")]
    pub max_concurrent_reads: Option<u64>,
    /// Seconds a client is told to wait in Retry-After when Combray is overloaded [default: 1]
    #[arg(long, env = "COMBRAY_RETRY_AFTER_SECONDS")]
    pub retry_after_seconds: Option<u64>,
    /// X-Ray daemon address: segments on UDP, the X-Ray API on TCP (like the daemon's -b)
    /// [default: 127.0.0.1:2000]
    #[arg(long, env = "COMBRAY_XRAY_ADDR")]
    pub xray_addr: Option<SocketAddr>,
    /// Environment that the X-Ray daemon port writes to and answers from [default: default]
    #[arg(long, env = "COMBRAY_XRAY_ENVIRONMENT")]
    pub xray_environment: Option<String>,
    /// Region in X-Ray ARNs [default: us-east-1]
    #[arg(long, env = "COMBRAY_XRAY_REGION")]
    pub xray_region: Option<String>,
    /// Account id in X-Ray ARNs [default: 000000000000]
    #[arg(long, env = "COMBRAY_XRAY_ACCOUNT_ID")]
    pub xray_account_id: Option<String>,
    /// Seconds a streamed subsegment waits for its parent segment (to learn its service) and an
    /// in-progress document for its complete version [default: 10]
    #[arg(long, env = "COMBRAY_XRAY_ORPHAN_WAIT_SECONDS")]
    pub xray_orphan_wait_seconds: Option<u64>,
    /// Datagrams the UDP receiver queues before dropping [default: 65536]
    #[arg(long, env = "COMBRAY_XRAY_UDP_QUEUE")]
    pub xray_udp_queue: Option<u64>,
    /// Memory the X-Ray documents waiting for their parent or complete version may take; past
    /// it, the longest-waiting are stored as they are [default: 1/32 of --memory-bytes]
    #[arg(long, env = "COMBRAY_XRAY_MAX_WAITING_BYTES")]
    pub xray_max_waiting_bytes: Option<u64>,
}

/// The TOML file's shape; unknown keys are an error so typos do not pass silently.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    #[serde(default)]
    otlp: FileOtlp,
    #[serde(default)]
    api: FileApi,
    #[serde(default)]
    wal: FileWal,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    blocks: FileBlocks,
    #[serde(default)]
    storage: FileStorage,
    #[serde(default)]
    sql: FileSql,
    #[serde(default)]
    xray: FileXRay,
    node_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileXRay {
    addr: Option<SocketAddr>,
    environment: Option<String>,
    region: Option<String>,
    account_id: Option<String>,
    orphan_wait_seconds: Option<u64>,
    udp_queue: Option<u64>,
    max_waiting_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSql {
    query_timeout_seconds: Option<u64>,
    max_concurrent_reads: Option<u64>,
    max_rows: Option<u64>,
    timeout_seconds: Option<u64>,
    memory_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBlocks {
    max_bytes: Option<u64>,
    max_age_seconds: Option<u64>,
    poll_seconds: Option<u64>,
    retention_days: Option<u64>,
    lease_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStorage {
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOtlp {
    http_addr: Option<SocketAddr>,
    grpc_addr: Option<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileApi {
    addr: Option<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWal {
    fsync: Option<String>,
    skip_damaged: Option<bool>,
    segment_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    memory_bytes: Option<u64>,
    max_body_bytes: Option<u64>,
    max_inflight_bytes: Option<u64>,
    max_head_bytes: Option<u64>,
    retry_after_seconds: Option<u64>,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// OTLP/HTTP listen address.
    pub otlp_http_addr: SocketAddr,
    /// OTLP/gRPC listen address.
    pub otlp_grpc_addr: SocketAddr,
    /// API listen address.
    pub api_addr: SocketAddr,
    /// Memory the budgets are shares of.
    pub memory_bytes: usize,
    /// Body cap in bytes.
    pub max_body_bytes: usize,
    /// In-flight ingest memory budget in bytes.
    pub max_inflight_bytes: usize,
    /// Head memory cap in bytes.
    pub max_head_bytes: usize,
    /// WAL sync policy.
    pub wal_fsync: FsyncPolicy,
    /// WAL segment size.
    pub wal_segment_bytes: u64,
    /// Start despite damaged WAL segments, keeping them in quarantine.
    pub wal_skip_damaged: bool,
    /// Retry-After seconds on 503.
    pub retry_after_seconds: u64,
    /// Head bytes that trigger a cut into blocks.
    pub block_max_bytes: usize,
    /// Age of the oldest head span that triggers a cut.
    pub block_max_age_seconds: u64,
    /// Node id, when set explicitly; otherwise the one kept in the data directory.
    pub node_id: Option<String>,
    /// Object store URL; `None` means `<data-dir>/objects`.
    pub storage_url: Option<String>,
    /// Seconds between block-list refreshes and maintenance passes.
    pub block_poll_seconds: u64,
    /// Days blocks are kept.
    pub retention_days: u64,
    /// Seconds of a maintenance lease window.
    pub lease_seconds: u64,
    /// Rows a SQL query may return.
    pub sql_max_rows: usize,
    /// Seconds a SQL query may run.
    pub sql_timeout_seconds: u64,
    /// Memory of all running SQL queries.
    pub sql_memory_bytes: usize,
    /// Seconds any other read may run.
    pub query_timeout_seconds: u64,
    /// Reads that may run at once.
    pub max_concurrent_reads: usize,
    /// X-Ray daemon address (UDP segments, TCP API).
    pub xray_addr: SocketAddr,
    /// Environment of the X-Ray daemon port.
    pub xray_environment: String,
    /// Region in X-Ray ARNs.
    pub xray_region: String,
    /// Account id in X-Ray ARNs.
    pub xray_account_id: String,
    /// Seconds an out-of-order X-Ray document waits.
    pub xray_orphan_wait_seconds: u64,
    /// Datagrams queued by the UDP receiver.
    pub xray_udp_queue: usize,
    /// Memory of the X-Ray documents waiting in the assemblers.
    pub xray_max_waiting_bytes: usize,
    /// Memory of the documents queued between the UDP port's reader and writer.
    pub xray_udp_queue_bytes: usize,
    /// Memory the inputs of one compaction may take decoded.
    pub compact_max_input_bytes: u64,
}

fn address(text: &str) -> SocketAddr {
    text.parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}

fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

fn pick(flag: &Option<String>, file: Option<String>, default: &str) -> String {
    flag.clone().or(file).unwrap_or_else(|| default.to_owned())
}

impl Config {
    /// Merges flags and environment (already folded together by clap) over the file over the
    /// defaults, then validates.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = read_file(args.config.as_deref())?;
        let fsync = match (&args.wal_fsync, &file.wal.fsync) {
            (Some(policy), _) => *policy,
            (None, Some(text)) => text
                .parse()
                .map_err(|e: String| anyhow::anyhow!("[wal] fsync: {e}"))?,
            (None, None) => FsyncPolicy::Group,
        };
        let memory = args
            .memory_bytes
            .or(file.limits.memory_bytes)
            .unwrap_or(1024 * MIB);
        let max_body_bytes = args
            .max_body_bytes
            .or(file.limits.max_body_bytes)
            .unwrap_or(64 * MIB);
        let config = Self {
            memory_bytes: to_usize(memory),
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            otlp_http_addr: args
                .otlp_http_addr
                .or(file.otlp.http_addr)
                .unwrap_or_else(|| address("127.0.0.1:4318")),
            otlp_grpc_addr: args
                .otlp_grpc_addr
                .or(file.otlp.grpc_addr)
                .unwrap_or_else(|| address("127.0.0.1:4317")),
            api_addr: args
                .api_addr
                .or(file.api.addr)
                .unwrap_or_else(|| address("127.0.0.1:4320")),
            max_body_bytes: to_usize(max_body_bytes),
            max_inflight_bytes: to_usize(
                args.max_inflight_bytes
                    .or(file.limits.max_inflight_bytes)
                    .unwrap_or((memory / 8).max(max_body_bytes)),
            ),
            max_head_bytes: to_usize(
                args.max_head_bytes
                    .or(file.limits.max_head_bytes)
                    .unwrap_or(memory / 8 * 3),
            ),
            wal_fsync: fsync,
            wal_skip_damaged: args.wal_skip_damaged || file.wal.skip_damaged.unwrap_or(false),
            wal_segment_bytes: args
                .wal_segment_bytes
                .or(file.wal.segment_bytes)
                .unwrap_or(128 * MIB),
            retry_after_seconds: args
                .retry_after_seconds
                .or(file.limits.retry_after_seconds)
                .unwrap_or(1),
            block_max_bytes: to_usize(
                args.block_max_bytes
                    .or(file.blocks.max_bytes)
                    .unwrap_or(64 * MIB),
            ),
            block_max_age_seconds: args
                .block_max_age_seconds
                .or(file.blocks.max_age_seconds)
                .unwrap_or(30),
            node_id: args.node_id.clone().or(file.node_id),
            storage_url: args.storage_url.clone().or(file.storage.url),
            block_poll_seconds: args
                .block_poll_seconds
                .or(file.blocks.poll_seconds)
                .unwrap_or(10),
            retention_days: args
                .retention_days
                .or(file.blocks.retention_days)
                .unwrap_or(30),
            lease_seconds: args
                .lease_seconds
                .or(file.blocks.lease_seconds)
                .unwrap_or(60),
            sql_max_rows: to_usize(args.sql_max_rows.or(file.sql.max_rows).unwrap_or(10_000)),
            sql_timeout_seconds: args
                .sql_timeout_seconds
                .or(file.sql.timeout_seconds)
                .unwrap_or(30),
            sql_memory_bytes: to_usize(
                args.sql_memory_bytes
                    .or(file.sql.memory_bytes)
                    .unwrap_or(memory / 16 * 3),
            ),
            query_timeout_seconds: args
                .query_timeout_seconds
                .or(file.sql.query_timeout_seconds)
                .unwrap_or(30),
            max_concurrent_reads: to_usize(
                args.max_concurrent_reads
                    .or(file.sql.max_concurrent_reads)
                    .unwrap_or(16),
            ),
            xray_addr: args
                .xray_addr
                .or(file.xray.addr)
                .unwrap_or_else(|| address("127.0.0.1:2000")),
            xray_environment: pick(&args.xray_environment, file.xray.environment, "default"),
            xray_region: pick(&args.xray_region, file.xray.region, "us-east-1"),
            xray_account_id: pick(&args.xray_account_id, file.xray.account_id, "000000000000"),
            xray_orphan_wait_seconds: args
                .xray_orphan_wait_seconds
                .or(file.xray.orphan_wait_seconds)
                .unwrap_or(10),
            xray_udp_queue: to_usize(
                args.xray_udp_queue
                    .or(file.xray.udp_queue)
                    .unwrap_or(65_536),
            ),
            xray_max_waiting_bytes: to_usize(
                args.xray_max_waiting_bytes
                    .or(file.xray.max_waiting_bytes)
                    .unwrap_or(memory / 32),
            ),
            xray_udp_queue_bytes: to_usize(memory / 32),
            compact_max_input_bytes: memory / 8,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.max_body_bytes > 0, "max_body_bytes must be positive");
        anyhow::ensure!(
            self.max_inflight_bytes >= self.max_body_bytes,
            "max_inflight_bytes ({}) must be at least max_body_bytes ({}), or the largest allowed request could never be taken",
            self.max_inflight_bytes,
            self.max_body_bytes
        );
        anyhow::ensure!(
            self.wal_segment_bytes >= 4096,
            "wal segment_bytes must be at least 4096"
        );
        anyhow::ensure!(
            (1..=60).contains(&self.retry_after_seconds),
            "retry_after_seconds must be 1 to 60: OTLP clients drop batches told to wait longer"
        );
        anyhow::ensure!(
            self.sql_max_rows > 0 && self.sql_timeout_seconds > 0 && self.sql_memory_bytes > 0,
            "sql max_rows, timeout_seconds and memory_bytes must be positive"
        );
        anyhow::ensure!(
            !self.xray_environment.is_empty()
                && self
                    .xray_environment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "xray environment {:?} must be letters, digits, '-' or '_'",
            self.xray_environment
        );
        anyhow::ensure!(
            self.xray_account_id.len() == 12
                && self.xray_account_id.bytes().all(|b| b.is_ascii_digit()),
            "xray account_id must be 12 digits"
        );
        anyhow::ensure!(self.xray_udp_queue > 0, "xray udp_queue must be positive");
        anyhow::ensure!(
            self.lease_seconds > 0,
            "blocks lease_seconds must be positive"
        );
        anyhow::ensure!(
            self.query_timeout_seconds > 0 && self.max_concurrent_reads > 0,
            "sql query_timeout_seconds and max_concurrent_reads must be positive"
        );
        Ok(())
    }
}

fn read_file(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
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

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
