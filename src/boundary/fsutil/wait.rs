//! Waiting for a lock another process holds, bounded: containers-storage's lock files, the
//! store's lock and the flock on a layout directory are all taken here. A lock that is free is
//! taken at once; a held one is tried again every few milliseconds, with one line on stderr
//! after about a second naming the lock file and, where `/proc/locks` tells, the process that
//! holds it; after the limit (`--lock-timeout`, default [`DEFAULT_LIMIT`]) the wait ends in an
//! error that says the same.

use crate::boundary::terminal::escape_controls;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a lock held by another process is waited for when `--lock-timeout` is not given.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(300);

/// After this long, a line on stderr says what is being waited for.
const NOTICE_AFTER: Duration = Duration::from_secs(1);

static LIMIT: OnceLock<Duration> = OnceLock::new();

/// Sets the process's lock-wait limit (`--lock-timeout`); the first call wins.
pub fn set_limit(limit: Duration) {
    let _ = LIMIT.set(limit);
}

/// The process's lock-wait limit.
pub(crate) fn limit() -> Duration {
    LIMIT.get().copied().unwrap_or(DEFAULT_LIMIT)
}

/// A lock that another process kept past the limit.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path} is locked by {holder}; gave up after waiting {} (--lock-timeout)",
    humantime::format_duration(*limit)
)]
pub struct LockTimeout {
    /// The lock file (or locked directory).
    pub path: String,
    /// Who holds it, as well as can be told: `process 1234 (buildah)` or `another process`.
    pub holder: String,
    /// The limit in force, waited out.
    pub limit: Duration,
}

/// Takes an exclusive flock on `file` (the store's lock, a layout directory), waiting for
/// another holder within the limit.
pub(crate) fn exclusive_flock(file: &File, path: &Path) -> Result<(), super::FileError> {
    wait_for(file, path, limit(), || match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    })
}

/// Takes a shared flock on `file` (beside other shared holders), waiting for an exclusive
/// holder within the limit.
pub(crate) fn shared_flock(file: &File, path: &Path) -> Result<(), super::FileError> {
    wait_for(file, path, limit(), || match file.try_lock_shared() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    })
}

/// Takes a shared open-file-description record lock over the whole of `file` (what
/// containers-storage's readers take), waiting for a writer within the limit.
pub(crate) fn shared_record_lock(file: &File, path: &Path) -> Result<(), super::FileError> {
    wait_for(file, path, limit(), || {
        // SAFETY: flock is plain data; zeroed (l_pid 0, as OFD locks require) is valid.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = libc::F_RDLCK as _;
        lock.l_whence = libc::SEEK_SET as _;
        // SAFETY: a valid open descriptor and a pointer to an initialised flock; F_OFD_SETLK
        // does not block.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &lock) };
        if rc == 0 {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EAGAIN | libc::EACCES) => Ok(false),
            _ => Err(error),
        }
    })
}

/// Calls `try_once` until it takes the lock (`Ok(true)`), printing one line after
/// [`NOTICE_AFTER`] and giving up after `limit`.
pub(crate) fn wait_for(
    file: &File,
    path: &Path,
    limit: Duration,
    mut try_once: impl FnMut() -> io::Result<bool>,
) -> Result<(), super::FileError> {
    let label = path.display().to_string();
    let locking = |e: io::Error| super::FileError::Io {
        context: "locking",
        path: label.clone(),
        source: e,
    };
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    let mut told = false;
    loop {
        match try_once() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(locking(e)),
        }
        let waited = start.elapsed();
        if waited >= limit {
            return Err(LockTimeout {
                path: label,
                holder: holder(file),
                limit,
            }
            .into());
        }
        if !told && waited >= NOTICE_AFTER {
            told = true;
            eprintln!(
                "Waiting for {}, locked by {} (at most {}; --lock-timeout)",
                escape_controls(&label),
                holder(file),
                humantime::format_duration(limit)
            );
        }
        std::thread::sleep(pause.min(limit.saturating_sub(waited)));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Who holds a lock on `file`, from `/proc/locks`: `process 1234 (buildah)`, or `another
/// process` when it cannot be told (an open-file-description lock shows no process).
fn holder(file: &File) -> String {
    let Ok(stat) = rustix::fs::fstat(file) else {
        return "another process".into();
    };
    let device = (
        libc::major(stat.st_dev as libc::dev_t),
        libc::minor(stat.st_dev as libc::dev_t),
    );
    let locks = super::read_proc(Path::new("/proc/locks")).unwrap_or_default();
    let me = std::process::id();
    let pids = holders_in(&String::from_utf8_lossy(&locks), device, stat.st_ino, me);
    match pids.first() {
        Some(pid) => {
            let comm = super::read_proc(Path::new(&format!("/proc/{pid}/comm")))
                .map(|name| String::from_utf8_lossy(&name).trim().to_string())
                .unwrap_or_default();
            if comm.is_empty() {
                format!("process {pid}")
            } else {
                format!("process {pid} ({})", escape_controls(&comm))
            }
        }
        None => "another process".into(),
    }
}

/// The PIDs (other than `me`) that hold a lock on the file `(major, minor)`/`inode`, from the
/// text of `/proc/locks` (`1: POSIX ADVISORY WRITE 1234 fd:01:1835092 0 EOF`; device numbers in
/// hexadecimal; waiters, marked `->`, are not holders).
fn holders_in(locks: &str, device: (u32, u32), inode: u64, me: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for line in locks.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&"->") || fields.len() < 6 {
            continue;
        }
        let (pid, id) = (fields[4], fields[5]);
        let mut parts = id.split(':');
        let (Some(major), Some(minor), Some(ino)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let same = u32::from_str_radix(major, 16) == Ok(device.0)
            && u32::from_str_radix(minor, 16) == Ok(device.1)
            && ino.parse::<u64>() == Ok(inode);
        if let (true, Ok(pid)) = (same, pid.parse::<u32>()) {
            if pid != me && !pids.contains(&pid) {
                pids.push(pid);
            }
        }
    }
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_are_read_from_proc_locks() {
        let text = "1: POSIX  ADVISORY  WRITE 3384 fd:01:1835092 0 EOF\n\
                    1: -> POSIX  ADVISORY  WRITE 77 fd:01:1835092 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 99 00:2d:12 0 EOF\n\
                    3: OFDLCK ADVISORY  READ  -1 fd:01:1835092 0 EOF\n\
                    4: POSIX  ADVISORY  READ  500 fd:01:1835092 0 EOF\n\
                    5: POSIX  ADVISORY  READ  3384 fd:01:1835092 0 EOF\n";
        assert_eq!(holders_in(text, (0xfd, 1), 1_835_092, 500), [3384]);
        assert_eq!(holders_in(text, (0, 0x2d), 12, 1), [99]);
        assert!(holders_in(text, (0, 0x2d), 13, 1).is_empty());
        assert!(holders_in("garbage\n\n1: x", (0, 0), 0, 1).is_empty());
    }

    #[test]
    fn a_lock_held_elsewhere_is_waited_for_then_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("held.lock");
        let opened = || super::super::open_lock_file(&path).unwrap();
        let holder = opened();
        holder.lock().unwrap();
        let waiter = opened();
        let err = wait_for(&waiter, &path, Duration::from_millis(50), || {
            match waiter.try_lock() {
                Ok(()) => Ok(true),
                Err(std::fs::TryLockError::WouldBlock) => Ok(false),
                Err(std::fs::TryLockError::Error(e)) => Err(e),
            }
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("held.lock is locked by"), "{text}");
        assert!(
            text.contains("gave up after waiting 50ms (--lock-timeout)"),
            "{text}"
        );

        // Released while waiting: taken.
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            drop(holder);
        });
        exclusive_flock(&waiter, &path).unwrap();
        release.join().unwrap();
    }
}
