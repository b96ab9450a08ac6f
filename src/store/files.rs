//! Files copied into the store's blob area (the layers and config of `add --artifact`): a
//! regular file, measured before it is read and read no further than that size, hashed while
//! it is written to a temporary file, then renamed to its digest.

use super::{io_err, Store, StoreError};
use crate::boundary::fsutil::{self, RootDir};
use crate::model::digest::Digest;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};
use std::path::Path;

/// The lock of the blob area, beside the store's own `lock`.
pub(super) const BLOBS_LOCK: &str = "blobs.lock";

/// How many first bytes of a file are kept to tell its media type (what a sniffer reads).
const HEAD_LEN: usize = 512;

/// A file kept in the store: its digest and size, and its first bytes.
#[derive(Debug, Clone)]
pub struct StoredFile {
    /// The sha256 of the file's bytes, under which it is stored.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its first bytes (up to 512), to tell its media type.
    pub head: Vec<u8>,
}

/// Held by a command that copies files into the blob area before the transaction that makes a
/// list name them (`add --artifact`): `prune` waits for it, so it never removes a file that is
/// about to be named. Released on drop.
pub struct BlobWriters {
    _file: std::fs::File,
}

impl Store {
    /// Takes the blob area for writing files a list will name (shared: writers run side by
    /// side), or, `exclusive`, for removing what no list names (`prune`). Always taken before
    /// the store lock, never while holding it.
    pub fn blob_writers(&self, exclusive: bool) -> Result<BlobWriters, StoreError> {
        self.ensure_layout()?;
        let path = self.root().join(BLOBS_LOCK);
        let file = fsutil::open_lock_file(&path)?;
        if exclusive {
            fsutil::wait::exclusive_flock(&file, &path)?;
        } else {
            fsutil::wait::shared_flock(&file, &path)?;
        }
        Ok(BlobWriters { _file: file })
    }

    /// Copies the regular file at `path` into the blob area, atomically. A file that changes
    /// size while it is read is refused, and nothing is stored.
    pub fn put_file(&self, path: &Path) -> Result<StoredFile, StoreError> {
        let region = fsutil::open_regular(path)?.ok_or_else(|| {
            io_err("reading", path)(io::Error::new(
                io::ErrorKind::NotFound,
                "no such file or directory",
            ))
        })?;
        self.ensure_layout()?;
        let root = RootDir::open(self.root())?;
        let mut temp = root.temp_file("blobs/sha256")?;
        let mut out = temp.take_file();
        let mut reader = region.reader();
        let mut hasher = Sha256::new();
        let mut head = Vec::with_capacity(HEAD_LEN);
        let mut buf = vec![0u8; 1 << 20];
        let label = path.display().to_string();
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| io_err("reading", path)(e))?;
            if n == 0 {
                break;
            }
            let chunk = &buf[..n];
            hasher.update(chunk);
            if head.len() < HEAD_LEN {
                head.extend_from_slice(&chunk[..(HEAD_LEN - head.len()).min(n)]);
            }
            out.write_all(chunk)
                .map_err(|e| io_err("writing a copy of", Path::new(&label))(e))?;
        }
        out.sync_all()
            .map_err(|e| io_err("writing a copy of", Path::new(&label))(e))?;
        let digest = Digest::from_sha256(hasher);
        temp.persist(digest.hex())?;
        Ok(StoredFile {
            digest,
            size: region.size(),
            head,
        })
    }

    /// Where a blob of the store lives, relative to its root (`blobs/<algorithm>/<hex>`).
    pub fn blob_rel_path(digest: &Digest) -> String {
        format!("blobs/{}/{}", digest.algorithm(), digest.hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_kept_by_its_digest_and_a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let file = dir.path().join("data.bin");
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&file, &content).unwrap();
        let stored = store.put_file(&file).unwrap();
        assert_eq!(stored.digest, Digest::sha256_of(&content));
        assert_eq!(stored.size, content.len() as u64);
        assert_eq!(stored.head, content[..512]);
        let kept = dir
            .path()
            .join("store")
            .join(Store::blob_rel_path(&stored.digest));
        assert!(std::fs::read(&kept).unwrap() == content);
        // The same file again changes nothing; a short file keeps all of itself as its head.
        assert_eq!(store.put_file(&file).unwrap().digest, stored.digest);
        std::fs::write(&file, b"hi").unwrap();
        assert_eq!(store.put_file(&file).unwrap().head, b"hi");

        let error = store.put_file(dir.path()).unwrap_err().to_string();
        assert!(error.contains("not a regular file"), "{error}");
        let error = store
            .put_file(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing"), "{error}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("store/blobs/sha256"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
