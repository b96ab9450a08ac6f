//! `manifest prune`: removes the cached manifests, configs and other blobs that no list uses
//! any more (what `rm` and `remove` leave behind).

use super::{io_err, Store, StoreError};
use crate::boundary::fsutil::{self, caps};
use crate::model::digest::Digest;
use rustix::fs::FileType;
use std::collections::HashSet;
use std::fs;

/// What [`Store::prune`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// The blobs removed, in digest order.
    pub removed: Vec<Digest>,
    /// Their sizes added up, in bytes.
    pub bytes: u64,
}

impl Store {
    /// Removes every cached blob that no list reaches (manifests, configs, an artifact's files,
    /// and files a failed `add --artifact` left): a list keeps the manifest of each entry
    /// and everything that manifest names (configs, an artifact's files, nested manifests), as
    /// far as the store holds them. Runs under the store lock, so no list changes meanwhile;
    /// a list that cannot be read stops it before anything is removed (its blobs are unknown).
    /// `dry_run` says what would go without removing it.
    pub fn prune(&self, dry_run: bool) -> Result<Pruned, StoreError> {
        // Files copied in for a list that is not saved yet (`add --artifact`) are named by no
        // list until its transaction: wait for such commands to finish first.
        let writers = self.blob_writers(true)?;
        let lock = self.lock()?;
        let mut keep = HashSet::new();
        for id in self.list_ids()? {
            let list = self.load(&id)?;
            // (digest, whether it is a manifest whose own descriptors must be followed)
            let mut pending: Vec<(Digest, bool)> = list
                .list
                .index
                .manifests
                .iter()
                .map(|entry| (entry.digest.clone(), true))
                .chain(
                    list.list
                        .index
                        .subject
                        .iter()
                        .map(|s| (s.digest.clone(), true)),
                )
                .collect();
            while let Some((digest, is_manifest)) = pending.pop() {
                if !keep.insert(digest.clone()) || !is_manifest {
                    continue;
                }
                if let Some(bytes) = self.get_blob(&digest) {
                    named_descriptors(&bytes, &mut pending);
                }
            }
        }
        let mut pruned = Pruned::default();
        for (digest, path) in self.cached_blobs()? {
            if keep.contains(&digest) {
                continue;
            }
            let size = fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
            if !dry_run {
                fs::remove_file(&path).map_err(io_err("removing", &path))?;
            }
            pruned.bytes = pruned.bytes.saturating_add(size);
            pruned.removed.push(digest);
        }
        pruned.removed.sort();
        drop(lock);
        drop(writers);
        Ok(pruned)
    }

    /// Every file of `blobs/<algorithm>/` named like a digest, with its path. Anything else
    /// there (temporary files of a killed write) is left alone.
    fn cached_blobs(&self) -> Result<Vec<(Digest, std::path::PathBuf)>, StoreError> {
        let root = self.root.join("blobs");
        let Some(algorithms) = fsutil::list_dir(&root, caps::DIR_ENTRIES)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for algorithm in algorithms.iter().filter(|e| e.kind == FileType::Directory) {
            let dir = root.join(&algorithm.name);
            let Some(entries) = fsutil::list_dir(&dir, caps::DIR_ENTRIES)? else {
                continue;
            };
            for entry in entries.iter().filter(|e| e.kind == FileType::RegularFile) {
                let name = format!(
                    "{}:{}",
                    algorithm.name.to_string_lossy(),
                    entry.name.to_string_lossy()
                );
                if let Ok(digest) = Digest::parse(&name) {
                    out.push((digest, dir.join(&entry.name)));
                }
            }
        }
        Ok(out)
    }
}

/// Every descriptor a manifest names (config, layers, manifests, subject), and whether it names
/// a manifest in turn (by its media type).
fn named_descriptors(bytes: &[u8], out: &mut Vec<(Digest, bool)>) {
    fn walk(value: &serde_json::Value, out: &mut Vec<(Digest, bool)>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(digest) = map
                    .get("digest")
                    .and_then(|d| d.as_str())
                    .and_then(|d| Digest::parse(d).ok())
                {
                    let media_type = map.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
                    let is_manifest =
                        media_type.contains("manifest") || media_type.contains("index");
                    out.push((digest, is_manifest));
                }
                map.values().for_each(|v| walk(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        walk(&value, out);
    }
}
