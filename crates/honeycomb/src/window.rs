//! The time a query covers and its time-series buckets.

use crate::error::{HoneycombError, HoneycombResult};
use crate::spec::{QuerySpec, DEFAULT_TIME_RANGE};

/// The longest range a query may cover: seven days.
pub const MAX_RANGE_SECONDS: i64 = 7 * 86_400;

/// Bucket widths chosen when a query names none: the first that makes at most
/// [`AUTO_BUCKETS`] buckets.
const NICE_GRANULARITIES: [i64; 14] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
];
const AUTO_BUCKETS: i64 = 120;

/// `[start, end)` in Unix seconds, and the bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First second covered.
    pub start: i64,
    /// First second not covered.
    pub end: i64,
    /// Seconds per time-series bucket; buckets are aligned to multiples of it from the epoch.
    pub granularity: i64,
}

/// How Honeycomb's Query Data API rounds a range down: to the minute up to six hours, to five
/// minutes up to two days, to half an hour beyond.
fn truncation(range: i64) -> i64 {
    match range {
        r if r <= 6 * 3600 => 60,
        r if r <= 2 * 86_400 => 300,
        _ => 1800,
    }
}

/// `a / b` rounded up, for positive `b` and non-negative `a`.
fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1) / b
}

fn auto_granularity(range: i64) -> i64 {
    NICE_GRANULARITIES
        .into_iter()
        .find(|g| range / g <= AUTO_BUCKETS)
        .unwrap_or(ceil_div(range, AUTO_BUCKETS))
}

impl Window {
    /// The window `spec` asks for at `now` (Unix seconds). `truncate` rounds the start and end
    /// down as Honeycomb's Query Data API does.
    pub fn of(spec: &QuerySpec, now: i64, truncate: bool) -> HoneycombResult<Self> {
        let range = spec
            .time_range
            .map(|r| i64::try_from(r).unwrap_or(i64::MAX));
        if range == Some(0) {
            return Err(HoneycombError::invalid(
                "time_range",
                "must be at least 1 second",
            ));
        }
        let (start, end) = match (spec.start_time, spec.end_time, range) {
            (Some(_), Some(_), Some(_)) => {
                return Err(HoneycombError::invalid(
                    "time_range",
                    "specify at most two of time_range, start_time and end_time",
                ))
            }
            (Some(start), Some(end), None) => (start, end),
            (Some(start), None, range) => (
                start,
                start.saturating_add(range.unwrap_or(DEFAULT_TIME_RANGE as i64)),
            ),
            (None, Some(end), range) => (
                end.saturating_sub(range.unwrap_or(DEFAULT_TIME_RANGE as i64)),
                end,
            ),
            (None, None, range) => (now - range.unwrap_or(DEFAULT_TIME_RANGE as i64), now),
        };
        if start > end || start < 0 {
            return Err(HoneycombError::invalid(
                "start_time",
                "start_time must be a Unix time at or before end_time",
            ));
        }
        if end - start > MAX_RANGE_SECONDS {
            return Err(HoneycombError::BadRequest(
                "the query's time range is longer than 7 days".into(),
            ));
        }
        let (start, end) = if truncate {
            let unit = truncation(end - start);
            (start - start % unit, end - end % unit)
        } else {
            (start, end)
        };
        let range = (end - start).max(1);
        let granularity = match spec
            .granularity
            .map(|g| i64::try_from(g).unwrap_or(i64::MAX))
        {
            None | Some(0) => auto_granularity(range),
            Some(g) if g > range || g < ceil_div(range, 1000) => {
                return Err(HoneycombError::invalid(
                    "granularity",
                    format!(
                        "must be between time_range/1000 ({}) and time_range ({range}) seconds",
                        ceil_div(range, 1000)
                    ),
                ))
            }
            Some(g) => g,
        };
        Ok(Self {
            start,
            end,
            granularity,
        })
    }

    /// The start of every bucket that overlaps the window, in order.
    pub fn buckets(&self) -> impl Iterator<Item = i64> {
        let g = self.granularity;
        let first = self.start.div_euclid(g) * g;
        let end = self.end;
        (0..)
            .map(move |i| first + i * g)
            .take_while(move |t| *t < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(start: Option<i64>, end: Option<i64>, range: Option<u64>) -> QuerySpec {
        QuerySpec {
            start_time: start,
            end_time: end,
            time_range: range,
            ..QuerySpec::default()
        }
    }

    #[test]
    fn any_two_of_start_end_and_range_make_the_window_and_all_three_are_refused() {
        let now = 1_800_000_000;
        assert_eq!(
            Window::of(&spec(None, None, None), now, false)
                .unwrap()
                .start,
            now - 7200
        );
        let both = Window::of(&spec(Some(1000), Some(4600), None), now, false).unwrap();
        assert_eq!((both.start, both.end), (1000, 4600));
        let from = Window::of(&spec(Some(1000), None, Some(60)), now, false).unwrap();
        assert_eq!((from.start, from.end), (1000, 1060));
        let to = Window::of(&spec(None, Some(1000), Some(60)), now, false).unwrap();
        assert_eq!((to.start, to.end), (940, 1000));
        assert!(Window::of(&spec(Some(1), Some(2), Some(1)), now, false).is_err());
        assert!(Window::of(&spec(Some(5), Some(2), None), now, false).is_err());
        assert!(Window::of(&spec(None, None, Some(8 * 86_400)), now, false).is_err());
    }

    #[test]
    fn results_truncate_to_the_minute_up_to_six_hours_and_buckets_align_to_the_epoch() {
        let w = Window::of(&spec(Some(1030), Some(4650), None), 0, true).unwrap();
        assert_eq!((w.start, w.end), (1020, 4620));
        assert_eq!(w.granularity, 30, "3600 s in at most 120 buckets");
        let starts: Vec<i64> = w.buckets().collect();
        assert_eq!(starts.first(), Some(&1020));
        assert_eq!(starts.len(), 120);
        let bad = QuerySpec {
            granularity: Some(2),
            ..spec(Some(0), Some(3600), None)
        };
        assert!(Window::of(&bad, 0, false).is_err(), "under range/1000");
    }
}
