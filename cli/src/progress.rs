//! Progress bars on stderr for the long-running commands. indicatif draws nothing when
//! stderr is not a terminal, so scripts and `--json` output stay clean.

use std::time::Instant;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

/// A transfer's bar: over its bytes when their number is known, else over its time.
#[derive(Debug)]
pub(crate) struct TransferBar {
    bar: ProgressBar,
    /// Set for a bar over time: when the run started (the bar's unit is milliseconds).
    timed_from: Option<Instant>,
}

impl TransferBar {
    /// A bar over `total` bytes, or over the time until `deadline` when no byte count is
    /// set; hidden when not `enabled`.
    pub(crate) fn new(enabled: bool, total: Option<u64>, deadline: Option<Instant>) -> Self {
        let now = Instant::now();
        let (bar, timed_from) = match (enabled, total, deadline) {
            (false, ..) => (ProgressBar::hidden(), None),
            (true, Some(total), _) => (bytes_bar(total), None),
            (true, None, Some(deadline)) => {
                let ms = u64::try_from(deadline.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX);
                let bar = ProgressBar::new(ms);
                bar.set_style(style("[{bar:30}] {elapsed} of {duration} {msg}"));
                (bar, Some(now))
            }
            (true, None, None) => (ProgressBar::new_spinner(), Some(now)),
        };
        TransferBar { bar, timed_from }
    }

    /// Shows `bytes` done.
    pub(crate) fn update(&self, bytes: u64) {
        match self.timed_from {
            None => self.bar.set_position(bytes),
            Some(start) => {
                self.bar.set_position(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX));
                self.bar.set_message(format!("{} sent", HumanBytes(bytes)));
            }
        }
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A bar over `total` bytes with rate and time left.
pub(crate) fn bytes_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(style("[{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}"));
    bar
}

/// A bar over `len` steps with a message.
pub(crate) fn steps_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(style("[{bar:30}] {pos}/{len} {msg}"));
    bar
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}
