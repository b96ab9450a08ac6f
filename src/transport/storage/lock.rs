//! containers-storage's own lock files (`storage.lock`, `*-layers/layers.lock`,
//! `*-images/images.lock`) taken in shared mode, so a concurrent `buildah`/`podman` writer never
//! changes what is being read.
//!
//! c/storage locks them with classic fcntl record locks over the whole file. This takes
//! open-file-description locks (`F_OFD_SETLK`) instead: they conflict with c/storage's locks
//! all the same, but belong to one descriptor rather than to the process, so two readers in this
//! process neither share nor drop each other's lock (closing any descriptor of a file drops every
//! classic lock the process holds on it). A writer that keeps its lock is waited for within the
//! process's lock-wait limit (`fsutil::wait`), with a line on stderr after a second.

use crate::boundary::fsutil::{wait, FileError, RootDir};
use std::fs::File;

/// A shared lock on one lock file, released when dropped (its descriptor is closed). A lock
/// file that does not exist is no lock: nothing has written the store there.
#[derive(Debug)]
pub(crate) struct SharedLock {
    _file: Option<File>,
}

impl SharedLock {
    /// Waits until no writer holds `rel` (below the store's root, reached without a symlink;
    /// the lock file must be a regular file), then holds it shared.
    pub(crate) fn acquire(root: &RootDir, rel: &str) -> Result<SharedLock, FileError> {
        let Some(file) = root.open_lock_file(rel)? else {
            return Ok(SharedLock { _file: None });
        };
        wait::shared_record_lock(&file, &root.path().join(rel))?;
        Ok(SharedLock { _file: Some(file) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::path::Path;

    #[test]
    fn missing_lock_file_is_no_lock() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootDir::open(dir.path()).unwrap();
        SharedLock::acquire(&root, "absent.lock").unwrap();
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
        // SAFETY: flock is plain data; zeroed (l_pid 0, as OFD locks require) is valid.
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
        let root = RootDir::open(dir.path()).unwrap();
        assert!(writer_could_lock(&path));
        let a = SharedLock::acquire(&root, "layers.lock").unwrap();
        let b = SharedLock::acquire(&root, "layers.lock").unwrap();
        assert!(!writer_could_lock(&path), "a writer waits for the readers");
        drop(a);
        assert!(!writer_could_lock(&path), "still held by the second reader");
        drop(b);
        assert!(writer_could_lock(&path));
    }

    #[test]
    fn lock_files_that_are_not_regular_files_inside_the_store_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootDir::open(dir.path()).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("storage.lock")).unwrap();
        let err = SharedLock::acquire(&root, "storage.lock").unwrap_err();
        assert!(matches!(err, FileError::Symlink { .. }), "{err}");
        std::fs::create_dir(dir.path().join("dir.lock")).unwrap();
        let err = SharedLock::acquire(&root, "dir.lock").unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
    }
}
