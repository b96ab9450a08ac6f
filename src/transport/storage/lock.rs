//! containers-storage's own lock files (`storage.lock`, `*-layers/layers.lock`,
//! `*-images/images.lock`) taken in shared mode, so a concurrent `buildah`/`podman` writer never
//! changes what is being read.
//!
//! c/storage locks them with classic fcntl record locks over the whole file. This takes
//! open-file-description locks (`F_OFD_SETLKW`) instead: they conflict with c/storage's locks
//! all the same, but belong to one descriptor rather than to the process, so two readers in this
//! process neither share nor drop each other's lock (closing any descriptor of a file drops every
//! classic lock the process holds on it).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// A shared lock on one lock file, released when dropped (its descriptor is closed). A lock
/// file that does not exist is no lock: nothing has written the store there.
#[derive(Debug)]
pub(crate) struct SharedLock {
    _file: Option<File>,
}

impl SharedLock {
    /// Blocks until no writer holds `path`, then holds it shared.
    pub(crate) fn acquire(path: &Path) -> std::io::Result<SharedLock> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SharedLock { _file: None })
            }
            Err(e) => return Err(e),
        };
        // SAFETY: flock is plain data; zeroed (l_pid 0, as OFD locks require) is valid.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = libc::F_RDLCK as _;
        lock.l_whence = libc::SEEK_SET as _;
        loop {
            // SAFETY: a valid open descriptor and a pointer to an initialised flock.
            let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLKW, &lock) };
            if rc == 0 {
                return Ok(SharedLock { _file: Some(file) });
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_lock_file_is_no_lock() {
        let dir = tempfile::tempdir().unwrap();
        SharedLock::acquire(&dir.path().join("absent.lock")).unwrap();
    }

    /// Whether a write lock could be had right now, asked through another open file
    /// description (OFD locks conflict across descriptions even within one process; the
    /// integration tests check the conflict with a classic lock in another process).
    fn writer_could_lock(path: &Path) -> bool {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        // SAFETY: as in `acquire`.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = libc::F_WRLCK as _;
        lock.l_whence = libc::SEEK_SET as _;
        // SAFETY: a valid descriptor and an initialised flock; F_OFD_SETLK does not block.
        unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &lock) == 0 }
    }

    #[test]
    fn shared_locks_hold_off_writers_until_the_last_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layers.lock");
        std::fs::write(&path, b"").unwrap();
        assert!(writer_could_lock(&path));
        let a = SharedLock::acquire(&path).unwrap();
        let b = SharedLock::acquire(&path).unwrap();
        assert!(!writer_could_lock(&path), "a writer waits for the readers");
        drop(a);
        assert!(!writer_could_lock(&path), "still held by the second reader");
        drop(b);
        assert!(writer_could_lock(&path));
    }
}
