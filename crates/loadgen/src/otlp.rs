//! The OTLP/HTTP load generator.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::progress::{Counts, Progress};
use crate::report::Tally;
use crate::traces::{generate_trace, group};

/// Longest run allowed, so no load loop can go on unattended.
const MAX_DURATION_SECONDS: f64 = 3600.0;

/// Flags of `combray loadgen otlp`.
#[derive(Debug, Clone, clap::Args)]
pub struct OtlpArgs {
    /// Base URL of Combray's OTLP/HTTP port; `/v1/traces` is appended. Loopback only.
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    endpoint: String,
    /// Target spans per second over all connections; 0 sends as fast as acknowledgements allow.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seconds to run (at most 3600).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop after this many spans have been sent (0: no limit besides the duration).
    #[arg(long, default_value_t = 0)]
    max_spans: u64,
    /// Concurrent connections, each with one request in flight.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Spans per request, at most; requests hold whole traces, as the SDK's batches mostly do.
    #[arg(long, default_value_t = 512)]
    batch_size: usize,
    /// Share of traces whose loadgen-users span fails with status error.
    #[arg(long, default_value_t = 0.05)]
    error_ratio: f64,
    /// Compress request bodies: none or gzip.
    #[arg(long, default_value = "none")]
    compression: String,
    /// Value for the x-honeycomb-team header.
    #[arg(long, env = "COMBRAY_LOADGEN_KEY")]
    api_key: Option<String>,
    /// File to append `trace_id span_id` of every acknowledged span to.
    #[arg(long)]
    ack_log: Option<PathBuf>,
    /// Random seed, for repeatable traffic [default: a fresh one, printed so a run can be
    /// repeated]
    #[arg(long)]
    seed: Option<u64>,
}

/// `(trace_id, span_id)` of each span in a request, for the ack log.
type SpanIds = Vec<(Vec<u8>, Vec<u8>)>;

struct Worker {
    client: reqwest::Client,
    url: String,
    args: OtlpArgs,
    rng: StdRng,
    ack_log: Option<Arc<Mutex<std::io::BufWriter<std::fs::File>>>>,
    deadline: Instant,
    spans_per_second: f64,
    /// Shared with the other workers: the spans budget of `--max-spans`, and the progress line.
    sent_budget: Arc<AtomicU64>,
    counts: Arc<Counts>,
}

use combray_model::now_unix_nano as unix_nanos;

fn is_loopback(endpoint: &str) -> bool {
    let rest = endpoint.split("://").nth(1).unwrap_or(endpoint);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    matches!(host, "localhost" | "[::1]") || host.starts_with("127.")
}

impl Worker {
    fn build_batch(&mut self, instance: &str) -> (Vec<u8>, SpanIds) {
        let mut spans = Vec::new();
        let now = unix_nanos();
        loop {
            let trace = generate_trace(&mut self.rng, now, self.args.error_ratio);
            if !spans.is_empty() && spans.len() + trace.len() > self.args.batch_size {
                break;
            }
            spans.extend(trace);
            if spans.len() >= self.args.batch_size {
                break;
            }
        }
        let ids = spans
            .iter()
            .map(|g| (g.span.trace_id.clone(), g.span.span_id.clone()))
            .collect();
        let request = ExportTraceServiceRequest {
            resource_spans: group(spans, instance),
        };
        let mut body = request.encode_to_vec();
        if self.args.compression == "gzip" {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = encoder.write_all(&body);
            body = encoder.finish().unwrap_or_default();
        }
        (body, ids)
    }

    async fn run(mut self, index: usize) -> Tally {
        let mut tally = Tally::default();
        let instance = format!("loadgen-{index}");
        let started = Instant::now();
        while Instant::now() < self.deadline {
            let (body, ids) = self.build_batch(&instance);
            let spans = ids.len() as u64;
            if self.args.max_spans > 0 {
                let previous = self.sent_budget.fetch_add(spans, Ordering::Relaxed);
                if previous >= self.args.max_spans {
                    break;
                }
            }
            if self.spans_per_second > 0.0 {
                let due = started
                    + Duration::from_secs_f64(tally.spans_sent as f64 / self.spans_per_second);
                tokio::time::sleep_until(due.into()).await;
            }
            tally.requests += 1;
            tally.spans_sent += spans;
            self.counts.sent.fetch_add(spans, Ordering::Relaxed);
            let sent_at = Instant::now();
            let mut request = self
                .client
                .post(&self.url)
                .header("content-type", "application/x-protobuf")
                .body(body);
            if self.args.compression == "gzip" {
                request = request.header("content-encoding", "gzip");
            }
            if let Some(key) = &self.args.api_key {
                request = request.header("x-honeycomb-team", key);
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let latency = sent_at.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                    tally.latencies_micros.push(latency);
                    tally.spans_acked += spans;
                    self.counts.acked.fetch_add(spans, Ordering::Relaxed);
                    self.record_acks(&ids);
                }
                Ok(response) => {
                    *tally
                        .rejections
                        .entry(response.status().as_u16().to_string())
                        .or_default() += 1;
                    let wait = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    if let Some(seconds) = wait {
                        tokio::time::sleep(Duration::from_millis(seconds.min(5) * 100)).await;
                    }
                }
                Err(_) => {
                    *tally.rejections.entry("connection".into()).or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        tally
    }

    fn record_acks(&self, ids: &[(Vec<u8>, Vec<u8>)]) {
        let Some(log) = &self.ack_log else { return };
        let Ok(mut log) = log.lock() else { return };
        for (trace_id, span_id) in ids {
            let _ = writeln!(log, "{} {}", hex::encode(trace_id), hex::encode(span_id));
        }
        // Flushed per acknowledgement so the log is right even if the run is cut short.
        let _ = log.flush();
    }
}

/// Runs the OTLP load and prints a JSON report on standard output.
pub(crate) async fn run(args: OtlpArgs) -> anyhow::Result<()> {
    let seed = crate::choose_seed(args.seed);
    anyhow::ensure!(
        is_loopback(&args.endpoint),
        "loadgen only targets loopback addresses (127.0.0.0/8, localhost, [::1])"
    );
    anyhow::ensure!(
        args.duration > 0.0 && args.duration <= MAX_DURATION_SECONDS,
        "--duration must be in (0, 3600] seconds"
    );
    anyhow::ensure!(
        args.connections >= 1 && args.connections <= 256,
        "--connections must be 1 to 256"
    );
    anyhow::ensure!(
        (1..=10_000).contains(&args.batch_size),
        "--batch-size must be 1 to 10000"
    );
    anyhow::ensure!(
        matches!(args.compression.as_str(), "none" | "gzip"),
        "--compression must be none or gzip"
    );
    let ack_log = match &args.ack_log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            Some(Arc::new(Mutex::new(std::io::BufWriter::new(file))))
        }
        None => None,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(args.connections)
        .build()?;
    let url = format!("{}/v1/traces", args.endpoint.trim_end_matches('/'));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let budget = Arc::new(AtomicU64::new(0));
    let counts = Arc::new(Counts::default());
    let progress = Progress::start(
        "spans",
        Duration::from_secs_f64(args.duration),
        Arc::clone(&counts),
        true,
    );
    let workers: Vec<_> = (0..args.connections)
        .map(|index| {
            let worker = Worker {
                client: client.clone(),
                url: url.clone(),
                rng: StdRng::seed_from_u64(seed.wrapping_mul(1000).wrapping_add(index as u64)),
                ack_log: ack_log.clone(),
                deadline,
                spans_per_second: args.rate as f64 / args.connections as f64,
                sent_budget: Arc::clone(&budget),
                counts: Arc::clone(&counts),
                args: args.clone(),
            };
            tokio::spawn(worker.run(index))
        })
        .collect();
    let mut total = Tally::default();
    for worker in workers {
        total.merge(worker.await?);
    }
    progress.finish();
    let authorized = refused_for_want_of_a_key(&total);
    println!(
        "{}",
        serde_json::to_string_pretty(&total.report(started.elapsed()))?
    );
    authorized
}

/// A run whose every answer was 401 measured nothing: it fails, and says what to pass.
fn refused_for_want_of_a_key(total: &Tally) -> anyhow::Result<()> {
    let unauthorized = total.rejections.get("401").copied().unwrap_or(0);
    anyhow::ensure!(
        total.spans_acked > 0 || unauthorized == 0,
        "all {unauthorized} rejected requests were refused with 401: the server has keys; pass an \
         ingest key with --api-key (`combray keys create --env <environment> --kind ingest`)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_endpoints_are_allowed() {
        assert!(is_loopback("http://127.0.0.1:4318"));
        assert!(is_loopback("http://localhost:4318/"));
        assert!(is_loopback("http://[::1]:4318"));
        assert!(!is_loopback("http://10.0.0.1:4318"));
        assert!(!is_loopback("https://api.honeycomb.io"));
    }

    #[test]
    fn a_run_refused_with_401_throughout_fails_and_names_the_flag() {
        let mut refused = Tally::default();
        refused.rejections.insert("401".into(), 12);
        let error = refused_for_want_of_a_key(&refused).unwrap_err().to_string();
        assert!(
            error.contains("--api-key") && error.contains("12"),
            "{error}"
        );

        let mut partly = refused;
        partly.spans_acked = 5;
        assert!(
            refused_for_want_of_a_key(&partly).is_ok(),
            "some spans got through"
        );
        let mut overloaded = Tally::default();
        overloaded.rejections.insert("503".into(), 3);
        assert!(
            refused_for_want_of_a_key(&overloaded).is_ok(),
            "503s are load, not keys"
        );
    }
}
