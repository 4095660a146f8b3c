//! The X-Ray daemon-port load generator: segment documents shaped like aws-xray-sdk's (a
//! Flask segment with HTTP data, annotations, metadata and embedded subsegments; a downstream
//! service's segment; some subsegments streamed on their own ahead of their segment), one
//! datagram each, from several sender threads. Documents are encoded before the run starts
//! (2,000 trace templates per sender, each sent with a fresh trace id), so the generator's own
//! CPU goes to sending.
//!
//! UDP has no acknowledgement, so with `--metrics-url` the run reads Combray's X-Ray counters
//! before and after and reports how many of the sent datagrams were received, accepted and
//! dropped.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::progress::{Counts, Progress};

/// Longest run allowed, so no load loop can go on unattended.
const MAX_DURATION_SECONDS: f64 = 3600.0;
const HEADER: &[u8] = b"{\"format\":\"json\",\"version\":1}\n";
const ROUTES: [&str; 4] = [
    "/api/activities/home",
    "/api/activities/@andrewbrown",
    "/api/messages",
    "/api/users/42",
];

/// Flags of `combray loadgen xray`.
#[derive(Debug, Clone, clap::Args)]
pub struct XRayArgs {
    /// Combray's X-Ray daemon address (UDP). Loopback only.
    #[arg(long, default_value = "127.0.0.1:2000")]
    address: SocketAddr,
    /// Target documents per second over all senders; 0 sends as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seconds to run (at most 3600).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop after this many documents (0: no limit besides the duration).
    #[arg(long, default_value_t = 0)]
    max_documents: u64,
    /// Sender threads.
    #[arg(long, default_value_t = 2)]
    senders: usize,
    /// Combray's `/metrics` URL, to report received, accepted and dropped datagrams.
    #[arg(long)]
    metrics_url: Option<String>,
    /// Random seed, for repeatable traffic [default: a fresh one, printed so a run can be
    /// repeated]
    #[arg(long)]
    seed: Option<u64>,
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn hex_id(rng: &mut StdRng) -> String {
    format!("{:016x}", rng.random::<u64>().max(1))
}

/// The documents of one request: streamed subsegments first, then the segments.
fn trace_documents(rng: &mut StdRng) -> Vec<Value> {
    let now = now_seconds();
    let trace_id = format!("1-{:08x}-{:024x}", now as u64, rng.random::<u128>() >> 32);
    let route = ROUTES[rng.random_range(0..ROUTES.len())];
    let duration = rng.random_range(0.005..0.3);
    let failed = rng.random_bool(0.05);
    let (segment_id, call_id, query_id) = (hex_id(rng), hex_id(rng), hex_id(rng));
    let user = format!("user-{}", rng.random_range(0..1000));
    let tier = ["free", "pro"][rng.random_range(0..2)];
    let call = json!({
        "id": call_id, "name": "loadgen-users", "namespace": "remote",
        "start_time": now + 0.002, "end_time": now + duration * 0.8,
        "http": {"request": {"method": "GET", "url": format!("http://loadgen-users/users/{user}")},
                 "response": {"status": if failed { 500 } else { 200 }}},
        "fault": failed,
    });
    let segment = json!({
        "trace_id": trace_id, "id": segment_id, "name": "loadgen-api",
        "start_time": now, "end_time": now + duration, "origin": "AWS::EC2::Instance",
        "http": {"request": {"method": "GET", "url": format!("http://loadgen-api:4567{route}"),
                             "user_agent": "Mozilla/5.0", "client_ip": "10.0.0.7"},
                 "response": {"status": if failed { 502 } else { 200 }, "content_length": 512}},
        "fault": failed, "user": user,
        "annotations": {"route": route, "result_length": rng.random_range(0..50), "tier": tier},
        "metadata": {"cruddur": {"now": now}},
        "aws": {"xray": {"sdk": "X-Ray for Python", "sdk_version": "2.15.0"},
                "ec2": {"instance_id": format!("i-{:08x}", rng.random_range(0..8_u32)), "availability_zone": "us-east-1a"}},
        "subsegments": [call],
    });
    let streamed = json!({
        "trace_id": trace_id, "id": query_id, "parent_id": segment_id, "type": "subsegment",
        "name": "mock-data", "start_time": now + 0.001, "end_time": now + 0.002,
        "annotations": {"rows": rng.random_range(0..100)},
    });
    let downstream = json!({
        "trace_id": trace_id, "id": hex_id(rng), "parent_id": call_id, "name": "loadgen-users",
        "start_time": now + 0.003, "end_time": now + duration * 0.75, "fault": failed,
        "http": {"request": {"method": "GET", "url": format!("http://loadgen-users/users/{user}")},
                 "response": {"status": if failed { 500 } else { 200 }}},
        "subsegments": [{"id": hex_id(rng), "name": "postgres", "namespace": "remote", "start_time": now + 0.004,
                         "end_time": now + duration * 0.7, "sql": {"database_type": "PostgreSQL", "sanitized_query": "SELECT * FROM users WHERE id = $1"}}],
    });
    vec![streamed, downstream, segment]
}

struct Sent {
    documents: u64,
    bytes: u64,
}

/// Templates generated before the clock starts, so the sender spends its time sending rather
/// than encoding JSON: each is a trace's datagrams and where its trace id sits in them.
struct Template {
    datagrams: Vec<Vec<u8>>,
    trace_id_offsets: Vec<Vec<usize>>,
}

const TEMPLATES: usize = 2_000;

fn templates(rng: &mut StdRng) -> anyhow::Result<Vec<Template>> {
    (0..TEMPLATES)
        .map(|_| {
            let documents = trace_documents(rng);
            let trace_id = documents[0]["trace_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let mut datagrams = Vec::new();
            let mut offsets = Vec::new();
            for document in documents {
                let mut datagram = HEADER.to_vec();
                serde_json::to_writer(&mut datagram, &document)?;
                let found: Vec<usize> = datagram
                    .windows(trace_id.len())
                    .enumerate()
                    .filter(|(_, w)| *w == trace_id.as_bytes())
                    .map(|(i, _)| i)
                    .collect();
                offsets.push(found);
                datagrams.push(datagram);
            }
            Ok(Template {
                datagrams,
                trace_id_offsets: offsets,
            })
        })
        .collect()
}

fn send(
    args: &XRayArgs,
    seed: u64,
    index: usize,
    deadline: Instant,
    budget: u64,
    counts: &Counts,
) -> anyhow::Result<Sent> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(index as u64));
    let templates = templates(&mut rng)?;
    let per_second = args.rate as f64 / args.senders.max(1) as f64;
    let started = Instant::now();
    let mut sent = Sent {
        documents: 0,
        bytes: 0,
    };
    let mut datagram = Vec::with_capacity(4096);
    let mut next = 0;
    while Instant::now() < deadline && (budget == 0 || sent.documents < budget) {
        if per_second > 0.0 {
            let due = started + Duration::from_secs_f64(sent.documents as f64 / per_second);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let template = &templates[next % templates.len()];
        next += 1;
        // A fresh trace id for every trace sent (the random part; `1-` and the epoch stay).
        let random = format!("{:024x}", rng.random::<u128>() >> 32);
        for (bytes, offsets) in template.datagrams.iter().zip(&template.trace_id_offsets) {
            datagram.clear();
            datagram.extend_from_slice(bytes);
            for &offset in offsets {
                datagram[offset + 11..offset + 35].copy_from_slice(random.as_bytes());
            }
            socket.send_to(&datagram, args.address)?;
            sent.documents += 1;
            sent.bytes += datagram.len() as u64;
        }
        counts
            .sent
            .fetch_add(template.datagrams.len() as u64, Ordering::Relaxed);
    }
    Ok(sent)
}

/// Reads Combray's X-Ray counters from `/metrics`.
async fn counters(url: &str) -> anyhow::Result<Value> {
    let text = reqwest::get(url).await?.text().await?;
    let read = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0)
    };
    Ok(json!({
        "received": read("combray_xray_datagrams_received_total "),
        "rejected": read("combray_xray_datagrams_rejected_total "),
        "dropped": read("combray_xray_datagrams_dropped_total "),
        "accepted": read("combray_xray_documents_accepted_total "),
    }))
}

fn difference(after: &Value, before: &Value) -> Value {
    let keys = ["received", "rejected", "dropped", "accepted"];
    let entries = keys.map(|k| {
        (
            k,
            after[k].as_u64().unwrap_or(0) - before[k].as_u64().unwrap_or(0),
        )
    });
    json!(entries
        .into_iter()
        .collect::<std::collections::BTreeMap<_, _>>())
}

/// Runs the X-Ray load generator.
pub(crate) async fn run(args: XRayArgs) -> anyhow::Result<()> {
    let seed = crate::choose_seed(args.seed);
    anyhow::ensure!(
        args.address.ip().is_loopback(),
        "--address must be a loopback address"
    );
    anyhow::ensure!(
        args.duration > 0.0 && args.duration <= MAX_DURATION_SECONDS,
        "--duration must be in (0, {MAX_DURATION_SECONDS}] seconds"
    );
    anyhow::ensure!(args.senders > 0, "--senders must be positive");
    let before = match &args.metrics_url {
        Some(url) => Some(counters(url).await?),
        None => None,
    };
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration);
    let budget = args.max_documents.div_ceil(args.senders as u64);
    let started = Instant::now();
    let counts = Arc::new(Counts::default());
    let progress = Progress::start(
        "documents",
        Duration::from_secs_f64(args.duration),
        Arc::clone(&counts),
        false,
    );
    let handles: Vec<_> = (0..args.senders)
        .map(|index| {
            let args = args.clone();
            let counts = Arc::clone(&counts);
            std::thread::spawn(move || send(&args, seed, index, deadline, budget, &counts))
        })
        .collect();
    let (mut documents, mut bytes) = (0, 0);
    for handle in handles {
        let sent = handle
            .join()
            .map_err(|_| anyhow::anyhow!("a sender thread panicked"))??;
        documents += sent.documents;
        bytes += sent.bytes;
    }
    progress.finish();
    let elapsed = started.elapsed().as_secs_f64();
    let mut report = json!({
        "elapsed_seconds": elapsed,
        "documents_sent": documents,
        "bytes_sent": bytes,
        "documents_per_second_sent": documents as f64 / elapsed.max(1e-9),
    });
    if let (Some(url), Some(before)) = (&args.metrics_url, before) {
        // Wait until the server has taken everything in flight.
        let mut last = counters(url).await?;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = counters(url).await?;
            if now == last {
                break;
            }
            last = now;
        }
        report["server"] = difference(&last, &before);
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
