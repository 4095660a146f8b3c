//! Threads of their own, at a lower scheduling priority, for the heavy work that can wait.
//!
//! UDP cannot push back: a datagram that finds the receive queue full is lost. So on a small
//! machine the receive, parse and write path must win the CPU over work that only has to keep
//! up on average. Cuts (sort, widen, Parquet: seconds of CPU for a few hundred thousand spans)
//! run at [`CUT_NICE`] (normal priority once the head is a quarter full, see [`cut_nice`]): they
//! free the head and the WAL, so they still get a good share, and a head that grows for a few
//! seconds costs memory, not data. Compaction is an optimization and runs at
//! [`COMPACTION_NICE`], taking only what ingest and cuts leave idle, and stops between row groups
//! while cuts are behind ([`compaction_gives_way`]). (On two cores at 50k X-Ray documents/s,
//! queues overflowed while a compaction ran at normal priority.)

use crate::StorageError;

/// Nice value of cut threads: a quarter of the weight of normal threads under contention.
pub(crate) const CUT_NICE: i32 = 6;
/// Nice value of compaction threads: the lowest priority.
pub(crate) const COMPACTION_NICE: i32 = 19;

/// The nice value of a cut that starts with the head holding `head_bytes` of at most
/// `max_head_bytes`. Past a quarter of the limit the cuts are falling behind, and a full head
/// refuses every append, which loses more than a cut competing with ingest as an equal does.
/// (A 10-minute run at 50k X-Ray documents/s on two cores filled the 4 GiB head in under four
/// minutes with cuts at nice 6, then dropped every document for seven seconds.)
pub(crate) fn cut_nice(head_bytes: usize, max_head_bytes: usize) -> i32 {
    if head_bytes < max_head_bytes / 4 {
        CUT_NICE
    } else {
        0
    }
}

/// Whether a compaction should stop where it is and wait, asked while a cut runs (with none
/// running, nothing would shrink the head): the head holds an eighth of its limit, so cuts are
/// behind, and even at nice 19 a compaction takes a large share of an idle
/// moment's CPU from them. (At 50k X-Ray documents/s on two cores, compactions took ~70% as
/// much CPU as the cuts, and the head filled in five minutes.) A compaction that waits costs
/// more blocks for a while; a cut that falls behind fills the head, which then refuses data.
pub(crate) fn compaction_gives_way(head_bytes: usize, max_head_bytes: usize) -> bool {
    head_bytes >= max_head_bytes / 8
}

/// Runs `work` on a new thread at `nice` and waits for its answer without blocking the caller's
/// runtime. `work` gets a single-threaded runtime of its own for any I/O it needs.
pub(crate) async fn on_thread_at_nice<T, F>(
    name: &str,
    nice: i32,
    work: F,
) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: FnOnce(&tokio::runtime::Runtime) -> Result<T, StorageError> + Send + 'static,
{
    let (answer, answered) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            set_this_threads_nice(nice);
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| StorageError::Codec(format!("cannot start a runtime: {e}")))
                .and_then(|runtime| work(&runtime));
            let _ = answer.send(outcome);
        })
        .map_err(|e| StorageError::Codec(format!("cannot start a thread: {e}")))?;
    answered
        .await
        .map_err(|_| StorageError::Codec(format!("{name} stopped without an answer")))?
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_this_threads_nice(nice: i32) {
    // Linux keeps the nice value per thread: `who = 0` with PRIO_PROCESS is this thread only.
    // SAFETY: setpriority reads no memory of ours; its only effect is this thread's nice value.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if result != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot set a background thread's nice value");
    }
}

#[cfg(not(target_os = "linux"))]
fn set_this_threads_nice(_nice: i32) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_waits_while_the_head_is_an_eighth_full() {
        assert!(!compaction_gives_way(0, 4096));
        assert!(!compaction_gives_way(511, 4096));
        assert!(compaction_gives_way(512, 4096));
    }

    #[test]
    fn cuts_compete_as_equals_once_the_head_is_a_quarter_full() {
        assert_eq!(cut_nice(0, 4096), CUT_NICE);
        assert_eq!(cut_nice(1023, 4096), CUT_NICE);
        assert_eq!(cut_nice(1024, 4096), 0);
        assert_eq!(cut_nice(5000, 4096), 0);
    }

    #[tokio::test]
    #[allow(unsafe_code)]
    async fn work_runs_at_the_nice_value_asked_and_its_answer_comes_back() {
        for wanted in [CUT_NICE, COMPACTION_NICE] {
            let nice = on_thread_at_nice("combray-test", wanted, |runtime| {
                let slept = runtime.block_on(async {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    true
                });
                assert!(slept);
                // SAFETY: getpriority only reads this thread's nice value.
                Ok(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) })
            })
            .await
            .unwrap();
            if cfg!(target_os = "linux") {
                assert_eq!(nice, wanted);
            }
        }
        let failed = on_thread_at_nice::<(), _>("combray-test", CUT_NICE, |_| {
            Err(StorageError::Codec("no".into()))
        })
        .await;
        assert!(failed.is_err());
    }
}
