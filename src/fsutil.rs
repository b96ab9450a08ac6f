//! Files that may be hostile or shared: read only regular files (never a FIFO, device or socket),
//! never through a symlink below a root directory, never past their size or a cap; written
//! atomically (temp file, fsync, rename) and, where other processes write too, under a lock.

use bytes::Bytes;
use futures_util::Stream;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The path, or one of its components, is a symbolic link.
    #[error("{path} is a symbolic link; only regular files inside {root} are read")]
    Symlink {
        /// The path, for messages.
        path: String,
        /// The directory it had to stay inside.
        root: String,
    },
    /// The path is a directory, FIFO, socket, device or other non-regular file.
    #[error("{path} is {kind}, not a regular file")]
    NotRegular {
        /// The path, for messages.
        path: String,
        /// What it is instead, in words.
        kind: &'static str,
    },
    /// The file is larger than the caller allows.
    #[error("{path} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The path, for messages.
        path: String,
        /// Its size in bytes.
        size: u64,
        /// The most the caller reads, in bytes.
        limit: u64,
    },
    /// The file's size or identity changed between checks while it was read.
    #[error("{path} changed while it was read: {detail}")]
    Changed {
        /// The path, for messages.
        path: String,
        /// What changed.
        detail: String,
    },
    /// A name with an empty, `.` or `..` component (or a NUL), which could leave the root.
    #[error("{path} is not a usable name inside {root}")]
    BadName {
        /// The name, as given.
        path: String,
        /// The directory it had to stay inside.
        root: String,
    },
    /// The operating system refused an operation.
    #[error("{context} {path}")]
    Io {
        /// What was being done (`opening`, `reading`, …).
        context: &'static str,
        /// The path, for messages.
        path: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

fn io_error<'a>(context: &'static str, path: &'a str) -> impl FnOnce(io::Error) -> FileError + 'a {
    move |source| FileError::Io {
        context,
        path: path.to_string(),
        source,
    }
}

fn kind_name(file_type: FileType) -> &'static str {
    match file_type {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "an unknown kind of file",
    }
}

/// Bytes of one regular file to read: a whole file, or one entry of a tar archive. Reads are
/// positional, so several streams can read one open file at once.
#[derive(Debug, Clone)]
pub(crate) struct Region {
    file: Arc<File>,
    offset: u64,
    size: u64,
    /// A whole file must end at `size` (it did not grow since it was measured); an archive
    /// entry is followed by other entries.
    whole_file: bool,
    label: String,
}

impl Region {
    /// `size` bytes at `offset` of `file` (an entry of an archive that was checked to be a
    /// regular file).
    pub(crate) fn within(file: Arc<File>, offset: u64, size: u64, label: String) -> Self {
        Self {
            file,
            offset,
            size,
            whole_file: false,
            label,
        }
    }

    fn whole(file: File, label: String) -> Result<Self, FileError> {
        let meta = rustix::fs::fstat(&file).map_err(|e| FileError::Io {
            context: "reading",
            path: label.clone(),
            source: e.into(),
        })?;
        let file_type = FileType::from_raw_mode(meta.st_mode);
        if file_type != FileType::RegularFile {
            return Err(FileError::NotRegular {
                path: label,
                kind: kind_name(file_type),
            });
        }
        Ok(Self {
            file: Arc::new(file),
            offset: 0,
            size: meta.st_size as u64,
            whole_file: true,
            label,
        })
    }

    /// The size the file had when it was opened (or the archive entry's size).
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The open file the region is part of.
    pub(crate) fn file(&self) -> Arc<File> {
        self.file.clone()
    }

    /// The path (or `archive (entry …)`) this region is read from, for messages.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    fn changed(&self, detail: String) -> FileError {
        FileError::Changed {
            path: self.label.clone(),
            detail,
        }
    }

    /// Reads up to `buf.len()` bytes at `pos` (relative to the region), stopping only at the end
    /// of the file.
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<usize, FileError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self
                .file
                .read_at(&mut buf[filled..], self.offset + pos + filled as u64)
            {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error("reading", &self.label)(e)),
            }
        }
        Ok(filled)
    }

    /// The chunk at `pos`; fails if the file ends before the region does, and, at the end of a
    /// whole file, if the file has grown.
    fn chunk(&self, pos: u64, max: usize) -> Result<Bytes, FileError> {
        let want = (self.size - pos).min(max as u64) as usize;
        let mut buf = vec![0u8; want];
        let got = self.read_at(pos, &mut buf)?;
        if got < want {
            return Err(self.changed(format!(
                "it ended after {} of {} bytes",
                pos + got as u64,
                self.size
            )));
        }
        if self.whole_file
            && pos + got as u64 == self.size
            && self.read_at(self.size, &mut [0])? > 0
        {
            return Err(self.changed(format!("it grew past {} bytes", self.size)));
        }
        Ok(buf.into())
    }

    /// The whole region, refused without reading when it is larger than `limit`.
    pub(crate) fn read_all(&self, limit: u64) -> Result<Vec<u8>, FileError> {
        if self.size > limit {
            return Err(FileError::TooLarge {
                path: self.label.clone(),
                size: self.size,
                limit,
            });
        }
        if self.size == 0 {
            self.chunk(0, 0)?;
            return Ok(Vec::new());
        }
        Ok(self.chunk(0, self.size as usize)?.to_vec())
    }

    /// A blocking reader of exactly the region's bytes (for copying into an archive).
    pub(crate) fn reader(&self) -> RegionReader {
        RegionReader {
            region: self.clone(),
            pos: 0,
        }
    }

    /// The region as a stream of chunks of at most `chunk` bytes, read on the blocking pool.
    pub(crate) fn stream(
        self,
        chunk: usize,
    ) -> impl Stream<Item = Result<Bytes, FileError>> + Send {
        let region = Arc::new(self);
        futures_util::stream::unfold((region, 0u64, false), move |(region, pos, done)| {
            async move {
                if done || (pos == region.size && pos > 0) {
                    return None;
                }
                let reader = region.clone();
                let result = tokio::task::spawn_blocking(move || reader.chunk(pos, chunk))
                    .await
                    .unwrap_or_else(|e| {
                        Err(io_error("reading", &region.label)(io::Error::other(e)))
                    });
                match result {
                    // An empty file yields no chunk, once its size is confirmed.
                    Ok(bytes) if bytes.is_empty() => None,
                    Ok(bytes) => {
                        let next = pos + bytes.len() as u64;
                        Some((Ok(bytes), (region, next, false)))
                    }
                    Err(e) => Some((Err(e), (region, pos, true))),
                }
            }
        })
    }
}

/// [`Region::reader`]: `Read` over a region, failing if the file ends early.
pub(crate) struct RegionReader {
    region: Region,
    pos: u64,
}

impl Read for RegionReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.region.size || buf.is_empty() {
            return Ok(0);
        }
        let chunk = self
            .region
            .chunk(self.pos, buf.len())
            .map_err(io::Error::other)?;
        buf[..chunk.len()].copy_from_slice(&chunk);
        self.pos += chunk.len() as u64;
        Ok(chunk.len())
    }
}

/// Opens `path` (symlinks in it are followed: the caller named it) if it is a regular file;
/// `None` if it does not exist. A FIFO or device is opened non-blocking and refused unread.
pub(crate) fn open_regular(path: &Path) -> Result<Option<Region>, FileError> {
    let label = path.display().to_string();
    let opened = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    match opened {
        Ok(file) => Region::whole(file, label).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("opening", &label)(e)),
    }
}

/// Reads `path` whole if it is a regular file of at most `limit` bytes; `None` if it is missing.
pub(crate) fn read_regular(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, FileError> {
    open_regular(path)?.map(|r| r.read_all(limit)).transpose()
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

const DIR_READ: OFlags = OFlags::RDONLY
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

    fn label(&self, rel: &str) -> String {
        self.path.join(rel).display().to_string()
    }

    /// Splits `rel` into components, refusing anything that could leave the directory.
    fn components<'a>(&self, rel: &'a str) -> Result<Vec<&'a str>, FileError> {
        let parts: Vec<&str> = rel.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\0'))
        {
            return Err(FileError::BadName {
                path: rel.to_string(),
                root: self.path.display().to_string(),
            });
        }
        Ok(parts)
    }

    /// What kind of thing `name` in `dir` is, without following it.
    fn kind_of(dir: &OwnedFd, name: &str) -> io::Result<Option<FileType>> {
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(FileType::from_raw_mode(stat.st_mode))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn refuse(&self, rel: &str, kind: FileType) -> FileError {
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
    fn walk(&self, rel: &str, parts: &[&str], create: bool) -> Result<Option<OwnedFd>, FileError> {
        let mut dir = rustix::fs::openat(&self.fd, ".", DIR_READ, Mode::empty())
            .map_err(|e| io_error("opening", &self.label(""))(e.into()))?;
        for (depth, part) in parts.iter().enumerate() {
            let so_far = parts[..=depth].join("/");
            match Self::kind_of(&dir, part).map_err(io_error("reading", &self.label(&so_far)))? {
                Some(FileType::Directory) => {}
                Some(kind) => return Err(self.refuse(&so_far, kind)),
                None if create => {
                    match rustix::fs::mkdirat(&dir, *part, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(io_error("creating", &self.label(&so_far))(e.into())),
                    }
                }
                None => return Ok(None),
            }
            dir = match rustix::fs::openat(&dir, *part, DIR_READ, Mode::empty()) {
                Ok(fd) => fd,
                // Replaced by a symlink (or removed) since it was looked at.
                Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                    return Err(self.refuse(&so_far, FileType::Symlink))
                }
                Err(e) => return Err(io_error("opening", &self.label(rel))(e.into())),
            };
        }
        Ok(Some(dir))
    }

    /// Opens the regular file `rel` (`a/b/c`) below the directory; `None` if it (or a directory
    /// on the way) does not exist. A symlink anywhere on the way, or a file that is not regular,
    /// is an error; a FIFO or device is never opened.
    pub(crate) fn open_file(&self, rel: &str) -> Result<Option<Region>, FileError> {
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
        let fd = match rustix::fs::openat(&dir, *name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP) => return Err(self.refuse(rel, FileType::Symlink)),
            Err(e) => return Err(io_error("opening", &self.label(rel))(e.into())),
        };
        // fstat again: what was opened may not be what was looked at.
        Region::whole(File::from(fd), self.label(rel)).map(Some)
    }

    /// Reads the regular file `rel` whole, refusing more than `limit` bytes.
    #[cfg(test)]
    pub(crate) fn read(&self, rel: &str, limit: u64) -> Result<Option<Vec<u8>>, FileError> {
        self.open_file(rel)?.map(|r| r.read_all(limit)).transpose()
    }

    /// Creates the directories of `rel` that are missing (refusing symlinks on the way).
    pub(crate) fn create_dirs(&self, rel: &str) -> Result<(), FileError> {
        let parts = self.components(rel)?;
        self.walk(rel, &parts, true)?;
        Ok(())
    }

    /// A new temporary file in the directory `rel_dir` (created if missing), removed on drop
    /// unless it is persisted.
    pub(crate) fn temp_file(&self, rel_dir: &str) -> Result<TempFile, FileError> {
        let dir = if rel_dir.is_empty() {
            rustix::fs::openat(&self.fd, ".", DIR_READ, Mode::empty())
                .map_err(|e| io_error("opening", &self.label(""))(e.into()))?
        } else {
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
            let name = format!("{TEMP_PREFIX}{}", hex::encode(rand::random::<[u8; 8]>()));
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
        let label = self.label(rel);
        let file = temp.file.as_mut().expect("a new temp file has its file");
        file.write_all(bytes).map_err(io_error("writing", &label))?;
        temp.persist(name)
    }

    /// Takes an exclusive lock on the directory itself (flock), waiting for other holders in
    /// this or other processes. The lock adds no file to the directory.
    pub(crate) fn lock(&self) -> Result<DirLock, FileError> {
        let fd = rustix::fs::openat(&self.fd, ".", DIR_READ, Mode::empty())
            .map_err(|e| io_error("opening", &self.label(""))(e.into()))?;
        let file = File::from(fd);
        file.lock().map_err(io_error("locking", &self.label("")))?;
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

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename, fsync of
/// the directory). The file is 0644 (less the umask).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| FileError::BadName {
        path: path.display().to_string(),
        root: dir.display().to_string(),
    })?;
    let mut temp = RootDir::open(dir)?.temp_file("")?;
    let file = temp.file.as_mut().expect("a new temp file has its file");
    file.write_all(bytes)
        .map_err(io_error("writing", &path.display().to_string()))?;
    temp.persist(name)
}

#[cfg(test)]
mod tests;
