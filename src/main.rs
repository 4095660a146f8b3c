//! The `combray` binary: parses the command line and hands off to the library crates.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use combray_server::config::{Config, ServeArgs, DEFAULT_DATA_DIR};
use combray_server::keys::{self, KeyKind};
use combray_server::tools;

/// mimalloc instead of the system allocator: ingest allocates many small, short-lived objects
/// (decoded documents, attributes), and glibc's malloc spent about 40% of the X-Ray ingest
/// profile (docs/benchmarks-history.md). Counted per thread into memory accounts, so that a query
/// stops once its threads hold more than `--sql-memory-bytes` whatever DataFusion reserved, and a
/// cut's working set counts against the head budget.
#[global_allocator]
static ALLOCATOR: combray_heap::CountingAllocator<mimalloc::MiMalloc> =
    combray_heap::CountingAllocator(mimalloc::MiMalloc);

/// Combray: one binary for distributed tracing.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: OTLP receivers, storage and the query API.
    Serve(Box<ServeArgs>),
    /// Create and list API keys (stored hashed in the data directory).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Look at the blocks in the object store (read only).
    Blocks {
        #[command(subcommand)]
        command: BlocksCommand,
    },
    /// Look at the write-ahead log (read only).
    Wal {
        #[command(subcommand)]
        command: WalCommand,
    },
    /// Run a read-only SQL query against a running Combray and print the result.
    Sql(combray_server::sql_cli::SqlArgs),
    /// Run a Honeycomb query (calculations, filters, breakdowns) against a running Combray.
    Query(combray_server::query_cli::QueryArgs),
    /// Compare a selection of a query's events with the rest, column by column (BubbleUp).
    Bubbleup(combray_server::bubbleup_cli::BubbleUpArgs),
    /// Generate load against a running Combray and report throughput and latency.
    Loadgen {
        #[command(subcommand)]
        command: combray_loadgen::Command,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key for an environment and print it (the only time it is shown).
    Create {
        /// Environment the key belongs to.
        #[arg(long = "env")]
        environment: String,
        /// ingest (send only), configuration (send, read, administer), or aws (an access key
        /// pair for SigV4-signed X-Ray API calls; prints `ACCESS_KEY_ID SECRET_ACCESS_KEY`).
        #[arg(long, value_enum)]
        kind: KeyKind,
        /// Data directory of the server that will use the key [default: ./combray-data]
        #[arg(long, env = "COMBRAY_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// List keys (ids, environments and kinds; never secrets).
    List {
        /// Data directory [default: ./combray-data]
        #[arg(long, env = "COMBRAY_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

/// Where the data is, for the operator tools.
#[derive(clap::Args)]
struct Location {
    /// Data directory [default: ./combray-data]
    #[arg(long, env = "COMBRAY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Object store URL, as for `serve` [default: <data-dir>/objects]
    #[arg(long, env = "COMBRAY_STORAGE_URL")]
    storage_url: Option<String>,
}

impl Location {
    fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_DATA_DIR.into())
    }
}

#[derive(Subcommand)]
enum BlocksCommand {
    /// One line per block: environment, node, spans, traces, bytes, time range.
    List {
        #[command(flatten)]
        location: Location,
    },
    /// A block's meta, trace index and Parquet layout (bytes per column).
    Inspect {
        /// Block id, as `blocks list` prints it.
        block_id: String,
        #[command(flatten)]
        location: Location,
    },
}

#[derive(Subcommand)]
enum WalCommand {
    /// Every record of every segment, and any damage replay would truncate.
    Dump {
        #[command(flatten)]
        location: Location,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("COMBRAY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in log files and pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        // `combray blocks list | head`: the reader has all it wanted.
        Err(error) if is_closed_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let config = Config::load(&args)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(combray_server::serve(config, shutdown_signal(), |_| {}))
        }
        Command::Keys { command } => run_keys(command),
        Command::Blocks { command } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                match command {
                    BlocksCommand::List { location } => {
                        tools::blocks_list(&location.data_dir(), location.storage_url.as_deref())
                            .await
                    }
                    BlocksCommand::Inspect { block_id, location } => {
                        let url = location.storage_url.as_deref();
                        tools::blocks_inspect(&location.data_dir(), url, &block_id).await
                    }
                }
            })
        }
        Command::Wal {
            command: WalCommand::Dump { location },
        } => tools::wal_dump(&location.data_dir()),
        Command::Sql(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(combray_server::sql_cli::run(args))
        }
        Command::Query(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(combray_server::query_cli::run(args))
        }
        Command::Bubbleup(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(combray_server::bubbleup_cli::run(args))
        }
        Command::Loadgen { command } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(combray_loadgen::run(command))
        }
    }
}

fn run_keys(command: KeysCommand) -> anyhow::Result<()> {
    let data_dir = |dir: Option<PathBuf>| dir.unwrap_or_else(|| DEFAULT_DATA_DIR.into());
    match command {
        KeysCommand::Create {
            environment,
            kind,
            data_dir: dir,
        } => {
            let (stored, secret) = keys::create_key(&data_dir(dir), &environment, kind)?;
            eprintln!(
                "created {:?} key {} for environment {}; it is shown only now:",
                stored.kind, stored.id, stored.environment
            );
            if kind == KeyKind::Aws {
                println!("{} {secret}", stored.id);
            } else {
                println!("{secret}");
            }
        }
        KeysCommand::List { data_dir: dir } => {
            println!(
                "{:<20} {:<14} {:<24} created_unix",
                "id", "kind", "environment"
            );
            for key in keys::list_keys(&data_dir(dir))? {
                let kind = match key.kind {
                    KeyKind::Ingest => "ingest",
                    KeyKind::Configuration => "configuration",
                    KeyKind::Aws => "aws",
                };
                println!(
                    "{:<20} {:<14} {:<24} {}",
                    key.id, kind, key.environment, key.created_unix
                );
            }
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
