//! The local store: lists by ID with their names and sources, cached manifests and configs by
//! digest; every write atomic (temp file + rename) and every read-modify-write under a lock.
//!
//! Layout (names are never used as paths; IDs and digests are validated hex):
//! ```text
//! ROOT/version                 store format version ("1")
//! ROOT/lock                    flock(2) target
//! ROOT/lists/<id>/name         the list's normalised name, written once at create
//! ROOT/lists/<id>/list.json    the list record: document + sources, replaced atomically
//! ROOT/blobs/sha256/<hex>      manifests and configs read at add time, and the files
//!                              (and manifests) of artifacts made by `add --artifact`
//! ```

use crate::boundary::fsutil::{self, caps, Cap, FileError};
use crate::model::digest::Digest;
use crate::model::list::ManifestList;
use crate::model::oci::{DocumentError, ListFormat, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES};
use bytes::Bytes;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

mod files;
mod prune;
mod record;
mod update;

pub use files::{BlobWriters, StoredFile};
pub use prune::Pruned;
use record::{record_bytes, Record};

/// The store format this build reads and writes.
pub const STORE_VERSION: u32 = 1;

/// Caps on the store's own files, so that a damaged store (or a FIFO or device in it) can
/// never make a command grow without bound or block. A list record holds a document of at most
/// [`MAX_MANIFEST_BYTES`], escaped as a JSON string, and a source per entry.
const RECORD: Cap = Cap::new("a list record", 8 * MAX_MANIFEST_BYTES);
const NAME: Cap = Cap::new("a list's name file", 4096);
const VERSION: Cap = Cap::new("the store version file", 1024);
const CACHED_BLOB: Cap = Cap::new("a cached manifest or config", MAX_CONFIG_BYTES);

/// Why the store could not read or change a list (a refused change leaves every list as it was).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The operating system refused a file operation in the store.
    #[error("{context} {}", path.display())]
    Io {
        /// What was being done (`reading`, `writing`, …).
        context: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// sealos' words (`<name>: image not known`) for the name as the user typed it.
    #[error(
        "{0}: image not known (no manifest list by that name; create one with `manifest create`)"
    )]
    NotFound(String),
    /// A list ID prefix that matches more than one list.
    #[error("{input:?} matches {} lists: {}", ids.len(), crate::boundary::terminal::shortened_list(ids))]
    Ambiguous {
        /// The prefix, as given.
        input: String,
        /// The IDs of every list it matches.
        ids: Vec<String>,
    },
    /// sealos' words (`that name is already in use`), then what to do.
    #[error("{name}: that name is already in use by list {id}; use `manifest create --amend` to add to it, `--replace` to start it over, or `manifest rm {name}` first")]
    NameInUse {
        /// The name asked for.
        name: String,
        /// The ID of the list that has it.
        id: String,
    },
    /// A list's file cannot be parsed; only that list is affected.
    #[error("the list file {} is corrupt: {reason}; other lists are unaffected (remove it with `manifest rm {id}`)", path.display())]
    Corrupt {
        /// The list's file.
        path: PathBuf,
        /// The list's ID.
        id: String,
        /// What is wrong with the file.
        reason: String,
    },
    /// The store, or one of its lists, was written by a newer store format than this build reads.
    #[error("the store at {} was written by a newer version of manifest (store version {found}, this build reads {STORE_VERSION}); upgrade manifest or use another --store", root.display())]
    FutureVersion {
        /// The store's root directory.
        root: PathBuf,
        /// The version found (its start, when it is long).
        found: String,
    },
    /// The store's version file holds something that is not a version number.
    #[error("the store version file {} is invalid: it holds {found}, not a store version (this build reads and writes {STORE_VERSION}); repair it or use another --store", path.display())]
    InvalidVersion {
        /// The version file.
        path: PathBuf,
        /// What it holds (its start, when it is long).
        found: String,
    },
    /// An edit would make a list larger than any registry accepts.
    #[error("list {name} would be {size} bytes, over the limit of {limit} bytes for a manifest list (registries and layouts refuse bigger ones); nothing was changed")]
    ListTooLarge {
        /// The list's name.
        name: String,
        /// The size the list document would have, in bytes.
        size: u64,
        /// The largest list document this tool writes, in bytes.
        limit: u64,
    },
    /// A list file is not a regular file inside the store, or too large.
    #[error(transparent)]
    File(#[from] FileError),
    /// A list's document is not a valid index.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// An edit of [`Store::update`] refused: the list is left as it was.
    #[error(transparent)]
    Edit(#[from] crate::model::list::ListError),
}

pub(crate) fn io_err<'a>(
    context: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        context,
        path: path.to_path_buf(),
        source,
    }
}

/// A list with its identity, as loaded from the store.
#[derive(Debug, Clone)]
pub struct StoredList {
    /// The list's ID: 64 hex digits, the name of its directory in the store.
    pub id: String,
    /// The name the list was created with.
    pub name: String,
    /// The list: its index and the source of every entry.
    pub list: ManifestList,
}

impl StoredList {
    /// The list document exactly as it will be pushed, and its format (buildah's auto rule).
    pub fn document(&self) -> Result<(Vec<u8>, ListFormat), DocumentError> {
        let format = self.list.index.auto_format()?;
        Ok((self.list.index.to_bytes(format), format))
    }
}

/// What [`Store::delete_if_unchanged`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The list was as expected and is deleted.
    Deleted,
    /// The list changed since it was read, so it was kept.
    Changed,
    /// The list was already deleted.
    Gone,
}

/// Held while a command reads or edits lists; released on drop.
pub struct StoreLock {
    _file: File,
}

/// The local store of manifest lists: one directory per list under a versioned root.
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The default store: `$MANIFEST_STORE` is handled by the CLI; this is the user's data dir.
    pub fn default_root() -> PathBuf {
        directories::ProjectDirs::from("", "", "manifest")
            .map(|dirs| dirs.data_dir().to_path_buf())
            .unwrap_or_else(|| PathBuf::from(".manifest-store"))
    }

    /// Opens a store; nothing is written until a command changes something.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let store = Self { root: root.into() };
        store.check_version()?;
        Ok(store)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Only a missing version file (a new store) or [`STORE_VERSION`] is accepted; a larger
    /// number is a newer store, anything else is damage.
    fn check_version(&self) -> Result<(), StoreError> {
        let path = self.root.join("version");
        let invalid = |found: String| StoreError::InvalidVersion {
            path: path.clone(),
            found,
        };
        let bytes = match fsutil::read_regular(&path, VERSION) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(()),
            Err(FileError::TooLarge { size, .. }) => return Err(invalid(format!("{size} bytes"))),
            Err(e) => return Err(e.into()),
        };
        let text = String::from_utf8_lossy(&bytes);
        let number = text.trim();
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            let mut shown: String = number.chars().take(40).collect();
            if shown.len() < number.len() {
                shown.push('…');
            }
            return Err(invalid(if number.is_empty() {
                "nothing".into()
            } else {
                format!("{shown:?}")
            }));
        }
        let significant = number.trim_start_matches('0');
        // Too many digits to parse is a number larger than any this build knows.
        let version = significant
            .parse::<u64>()
            .unwrap_or(if significant.is_empty() { 0 } else { u64::MAX });
        match version.cmp(&u64::from(STORE_VERSION)) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Less => Err(invalid(format!("{number:?}"))),
            std::cmp::Ordering::Greater => Err(StoreError::FutureVersion {
                root: self.root.clone(),
                found: significant.chars().take(20).collect(),
            }),
        }
    }

    fn lists_dir(&self) -> PathBuf {
        self.root.join("lists")
    }

    fn list_dir(&self, id: &str) -> PathBuf {
        self.lists_dir().join(id)
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join(Self::blob_rel_path(digest))
    }

    /// Creates the store's directories and version file if they are missing.
    fn ensure_layout(&self) -> Result<(), StoreError> {
        fs::create_dir_all(self.lists_dir()).map_err(io_err("creating", &self.lists_dir()))?;
        let version_path = self.root.join("version");
        if !version_path.exists() {
            write_atomic(&version_path, STORE_VERSION.to_string().as_bytes())?;
        }
        // The lock of the blob area (see `Store::blob_writers`), made with the store so that
        // taking it later changes nothing.
        let blobs_lock = self.root.join(files::BLOBS_LOCK);
        if !blobs_lock.exists() {
            fsutil::open_lock_file(&blobs_lock)?;
        }
        Ok(())
    }

    /// Takes the store-wide lock for a read-modify-write.
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        self.ensure_layout()?;
        let path = self.root.join("lock");
        let file = fsutil::open_lock_file(&path)?;
        fsutil::wait::exclusive_flock(&file, &path)?;
        self.sweep_leftovers();
        Ok(StoreLock { _file: file })
    }

    /// Removes what a killed `create` or `rm` left behind (`.new-*`, `.deleted-*`). Both are
    /// only made under the lock, so nobody else is using them while we hold it.
    fn sweep_leftovers(&self) {
        let Ok(Some(entries)) = fsutil::list_dir(&self.lists_dir(), caps::DIR_ENTRIES) else {
            return;
        };
        for entry in entries {
            let name = entry.name.to_string_lossy();
            if name.starts_with(".new-") || name.starts_with(".deleted-") {
                let _ = fs::remove_dir_all(self.lists_dir().join(&entry.name));
            }
        }
    }

    /// Every list's `(id, name)`; a list whose name file cannot be read is skipped here and
    /// reported only when it is asked for by ID.
    pub fn names(&self) -> Result<Vec<(String, String)>, StoreError> {
        let dir = self.lists_dir();
        let mut out = Vec::new();
        for id in self.list_ids()? {
            if let Ok(Some(name)) = fsutil::read_regular(&dir.join(&id).join("name"), NAME) {
                out.push((id, String::from_utf8_lossy(&name).trim_end().to_string()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The ID of the list called `name` (already normalised), if any.
    pub fn id_of(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .names()?
            .into_iter()
            .find(|(_, n)| n == name)
            .map(|(id, _)| id))
    }

    /// Finds a list by normalised name, full ID, or an unambiguous ID prefix (≥ 3 hex chars).
    pub fn resolve(&self, name: Option<&str>, raw: &str) -> Result<StoredList, StoreError> {
        let (id, _) = self.resolve_id(name, raw)?;
        self.load(&id)
    }

    /// Like [`Store::resolve`], without reading the list itself: `(id, name)`. Lets `rm` delete
    /// a list whose file is corrupt.
    pub fn resolve_id(
        &self,
        name: Option<&str>,
        raw: &str,
    ) -> Result<(String, String), StoreError> {
        let names = self.names()?;
        if let Some(name) = name {
            if let Some((id, name)) = names.iter().find(|(_, n)| n == name) {
                return Ok((id.clone(), name.clone()));
            }
        }
        if crate::model::reference::looks_like_list_id_prefix(raw) {
            let mut ids: Vec<String> = self.list_ids()?;
            ids.retain(|id| id.starts_with(raw));
            match ids.len() {
                0 => {}
                1 => {
                    let name = names
                        .iter()
                        .find(|(id, _)| id == &ids[0])
                        .map(|(_, n)| n.clone())
                        .unwrap_or_default();
                    return Ok((ids.swap_remove(0), name));
                }
                _ => {
                    return Err(StoreError::Ambiguous {
                        input: raw.to_string(),
                        ids,
                    })
                }
            }
        }
        Err(StoreError::NotFound(raw.to_string()))
    }

    fn list_ids(&self) -> Result<Vec<String>, StoreError> {
        let entries = fsutil::list_dir(&self.lists_dir(), caps::DIR_ENTRIES)?.unwrap_or_default();
        Ok(entries
            .into_iter()
            .map(|e| e.name.to_string_lossy().to_string())
            .filter(|id| is_list_id(id))
            .collect())
    }

    /// Loads the list with this exact ID.
    pub fn load(&self, id: &str) -> Result<StoredList, StoreError> {
        let path = self.list_dir(id).join("list.json");
        let bytes = fsutil::read_regular(&path, RECORD)?
            .ok_or_else(|| io_err("reading", &path)(io::Error::from(io::ErrorKind::NotFound)))?;
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.clone(),
            id: id.to_string(),
            reason,
        };
        let record: Record = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if record.version > STORE_VERSION {
            return Err(StoreError::FutureVersion {
                root: self.root.clone(),
                found: record.version.to_string(),
            });
        }
        record.into_list().map_err(corrupt)
    }

    /// Creates a list called `name` holding `content`, keeping `blobs` (what its entries were
    /// read with); the caller holds the lock. Nothing is written when it is refused.
    pub fn create(
        &self,
        name: &str,
        content: ManifestList,
        blobs: &[(Digest, Bytes)],
        _lock: &StoreLock,
    ) -> Result<StoredList, StoreError> {
        if let Some(id) = self.id_of(name)? {
            return Err(StoreError::NameInUse {
                name: name.to_string(),
                id,
            });
        }
        self.create_named(name, content, blobs)
    }

    /// Creates a list called `name` holding `content` in place of the list `old_id`
    /// (`create --replace`). The new list is complete and in place before the old one is
    /// deleted, so a crash or a failure leaves at least one of them, never neither.
    pub fn replace(
        &self,
        old_id: &str,
        name: &str,
        content: ManifestList,
        blobs: &[(Digest, Bytes)],
        lock: &StoreLock,
    ) -> Result<StoredList, StoreError> {
        let list = self.create_named(name, content, blobs)?;
        self.delete(old_id, lock)?;
        Ok(list)
    }

    fn create_named(
        &self,
        name: &str,
        content: ManifestList,
        blobs: &[(Digest, Bytes)],
    ) -> Result<StoredList, StoreError> {
        let lists = self.lists_dir();
        let id = new_list_id().map_err(io_err("drawing a random list ID for", &lists))?;
        let list = StoredList {
            id: id.clone(),
            name: name.to_string(),
            list: content,
        };
        let record = record_bytes(&list)?;
        for (digest, blob) in blobs {
            self.put_blob(digest, blob)?;
        }
        // Build the whole list directory aside, then rename it into place: a crash leaves
        // either no list or a complete one.
        let staging = self.lists_dir().join(format!(".new-{id}"));
        fs::create_dir_all(&staging).map_err(io_err("creating", &staging))?;
        write_atomic(&staging.join("name"), format!("{name}\n").as_bytes())?;
        write_atomic(&staging.join("list.json"), &record)?;
        let target = self.list_dir(&id);
        fs::rename(&staging, &target).map_err(io_err("creating", &target))?;
        sync_dir(&self.lists_dir());
        Ok(list)
    }

    /// Replaces a list's record atomically; the caller holds the lock.
    pub fn save(&self, list: &StoredList, lock: &StoreLock) -> Result<(), StoreError> {
        self.save_with_blobs(list, &[], lock)
    }

    /// Saves a list together with the manifests and configs its new entries were read with.
    /// The list is checked (its size) before anything is written, so a refused edit leaves
    /// the store as it was; the blobs go first, so a saved list always finds them.
    pub fn save_with_blobs(
        &self,
        list: &StoredList,
        blobs: &[(Digest, Bytes)],
        _lock: &StoreLock,
    ) -> Result<(), StoreError> {
        let bytes = record_bytes(list)?;
        for (digest, blob) in blobs {
            self.put_blob(digest, blob)?;
        }
        write_atomic(&self.list_dir(&list.id).join("list.json"), &bytes)
    }

    /// Deletes the list `pushed` only if the store still holds it exactly as it was read (a
    /// concurrent `add` or `annotate` must not be lost); the caller holds the lock.
    pub fn delete_if_unchanged(
        &self,
        pushed: &StoredList,
        lock: &StoreLock,
    ) -> Result<Deletion, StoreError> {
        let current = match self.load(&pushed.id) {
            Ok(current) => current,
            Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(Deletion::Gone)
            }
            Err(e) => return Err(e),
        };
        if record_bytes(&current)? != record_bytes(pushed)? {
            return Ok(Deletion::Changed);
        }
        self.delete(&pushed.id, lock)?;
        Ok(Deletion::Deleted)
    }

    /// Deletes a list (never the images it refers to); the caller holds the lock.
    pub fn delete(&self, id: &str, _lock: &StoreLock) -> Result<(), StoreError> {
        let dir = self.list_dir(id);
        let doomed = self.lists_dir().join(format!(".deleted-{id}"));
        fs::rename(&dir, &doomed).map_err(io_err("removing", &dir))?;
        sync_dir(&self.lists_dir());
        fs::remove_dir_all(&doomed).map_err(io_err("removing", &doomed))
    }

    /// Keeps a manifest or config by digest, after checking that the bytes match it.
    pub fn put_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        if path.exists() {
            return Ok(());
        }
        if !digest.matches(bytes) {
            return Err(StoreError::Io {
                context: "refusing to store content that does not match its digest at",
                path,
                source: io::Error::new(io::ErrorKind::InvalidData, digest.to_string()),
            });
        }
        let dir = path.parent().expect("blob paths have a parent");
        fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        write_atomic(&path, bytes)
    }

    /// A cached manifest or config, verified against its digest (a damaged copy is ignored).
    pub fn get_blob(&self, digest: &Digest) -> Option<Bytes> {
        let bytes = fsutil::read_regular(&self.blob_path(digest), CACHED_BLOB).ok()??;
        digest.matches(&bytes).then(|| Bytes::from(bytes))
    }
}

fn is_list_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// 256 bits from the operating system's random source, as hex (what buildah's IDs look like).
fn new_list_id() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Writes one of the store's files so that readers see the old file or the new one, never a mix:
/// a temp file in the same directory, fsync, rename, fsync of the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    Ok(fsutil::write_atomic(path, bytes)?)
}

fn sync_dir(dir: &Path) {
    // Best effort: some filesystems refuse fsync on directories, and the rename is done anyway.
    fsutil::sync_dir(dir);
}

#[cfg(test)]
mod tests;
