//! What the user sees on stderr while a push runs: buildah-like lines when stderr is not a
//! terminal, one live status line when it is, nothing with `--quiet`.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quiet,
    Lines,
    Live,
}

/// Counters and messages of one push; safe to share between transfer tasks.
pub struct Progress {
    mode: Mode,
    total_blobs: AtomicU64,
    done_blobs: AtomicU64,
    bytes: AtomicU64,
    out: Mutex<()>,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Live
        } else {
            Mode::Lines
        };
        Self {
            mode,
            total_blobs: AtomicU64::new(0),
            done_blobs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            out: Mutex::new(()),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A message in buildah's wording, shown in line mode only.
    pub fn line(&self, message: &str) {
        if self.mode == Mode::Lines {
            let _guard = self.out.lock();
            let _ = writeln!(std::io::stderr(), "{message}");
        }
    }

    /// A message shown in every mode but quiet.
    pub fn note(&self, message: &str) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Lines => self.line(message),
            Mode::Live => {
                let _guard = self.out.lock();
                let _ = writeln!(std::io::stderr(), "\r\x1b[2K{message}");
            }
        }
    }

    pub fn set_total_blobs(&self, total: u64) {
        self.total_blobs.store(total, Ordering::Relaxed);
    }

    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.redraw();
    }

    pub fn blob_done(&self) {
        self.done_blobs.fetch_add(1, Ordering::Relaxed);
        self.redraw();
    }

    fn redraw(&self) {
        if self.mode != Mode::Live {
            return;
        }
        let Ok(_guard) = self.out.try_lock() else {
            return;
        };
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[2KCopying blobs {}/{}, {:.1} MiB",
            self.done_blobs.load(Ordering::Relaxed),
            self.total_blobs.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
        );
    }

    /// Ends the live line so later output starts on a fresh one.
    pub fn finish(&self) {
        if self.mode == Mode::Live {
            let _ = writeln!(std::io::stderr());
        }
    }
}
