//! What the user sees on stderr while a push runs: one line per image and per tag when stderr
//! is not a terminal, a live bar with the rate and the time left when it is (indicatif),
//! nothing with `--quiet`. Every message passes through [`escape_controls`] here, the one
//! place this channel writes text.

use crate::boundary::terminal::escape_controls;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The live bar: what is being copied, bytes so far of the total, the rate and the time left.
const LIVE_TEMPLATE: &str =
    "{msg} [{bar:24}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Quiet,
    Lines,
    Live,
}

/// Counters and messages of one push; safe to share between transfer tasks.
pub struct Progress {
    mode: Mode,
    bar: ProgressBar,
    images: AtomicU64,
    total_blobs: AtomicU64,
    done_blobs: AtomicU64,
    out: Mutex<()>,
    /// What the live bar says is happening (`Copying`, `Checking`).
    action: &'static str,
}

impl Progress {
    /// The display for stderr as it is: live on a terminal, lines otherwise, or nothing.
    pub fn new(quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Live
        } else {
            Mode::Lines
        };
        let bar = match mode {
            Mode::Live => {
                let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(LIVE_TEMPLATE)
                        .expect("the template is valid")
                        .progress_chars("=> "),
                );
                bar
            }
            _ => ProgressBar::hidden(),
        };
        Self {
            mode,
            bar,
            images: AtomicU64::new(0),
            total_blobs: AtomicU64::new(0),
            done_blobs: AtomicU64::new(0),
            out: Mutex::new(()),
            action: "Copying",
        }
    }

    /// The same display for another action than a copy (`Checking` for `verify --deep`).
    pub fn doing(self, action: &'static str) -> Self {
        Self { action, ..self }
    }

    /// A line of the log, shown only when stderr is not a terminal.
    pub(crate) fn line(&self, message: &str) {
        if self.mode == Mode::Lines {
            let _guard = self.out.lock();
            let _ = writeln!(std::io::stderr(), "{}", escape_controls(message));
        }
    }

    /// A message shown in every mode but quiet (above the live bar on a terminal).
    pub fn note(&self, message: &str) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Lines => self.line(message),
            Mode::Live => self.bar.println(escape_controls(message)),
        }
    }

    /// What the push will move: images, blobs, and the bytes of all those blobs.
    pub(crate) fn set_totals(&self, images: u64, blobs: u64, bytes: u64) {
        self.images.store(images, Ordering::Relaxed);
        self.total_blobs.store(blobs, Ordering::Relaxed);
        self.bar.set_length(bytes);
        self.update_message();
    }

    pub(crate) fn add_bytes(&self, n: u64) {
        self.bar.inc(n);
    }

    pub(crate) fn blob_done(&self) {
        self.done_blobs.fetch_add(1, Ordering::Relaxed);
        self.update_message();
    }

    fn update_message(&self) {
        if self.mode == Mode::Live {
            self.bar.set_message(format!(
                "{} {} images: blobs {}/{}",
                self.action,
                self.images.load(Ordering::Relaxed),
                self.done_blobs.load(Ordering::Relaxed),
                self.total_blobs.load(Ordering::Relaxed),
            ));
        }
    }

    /// Ends the live bar (left on screen) so later output starts on a fresh line.
    pub fn finish(&self) {
        if self.mode == Mode::Live {
            self.bar.finish();
        }
    }
}

impl crate::copy::Observer for Progress {
    fn line(&self, message: &str) {
        Progress::line(self, message)
    }

    fn note(&self, message: &str) {
        Progress::note(self, message)
    }

    fn set_totals(&self, images: u64, blobs: u64, bytes: u64) {
        Progress::set_totals(self, images, blobs, bytes)
    }

    fn add_bytes(&self, n: u64) {
        Progress::add_bytes(self, n)
    }

    fn blob_done(&self) {
        Progress::blob_done(self)
    }
}
