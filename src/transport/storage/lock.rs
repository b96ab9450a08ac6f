//! containers-storage's own lock files (`storage.lock`, `*-layers/layers.lock`,
//! `*-images/images.lock`) taken in shared mode with fcntl, as c/storage readers take them, so a
//! concurrent `buildah`/`podman` writer never changes what is being read.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// fcntl locks belong to the process, and closing any descriptor of a file drops all of them;
/// so each lock file is opened and locked once per process and shared by a count.
static HELD: Mutex<Option<HashMap<PathBuf, (File, usize)>>> = Mutex::new(None);

fn held() -> MutexGuard<'static, Option<HashMap<PathBuf, (File, usize)>>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// A shared (F_RDLCK) fcntl lock on one lock file, released when the last holder in this process
/// drops it. A lock file that does not exist is no lock: nothing has written the store there.
#[derive(Debug)]
pub struct SharedLock {
    path: Option<PathBuf>,
}

impl SharedLock {
    /// Blocks until no writer holds `path`, then holds it shared.
    pub fn acquire(path: &Path) -> std::io::Result<SharedLock> {
        let mut held = held();
        let map = held.get_or_insert_with(HashMap::new);
        if let Some((_, count)) = map.get_mut(path) {
            *count += 1;
            return Ok(SharedLock {
                path: Some(path.to_path_buf()),
            });
        }
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SharedLock { path: None })
            }
            Err(e) => return Err(e),
        };
        lock_shared(&file)?;
        map.insert(path.to_path_buf(), (file, 1));
        Ok(SharedLock {
            path: Some(path.to_path_buf()),
        })
    }
}

impl Drop for SharedLock {
    fn drop(&mut self) {
        let Some(path) = &self.path else { return };
        let mut held = held();
        if let Some(map) = held.as_mut() {
            if let Some((_, count)) = map.get_mut(path) {
                *count -= 1;
                if *count == 0 {
                    // Closing the only descriptor releases the lock.
                    map.remove(path);
                }
            }
        }
    }
}

fn lock_shared(file: &File) -> std::io::Result<()> {
    // SAFETY: flock is plain data; zeroed is a valid value before the fields are set.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_RDLCK as _;
    lock.l_whence = libc::SEEK_SET as _;
    loop {
        // SAFETY: a valid open descriptor and a pointer to an initialised flock.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLKW, &lock) };
        if rc == 0 {
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
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

    #[test]
    fn shared_locks_coexist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layers.lock");
        std::fs::write(&path, b"").unwrap();
        let a = SharedLock::acquire(&path).unwrap();
        let b = SharedLock::acquire(&path).unwrap();
        drop(a);
        assert_eq!(held().as_ref().unwrap()[&path].1, 1, "still held by b");
        drop(b);
        assert!(!held().as_ref().unwrap().contains_key(&path));
    }
}
