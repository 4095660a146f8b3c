//! The body of every fuzz target: each takes arbitrary bytes and must return (with an error or
//! not) without panicking, looping or allocating without bound. The libFuzzer binaries in
//! `fuzz_targets/` call these; `tests/corpus.rs` replays the committed corpora through them.

use std::time::{Duration, Instant};

use combray_ingest::body::{decompress, ContentEncoding, ContentType};
use combray_ingest::otlp::normalize_http_body;
use combray_ingest::xray::{parse_document, split_datagram, Assembler};
use combray_storage::internals::{BlockMeta, TraceIndex};
use combray_storage::wal::scan_segment;
use combray_storage::Head;

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target built with these features, by name (the corpus directory's name).
pub const TARGETS: &[(&str, Target)] = &[
    ("otlp_decode", otlp_decode),
    ("decompress", decompress_any),
    ("xray_datagram", xray_datagram),
    #[cfg(feature = "query")]
    ("xray_filter", xray_filter),
    #[cfg(feature = "query")]
    ("sql_plan", sql_plan),
    ("wal_replay", wal_replay),
    ("block_meta", block_meta),
];

/// OTLP/HTTP bodies, decoded and normalized into spans: protobuf and JSON alike.
pub fn otlp_decode(data: &[u8]) {
    for content_type in [ContentType::Protobuf, ContentType::Json] {
        let _ = normalize_http_body(content_type, data, "fuzz", 1_700_000_000_000_000_000);
    }
}

/// The decompression front end, with a 1 MiB cap; the first byte picks the encoding.
pub fn decompress_any(data: &[u8]) {
    let Some((choice, body)) = data.split_first() else {
        return;
    };
    let encoding = match choice % 4 {
        0 => ContentEncoding::Gzip,
        1 => ContentEncoding::Deflate,
        2 => ContentEncoding::Zstd,
        _ => ContentEncoding::Identity,
    };
    if let Ok(output) = decompress(encoding, body, 1 << 20) {
        assert!(output.len() <= 1 << 20, "the cap was passed");
    }
}

/// A UDP datagram as the daemon port takes it: header, document, then the assembler.
pub fn xray_datagram(data: &[u8]) {
    let Ok(body) = split_datagram(data) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    if let Ok(document) = parse_document(text) {
        let mut assembler = Assembler::new(Duration::from_secs(10), 64);
        let _ = assembler.push(document, Instant::now());
    }
}

/// An X-Ray filter expression, parsed.
#[cfg(feature = "query")]
pub fn xray_filter(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = combray_xray::filter::parse(text);
    }
}

/// A SQL query, parsed and planned over an empty head (no execution).
#[cfg(feature = "query")]
pub fn sql_plan(data: &[u8]) {
    use combray_query::sql::{SqlEngine, SqlLimits};
    use std::sync::OnceLock;
    static ENGINE: OnceLock<(tokio::runtime::Runtime, SqlEngine, Head)> = OnceLock::new();
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let (runtime, engine, head) = ENGINE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let limits = SqlLimits {
            max_rows: 100,
            timeout: Duration::from_secs(5),
            memory_bytes: 64 << 20,
        };
        let engine = SqlEngine::new(limits).expect("an engine");
        (runtime, engine, Head::new())
    });
    let _ = runtime.block_on(engine.plan(head, "fuzz", sql));
}

/// A WAL segment's bytes: framing, then every intact record decoded as replay does.
pub fn wal_replay(data: &[u8]) {
    allow_caught_arrow_ipc_panics();
    let (records, _problem) = scan_segment(data);
    for (_, payload) in records {
        let _ = combray_storage::decode_wal_record(payload);
    }
}

/// A block's meta document and trace index; the first byte picks which.
pub fn block_meta(data: &[u8]) {
    let Some((choice, body)) = data.split_first() else {
        return;
    };
    if choice % 2 == 0 {
        let _ = serde_json::from_slice::<BlockMeta>(body);
    } else {
        let _ = TraceIndex::decode(body);
    }
}

/// libFuzzer's panic hook aborts at the panic, before unwinding reaches a `catch_unwind`. The
/// WAL reader catches the Arrow IPC reader's panics on malformed streams (they come from
/// arrow-ipc and the arrow-buffer, -data and -array code it calls) and answers an error, so the
/// hook lets panics inside Arrow's crates unwind and aborts on every other, a bug of ours.
fn allow_caught_arrow_ipc_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let in_arrow = info
                .location()
                .is_some_and(|location| location.file().contains("/arrow-"));
            if !in_arrow {
                eprintln!("{info}");
                std::process::abort();
            }
        }));
    });
}
