//! Transfer counters and the optional progress bar, shared by all tasks of a command.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Counters for the end-of-command summary.
#[derive(Debug)]
pub struct Stats {
    started: Instant,
    /// Files transferred.
    pub files: AtomicU64,
    /// Bytes transferred.
    pub bytes: AtomicU64,
    /// Files checked and found identical.
    pub checks: AtomicU64,
    /// Files deleted (trashed).
    pub deletes: AtomicU64,
    /// Errors.
    pub errors: AtomicU64,
    bar: Option<indicatif::ProgressBar>,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new(false)
    }
}

impl Stats {
    /// New counters; `progress` shows a bar with rate and ETA on stderr.
    pub fn new(progress: bool) -> Self {
        let bar = progress.then(|| {
            let bar = indicatif::ProgressBar::new(0);
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Self {
            started: Instant::now(),
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            checks: AtomicU64::new(0),
            deletes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            bar,
        }
    }

    /// Announce `bytes` more to transfer.
    pub fn expect(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc_length(bytes);
        }
    }

    /// Count bytes moved.
    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Take back bytes of an attempt that will be repeated.
    pub fn undo_bytes(&self, n: u64) {
        self.bytes
            .fetch_sub(n.min(self.bytes.load(Ordering::Relaxed)), Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_position(bar.position().saturating_sub(n));
        }
    }

    /// Show what is happening now.
    pub fn message(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
    }

    /// Count one more of a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Stop the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// The rclone-style summary block; `retries` is the remote's one retry counter
    /// ([`crate::pacer::Pacer::retries`], fed by every retry loop).
    pub fn summary(&self, retries: u64) -> String {
        let elapsed = self.started.elapsed();
        let bytes = self.bytes.load(Ordering::Relaxed);
        let rate = bytes as f64 / elapsed.as_secs_f64().max(0.001);
        format!(
            "Transferred:   \t{} ({}/s)\nFiles:         \t{}\nChecks:        \t{}\nDeleted:       \t{}\nRetries:       \t{}\nErrors:        \t{}\nElapsed time:  \t{:.1}s",
            bytesize::ByteSize(bytes).display().iec(),
            bytesize::ByteSize(rate as u64).display().iec(),
            self.files.load(Ordering::Relaxed),
            self.checks.load(Ordering::Relaxed),
            self.deletes.load(Ordering::Relaxed),
            retries,
            self.errors.load(Ordering::Relaxed),
            elapsed.as_secs_f64()
        )
    }
}
