//! The store's own blob area as a read-only transport: where push reads the manifests, configs
//! and files of artifacts made by `add --artifact`. Every file is read through
//! [`crate::boundary::fsutil`] (a regular file inside the store, never past its size).

use super::{check_manifest, BlobStream, ManifestRef, RawManifest, Transport, TransportError};
use crate::boundary::fsutil::{Region, RootDir};
use crate::model::digest::Digest;
use crate::model::oci::Descriptor;
use crate::store::Store;
use async_trait::async_trait;
use futures_util::StreamExt;
use std::path::Path;

/// Blobs are streamed in chunks of this size.
const CHUNK: usize = 256 * 1024;

/// The blobs of the store at a root directory, read by digest.
pub(crate) struct StoreBlobs {
    root: RootDir,
    label: String,
}

impl StoreBlobs {
    /// Opens the store rooted at `root` for reading.
    pub(crate) fn open(root: &Path) -> Result<Self, TransportError> {
        Ok(Self {
            root: RootDir::open(root)?,
            label: format!("the store at {}", root.display()),
        })
    }

    fn open_blob(&self, digest: &Digest, what: &str) -> Result<Region, TransportError> {
        self.root
            .open_file(Store::blob_rel_path(digest))?
            .ok_or_else(|| TransportError::NotFound {
                what: format!("{what} {digest} (add the artifact again)"),
                location: self.label.clone(),
            })
    }

    fn read_only(&self) -> TransportError {
        TransportError::Invalid(format!("{} is only read from by a push", self.label))
    }
}

#[async_trait]
impl Transport for StoreBlobs {
    fn describe(&self) -> String {
        self.label.clone()
    }

    async fn manifest_get(&self, reference: &ManifestRef) -> Result<RawManifest, TransportError> {
        let ManifestRef::Digest(digest) = reference else {
            return Err(TransportError::Invalid(format!(
                "{} holds manifests by digest only, not {reference}",
                self.label
            )));
        };
        let what = format!("manifest {digest} in {}", self.label);
        let bytes = self
            .open_blob(digest, "manifest")?
            .read_all(super::MAX_MANIFEST_BYTES)?;
        check_manifest(bytes.into(), reference, None, &what)
    }

    async fn manifest_put(&self, _: &ManifestRef, _: &RawManifest) -> Result<(), TransportError> {
        Err(self.read_only())
    }

    async fn blob_exists(&self, descriptor: &Descriptor) -> Result<bool, TransportError> {
        Ok(self
            .root
            .open_file(Store::blob_rel_path(&descriptor.digest))?
            .is_some_and(|blob| blob.size() == descriptor.size))
    }

    async fn blob_get(&self, descriptor: &Descriptor) -> Result<BlobStream, TransportError> {
        let blob = self.open_blob(&descriptor.digest, "blob")?;
        if blob.size() != descriptor.size {
            return Err(TransportError::SizeMismatch {
                what: blob.label().to_string(),
                expected: descriptor.size,
                actual: blob.size(),
            });
        }
        Ok(Box::pin(blob.stream(CHUNK).map(|chunk| Ok(chunk?))))
    }

    async fn blob_put(&self, _: &Descriptor, _: BlobStream) -> Result<(), TransportError> {
        Err(self.read_only())
    }
}
