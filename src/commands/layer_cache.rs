//! What earlier pushes compressed: (uncompressed digest, algorithm, level) → the compressed
//! layer's descriptor, kept in the store, so a layer the destination already has is not
//! regenerated, compressed or sent again.

use crate::boundary::fsutil::{self, caps};
use crate::copy::compress::Compression;
use crate::model::digest::Digest;
use crate::model::oci::Descriptor;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The cache under a store's root (`<root>/compressed/`).
pub(crate) struct LayerCache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    media_type: String,
    digest: Digest,
    size: u64,
}

impl LayerCache {
    /// The cache of the store at `store_root`.
    pub(crate) fn new(store_root: &Path) -> Self {
        Self {
            dir: store_root.join("compressed"),
        }
    }

    fn path(&self, uncompressed: &Digest, compression: &Compression) -> PathBuf {
        self.dir
            .join(format!(
                "{}-{}",
                compression.algorithm.name(),
                compression.effective_level()
            ))
            .join(format!(
                "{}-{}.json",
                uncompressed.algorithm(),
                uncompressed.hex()
            ))
    }

    /// The compressed descriptor an earlier push recorded, if any (a damaged record, or one
    /// that is not a regular file within [`caps::LAYER_CACHE_RECORD`], is none).
    pub(crate) fn get(
        &self,
        uncompressed: &Digest,
        compression: &Compression,
    ) -> Option<Descriptor> {
        let path = self.path(uncompressed, compression);
        let bytes = fsutil::read_regular(&path, caps::LAYER_CACHE_RECORD).ok()??;
        let record: Record = serde_json::from_slice(&bytes).ok()?;
        Some(Descriptor::new(
            &record.media_type,
            record.digest,
            record.size,
        ))
    }

    /// Records a compressed descriptor; a failure only costs a later push some work.
    pub(crate) fn put(
        &self,
        uncompressed: &Digest,
        compression: &Compression,
        compressed: &Descriptor,
    ) {
        let path = self.path(uncompressed, compression);
        let record = Record {
            media_type: compressed.media_type.clone(),
            digest: compressed.digest.clone(),
            size: compressed.size,
        };
        let Ok(bytes) = serde_json::to_vec(&record) else {
            return;
        };
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = fsutil::write_atomic(&path, &bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::compress::Algorithm;

    #[test]
    fn records_per_algorithm_and_level() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path());
        let layer = Digest::sha256_of(b"tar");
        let gzip = Compression::default();
        let zstd = Compression::new(Algorithm::Zstd, None).unwrap();
        let compressed = Descriptor::new(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            Digest::sha256_of(b"gz"),
            2,
        );
        assert!(cache.get(&layer, &gzip).is_none());
        cache.put(&layer, &gzip, &compressed);
        assert_eq!(cache.get(&layer, &gzip).unwrap().digest, compressed.digest);
        assert!(cache.get(&layer, &zstd).is_none());
        let level9 = Compression::new(Algorithm::Gzip, Some(9)).unwrap();
        assert!(cache.get(&layer, &level9).is_none());
        assert!(
            cache
                .get(&layer, &Compression::new(Algorithm::Gzip, Some(6)).unwrap())
                .is_some(),
            "the default level is level 6"
        );
    }
}
