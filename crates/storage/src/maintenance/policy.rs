//! What maintenance compacts: size-tiered merging inside time windows.
//!
//! Merging a block into a bigger one rewrites the bigger one too. If every small block were
//! merged into the window's one growing block, each span would be rewritten at every pass until
//! the block passed the size limit: at 50,000 X-Ray documents/s a 2.7 M-span block was being
//! rewritten to absorb a few hundred thousand new spans. So blocks are grouped in size tiers
//! (each `fanout` times the one below) and only blocks of one tier merge, and only once there
//! are `fanout` of them: a span is then rewritten about once per tier, log_fanout(limit/eager)
//! times in all. Blocks under `compact_eager_below_bytes` are cheap to rewrite and merge in
//! pairs, so a quiet service still ends up with few blocks.
//!
//! A merge holds its inputs decoded in memory, and decoded spans take about sixteen times what
//! they take in a block (470 bytes in Arrow against 30 in zstd Parquet, measured on the load
//! generator's spans). So the inputs of one merge are also bounded by their estimated decoded
//! size, `compact_max_input_bytes`, part of the server's memory ceiling: at 50,000 spans/s,
//! eight tier-two inputs without that bound would have been gigabytes.

use std::sync::Arc;
use std::time::Duration;

use crate::block::Block;

/// How maintenance behaves.
#[derive(Debug, Clone, Copy)]
pub struct MaintenancePolicy {
    /// Blocks whose data is smaller than this are compacted with their neighbours.
    pub compact_below_bytes: u64,
    /// Blocks smaller than this form the lowest tier, which merges as soon as it has two.
    pub compact_eager_below_bytes: u64,
    /// Size ratio between tiers, and how many blocks of a higher tier merge at once.
    pub compact_fanout: usize,
    /// Most blocks merged at once.
    pub compact_max_inputs: usize,
    /// Most memory the inputs of one merge may take once decoded (estimated from their size in
    /// the store, see [`DECODED_PER_STORED_BYTE`]); blocks estimated larger are not merged.
    pub compact_max_input_bytes: u64,
    /// Only blocks whose spans start in the same window of this length are merged.
    pub compact_window: Duration,
    /// Blocks ingested longer ago than this are deleted.
    pub retention: Duration,
    /// Length of a lease window.
    pub lease_window: Duration,
    /// How long objects of replaced or expired blocks stay for queries already reading them.
    pub deletion_grace: Duration,
    /// Tests: how long a compaction waits between building its block and its commit point.
    #[cfg(test)]
    pub(crate) pause_before_commit: Duration,
}

impl Default for MaintenancePolicy {
    fn default() -> Self {
        Self {
            compact_below_bytes: 128 * 1024 * 1024,
            compact_eager_below_bytes: 4 * 1024 * 1024,
            compact_fanout: 8,
            compact_max_inputs: 16,
            compact_max_input_bytes: 128 * 1024 * 1024,
            compact_window: Duration::from_secs(3600),
            retention: Duration::from_secs(30 * 24 * 3600),
            lease_window: Duration::from_secs(60),
            deletion_grace: Duration::from_secs(30),
            #[cfg(test)]
            pause_before_commit: Duration::ZERO,
        }
    }
}

/// Estimated bytes a block's spans take decoded in memory for each byte they take stored.
pub(crate) const DECODED_PER_STORED_BYTE: u64 = 16;

fn decoded_bytes(block: &Block) -> u64 {
    block
        .meta
        .data_bytes
        .saturating_mul(DECODED_PER_STORED_BYTE)
}

impl MaintenancePolicy {
    /// The size tier of a block of `bytes`: 0 below the eager limit, then one more for every
    /// `fanout` times that.
    fn tier(&self, bytes: u64) -> u32 {
        let fanout = self.compact_fanout.max(2) as u64;
        let mut bound = self.compact_eager_below_bytes.max(1);
        let mut tier = 0;
        while bytes >= bound {
            tier += 1;
            bound = bound.saturating_mul(fanout);
        }
        tier
    }

    /// How many blocks of a tier it takes to merge them.
    fn merge_at(&self, tier: u32) -> usize {
        if tier == 0 {
            2
        } else {
            self.compact_fanout.max(2)
        }
    }

    /// The blocks to merge next among `eligible` (of one environment, each safe to compact):
    /// the oldest window, lowest tier first, that has enough blocks under the size limit; at
    /// most `compact_max_inputs` of them, oldest spans first, and as many as fit in
    /// `compact_max_input_bytes` decoded (at least two, or that group is passed over).
    pub(crate) fn pick(&self, eligible: Vec<Arc<Block>>) -> Option<Vec<Arc<Block>>> {
        let window = self.compact_window.as_nanos().max(1) as u64;
        let mut keyed: Vec<((u64, u32), Arc<Block>)> = eligible
            .into_iter()
            .filter(|b| b.meta.data_bytes < self.compact_below_bytes)
            .filter(|b| decoded_bytes(b) < self.compact_max_input_bytes)
            .map(|b| {
                let key = (
                    b.meta.min_start_unix_nano / window,
                    self.tier(b.meta.data_bytes),
                );
                (key, b)
            })
            .collect();
        keyed.sort_by_key(|(key, b)| (*key, b.meta.min_start_unix_nano));
        keyed
            .chunk_by(|(a, _), (b, _)| a == b)
            .filter(|group| group.len() >= self.merge_at(group[0].0 .1))
            .map(|group| self.within_budget(group))
            .find(|inputs| inputs.len() >= 2)
    }

    /// The oldest blocks of a group that fit the merge's memory budget together.
    fn within_budget(&self, group: &[((u64, u32), Arc<Block>)]) -> Vec<Arc<Block>> {
        let mut decoded = 0_u64;
        group
            .iter()
            .take(self.compact_max_inputs.max(2))
            .map(|(_, b)| b)
            .take_while(|b| {
                decoded = decoded.saturating_add(decoded_bytes(b));
                decoded <= self.compact_max_input_bytes
            })
            .map(Arc::clone)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockMeta;

    const MIB: u64 = 1024 * 1024;
    const HOUR: u64 = 3_600_000_000_000;

    fn block(id: &str, bytes: u64, start: u64) -> Arc<Block> {
        let meta = BlockMeta {
            format_version: 2,
            block_id: id.into(),
            environment: "prod".into(),
            node_id: "node".into(),
            wal_through_segment: 0,
            created_unix_nano: start,
            ingested_unix_nano: start,
            span_schema_version: "2".into(),
            span_count: 1,
            trace_count: 1,
            min_start_unix_nano: start,
            max_end_unix_nano: start + 1,
            data_bytes: bytes,
            operations: Default::default(),
            columns: Default::default(),
            replaces: Vec::new(),
            lease_window: None,
        };
        Arc::new(Block::new(meta))
    }

    fn ids(picked: Option<Vec<Arc<Block>>>) -> Vec<String> {
        picked
            .unwrap_or_default()
            .iter()
            .map(|b| b.meta.block_id.clone())
            .collect()
    }

    #[test]
    fn tiers_grow_by_the_fanout_above_the_eager_limit() {
        let policy = MaintenancePolicy::default();
        assert_eq!(policy.tier(0), 0);
        assert_eq!(policy.tier(4 * MIB - 1), 0);
        assert_eq!(policy.tier(4 * MIB), 1);
        assert_eq!(policy.tier(32 * MIB - 1), 1);
        assert_eq!(policy.tier(32 * MIB), 2);
        assert_eq!(policy.tier(256 * MIB), 3);
    }

    #[test]
    fn small_blocks_merge_in_pairs_and_bigger_ones_only_with_a_fanout_of_their_size() {
        let policy = MaintenancePolicy {
            compact_max_input_bytes: u64::MAX,
            ..MaintenancePolicy::default()
        };
        let start = 10 * HOUR;
        // One small block and seven of 5-11 MiB: nothing to do, so the big ones are not
        // rewritten to absorb the small one.
        let mut blocks = vec![block("small", MIB, start)];
        blocks.extend((1..8).map(|i| block(&format!("big-{i}"), (4 + i) * MIB, start + i)));
        assert_eq!(ids(policy.pick(blocks.clone())), Vec::<String>::new());
        // An eighth of their tier: the eight merge, and the small one stays.
        blocks.push(block("big-8", 7 * MIB, start + 8));
        let big: Vec<String> = (1..=8).map(|i| format!("big-{i}")).collect();
        assert_eq!(ids(policy.pick(blocks.clone())), big);
        // A second small block: the lowest tier goes first.
        blocks.push(block("small-2", 2 * MIB, start + 9));
        assert_eq!(ids(policy.pick(blocks)), ["small", "small-2"]);
    }

    #[test]
    fn windows_do_not_mix_the_oldest_goes_first_and_large_blocks_stay() {
        let policy = MaintenancePolicy::default();
        let blocks = vec![
            block("late-a", MIB, 11 * HOUR),
            block("early-a", MIB, 10 * HOUR),
            block("late-b", MIB, 11 * HOUR + 5),
            block("huge-1", 200 * MIB, 12 * HOUR),
            block("huge-2", 200 * MIB, 12 * HOUR),
            block("early-other-window", MIB, 9 * HOUR),
        ];
        assert_eq!(ids(policy.pick(blocks.clone())), ["late-a", "late-b"]);
        let without_late: Vec<_> = blocks
            .into_iter()
            .filter(|b| !b.meta.block_id.starts_with("late"))
            .collect();
        assert_eq!(ids(policy.pick(without_late)), Vec::<String>::new());
    }

    #[test]
    fn at_most_the_input_limit_merges_at_once() {
        let policy = MaintenancePolicy {
            compact_max_inputs: 3,
            ..MaintenancePolicy::default()
        };
        let blocks: Vec<_> = (0..5)
            .map(|i| block(&format!("b{i}"), MIB, HOUR + i))
            .collect();
        assert_eq!(ids(policy.pick(blocks)), ["b0", "b1", "b2"]);
    }

    #[test]
    fn a_merge_takes_only_as_many_blocks_as_fit_its_memory_budget_decoded() {
        // One tier for every size here, so that only the budget decides.
        let policy = MaintenancePolicy {
            compact_eager_below_bytes: u64::MAX / 2,
            ..MaintenancePolicy::default()
        };
        let budget = policy.compact_max_input_bytes;
        let stored = |decoded: u64| decoded / DECODED_PER_STORED_BYTE;
        // Small blocks of a third of the budget each: three fit, the fourth waits.
        let blocks: Vec<_> = (0..4)
            .map(|i| block(&format!("third-{i}"), stored(budget / 3), HOUR + i))
            .collect();
        assert_eq!(ids(policy.pick(blocks)), ["third-0", "third-1", "third-2"]);
        // Two that do not fit together are not merged, and one as large as the budget on its
        // own is never an input.
        let apart = vec![
            block("big-a", stored(budget * 3 / 5), HOUR),
            block("big-b", stored(budget * 3 / 5), HOUR + 1),
            block("whole", stored(budget), HOUR + 2),
        ];
        assert_eq!(ids(policy.pick(apart)), Vec::<String>::new());
    }
}
