//! What a push must bring, gathered in the order it is found and each digest once across all
//! children, variants and referrers: manifests (nested indexes followed), blobs with the
//! transport each is read from, and layers to compress on the way.

use super::error::PushError;
use super::inputs::LocalStore;
use super::steps::{ChildBlob, CompressJob, LayerKey, Recompressed};
use crate::model::digest::Digest;
use crate::model::oci::{self, Descriptor, ImageManifest, Index};
use crate::transport::{ManifestRef, RawManifest, Transport};
use std::collections::HashSet;
use std::sync::Arc;

/// Manifests and blobs to bring, in the order they were found, each digest once.
#[derive(Default)]
pub(super) struct Gathered {
    /// Manifests to write by digest (children, nested manifests, referrers).
    pub(super) manifests: Vec<RawManifest>,
    /// Blobs to bring, with the transport each can be read from.
    pub(super) blobs: Vec<(Descriptor, Arc<dyn Transport>)>,
    /// Layers to compress while sending, each (uncompressed digest, compression) once.
    pub(super) layers: Vec<CompressJob>,
    seen_manifests: HashSet<Digest>,
    seen_blobs: HashSet<Digest>,
    seen_layers: HashSet<LayerKey>,
}

impl Gathered {
    pub(super) fn add_blob(&mut self, descriptor: &Descriptor, source: &Arc<dyn Transport>) {
        if self.seen_blobs.insert(descriptor.digest.clone()) {
            self.blobs.push((descriptor.clone(), source.clone()));
        }
    }

    fn add_layer(&mut self, job: CompressJob) {
        if self.seen_layers.insert(job.key()) {
            self.layers.push(job);
        }
    }

    /// Adds what a child rewritten with compressed layers needs: its config as it is, and each
    /// layer as a compression job.
    pub(super) fn add_child_blobs(&mut self, child: &Recompressed, source: &Arc<dyn Transport>) {
        for blob in child.blobs(source) {
            match blob {
                ChildBlob::Compress(job) => self.add_layer(job),
                ChildBlob::Plain(descriptor) => self.add_blob(&descriptor, source),
            }
        }
    }

    /// Adds a manifest and everything below it; nested indexes are followed so the
    /// destination never holds an index with unknown children.
    pub(super) async fn gather(
        &mut self,
        local: &dyn LocalStore,
        source: &Arc<dyn Transport>,
        root: RawManifest,
    ) -> Result<(), PushError> {
        let mut pending = vec![root];
        while let Some(raw) = pending.pop() {
            if !self.seen_manifests.insert(raw.digest.clone()) {
                continue;
            }
            if oci::is_index_type(&raw.media_type) {
                let nested = Index::parse(&raw.bytes)?;
                for child in nested.manifests {
                    pending.push(read_manifest(local, source.as_ref(), &child.digest).await?);
                }
            } else {
                let image = ImageManifest::parse(&raw.bytes)?;
                for blob in image.blobs() {
                    // Foreign layers (with URLs) are not copied by registries or by buildah.
                    if blob.urls.is_empty() {
                        self.add_blob(blob, source);
                    }
                }
            }
            self.manifests.push(raw);
        }
        Ok(())
    }
}

/// A manifest by digest: the store's kept copy, else read from `source`.
pub(super) async fn read_manifest(
    local: &dyn LocalStore,
    source: &dyn Transport,
    digest: &Digest,
) -> Result<RawManifest, PushError> {
    if let Some(bytes) = local.kept(digest) {
        let mut raw = RawManifest::from_bytes(bytes);
        raw.digest = digest.clone();
        return Ok(raw);
    }
    source
        .manifest_get(&ManifestRef::Digest(digest.clone()))
        .await
        .map_err(|e| PushError::Transport {
            context: format!("reading manifest {digest} from {}", source.describe()),
            source: e,
        })
}
