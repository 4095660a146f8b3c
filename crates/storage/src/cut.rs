//! Maintenance: cutting the head into blocks.
//!
//! The order is what makes a crash at any step lose nothing and show nothing twice:
//! 1. under the gate (no append in flight): rotate the WAL and snapshot the head, so the sealed
//!    segments hold exactly the snapshot's records;
//! 2. publish one block per environment (data, trace index, meta last);
//! 3. write the checkpoint (the sealed segment);
//! 4. make the blocks visible and drop the snapshot from the head;
//! 5. delete the sealed segments.
//!
//! A crash before 3 leaves blocks whose `wal_through_segment` is past the checkpoint: restart
//! deletes them and replays their spans from the WAL. A crash after 3 leaves segments the
//! checkpoint covers: restart deletes them instead of replaying them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::block::{build_block, Block, BlockOrigin, CUT_ZSTD_LEVEL};
use crate::head::Chunk;
use crate::priority::{cut_nice, on_thread_at_nice};
use crate::{checkpoint, Storage, StorageError};

/// Most head memory one cut block is built from. A block's rows are sorted by trace id, so
/// building it reads its chunks in random order: past a few hundred MiB every row costs cache
/// and TLB misses. At 50k X-Ray documents/s on two cores, a cut of 1 M spans in one block took
/// 7 µs of CPU per span against 3.9 µs for 32 K spans (`cut_scrambled` in the cut bench), and
/// the slower cuts let the head grow until it was full. A larger cut becomes several blocks of
/// consecutive chunks; a trace that straddles two of them reads as one, as it does across cuts,
/// and compaction merges the blocks later.
const MAX_HEAD_BYTES_PER_BLOCK: usize = 128 * 1024 * 1024;

/// Consecutive runs of `chunks` holding at most `max_bytes` each (or one chunk, if a chunk alone
/// is larger).
fn block_sized(chunks: &[Arc<Chunk>], max_bytes: usize) -> impl Iterator<Item = &[Arc<Chunk>]> {
    let mut rest = chunks;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0;
        let length = rest
            .iter()
            .take_while(|chunk| {
                bytes += chunk.memory_bytes();
                bytes <= max_bytes
            })
            .count()
            .max(1);
        let (piece, remaining) = rest.split_at(length);
        rest = remaining;
        Some(piece)
    })
}

/// Counts a cut as running until it is dropped, however the cut ends.
struct RunningCut<'a>(&'a AtomicUsize);

impl<'a> RunningCut<'a> {
    fn start(running: &'a AtomicUsize) -> Self {
        running.fetch_add(1, Ordering::SeqCst);
        Self(running)
    }
}

impl Drop for RunningCut<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What one cut did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Blocks published.
    pub blocks: usize,
    /// Spans moved from the head into blocks.
    pub spans: u64,
    /// WAL segments deleted.
    pub segments_removed: usize,
}

impl Storage {
    /// Whether the cut policy says the head should become blocks now.
    pub fn cut_is_due(&self) -> bool {
        let policy = self.config.cut;
        self.head.memory_bytes() >= policy.max_head_bytes
            || self.head.age().is_some_and(|age| age >= policy.max_age)
    }

    /// Cuts the whole head into blocks (one or more per environment). Returns `None` when the
    /// head is empty. Ingest continues while blocks are built and uploaded.
    pub async fn cut(&self) -> Result<Option<CutReport>, StorageError> {
        let _running = RunningCut::start(&self.cuts_running);
        self.delete_orphans().await?;
        let (sealed, snapshot) = {
            let _exclusive = self.gate.write().await;
            if self.head.span_count() == 0 {
                return Ok(None);
            }
            let sealed = self.wal.rotate().await?;
            (sealed, self.head.snapshot())
        };
        let mut published: Vec<Arc<Block>> = Vec::with_capacity(snapshot.len());
        let mut report = CutReport::default();
        let mut pieces: Vec<(String, Vec<Arc<Chunk>>)> = Vec::new();
        for (environment, chunks) in &snapshot {
            pieces.extend(
                block_sized(chunks, MAX_HEAD_BYTES_PER_BLOCK)
                    .map(|piece| (environment.clone(), piece.to_vec())),
            );
        }
        let working = Arc::clone(self.head.working_account());
        working.take_peak();
        for (environment, chunks) in pieces {
            let built = {
                let node = self.config.node_id.clone();
                let nice = cut_nice(self.head.memory_bytes(), self.config.max_head_bytes);
                let working = Arc::clone(&working);
                on_thread_at_nice("combray-cut", nice, move |_| {
                    let origin = BlockOrigin {
                        environment: &environment,
                        node_id: &node,
                        wal_through_segment: sealed,
                        now_unix_nano: crate::now_unix_nano(),
                        zstd_level: CUT_ZSTD_LEVEL,
                        pause_while: None,
                    };
                    // What the build holds counts against the head budget while it runs.
                    combray_heap::counted_in(&working, || build_block(&chunks, &origin))
                })
                .await
            };
            let outcome = match built {
                Ok(built) => {
                    let _uploading = working.hold(built.data.len() + built.traces.len());
                    self.blocks.publish(built).await
                }
                Err(error) => Err(error),
            };
            match outcome {
                Ok(block) => {
                    report.spans += block.meta.span_count;
                    published.push(block);
                }
                Err(error) => {
                    // The head still holds everything; the next cut retries. What this cut
                    // published must go first, or a later checkpoint would make it visible twice.
                    self.orphans.lock().extend(published);
                    return Err(error);
                }
            }
        }
        // The blocks become visible, and the local block cache learns them, before the
        // checkpoint: a restart that skips the checkpointed WAL must find them in the cache.
        // (A cache that is ahead of the checkpoint is fine: start-up drops such blocks.)
        report.blocks = published.len();
        {
            // Until the head lets go of these spans, snapshots leave the new blocks out, so a
            // scan never counts a span twice.
            let mut in_flight = self.cut_in_flight.write();
            for block in &published {
                in_flight.insert(block.meta.block_id.clone());
                self.blocks.add(Arc::clone(block));
            }
        }
        self.save_block_cache_or_drop().await;
        let wal_dir = self.config.wal.dir.clone();
        let written = tokio::task::spawn_blocking(move || checkpoint::write(&wal_dir, sealed))
            .await
            .map_err(|e| StorageError::Codec(format!("checkpoint write panicked: {e}")))
            .and_then(|result| result);
        if let Err(error) = written {
            let mut in_flight = self.cut_in_flight.write();
            for block in &published {
                self.blocks.forget(block);
            }
            in_flight.clear();
            drop(in_flight);
            self.orphans.lock().extend(published);
            return Err(error);
        }
        self.publish_checkpoint(sealed).await;
        {
            let mut in_flight = self.cut_in_flight.write();
            self.head.remove(&snapshot);
            in_flight.clear();
        }
        report.segments_removed = self.wal.remove_segments_through(sealed)?;
        tracing::info!(
            blocks = report.blocks,
            spans = report.spans,
            segments_removed = report.segments_removed,
            working_set_peak_bytes = working.take_peak(),
            "head cut into blocks"
        );
        Ok(Some(report))
    }

    /// Tells other nodes how far this node's cuts are final, so their compaction never takes a
    /// block whose cut could still be undone by a crash here. Best effort: until it lands,
    /// those blocks simply wait to be compacted.
    pub(crate) async fn publish_checkpoint(&self, through_segment: u64) {
        let path = crate::maintenance::node_checkpoint_path(&self.config.node_id);
        let body = format!("{{\"version\":1,\"through_segment\":{through_segment}}}");
        if let Err(error) =
            object_store::ObjectStoreExt::put(self.blocks.store().as_ref(), &path, body.into())
                .await
        {
            tracing::warn!(%error, "cannot publish this node's WAL checkpoint; compaction of its new blocks waits");
        }
    }

    async fn delete_orphans(&self) -> Result<(), StorageError> {
        let orphans = std::mem::take(&mut *self.orphans.lock());
        for (index, orphan) in orphans.iter().enumerate() {
            if let Err(error) = self.blocks.delete(orphan).await {
                self.orphans.lock().extend(orphans[index..].iter().cloned());
                return Err(error);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{chunk, span};

    #[test]
    fn a_large_cut_becomes_runs_of_consecutive_chunks_under_the_size_limit() {
        let chunks: Vec<Arc<Chunk>> = (1..=5)
            .map(|i| chunk("api", Vec::new(), vec![span(i, i, 0)]))
            .collect();
        let size = chunks[0].memory_bytes();
        assert!(chunks.iter().all(|c| c.memory_bytes() == size));
        let lengths =
            |max_bytes| -> Vec<usize> { block_sized(&chunks, max_bytes).map(<[_]>::len).collect() };
        assert_eq!(lengths(2 * size + 1), [2, 2, 1]);
        assert_eq!(lengths(5 * size), [5]);
        // A chunk larger than the limit is a block of its own.
        assert_eq!(lengths(0), [1, 1, 1, 1, 1]);
        let first_of_each: Vec<u8> = block_sized(&chunks, 2 * size)
            .map(|piece| piece[0].trace_id(0).as_bytes()[0])
            .collect();
        assert_eq!(first_of_each, [1, 3, 5], "runs keep the chunks' order");
    }
}
