//! `combray loadgen`: sends traffic shaped like real SDKs send it, records every acknowledged
//! span in an ack log, and reports throughput, acknowledgement latency and rejections.
//!
//! Every run is bounded in time (`--duration`) and, optionally, in spans (`--max-spans`). The ack
//! log (`trace_id span_id` per line, written after each acknowledgement) is the oracle of the
//! durability tests: every span in it must be readable after a crash.

mod otlp;
mod progress;
mod report;
mod traces;
mod xray;

/// Subcommands of `combray loadgen`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// OTLP/HTTP protobuf batches like the OpenTelemetry Python SDK's BatchSpanProcessor sends.
    Otlp(otlp::OtlpArgs),
    /// X-Ray segment documents over UDP, as the X-Ray SDKs send them to the daemon.
    Xray(xray::XRayArgs),
}

/// Runs a load generator to completion and prints its report.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Otlp(args) => otlp::run(args).await,
        Command::Xray(args) => xray::run(args).await,
    }
}

/// The seed a run uses: the one asked for, or a fresh one, printed (on stderr, beside the
/// report) so that the same traffic can be sent again.
pub(crate) fn choose_seed(asked: Option<u64>) -> u64 {
    let seed = asked.unwrap_or_else(rand::random);
    eprintln!("seed {seed} (pass --seed {seed} to send the same traffic again)");
    seed
}
