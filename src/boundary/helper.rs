//! The one way to run a helper process (credential helpers now, any helper later): a time
//! limit (`--helper-timeout`, default [`DEFAULT_TIMEOUT`]), stdout and stderr read with caps,
//! and the helper (with every process it started in its process group) killed and named in the
//! error when it overruns either. `clippy.toml` forbids `std::process::Command::new` elsewhere.

use crate::boundary::terminal::cut_quoted;
use rustix::event::{PollFd, PollFlags, Timespec};
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdout, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a helper may run when `--helper-timeout` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

static TIMEOUT: OnceLock<Duration> = OnceLock::new();

/// Sets the process's helper time limit (`--helper-timeout`); the first call wins.
pub fn set_timeout(limit: Duration) {
    let _ = TIMEOUT.set(limit);
}

/// What a helper may do before it is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long it may run, from start to its last byte of output. Default: `--helper-timeout`,
    /// else [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// The most it may write on stdout. Default 1 MiB (a credential is a few KiB).
    pub stdout_bytes: usize,
    /// The most it may write on stderr. Default 1 MiB; the first [`KEPT_STDERR_BYTES`] are kept
    /// for messages.
    pub stderr_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: TIMEOUT.get().copied().unwrap_or(DEFAULT_TIMEOUT),
            stdout_bytes: 1 << 20,
            stderr_bytes: 1 << 20,
        }
    }
}

/// How much of a helper's stderr is kept to be quoted (cut further when shown).
pub const KEPT_STDERR_BYTES: usize = 64 * 1024;

/// What a helper that finished in time printed.
#[derive(Debug)]
pub(crate) struct Output {
    /// How it exited.
    pub status: ExitStatus,
    /// All of stdout (at most [`Limits::stdout_bytes`]). May hold secrets: never quote it.
    pub stdout: Vec<u8>,
    /// The start of stderr (at most [`KEPT_STDERR_BYTES`]).
    pub stderr: Vec<u8>,
    /// How many bytes of stderr were not kept.
    pub stderr_dropped: usize,
}

impl Output {
    /// stderr as a message quotes it: cut, saying how much was cut.
    pub(crate) fn stderr_shown(&self) -> String {
        shown_stderr(&self.stderr, self.stderr_dropped)
    }
}

fn shown_stderr(kept: &[u8], dropped: usize) -> String {
    let text = String::from_utf8_lossy(kept);
    let mut shown = cut_quoted(text.trim());
    if dropped > 0 {
        shown.push_str(&format!(" [{dropped} more bytes not kept]"));
    }
    shown
}

/// Why a helper gave no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HelperError {
    /// The program is not on `$PATH` (or not executable).
    #[error("{program} could not be run (is it installed and on $PATH?): {source}")]
    NotRun {
        program: String,
        #[source]
        source: io::Error,
    },
    /// It ran past the time limit and was killed.
    #[error(
        "{program} did not finish within {} (--helper-timeout) and was killed{}",
        humantime::format_duration(*limit),
        stderr_suffix(stderr)
    )]
    TimedOut {
        program: String,
        limit: Duration,
        stderr: String,
    },
    /// It wrote more than its cap on one stream and was killed.
    #[error("{program} wrote more than {limit} bytes on {stream} and was killed")]
    TooMuchOutput {
        program: String,
        stream: &'static str,
        limit: usize,
    },
    /// Talking to it failed.
    #[error("running {program}")]
    Io {
        program: String,
        #[source]
        source: io::Error,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; its stderr: {stderr}")
    }
}

/// Runs `program args…` with `input` on its stdin, within `limits`. It runs in a process group
/// of its own, so that an overrun kills what it started too.
pub(crate) fn run(
    program: &str,
    args: &[&str],
    input: &[u8],
    limits: &Limits,
) -> Result<Output, HelperError> {
    let io_error = |source| HelperError::Io {
        program: program.to_string(),
        source,
    };
    // The only place a process is started.
    #[allow(clippy::disallowed_methods)]
    let mut command = std::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().map_err(|source| HelperError::NotRun {
        program: program.to_string(),
        source,
    })?;
    let guard = KillOnDrop(&mut child);
    let deadline = Instant::now() + limits.timeout;
    if let Some(mut stdin) = guard.0.stdin.take() {
        // A helper that exits without reading its input closes the pipe: not an error here,
        // its exit status says what happened.
        match stdin.write_all(input) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            Err(e) => return Err(io_error(e)),
        }
    }
    let stdout = guard.0.stdout.take().expect("stdout is piped");
    let stderr = guard.0.stderr.take().expect("stderr is piped");
    let collected = collect(stdout, stderr, deadline, limits).map_err(io_error)?;
    match collected {
        Collected::Done {
            stdout,
            stderr,
            stderr_dropped,
        } => {
            let status = wait_until(guard.0, deadline).map_err(io_error)?;
            match status {
                Some(status) => {
                    std::mem::forget(guard);
                    Ok(Output {
                        status,
                        stdout,
                        stderr,
                        stderr_dropped,
                    })
                }
                None => Err(HelperError::TimedOut {
                    program: program.to_string(),
                    limit: limits.timeout,
                    stderr: shown_stderr(&stderr, stderr_dropped),
                }),
            }
        }
        Collected::TimedOut {
            stderr,
            stderr_dropped,
        } => Err(HelperError::TimedOut {
            program: program.to_string(),
            limit: limits.timeout,
            stderr: shown_stderr(&stderr, stderr_dropped),
        }),
        Collected::TooMuch { stream, limit } => Err(HelperError::TooMuchOutput {
            program: program.to_string(),
            stream,
            limit,
        }),
    }
}

/// Kills the helper's process group (and reaps the helper) unless forgotten.
struct KillOnDrop<'a>(&'a mut Child);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: kill has no memory-safety preconditions; the group is the helper's own.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

enum Collected {
    Done {
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        stderr_dropped: usize,
    },
    TimedOut {
        stderr: Vec<u8>,
        stderr_dropped: usize,
    },
    TooMuch {
        stream: &'static str,
        limit: usize,
    },
}

/// Reads both pipes until both end, the deadline passes or a cap is passed.
fn collect(
    mut stdout: ChildStdout,
    mut stderr: ChildStderr,
    deadline: Instant,
    limits: &Limits,
) -> io::Result<Collected> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (mut out_open, mut err_open) = (true, true);
    let (mut err_total, mut buffer) = (0usize, vec![0u8; 64 * 1024]);
    while out_open || err_open {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let dropped = err_total - err.len();
            return Ok(Collected::TimedOut {
                stderr: err,
                stderr_dropped: dropped,
            });
        }
        let timeout = Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut fds = Vec::with_capacity(2);
        if out_open {
            fds.push(PollFd::new(&stdout, PollFlags::IN));
        }
        if err_open {
            fds.push(PollFd::new(&stderr, PollFlags::IN));
        }
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds.iter().map(|fd| !fd.revents().is_empty()).collect();
        drop(fds);
        let mut ready = ready.into_iter();
        if out_open && ready.next() == Some(true) {
            let n = stdout.read(&mut buffer)?;
            if n == 0 {
                out_open = false;
            } else if out.len() + n > limits.stdout_bytes {
                return Ok(Collected::TooMuch {
                    stream: "stdout",
                    limit: limits.stdout_bytes,
                });
            } else {
                out.extend_from_slice(&buffer[..n]);
            }
        }
        if err_open && ready.next() == Some(true) {
            let n = stderr.read(&mut buffer)?;
            if n == 0 {
                err_open = false;
            } else if err_total + n > limits.stderr_bytes {
                return Ok(Collected::TooMuch {
                    stream: "stderr",
                    limit: limits.stderr_bytes,
                });
            } else {
                err_total += n;
                let room = KEPT_STDERR_BYTES.saturating_sub(err.len()).min(n);
                err.extend_from_slice(&buffer[..room]);
            }
        }
    }
    let dropped = err_total - err.len();
    Ok(Collected::Done {
        stdout: out,
        stderr: err,
        stderr_dropped: dropped,
    })
}

/// The helper's exit status, or `None` if it is still running at the deadline.
fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
#[path = "helper_tests.rs"]
mod tests;
