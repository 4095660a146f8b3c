//! The progress line of a run: elapsed time against `--duration`, and what has been sent and
//! acknowledged so far. Drawn on stderr only when stderr is a terminal (indicatif hides it
//! otherwise), so piped output and the JSON report on stdout stay clean.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the line is redrawn.
const TICK: Duration = Duration::from_millis(250);

/// Counts the senders add to as they go; the progress line reads them.
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) sent: AtomicU64,
    pub(crate) acked: AtomicU64,
}

/// A progress line redrawn by its own thread until [`Progress::finish`] (or drop).
pub(crate) struct Progress {
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing. `unit` names what is counted ("spans", "documents"); `acked` says
    /// whether the protocol acknowledges (UDP does not, so only sends are shown).
    pub(crate) fn start(
        unit: &'static str,
        duration: Duration,
        counts: Arc<Counts>,
        acked: bool,
    ) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(duration.as_secs().max(1)),
            ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} s  {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("loadgen-progress".into())
                .spawn(move || draw_until(&bar, &stop, &counts, unit, acked))
                .ok()
        };
        Self { stop, ticker }
    }

    /// Clears the line, so the report that follows starts on a clean terminal.
    pub(crate) fn finish(mut self) {
        self.stop_ticker();
    }

    fn stop_ticker(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop_ticker();
    }
}

fn draw_until(bar: &ProgressBar, stop: &AtomicBool, counts: &Counts, unit: &str, acked: bool) {
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let sent = counts.sent.load(Ordering::Relaxed);
        let seconds = started.elapsed().as_secs_f64().max(1e-3);
        let mut message = format!("{sent} {unit} sent ({:.0}/s)", sent as f64 / seconds);
        if acked {
            let acked = counts.acked.load(Ordering::Relaxed);
            message.push_str(&format!(", {acked} acknowledged"));
        }
        bar.set_position(started.elapsed().as_secs());
        bar.set_message(message);
        bar.tick();
        std::thread::sleep(TICK);
    }
    bar.finish_and_clear();
}
