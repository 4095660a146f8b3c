//! Runtimes of the read path's own. Reads keep threads busy for long stretches (DataFusion's
//! operators, decoding and assembling thousands of spans, X-Ray's summaries); on threads of
//! their own they cannot starve ingest or the API's reactor, and a caller's timer, which runs
//! elsewhere, always fires.

use crate::QueryError;

/// A multi-threaded Tokio runtime that can be dropped anywhere (its tasks are abandoned rather
/// than awaited, which an async context would forbid).
pub struct Threads(Option<tokio::runtime::Runtime>);

impl Threads {
    /// `count` worker threads named `name`, each running `on_start` first.
    pub fn new(name: &str, count: usize, on_start: fn()) -> Result<Self, QueryError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(count.max(1))
            .thread_name(name)
            .on_thread_start(on_start)
            .enable_all()
            .build()
            .map_err(|e| QueryError::Engine(format!("cannot start the {name} threads: {e}")))?;
        Ok(Self(Some(runtime)))
    }

    /// Where to spawn work onto these threads.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("present until dropped").handle()
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
