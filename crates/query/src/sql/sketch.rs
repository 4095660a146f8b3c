//! A log-bucketed histogram of numbers: the sketch behind Combray's `P99`-style percentiles.
//!
//! A positive value's bucket is the top 18 bits of its IEEE-754 encoding: the exponent and the
//! first 7 mantissa bits, so every power of two is split into 128 buckets. That makes bucketing a
//! shift (no logarithm), keeps buckets ordered like the values, and bounds the error of a
//! bucket's representative (its midpoint) to 1/257 of the value (0.39%) at any magnitude.
//! Negative values are bucketed by magnitude in a second histogram; zeros are counted apart.
//! Minimum and maximum are kept exactly, so `P0`, `P100` and a one-value group are exact.
//!
//! Sketches merge by adding counts, which is what lets DataFusion aggregate partitions apart and
//! combine them (the state is [`LogSketch::encode`]).

/// Bits of a `f64` below the bucket key: 52 mantissa bits minus the 7 that are kept.
const DROPPED_BITS: u32 = 45;

/// Counts over a contiguous range of bucket keys, grown on demand.
#[derive(Debug, Clone, Default, PartialEq)]
struct Buckets {
    first_key: u32,
    counts: Vec<u64>,
}

impl Buckets {
    #[inline]
    fn add(&mut self, key: u32, count: u64) {
        // The common case first: a key inside the range already held.
        if let Some(slot) = key
            .checked_sub(self.first_key)
            .and_then(|index| self.counts.get_mut(index as usize))
        {
            *slot += count;
            return;
        }
        self.add_outside(key, count);
    }

    fn add_outside(&mut self, key: u32, count: u64) {
        if self.counts.is_empty() {
            self.first_key = key;
            self.counts.push(count);
            return;
        }
        if key < self.first_key {
            let missing = (self.first_key - key) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, missing));
            self.first_key = key;
        }
        let index = (key - self.first_key) as usize;
        if index >= self.counts.len() {
            self.counts.resize(index + 1, 0);
        }
        self.counts[index] += count;
    }

    fn merge(&mut self, other: &Buckets) {
        for (offset, &count) in other.counts.iter().enumerate() {
            if count > 0 {
                self.add(other.first_key + offset as u32, count);
            }
        }
    }

    /// (key, count) pairs from the smallest key up.
    fn ascending(&self) -> impl DoubleEndedIterator<Item = (u32, u64)> + '_ {
        let first = self.first_key;
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &count)| count > 0)
            .map(move |(offset, &count)| (first + offset as u32, count))
    }

    fn heap_bytes(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<u64>()
    }
}

/// The sketch of one group's values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogSketch {
    count: u64,
    min: f64,
    max: f64,
    zeros: u64,
    positive: Buckets,
    negative: Buckets,
}

impl Default for LogSketch {
    fn default() -> Self {
        Self {
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            zeros: 0,
            positive: Buckets::default(),
            negative: Buckets::default(),
        }
    }
}

fn key_of(magnitude: f64) -> u32 {
    (magnitude.to_bits() >> DROPPED_BITS) as u32
}

/// The middle of a bucket, in value space.
fn representative(key: u32) -> f64 {
    let low = f64::from_bits(u64::from(key) << DROPPED_BITS);
    let high = f64::from_bits(u64::from(key + 1) << DROPPED_BITS);
    if high.is_finite() {
        low + (high - low) / 2.0
    } else {
        low
    }
}

impl LogSketch {
    /// Counts one value; NaN is not a number to rank and is skipped.
    #[cfg(test)]
    pub(crate) fn add(&mut self, value: f64) {
        self.add_weighted(value, 1);
    }

    /// Counts one value as `weight` values (a sampled span stands for its sample rate's worth
    /// of spans); NaN, and a weight of 0, are skipped.
    #[inline]
    pub(crate) fn add_weighted(&mut self, value: f64, weight: u64) {
        if value.is_nan() || weight == 0 {
            return;
        }
        self.count += weight;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value > 0.0 {
            self.positive.add(key_of(value), weight);
        } else if value < 0.0 {
            self.negative.add(key_of(-value), weight);
        } else {
            self.zeros += weight;
        }
    }

    /// Adds another sketch's values to this one.
    pub(crate) fn merge(&mut self, other: &LogSketch) {
        if other.count == 0 {
            return;
        }
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.zeros += other.zeros;
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
    }

    /// The value at `fraction` (0 to 1) of the ranked values, by nearest rank; `None` when the
    /// sketch holds no value.
    pub(crate) fn quantile(&self, fraction: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        if fraction <= 0.0 {
            return Some(self.min);
        }
        if fraction >= 1.0 {
            return Some(self.max);
        }
        let rank = ((fraction * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank == 1 {
            return Some(self.min);
        }
        if rank == self.count {
            return Some(self.max);
        }
        let mut seen = 0;
        // From the most negative value up: negative magnitudes descending, zeros, positives.
        for (key, count) in self.negative.ascending().rev() {
            seen += count;
            if seen >= rank {
                return Some(self.clamp(-representative(key)));
            }
        }
        seen += self.zeros;
        if seen >= rank {
            return Some(self.clamp(0.0));
        }
        for (key, count) in self.positive.ascending() {
            seen += count;
            if seen >= rank {
                return Some(self.clamp(representative(key)));
            }
        }
        Some(self.max)
    }

    fn clamp(&self, value: f64) -> f64 {
        value.clamp(self.min, self.max)
    }

    /// Heap memory held, for the query memory pool.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.positive.heap_bytes() + self.negative.heap_bytes()
    }

    /// The sketch as bytes, for moving partial aggregates between partitions: count, min, max,
    /// zeros, then each histogram as first key, length and counts, all little-endian.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + 8 * (self.positive.counts.len()));
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.min.to_le_bytes());
        out.extend_from_slice(&self.max.to_le_bytes());
        out.extend_from_slice(&self.zeros.to_le_bytes());
        for buckets in [&self.positive, &self.negative] {
            out.extend_from_slice(&buckets.first_key.to_le_bytes());
            out.extend_from_slice(&(buckets.counts.len() as u32).to_le_bytes());
            for count in &buckets.counts {
                out.extend_from_slice(&count.to_le_bytes());
            }
        }
        out
    }

    /// Reads [`LogSketch::encode`]'s bytes; `None` if they are not such bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Option<LogSketch> {
        let mut reader = Reader(bytes);
        let mut sketch = LogSketch {
            count: reader.u64()?,
            min: f64::from_bits(reader.u64()?),
            max: f64::from_bits(reader.u64()?),
            zeros: reader.u64()?,
            ..LogSketch::default()
        };
        for buckets in [&mut sketch.positive, &mut sketch.negative] {
            buckets.first_key = reader.u32()?;
            let len = reader.u32()? as usize;
            if reader.0.len() < len * 8 {
                return None;
            }
            buckets.counts = (0..len).map(|_| reader.u64()).collect::<Option<_>>()?;
        }
        reader.0.is_empty().then_some(sketch)
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take::<8>().map(u64::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(sorted: &[f64], fraction: f64) -> f64 {
        let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    fn sketch_of(values: &[f64]) -> LogSketch {
        let mut sketch = LogSketch::default();
        values.iter().for_each(|&v| sketch.add(v));
        sketch
    }

    /// A deterministic spread over nine orders of magnitude, signs mixed, zeros included.
    fn spread(n: usize) -> Vec<f64> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let magnitude = 10f64.powf((state % 9_000) as f64 / 1_000.0);
                match i % 10 {
                    0 => 0.0,
                    1 | 2 => -magnitude,
                    _ => magnitude,
                }
            })
            .collect()
    }

    #[test]
    fn every_percentile_is_within_the_bucket_error_of_the_exact_one() {
        let values = spread(50_000);
        let sketch = sketch_of(&values);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for fraction in [0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999] {
            let expected = exact(&sorted, fraction);
            let got = sketch.quantile(fraction).unwrap();
            let error = (got - expected).abs() / expected.abs().max(f64::MIN_POSITIVE);
            assert!(
                error <= 1.0 / 256.0 + 1e-12,
                "p{fraction}: {got} vs exact {expected}"
            );
        }
        assert_eq!(sketch.quantile(0.0), Some(sorted[0]));
        assert_eq!(sketch.quantile(1.0), Some(sorted[sorted.len() - 1]));
    }

    #[test]
    fn merged_sketches_equal_one_sketch_of_all_values() {
        let values = spread(10_000);
        let (left, right) = values.split_at(3_333);
        let mut merged = sketch_of(right);
        merged.merge(&sketch_of(left));
        assert_eq!(merged, sketch_of(&values));
    }

    #[test]
    fn encoding_round_trips_and_rejects_truncation() {
        let sketch = sketch_of(&spread(1_000));
        let bytes = sketch.encode();
        assert_eq!(LogSketch::decode(&bytes), Some(sketch));
        assert_eq!(LogSketch::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(LogSketch::decode(&[]), None);
        assert_eq!(
            LogSketch::decode(&LogSketch::default().encode()),
            Some(LogSketch::default())
        );
    }

    #[test]
    fn small_groups_are_exact_and_nan_is_skipped() {
        let sketch = sketch_of(&[f64::NAN, 42.0]);
        assert_eq!(sketch.quantile(0.99), Some(42.0));
        assert_eq!(LogSketch::default().quantile(0.5), None);
        let two = sketch_of(&[1.0, 1_000.0]);
        assert_eq!(two.quantile(0.5), Some(1.0));
        assert_eq!(two.quantile(0.51), Some(1_000.0));
    }
}
