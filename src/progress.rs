//! What the user sees on stderr while a push runs: buildah-like lines when stderr is not a
//! terminal, one live status line when it is, nothing with `--quiet`. Every message passes
//! through [`escape_controls`] here, the one place this channel writes text.

use crate::terminal::escape_controls;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The live line is redrawn at most this often, however many chunks arrive.
const REDRAW_EVERY_MS: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quiet,
    Lines,
    Live,
}

/// Counters and messages of one push; safe to share between transfer tasks.
pub struct Progress {
    mode: Mode,
    images: AtomicU64,
    total_blobs: AtomicU64,
    total_bytes: AtomicU64,
    done_blobs: AtomicU64,
    bytes: AtomicU64,
    started: Instant,
    last_draw_ms: AtomicU64,
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
            images: AtomicU64::new(0),
            total_blobs: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            done_blobs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            started: Instant::now(),
            last_draw_ms: AtomicU64::new(0),
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
            let _ = writeln!(std::io::stderr(), "{}", escape_controls(message));
        }
    }

    /// A message shown in every mode but quiet.
    pub fn note(&self, message: &str) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Lines => self.line(message),
            Mode::Live => {
                let _guard = self.out.lock();
                // Only the line-clearing prefix is ours; the message is escaped like any text.
                let _ = writeln!(std::io::stderr(), "\r\x1b[2K{}", escape_controls(message));
            }
        }
    }

    /// What the push will move: images, blobs, and the bytes of all those blobs.
    pub fn set_totals(&self, images: u64, blobs: u64, bytes: u64) {
        self.images.store(images, Ordering::Relaxed);
        self.total_blobs.store(blobs, Ordering::Relaxed);
        self.total_bytes.store(bytes, Ordering::Relaxed);
        self.redraw(true);
    }

    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.redraw(false);
    }

    pub fn blob_done(&self) {
        self.done_blobs.fetch_add(1, Ordering::Relaxed);
        self.redraw(false);
    }

    fn redraw(&self, force: bool) {
        if self.mode != Mode::Live {
            return;
        }
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_draw_ms.load(Ordering::Relaxed);
        if !force && now.saturating_sub(last) < REDRAW_EVERY_MS {
            return;
        }
        let Ok(_guard) = self.out.try_lock() else {
            return;
        };
        self.last_draw_ms.store(now, Ordering::Relaxed);
        let mib = |n: u64| n as f64 / (1024.0 * 1024.0);
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[2KCopying {} images: blobs {}/{}, {:.1}/{:.1} MiB",
            self.images.load(Ordering::Relaxed),
            self.done_blobs.load(Ordering::Relaxed),
            self.total_blobs.load(Ordering::Relaxed),
            mib(self.bytes.load(Ordering::Relaxed)),
            mib(self.total_bytes.load(Ordering::Relaxed)),
        );
    }

    /// Ends the live line so later output starts on a fresh one.
    pub fn finish(&self) {
        if self.mode == Mode::Live {
            self.redraw(true);
            let _ = writeln!(std::io::stderr());
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
