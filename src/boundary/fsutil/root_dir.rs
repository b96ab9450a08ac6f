//! [`RootDir`]: a directory whose contents are reached one component at a time from its
//! descriptor, never through a symlink; temporary files beside their final names; flock on the
//! directory itself, waited for within the process's lock-wait limit.

use super::{io_error, kind_name, wait, Cap, FileError, Region};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// One entry of a listed directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Its name in the directory.
    pub name: OsString,
    /// What it is itself (a symlink is [`FileType::Symlink`], never what it points to).
    pub kind: FileType,
}

/// A directory whose contents are reached only through its descriptor, one path component at
/// a time, never following a symlink: what is below it cannot point outside it.
pub(crate) struct RootDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Held while a [`RootDir`] is locked (flock on the directory itself); released on drop.
pub(crate) struct DirLock {
    _file: File,
}

pub(super) const DIR_READ: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl RootDir {
    /// Opens the directory at `path` (symlinks in `path` itself are followed).
    pub(crate) fn open(path: &Path) -> Result<Self, FileError> {
        let label = path.display().to_string();
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_error("opening", &label)(e.into()))?;
        Ok(Self {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The directory's path, for messages.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn label(&self, rel: &OsStr) -> String {
        self.path.join(rel).display().to_string()
    }

    /// Splits `rel` into components, refusing anything that could leave the directory.
    fn components<'a>(&self, rel: &'a OsStr) -> Result<Vec<&'a OsStr>, FileError> {
        let parts: Vec<&OsStr> = rel
            .as_bytes()
            .split(|b| *b == b'/')
            .map(OsStr::from_bytes)
            .collect();
        let bad = |p: &&OsStr| {
            let bytes = p.as_bytes();
            bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&0)
        };
        if parts.iter().any(bad) {
            return Err(FileError::BadName {
                path: rel.to_string_lossy().into_owned(),
                root: self.path.display().to_string(),
            });
        }
        Ok(parts)
    }

    /// What kind of thing `name` in `dir` is, without following it.
    fn kind_of(dir: &OwnedFd, name: &OsStr) -> io::Result<Option<FileType>> {
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(FileType::from_raw_mode(stat.st_mode))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn refuse(&self, rel: &OsStr, kind: FileType) -> FileError {
        if kind == FileType::Symlink {
            FileError::Symlink {
                path: self.label(rel),
                root: self.path.display().to_string(),
            }
        } else {
            FileError::NotRegular {
                path: self.label(rel),
                kind: kind_name(kind),
            }
        }
    }

    /// Opens the directories of `parts`, creating the missing ones when `create` is set;
    /// `None` when one is missing and `create` is not set.
    fn walk(
        &self,
        rel: &OsStr,
        parts: &[&OsStr],
        create: bool,
    ) -> Result<Option<OwnedFd>, FileError> {
        let mut dir = rustix::fs::openat(&self.fd, ".", DIR_READ, Mode::empty())
            .map_err(|e| io_error("opening", &self.label(OsStr::new("")))(e.into()))?;
        for (depth, part) in parts.iter().enumerate() {
            let so_far = OsString::from_vec(parts[..=depth].join(OsStr::new("/")).into_vec());
            let so_far = so_far.as_os_str();
            match Self::kind_of(&dir, part).map_err(io_error("reading", &self.label(so_far)))? {
                Some(FileType::Directory) => {}
                Some(kind) => return Err(self.refuse(so_far, kind)),
                None if create => {
                    match rustix::fs::mkdirat(&dir, *part, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(io_error("creating", &self.label(so_far))(e.into())),
                    }
                }
                None => return Ok(None),
            }
            dir = match rustix::fs::openat(&dir, *part, DIR_READ, Mode::empty()) {
                Ok(fd) => fd,
                // Replaced by a symlink (or removed) since it was looked at.
                Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                    return Err(self.refuse(so_far, FileType::Symlink))
                }
                Err(e) => return Err(io_error("opening", &self.label(rel))(e.into())),
            };
        }
        Ok(Some(dir))
    }

    /// Opens the regular file `rel` (`a/b/c`) below the directory; `None` if it (or a directory
    /// on the way) does not exist. A symlink anywhere on the way, or a file that is not regular,
    /// is an error; a FIFO or device is never opened.
    pub(crate) fn open_file(&self, rel: impl AsRef<OsStr>) -> Result<Option<Region>, FileError> {
        let rel = rel.as_ref();
        let Some(file) = self.open_regular_fd(rel)? else {
            return Ok(None);
        };
        // fstat again: what was opened may not be what was looked at.
        Region::whole(file, self.label(rel)).map(Some)
    }

    fn open_regular_fd(&self, rel: &OsStr) -> Result<Option<File>, FileError> {
        let parts = self.components(rel)?;
        let (name, dirs) = parts.split_last().expect("split yields one part at least");
        let Some(dir) = self.walk(rel, dirs, false)? else {
            return Ok(None);
        };
        match Self::kind_of(&dir, name).map_err(io_error("reading", &self.label(rel)))? {
            Some(FileType::RegularFile) => {}
            Some(kind) => return Err(self.refuse(rel, kind)),
            None => return Ok(None),
        }
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        match rustix::fs::openat(&dir, *name, flags, Mode::empty()) {
            Ok(fd) => Ok(Some(File::from(fd))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(rustix::io::Errno::LOOP) => Err(self.refuse(rel, FileType::Symlink)),
            Err(e) => Err(io_error("opening", &self.label(rel))(e.into())),
        }
    }

    /// Reads the regular file `rel` whole, refusing more than the cap of its kind.
    pub(crate) fn read(
        &self,
        rel: impl AsRef<OsStr>,
        cap: Cap,
    ) -> Result<Option<Vec<u8>>, FileError> {
        let rel = rel.as_ref();
        self.open_file(rel)?.map(|r| r.read_capped(cap)).transpose()
    }

    /// Opens the regular file `rel` for a record lock (read-only, never read from); `None` if it
    /// does not exist. The same rules as [`RootDir::open_file`].
    pub(crate) fn open_lock_file(&self, rel: impl AsRef<OsStr>) -> Result<Option<File>, FileError> {
        let rel = rel.as_ref();
        let Some(file) = self.open_regular_fd(rel)? else {
            return Ok(None);
        };
        // Checked for its kind once more on the descriptor (it may have been swapped).
        Region::whole(
            file.try_clone()
                .map_err(io_error("opening", &self.label(rel)))?,
            self.label(rel),
        )?;
        Ok(Some(file))
    }

    /// The directory `rel` below this one, as a root of its own; `None` if it does not exist.
    /// A symlink on the way (the directory itself included) is an error.
    pub(crate) fn open_dir(&self, rel: impl AsRef<OsStr>) -> Result<Option<RootDir>, FileError> {
        let rel = rel.as_ref();
        let parts = self.components(rel)?;
        Ok(self.walk(rel, &parts, false)?.map(|fd| RootDir {
            fd,
            path: self.path.join(rel),
        }))
    }

    /// The entries of the directory `rel` (`""` for this one), sorted by name, each with its own
    /// kind (a symlink is a symlink, not what it points to); `None` if it does not exist. More
    /// than `max` entries is an error.
    pub(crate) fn list(
        &self,
        rel: impl AsRef<OsStr>,
        max: usize,
    ) -> Result<Option<Vec<Entry>>, FileError> {
        let rel = rel.as_ref();
        let dir = if rel.is_empty() {
            rustix::fs::openat(&self.fd, ".", DIR_READ, Mode::empty())
                .map_err(|e| io_error("opening", &self.label(OsStr::new("")))(e.into()))?
        } else {
            let parts = self.components(rel)?;
            match self.walk(rel, &parts, false)? {
                Some(dir) => dir,
                None => return Ok(None),
            }
        };
        let label = if rel.is_empty() {
            self.path.display().to_string()
        } else {
            self.label(rel)
        };
        super::list_fd(dir, &label, max).map(Some)
    }

    /// Creates the directories of `rel` that are missing (refusing symlinks on the way).
    pub(crate) fn create_dirs(&self, rel: &str) -> Result<(), FileError> {
        let rel = OsStr::new(rel);
        let parts = self.components(rel)?;
        self.walk(rel, &parts, true)?;
        Ok(())
    }

    /// A new temporary file in the directory `rel_dir` (created if missing), removed on drop
    /// unless it is persisted.
    pub(crate) fn temp_file(&self, rel_dir: &str) -> Result<TempFile, FileError> {
        let dir = if rel_dir.is_empty() {
            rustix::fs::openat(&self.fd, ".", DIR_READ, Mode::empty())
                .map_err(|e| io_error("opening", &self.label(OsStr::new("")))(e.into()))?
        } else {
            let rel_dir = OsStr::new(rel_dir);
            let parts = self.components(rel_dir)?;
            self.walk(rel_dir, &parts, true)?
                .expect("walk creates directories")
        };
        let dir_label = if rel_dir.is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel_dir)
        };
        loop {
            let mut random = [0u8; 8];
            getrandom::fill(&mut random).map_err(|e| {
                io_error(
                    "drawing a random temp-file name in",
                    &dir_label.display().to_string(),
                )(e.into())
            })?;
            let name = format!("{TEMP_PREFIX}{}", hex::encode(random));
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(&dir, name.as_str(), flags, Mode::from_raw_mode(0o644)) {
                Ok(fd) => {
                    return Ok(TempFile {
                        dir,
                        dir_label,
                        name,
                        file: Some(File::from(fd)),
                        persisted: false,
                    })
                }
                Err(rustix::io::Errno::EXIST) => continue,
                Err(e) => {
                    return Err(FileError::Io {
                        context: "creating a temporary file in",
                        path: dir_label.display().to_string(),
                        source: e.into(),
                    })
                }
            }
        }
    }

    /// Replaces `rel` with `bytes` so that readers see the old file or the new one, never a mix.
    pub(crate) fn write_atomic(&self, rel: &str, bytes: &[u8]) -> Result<(), FileError> {
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let mut temp = self.temp_file(dir)?;
        let label = self.label(OsStr::new(rel));
        let file = temp.file.as_mut().expect("a new temp file has its file");
        file.write_all(bytes).map_err(io_error("writing", &label))?;
        temp.persist(name)
    }

    /// Takes an exclusive lock on the directory itself (flock), waiting for other holders in
    /// this or other processes within the lock-wait limit ([`wait`]). The lock adds no file to
    /// the directory.
    pub(crate) fn lock(&self) -> Result<DirLock, FileError> {
        let fd = rustix::fs::openat(&self.fd, ".", DIR_READ, Mode::empty())
            .map_err(|e| io_error("opening", &self.label(OsStr::new("")))(e.into()))?;
        let file = File::from(fd);
        wait::exclusive_flock(&file, &self.path)?;
        Ok(DirLock { _file: file })
    }
}

/// Names starting with this are temporary files of a write in progress (or of a killed one).
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// A temporary file next to its final name, removed on drop unless [`TempFile::persist`] renamed it.
pub(crate) struct TempFile {
    dir: OwnedFd,
    dir_label: PathBuf,
    name: String,
    file: Option<File>,
    persisted: bool,
}

impl TempFile {
    /// Writes all of `bytes` to the file (`label` names it in an error).
    pub(super) fn write_all(&mut self, bytes: &[u8], label: &str) -> Result<(), FileError> {
        let file = self.file.as_mut().expect("a new temp file has its file");
        file.write_all(bytes).map_err(io_error("writing", label))
    }

    /// The open file, to be written (for example through `tokio::fs::File::from_std`).
    pub(crate) fn take_file(&mut self) -> File {
        self.file.take().expect("the file is taken once")
    }

    /// Syncs the file (when it is still held) and renames it to `name` in the same directory,
    /// replacing what was there; then syncs the directory.
    pub(crate) fn persist(mut self, name: impl AsRef<OsStr>) -> Result<(), FileError> {
        let name = name.as_ref();
        let label = self.dir_label.join(name).display().to_string();
        if let Some(file) = self.file.take() {
            file.sync_all().map_err(io_error("writing", &label))?;
        }
        rustix::fs::renameat(&self.dir, self.name.as_str(), &self.dir, name)
            .map_err(|e| io_error("replacing", &label)(e.into()))?;
        self.persisted = true;
        // Best effort: some filesystems refuse fsync on directories, and the rename is done.
        let _ = rustix::fs::fsync(&self.dir);
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = rustix::fs::unlinkat(&self.dir, self.name.as_str(), AtFlags::empty());
        }
    }
}
