//! Where reads run, and the cost limit every read on the API port runs under: at most
//! `--max-concurrent-reads` at once (more are answered 503 at once, rather than queueing), and
//! one deadline per request (`--query-timeout-seconds`; past it, 422). A read keeps its place
//! until its work really ends, so a read that ran past its deadline still counts against the
//! limit and abandoned work cannot pile up.
//!
//! Reads are async end to end and run on threads of their own (`combray-read`), apart from the
//! reactor that accepts ingest and from the blocking pool ingest decodes on: a read that
//! assembles thousands of spans keeps a read thread busy, never an ingest one. DataFusion's
//! part of a read hops on to the SQL engine's own threads, where its memory is counted.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use combray_query::threads::Threads;
use tokio::sync::Semaphore;

/// Why a read did not run to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReadRefused {
    /// Every place is taken.
    #[error("Combray is answering {0} reads already; retry shortly")]
    Busy(usize),
    /// The deadline passed.
    #[error("the read ran longer than its limit of {0} s; narrow the time range or the filter")]
    TimedOut(u64),
}

/// The cost limit of reads an operator sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadLimits {
    /// Reads that may run at once; more are refused.
    pub max_concurrent: usize,
    /// Wall time of one read.
    pub timeout: Duration,
}

impl Default for ReadLimits {
    /// Sixteen reads keep a few cores busy without letting a burst of searches queue up memory;
    /// 30 s is as long as a person waits for a page.
    fn default() -> Self {
        Self {
            max_concurrent: 16,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Places for reads, their deadline, and the threads they run on.
#[derive(Clone)]
pub(crate) struct ReadGate {
    places: Arc<Semaphore>,
    limit: usize,
    timeout: Duration,
    threads: Arc<Threads>,
}

impl ReadGate {
    /// A gate within `limits`, over a read thread per core.
    pub(crate) fn new(limits: ReadLimits) -> Result<Self, combray_query::QueryError> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let limit = limits.max_concurrent.max(1);
        Ok(Self {
            places: Arc::new(Semaphore::new(limit)),
            limit,
            timeout: limits.timeout,
            threads: Arc::new(Threads::new("combray-read", cores, || {})?),
        })
    }

    /// Runs `work` on the read threads in a place of its own, within the deadline. The work's
    /// panic unwinds on (to the port's panic catcher).
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, ReadRefused> {
        let place = Arc::clone(&self.places)
            .try_acquire_owned()
            .map_err(|_| ReadRefused::Busy(self.limit))?;
        let task = self.threads.handle().spawn(async move {
            let outcome = work.await;
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
        let gate = ReadGate::new(ReadLimits {
            max_concurrent: 1,
            timeout: Duration::from_millis(100),
        })
        .unwrap();
        assert_eq!(gate.run(async { 7 }).await, Ok(7));
        // A read that keeps its thread busy (as decoding does) past the deadline.
        let slow = gate.run(async { std::thread::sleep(Duration::from_millis(600)) });
        assert_eq!(slow.await, Err(ReadRefused::TimedOut(1)));
        // The timed-out work still runs, so its place is still taken.
        assert_eq!(gate.run(async { 8 }).await, Err(ReadRefused::Busy(1)));
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(gate.run(async { 9 }).await, Ok(9));
        let on = gate.run(async { std::thread::current().name().map(str::to_owned) });
        assert_eq!(
            on.await,
            Ok(Some("combray-read".to_owned())),
            "reads run on read threads"
        );
    }
}
