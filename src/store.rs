//! The local store: lists by ID with their names and sources, cached manifests and configs by
//! digest; every write atomic (temp file + rename) and every read-modify-write under a lock.
//!
//! Layout (names are never used as paths; IDs and digests are validated hex):
//! ```text
//! ROOT/version                 store format version ("1")
//! ROOT/lock                    flock(2) target
//! ROOT/lists/<id>/name         the list's normalised name, written once at create
//! ROOT/lists/<id>/list.json    the list record: document + sources, replaced atomically
//! ROOT/blobs/sha256/<hex>      manifests and configs read at add time
//! ```

use crate::digest::Digest;
use crate::list::ManifestList;
use crate::oci::{DocumentError, Index, ListFormat};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The store format this build reads and writes.
pub const STORE_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context} {}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// sealos' words (`<name>: image not known`) for the name as the user typed it.
    #[error(
        "{0}: image not known (no manifest list by that name; create one with `manifest create`)"
    )]
    NotFound(String),
    #[error("{input:?} matches several lists: {}", ids.join(", "))]
    Ambiguous { input: String, ids: Vec<String> },
    /// sealos' words (`that name is already in use`), then what to do.
    #[error("{name}: that name is already in use by list {id}; use `manifest create --amend` to add to it, `--replace` to start it over, or `manifest rm {name}` first")]
    NameInUse { name: String, id: String },
    #[error("the list file {} is corrupt: {reason}; other lists are unaffected (remove it with `manifest rm {id}`)", path.display())]
    Corrupt {
        path: PathBuf,
        id: String,
        reason: String,
    },
    #[error("the store at {} was written by a newer version of manifest (store version {found}, this build reads {STORE_VERSION}); upgrade manifest or use another --store", root.display())]
    FutureVersion { root: PathBuf, found: String },
    #[error(transparent)]
    Document(#[from] DocumentError),
}

fn io_err<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        context,
        path: path.to_path_buf(),
        source,
    }
}

/// A list with its identity, as loaded from the store.
#[derive(Debug, Clone)]
pub struct StoredList {
    pub id: String,
    pub name: String,
    pub list: ManifestList,
}

impl StoredList {
    /// The list document exactly as it will be pushed, and its format (buildah's auto rule).
    pub fn document(&self) -> Result<(Vec<u8>, ListFormat), DocumentError> {
        let format = self.list.index.auto_format()?;
        Ok((self.list.index.to_bytes(format), format))
    }
}

#[derive(Serialize, Deserialize)]
struct Record {
    version: u32,
    id: String,
    name: String,
    /// The compact list document, as pushed; kept as a string so its bytes are exact.
    document: String,
    sources: BTreeMap<String, String>,
}

/// Held while a command reads or edits lists; released on drop.
pub struct StoreLock {
    _file: File,
}

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
        let version_path = store.root.join("version");
        match fs::read_to_string(&version_path) {
            Ok(text) if text.trim() == STORE_VERSION.to_string() => {}
            Ok(text) => {
                return Err(StoreError::FutureVersion {
                    root: store.root.clone(),
                    found: text.trim().chars().take(20).collect(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("reading", &version_path)(e)),
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lists_dir(&self) -> PathBuf {
        self.root.join("lists")
    }

    fn list_dir(&self, id: &str) -> PathBuf {
        self.lists_dir().join(id)
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    /// Creates the store's directories and version file if they are missing.
    fn ensure_layout(&self) -> Result<(), StoreError> {
        fs::create_dir_all(self.lists_dir()).map_err(io_err("creating", &self.lists_dir()))?;
        let version_path = self.root.join("version");
        if !version_path.exists() {
            write_atomic(&version_path, STORE_VERSION.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// Takes the store-wide lock for a read-modify-write.
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        self.ensure_layout()?;
        let path = self.root.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("opening", &path))?;
        file.lock().map_err(io_err("locking", &path))?;
        self.sweep_leftovers();
        Ok(StoreLock { _file: file })
    }

    /// Removes what a killed `create` or `rm` left behind (`.new-*`, `.deleted-*`). Both are
    /// only made under the lock, so nobody else is using them while we hold it.
    fn sweep_leftovers(&self) {
        let Ok(entries) = fs::read_dir(self.lists_dir()) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with(".new-") || name.starts_with(".deleted-") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Every list's `(id, name)`; a list whose name file cannot be read is skipped here and
    /// reported only when it is asked for by ID.
    pub fn names(&self) -> Result<Vec<(String, String)>, StoreError> {
        let dir = self.lists_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("reading", &dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("reading", &dir))?;
            let id = entry.file_name().to_string_lossy().to_string();
            if !is_list_id(&id) {
                continue;
            }
            if let Ok(name) = fs::read_to_string(entry.path().join("name")) {
                out.push((id, name.trim_end().to_string()));
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
        if crate::reference::looks_like_list_id_prefix(raw) {
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
        let dir = self.lists_dir();
        match fs::read_dir(&dir) {
            Ok(entries) => Ok(entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|id| is_list_id(id))
                .collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io_err("reading", &dir)(e)),
        }
    }

    pub fn load(&self, id: &str) -> Result<StoredList, StoreError> {
        let path = self.list_dir(id).join("list.json");
        let bytes = fs::read(&path).map_err(io_err("reading", &path))?;
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
        let index = Index::parse(record.document.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
        let mut sources = BTreeMap::new();
        for (digest, source) in record.sources {
            let digest = Digest::parse(&digest).map_err(|e| corrupt(e.to_string()))?;
            sources.insert(digest, source);
        }
        Ok(StoredList {
            id: record.id,
            name: record.name,
            list: ManifestList { index, sources },
        })
    }

    /// Creates an empty list called `name`; the caller holds the lock.
    pub fn create(&self, name: &str, _lock: &StoreLock) -> Result<StoredList, StoreError> {
        if let Some(id) = self.id_of(name)? {
            return Err(StoreError::NameInUse {
                name: name.to_string(),
                id,
            });
        }
        self.create_named(name, ManifestList::default())
    }

    /// Creates a list called `name` holding `content` in place of the list `old_id`
    /// (`create --replace`). The new list is complete and in place before the old one is
    /// deleted, so a crash or a failure leaves at least one of them, never neither.
    pub fn replace(
        &self,
        old_id: &str,
        name: &str,
        content: ManifestList,
        lock: &StoreLock,
    ) -> Result<StoredList, StoreError> {
        let list = self.create_named(name, content)?;
        self.delete(old_id, lock)?;
        Ok(list)
    }

    fn create_named(&self, name: &str, content: ManifestList) -> Result<StoredList, StoreError> {
        let id = new_list_id();
        let list = StoredList {
            id: id.clone(),
            name: name.to_string(),
            list: content,
        };
        // Build the whole list directory aside, then rename it into place: a crash leaves
        // either no list or a complete one.
        let staging = self.lists_dir().join(format!(".new-{id}"));
        fs::create_dir_all(&staging).map_err(io_err("creating", &staging))?;
        write_atomic(&staging.join("name"), format!("{name}\n").as_bytes())?;
        write_atomic(&staging.join("list.json"), &record_bytes(&list)?)?;
        let target = self.list_dir(&id);
        fs::rename(&staging, &target).map_err(io_err("creating", &target))?;
        sync_dir(&self.lists_dir());
        Ok(list)
    }

    /// Replaces a list's record atomically; the caller holds the lock.
    pub fn save(&self, list: &StoredList, _lock: &StoreLock) -> Result<(), StoreError> {
        let bytes = record_bytes(list)?;
        write_atomic(&self.list_dir(&list.id).join("list.json"), &bytes)
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
        let bytes = fs::read(self.blob_path(digest)).ok()?;
        digest.matches(&bytes).then(|| Bytes::from(bytes))
    }
}

fn record_bytes(list: &StoredList) -> Result<Vec<u8>, StoreError> {
    let (document, _) = list.document()?;
    let record = Record {
        version: STORE_VERSION,
        id: list.id.clone(),
        name: list.name.clone(),
        document: String::from_utf8(document).expect("serde_json writes UTF-8"),
        sources: list
            .list
            .sources
            .iter()
            .map(|(d, s)| (d.to_string(), s.clone()))
            .collect(),
    };
    Ok(serde_json::to_vec(&record).expect("records always serialise"))
}

fn is_list_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn new_list_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Writes `bytes` to `path` so that readers see the old file or the new one, never a mix:
/// a temp file in the same directory, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(io_err("creating a temporary file in", dir))?;
    temp.write_all(bytes).map_err(io_err("writing", path))?;
    temp.as_file().sync_all().map_err(io_err("writing", path))?;
    set_readable(temp.as_file());
    temp.persist(path)
        .map_err(|e| io_err("replacing", path)(e.error))?;
    sync_dir(dir);
    Ok(())
}

/// tempfile creates 0600 files; the store's files are 0644 like buildah's (never world-writable).
fn set_readable(file: &File) {
    use std::os::unix::fs::PermissionsExt;
    let _ = file.set_permissions(fs::Permissions::from_mode(0o644));
}

fn sync_dir(dir: &Path) {
    // Best effort: some filesystems refuse fsync on directories, and the rename is done anyway.
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_save_load_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lock = store.lock().unwrap();
        let created = store.create("localhost/a:latest", &lock).unwrap();
        assert!(matches!(
            store.create("localhost/a:latest", &lock),
            Err(StoreError::NameInUse { .. })
        ));
        let loaded = store.resolve(Some("localhost/a:latest"), "a").unwrap();
        assert_eq!(loaded.id, created.id);
        let by_prefix = store.resolve(None, &created.id[..5]).unwrap();
        assert_eq!(by_prefix.id, created.id);
        store.delete(&created.id, &lock).unwrap();
        assert!(matches!(
            store.resolve(Some("localhost/a:latest"), "a"),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn corrupt_list_is_named_and_others_work() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lock = store.lock().unwrap();
        let bad = store.create("localhost/bad:latest", &lock).unwrap();
        store.create("localhost/good:latest", &lock).unwrap();
        fs::write(
            dir.path().join("lists").join(&bad.id).join("list.json"),
            b"{garbage",
        )
        .unwrap();
        let err = store
            .resolve(Some("localhost/bad:latest"), "bad")
            .unwrap_err();
        assert!(err.to_string().contains("list.json is corrupt"), "{err}");
        store
            .resolve(Some("localhost/good:latest"), "good")
            .unwrap();
    }

    #[test]
    fn future_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("version"), "7\n").unwrap();
        let err = Store::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("newer version"), "{err}");
    }

    #[test]
    fn blobs_are_verified() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let digest = Digest::sha256_of(b"abc");
        assert!(store.put_blob(&digest, b"abd").is_err());
        store.put_blob(&digest, b"abc").unwrap();
        assert_eq!(store.get_blob(&digest).unwrap(), Bytes::from_static(b"abc"));
    }
}
