//! Progress on the operator's terminal for long CLI work: bars for counted work (blocks, WAL
//! segments) and a spinner for waits of unknown length (a SQL query). Everything draws on
//! stderr, and only when stderr is a terminal, so piped output stays clean.

use std::future::Future;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A wait shorter than this shows nothing: a spinner that flashes for a fast query is noise.
const SPINNER_DELAY: Duration = Duration::from_secs(1);

/// A bar counting `unit`s, with its rate and time left.
pub(crate) fn progress_bar(unit: &'static str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let template =
        format!("{{spinner}} {{pos}}/{{len}} {unit} [{{bar:30}}] {{elapsed}} (eta {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Reports `(done, total)` to the bar.
pub(crate) fn advance(bar: &ProgressBar) -> impl Fn(usize, usize) + Send + Sync + '_ {
    move |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    }
}

/// Awaits `work`; once it has taken longer than a second, a spinner with `message` and the time
/// waited so far shows until it ends.
pub(crate) async fn with_spinner<T>(message: &'static str, work: impl Future<Output = T>) -> T {
    let mut work = std::pin::pin!(work);
    tokio::select! {
        done = &mut work => return done,
        () = tokio::time::sleep(SPINNER_DELAY) => {}
    }
    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        spinner.set_style(style);
    }
    spinner.set_message(message);
    spinner.enable_steady_tick(Duration::from_millis(120));
    let done = work.await;
    spinner.finish_and_clear();
    done
}
