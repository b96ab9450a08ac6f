//! Waiting for a state instead of for a time: a condition polled until it holds, up to a
//! deadline that only a broken build reaches, and a failure that says what never happened.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long a wait may last: far longer than any state takes to come on a loaded machine, so
/// reaching it means the state never comes.
pub const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// How often a condition is looked at again.
const POLL_EVERY: Duration = Duration::from_millis(5);

/// Polls `condition` until it holds; whether it did within `limit`.
pub fn poll(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// Polls `condition` until it holds; panics saying that `what` did not happen within
/// [`WAIT_LIMIT`].
pub fn until(what: &str, condition: impl FnMut() -> bool) {
    if !poll(WAIT_LIMIT, condition) {
        panic!("{what} did not happen within {WAIT_LIMIT:?}");
    }
}

/// Polls `condition` until it gives a value, and returns it; panics saying that `what` did not
/// happen within [`WAIT_LIMIT`].
pub fn until_some<T>(what: &str, mut condition: impl FnMut() -> Option<T>) -> T {
    let mut found = None;
    if poll(WAIT_LIMIT, || {
        found = condition();
        found.is_some()
    }) {
        if let Some(value) = found {
            return value;
        }
    }
    panic!("{what} did not happen within {WAIT_LIMIT:?}");
}

/// The lines of a child's output (its piped stderr, say), read on a thread of their own so that
/// a wait for one of them can end at a deadline.
pub struct Lines {
    lines: Receiver<String>,
    /// Every line received so far, in order.
    pub seen: Vec<String>,
}

impl Lines {
    /// Starts reading `stream` line by line.
    pub fn of(stream: impl Read + Send + 'static) -> Lines {
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line that `wanted` accepts and returns it; panics saying `what` did not
    /// happen (with the lines seen) when the stream ends first or [`WAIT_LIMIT`] passes.
    pub fn until(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{what} did not happen within {WAIT_LIMIT:?}: {:?}",
                        self.seen
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "{what} did not happen before the output ended: {:?}",
                        self.seen
                    )
                }
            }
        }
    }

    /// Every line, those seen and the rest to the end of the stream; panics when the stream has
    /// not ended within [`WAIT_LIMIT`].
    pub fn rest(mut self) -> Vec<String> {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => return self.seen,
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "the output did not end within {WAIT_LIMIT:?}: {:?}",
                        self.seen
                    )
                }
            }
        }
    }
}
