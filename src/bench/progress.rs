//! Waiting out the timed load, with a progress bar when someone watches.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::thread;
use std::time::{Duration, Instant};

/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(100);

/// Sleeps for `duration` from `start`, drawing a bar on stderr if stderr is
/// a terminal (never on a pipe or file, so scripted runs stay clean).
pub fn wait(start: Instant, duration: Duration, label: &str) {
    let bar = std::io::stderr().is_terminal().then(|| {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let bar = ProgressBar::with_draw_target(Some(millis), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ms")
                .expect("a constant, valid template")
                .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        bar
    });
    let deadline = start + duration;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if let Some(bar) = &bar {
            bar.set_position(u64::try_from((now - start).as_millis()).unwrap_or(u64::MAX));
        }
        thread::sleep((deadline - now).min(TICK));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
