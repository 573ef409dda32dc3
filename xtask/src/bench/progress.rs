//! Progress of a long workload on stderr with `indicatif` (drawn only when
//! stderr is a terminal, and cleared before the result line is printed on
//! stdout). Threads update it in steps so it costs next to nothing per
//! operation.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Operations a thread counts locally before it moves the bar.
pub const STEP: u64 = 4096;

/// A progress bar for one workload of one engine.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar for `total` operations (0 for a spinner), labelled `label`;
    /// hidden unless `visible` and stderr is a terminal.
    pub fn new(label: &str, total: u64, visible: bool) -> Progress {
        let target = if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let bar = ProgressBar::with_draw_target((total > 0).then_some(total), target);
        let template = if total > 0 {
            "{prefix:>24} [{bar:30}] {human_pos}/{human_len} ops {per_sec} eta {eta}"
        } else {
            "{prefix:>24} {spinner} {elapsed}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_string());
        if total == 0 {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress { bar }
    }

    /// Counts `ops` more operations.
    pub fn advance(&self, ops: u64) {
        self.bar.inc(ops);
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A thread's counter that moves the shared bar every [`STEP`] operations.
pub struct ProgressCounter<'a> {
    progress: &'a Progress,
    pending: u64,
}

impl<'a> ProgressCounter<'a> {
    /// A counter feeding `progress`.
    pub fn new(progress: &'a Progress) -> ProgressCounter<'a> {
        ProgressCounter { progress, pending: 0 }
    }

    /// Counts `ops` operations.
    pub fn add(&mut self, ops: u64) {
        self.pending += ops;
        if self.pending >= STEP {
            self.progress.advance(self.pending);
            self.pending = 0;
        }
    }
}

impl Drop for ProgressCounter<'_> {
    fn drop(&mut self) {
        self.progress.advance(self.pending);
    }
}
