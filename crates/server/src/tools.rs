//! Operator tools: `combray blocks list`, `combray blocks inspect ID`, `combray wal dump`.
//! All of them only read.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use combray_storage::wal::QuarantineState;
use combray_storage::{decode_wal_record, open_object_store, wal, Blocks};

use crate::progress::{advance, progress_bar};
use crate::sql_cli::count_of;

/// Writes a line to stdout, failing on a closed pipe (`| head`) instead of panicking; the binary
/// ends such a command quietly.
macro_rules! out {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout().lock(), $($arg)*)?
    };
}

async fn load_blocks(data_dir: &Path, storage_url: Option<&str>) -> anyhow::Result<Blocks> {
    let store = open_object_store(storage_url, data_dir).context("cannot open the object store")?;
    let bar = progress_bar("blocks");
    let blocks = Blocks::load_read_only(store, &advance(&bar)).await;
    bar.finish_and_clear();
    Ok(blocks?)
}

fn seconds(unix_nano: u64) -> f64 {
    unix_nano as f64 / 1e9
}

/// Prints one line per block.
pub async fn blocks_list(data_dir: &Path, storage_url: Option<&str>) -> anyhow::Result<()> {
    let blocks = load_blocks(data_dir, storage_url).await?;
    // As wide as the longest environment name, so long names do not push the columns apart.
    let env_width = blocks
        .all()
        .iter()
        .map(|b| b.meta.environment.chars().count())
        .max()
        .unwrap_or(0)
        .max("environment".len());
    out!(
        "{:<26} {:<env_width$} {:<22} {:>10} {:>9} {:>12} {:>8}  time range (unix s)",
        "block",
        "environment",
        "node",
        "spans",
        "traces",
        "bytes",
        "B/span"
    );
    let mut total = (0u64, 0u64);
    for block in blocks.all() {
        let meta = &block.meta;
        total = (total.0 + meta.span_count, total.1 + meta.data_bytes);
        let per_span = meta.data_bytes as f64 / meta.span_count.max(1) as f64;
        out!(
            "{:<26} {:<env_width$} {:<22} {:>10} {:>9} {:>12} {:>8.1}  {:.3} – {:.3}",
            meta.block_id,
            meta.environment,
            meta.node_id,
            meta.span_count,
            meta.trace_count,
            meta.data_bytes,
            per_span,
            seconds(meta.min_start_unix_nano),
            seconds(meta.max_end_unix_nano)
        );
    }
    out!(
        "{}, {}, {}",
        count_of(blocks.all().len(), "block"),
        count_of(total.0 as usize, "span"),
        count_of(total.1 as usize, "byte")
    );
    Ok(())
}

/// Prints a block's meta, trace index size and Parquet layout.
pub async fn blocks_inspect(
    data_dir: &Path,
    storage_url: Option<&str>,
    block_id: &str,
) -> anyhow::Result<()> {
    let blocks = load_blocks(data_dir, storage_url).await?;
    let block = blocks
        .all()
        .into_iter()
        .find(|b| b.meta.block_id == block_id)
        .with_context(|| format!("no readable block {block_id}"))?;
    out!("{}", serde_json::to_string_pretty(&block.meta)?);
    let index = blocks.trace_index(&block).await?;
    out!(
        "trace index: {} traces, {} names, {} bytes in memory",
        index.entries.len(),
        index.names.len(),
        index.memory_bytes()
    );
    for (index, group) in block
        .parquet_layout(blocks.store())
        .await?
        .iter()
        .enumerate()
    {
        let total: u64 = group.columns.iter().map(|(_, bytes)| bytes).sum();
        out!(
            "row group {index}: {}, {total} bytes compressed",
            count_of(group.rows as usize, "row")
        );
        let mut columns = group.columns.clone();
        columns.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
        for (name, bytes) in columns {
            out!(
                "  {name:<28} {bytes:>12} B  {:>6.2} B/row",
                bytes as f64 / group.rows.max(1) as f64
            );
        }
    }
    Ok(())
}

/// Prints every WAL record (segment, offset, environment, protocol, spans) and any damage.
pub fn wal_dump(data_dir: &Path) -> anyhow::Result<()> {
    let wal_dir = data_dir.join("wal");
    let bar = progress_bar("segments");
    let segments = wal::dump(&wal_dir, &advance(&bar));
    bar.finish_and_clear();
    let segments = segments.with_context(|| format!("cannot read {}", wal_dir.display()))?;
    let mut records = 0;
    let mut spans = 0;
    for segment in &segments {
        let state = match segment.quarantine {
            None => "",
            Some(QuarantineState::Refused) => " [quarantined: start refused]",
            Some(QuarantineState::Skipped) => " [quarantined: skipped by --wal-skip-damaged]",
        };
        out!(
            "segment {} ({} bytes) {}{state}",
            segment.sequence,
            segment.bytes,
            segment.path.display()
        );
        for (offset, payload) in &segment.records {
            records += 1;
            match decode_wal_record(payload) {
                Ok(record) => {
                    spans += record.span_count();
                    let protocols: Vec<&str> =
                        record.protocols().into_iter().map(|p| p.as_str()).collect();
                    out!(
                        "  @{offset:<10} {:>8} B  env={} protocol={} spans={}",
                        payload.len(),
                        record.environment,
                        protocols.join(","),
                        record.span_count()
                    );
                }
                Err(error) => out!(
                    "  @{offset:<10} {:>8} B  undecodable: {error}",
                    payload.len()
                ),
            }
        }
        if let Some(problem) = &segment.problem {
            out!("  damaged: {problem}");
        }
    }
    out!(
        "{}, {}, {}",
        count_of(segments.len(), "segment"),
        count_of(records, "record"),
        count_of(spans, "span")
    );
    Ok(())
}
