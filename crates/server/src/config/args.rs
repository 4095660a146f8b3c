//! The flags of `combray serve`, each also settable by its `COMBRAY_*` environment variable.
//! Every flag's help names its default; `config/combray.example.toml` lists the same options.

use std::net::SocketAddr;
use std::path::PathBuf;

use combray_storage::wal::FsyncPolicy;

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
    /// Memory the in-memory head may hold; past it, 503 [default: 5/16 of --memory-bytes]
    #[arg(long, env = "COMBRAY_MAX_HEAD_BYTES")]
    pub max_head_bytes: Option<u64>,
    /// Memory blocks' trace indexes stay in between reads; past it, the least recently used are
    /// read from the store again when next needed [default: 1/16 of --memory-bytes]
    #[arg(long, env = "COMBRAY_TRACE_INDEX_CACHE_BYTES")]
    pub trace_index_cache_bytes: Option<u64>,
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
