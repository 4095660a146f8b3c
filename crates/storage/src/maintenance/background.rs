//! A thread of its own, at the lowest scheduling priority, for compaction's heavy work.
//!
//! Compaction decodes its input blocks and encodes the merged one: seconds of CPU for a few
//! hundred thousand spans. On a small machine that time would otherwise come out of ingest
//! (on two cores at 50k X-Ray documents/s, queues overflowed while a compaction ran). At nice
//! 19 the kernel gives it only what ingest and cuts leave idle; compaction is an optimization
//! and can wait, and cuts, which free the head and the WAL, keep their normal priority.

use crate::StorageError;

/// Runs `work` on a new low-priority thread and waits for its answer without blocking the
/// caller's runtime. `work` gets a single-threaded runtime of its own for any I/O it needs.
pub(crate) async fn at_low_priority<T, F>(name: &str, work: F) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: FnOnce(&tokio::runtime::Runtime) -> Result<T, StorageError> + Send + 'static,
{
    let (answer, answered) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            lower_this_threads_priority();
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
fn lower_this_threads_priority() {
    // Linux keeps the nice value per thread: `who = 0` with PRIO_PROCESS is this thread only.
    // SAFETY: setpriority reads no memory of ours; its only effect is this thread's nice value.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
    if result != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower the compaction thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    #[allow(unsafe_code)]
    async fn work_runs_at_nice_19_and_its_answer_comes_back() {
        let nice = at_low_priority("combray-test", |runtime| {
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
            assert_eq!(nice, 19);
        }
        let failed =
            at_low_priority::<(), _>("combray-test", |_| Err(StorageError::Codec("no".into())))
                .await;
        assert!(failed.is_err());
    }
}
