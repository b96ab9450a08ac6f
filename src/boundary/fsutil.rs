//! The one reader of files that come from outside the tool (configuration, credentials,
//! certificates, containers-storage, layouts, archives, the store and its caches): only regular
//! files (never a FIFO, device or socket), measured on the open descriptor and read no further
//! than a cap per kind (`Cap`); never through a symlink below a root directory (`RootDir`);
//! directories listed with a bound on their entries. Writes are atomic (temp file, fsync,
//! rename) and, where other processes write too, made under a lock whose wait is bounded
//! ([`wait`]).
//!
//! `clippy.toml` forbids `std::fs::read`, `read_to_string`, `read_dir`, `File::open` and
//! `OpenOptions::open` (and their tokio twins) everywhere else, so new code cannot go around it.

mod region;
mod root_dir;
pub mod wait;

pub(crate) use region::Region;
pub(crate) use root_dir::{Entry, RootDir, TempFile, TEMP_PREFIX};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

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
    #[error(
        "{path} is {size} bytes, over the limit of {limit} bytes{}",
        for_kind(what)
    )]
    TooLarge {
        /// The path, for messages.
        path: String,
        /// Its size in bytes.
        size: u64,
        /// The most the caller reads, in bytes.
        limit: u64,
        /// The kind of file the limit is for (may be empty).
        what: &'static str,
    },
    /// A directory has more entries than the caller lists.
    #[error("{path} has more than {limit} entries, the most that is listed")]
    TooManyEntries {
        /// The directory, for messages.
        path: String,
        /// The most entries that are listed.
        limit: usize,
    },
    /// A path that must be a directory is not one.
    #[error("{path} is not a directory")]
    NotDirectory {
        /// The path, for messages.
        path: String,
    },
    /// A text file (configuration, credentials) that is not UTF-8.
    #[error("{path} is not UTF-8 text (invalid byte at offset {at})")]
    NotText {
        /// The path, for messages.
        path: String,
        /// Where the first invalid byte is.
        at: usize,
    },
    /// A lock another process holds was not released within the limit.
    #[error("{0}")]
    LockTimeout(Box<wait::LockTimeout>),
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

impl From<wait::LockTimeout> for FileError {
    fn from(timeout: wait::LockTimeout) -> Self {
        FileError::LockTimeout(Box::new(timeout))
    }
}

fn for_kind(what: &str) -> String {
    if what.is_empty() {
        String::new()
    } else {
        format!(" for {what}")
    }
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

/// What kind of file is read and the most that is read of it: the kind names the limit in the
/// error when a file is larger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cap {
    /// The kind of file, for messages (`a registries.conf file`); may be empty.
    pub what: &'static str,
    /// The most that is read, in bytes.
    pub bytes: u64,
}

impl Cap {
    /// A cap of `bytes` for files of the kind `what`.
    pub(crate) const fn new(what: &'static str, bytes: u64) -> Cap {
        Cap { what, bytes }
    }
}

/// The caps of the files the tool reads from outside (layouts, archives and the store have
/// theirs beside their readers).
pub(crate) mod caps {
    use super::Cap;

    const MIB: u64 = 1 << 20;

    /// registries.conf, its drop-ins, storage.conf: a few KiB in practice.
    pub(crate) const CONFIG: Cap = Cap::new("a configuration file", 4 * MIB);
    /// auth.json and docker's config.json.
    pub(crate) const AUTH_FILE: Cap = Cap::new("an auth file", 4 * MIB);
    /// A certs.d `*.crt` bundle, `*.cert` or `*.key` (the system's whole CA bundle is ~250 KiB).
    pub(crate) const CERTIFICATE: Cap = Cap::new("a certificate or key file", 4 * MIB);
    /// containers-storage's `layers.json` and `images.json` (about 2 KiB per image or layer).
    pub(crate) const STORAGE_METADATA: Cap =
        Cap::new("a containers-storage metadata file", 256 * MIB);
    /// A spec file of `manifest apply`.
    pub(crate) const APPLY_SPEC: Cap = Cap::new("a spec file", MIB);
    /// A record of the store's cache of compressed layers (one small JSON object).
    pub(crate) const LAYER_CACHE_RECORD: Cap = Cap::new("a layer cache record", 64 * 1024);
    /// A file of `/proc` (its size is not known before it is read).
    pub(crate) const PROC: Cap = Cap::new("a /proc file", 4 * MIB);
    /// Entries of one directory listed: certs.d, registries.conf.d, the store's lists.
    pub(crate) const DIR_ENTRIES: usize = 100_000;
}

/// Opens `path` (symlinks in it are followed: the caller or a configuration named it) if it is
/// a regular file; `None` if it does not exist. A FIFO, device or directory is refused without
/// being opened (looked at first), and the kind is checked again on the open descriptor.
pub(crate) fn open_regular(path: &Path) -> Result<Option<Region>, FileError> {
    let label = path.display().to_string();
    match rustix::fs::stat(path) {
        Ok(stat) => {
            let kind = FileType::from_raw_mode(stat.st_mode);
            if kind != FileType::RegularFile {
                return Err(FileError::NotRegular {
                    path: label,
                    kind: kind_name(kind),
                });
            }
        }
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(io_error("opening", &label)(e.into())),
    }
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => Region::whole(File::from(fd), label).map(Some),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(io_error("opening", &label)(e.into())),
    }
}

/// Reads `path` whole if it is a regular file within `cap`; `None` if it is missing.
pub(crate) fn read_regular(path: &Path, cap: Cap) -> Result<Option<Vec<u8>>, FileError> {
    open_regular(path)?.map(|r| r.read_capped(cap)).transpose()
}

/// [`read_regular`] for a text file (configuration, credentials): it must be UTF-8.
pub(crate) fn read_text(path: &Path, cap: Cap) -> Result<Option<String>, FileError> {
    let Some(bytes) = read_regular(path, cap)? else {
        return Ok(None);
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| FileError::NotText {
            path: path.display().to_string(),
            at: e.utf8_error().valid_up_to(),
        })
}

/// Reads a file of `/proc` (a regular file whose size is known only once it is read) up to
/// its end, or fails past 4 MiB.
pub fn read_proc(path: &Path) -> Result<Vec<u8>, FileError> {
    let label = path.display().to_string();
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty())
        .map_err(|e| io_error("opening", &label)(e.into()))?;
    // Checks the kind; the measured size (0 for /proc files) is not used.
    let region = Region::whole(File::from(fd), label.clone())?;
    let mut out = Vec::new();
    region
        .file()
        .as_ref()
        .take(caps::PROC.bytes + 1)
        .read_to_end(&mut out)
        .map_err(io_error("reading", &label))?;
    if out.len() as u64 > caps::PROC.bytes {
        return Err(FileError::TooLarge {
            path: label,
            size: out.len() as u64,
            limit: caps::PROC.bytes,
            what: caps::PROC.what,
        });
    }
    Ok(out)
}

/// The entries of the directory at `path` (symlinks in `path` are followed: the caller named
/// it), sorted by name, each with its own kind; `None` if it does not exist. More than `max`
/// entries is an error naming the limit.
pub(crate) fn list_dir(path: &Path, max: usize) -> Result<Option<Vec<Entry>>, FileError> {
    let label = path.display().to_string();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(rustix::io::Errno::NOTDIR) => {
            return Err(FileError::NotDirectory { path: label });
        }
        Err(e) => return Err(io_error("opening", &label)(e.into())),
    };
    list_fd(fd, &label, max).map(Some)
}

/// The entries of an open directory (without `.` and `..`), sorted by name.
fn list_fd(dir: OwnedFd, label: &str, max: usize) -> Result<Vec<Entry>, FileError> {
    let mut entries = Vec::new();
    let stream =
        rustix::fs::Dir::read_from(&dir).map_err(|e| io_error("reading", label)(e.into()))?;
    for entry in stream {
        let entry = entry.map_err(|e| io_error("reading", label)(e.into()))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        if entries.len() == max {
            return Err(FileError::TooManyEntries {
                path: label.to_string(),
                limit: max,
            });
        }
        let name = OsStr::from_bytes(name).to_os_string();
        let kind = match entry.file_type() {
            // Some filesystems do not say in the listing: ask, without following.
            FileType::Unknown => {
                match rustix::fs::statat(&dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(stat) => FileType::from_raw_mode(stat.st_mode),
                    Err(rustix::io::Errno::NOENT) => continue,
                    Err(e) => return Err(io_error("reading", label)(e.into())),
                }
            }
            kind => kind,
        };
        entries.push(Entry { name, kind });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// Opens (creating it if missing) the lock file at `path`, for an exclusive flock held while
/// the caller writes. Nothing is read from it.
pub(crate) fn open_lock_file(path: &Path) -> Result<File, FileError> {
    let label = path.display().to_string();
    let flags =
        OFlags::WRONLY | OFlags::CREATE | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::from_raw_mode(0o644))
        .map_err(|e| io_error("opening", &label)(e.into()))?;
    let file = File::from(fd);
    let kind = rustix::fs::fstat(&file)
        .map(|stat| FileType::from_raw_mode(stat.st_mode))
        .map_err(|e| io_error("opening", &label)(e.into()))?;
    if kind != FileType::RegularFile {
        return Err(FileError::NotRegular {
            path: label,
            kind: kind_name(kind),
        });
    }
    Ok(file)
}

/// Syncs the directory at `path` (after a rename in it); best effort, as some filesystems
/// refuse fsync on directories.
pub(crate) fn sync_dir(path: &Path) {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if let Ok(fd) = rustix::fs::open(path, flags, Mode::empty()) {
        let _ = rustix::fs::fsync(&fd);
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
    temp.write_all(bytes, &path.display().to_string())?;
    temp.persist(name)
}

#[cfg(test)]
#[path = "fsutil_tests.rs"]
mod tests;
