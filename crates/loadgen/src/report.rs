//! What a load run measured.

use std::collections::BTreeMap;
use std::time::Duration;

/// Results of one worker, merged into the run's report.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) requests: u64,
    pub(crate) spans_sent: u64,
    pub(crate) spans_acked: u64,
    pub(crate) latencies_micros: Vec<u32>,
    /// HTTP status (or "connection") → requests.
    pub(crate) rejections: BTreeMap<String, u64>,
}

impl Tally {
    pub(crate) fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        self.spans_sent += other.spans_sent;
        self.spans_acked += other.spans_acked;
        self.latencies_micros.extend(other.latencies_micros);
        for (reason, count) in other.rejections {
            *self.rejections.entry(reason).or_default() += count;
        }
    }

    fn percentile_ms(sorted: &[u32], quantile: f64) -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let index = ((sorted.len() as f64 - 1.0) * quantile).round() as usize;
        f64::from(sorted[index]) / 1000.0
    }

    /// The report as JSON.
    pub(crate) fn report(mut self, elapsed: Duration) -> serde_json::Value {
        self.latencies_micros.sort_unstable();
        let seconds = elapsed.as_secs_f64().max(1e-9);
        serde_json::json!({
            "elapsed_seconds": seconds,
            "requests": self.requests,
            "spans_sent": self.spans_sent,
            "spans_acked": self.spans_acked,
            "spans_per_second_acked": self.spans_acked as f64 / seconds,
            "ack_latency_ms": {
                "p50": Self::percentile_ms(&self.latencies_micros, 0.50),
                "p99": Self::percentile_ms(&self.latencies_micros, 0.99),
                "max": Self::percentile_ms(&self.latencies_micros, 1.0),
            },
            "rejections": self.rejections,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_acknowledged_requests() {
        let tally = Tally {
            latencies_micros: (1..=100).map(|ms| ms * 1000).collect(),
            spans_acked: 500,
            ..Default::default()
        };
        let report = tally.report(Duration::from_secs(2));
        assert_eq!(report["ack_latency_ms"]["p50"], 51.0);
        assert_eq!(report["ack_latency_ms"]["p99"], 99.0);
        assert_eq!(report["spans_per_second_acked"], 250.0);
    }
}
