//! The cost limit every read on the API port runs under: at most `--max-concurrent-reads` at
//! once (more are answered 503 at once, rather than queueing on the blocking threads ingest also
//! decodes on), and one deadline per request (`--query-timeout-seconds`; past it, 422). A read
//! keeps its place until its work really ends, so a read that ran past its deadline still counts
//! against the limit and abandoned work cannot pile up.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// Why a read did not run to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadRefused {
    /// Every place is taken.
    #[error("Combray is answering {0} reads already; retry shortly")]
    Busy(usize),
    /// The deadline passed.
    #[error("the read ran longer than its limit of {0} s; narrow the time range or the filter")]
    TimedOut(u64),
}

/// Places for reads, and their deadline.
#[derive(Clone)]
pub struct ReadGate {
    places: Arc<Semaphore>,
    limit: usize,
    timeout: Duration,
}

impl ReadGate {
    /// A gate of `limit` places and a `timeout` per read.
    pub fn new(limit: usize, timeout: Duration) -> Self {
        Self {
            places: Arc::new(Semaphore::new(limit.max(1))),
            limit: limit.max(1),
            timeout,
        }
    }

    /// Runs `work` on the blocking pool in a place of its own, within the deadline. The work's
    /// panic unwinds on (to the port's panic catcher).
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ReadRefused> {
        let place = Arc::clone(&self.places)
            .try_acquire_owned()
            .map_err(|_| ReadRefused::Busy(self.limit))?;
        let task = tokio::task::spawn_blocking(move || {
            let outcome = work();
            drop(place);
            outcome
        });
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Ok(Err(_)) | Err(_) => Err(ReadRefused::TimedOut(self.timeout.as_secs().max(1))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_past_the_limit_are_refused_and_slow_ones_time_out_holding_their_place() {
        let gate = ReadGate::new(1, Duration::from_millis(100));
        assert_eq!(gate.run(|| 7).await, Ok(7));
        let slow = gate.run(|| std::thread::sleep(Duration::from_millis(600)));
        assert_eq!(slow.await, Err(ReadRefused::TimedOut(1)));
        // The timed-out work still runs, so its place is still taken.
        assert_eq!(gate.run(|| 8).await, Err(ReadRefused::Busy(1)));
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(gate.run(|| 9).await, Ok(9));
    }
}
