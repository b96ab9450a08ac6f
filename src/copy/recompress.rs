//! Children whose source serves only uncompressed layers (containers-storage): each layer is
//! compressed while it is sent and hashed once by the destination, the child manifest is
//! rewritten with the compressed descriptors (a new digest), and the index takes that digest,
//! as buildah does. Layers an earlier push compressed and the destination has are skipped.

use super::blobs::{counted, gave_up, with_retries};
use super::{Observer, PushError, PushOptions};
use crate::compress::Compression;
use crate::convert::{convert_manifest, Converted};
use crate::digest::Digest;
use crate::layer_cache::LayerCache;
use crate::oci::{Descriptor, ImageManifest, ListFormat};
use crate::store::Store;
use crate::transport::{read_blob, RawManifest, Transport, MAX_CONFIG_BYTES};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// One layer to compress and send, named by its uncompressed digest (the config's diff_id).
pub(super) struct CompressJob {
    uncompressed: Digest,
    /// The layer as the source's manifest names it.
    descriptor: Descriptor,
    source: Arc<dyn Transport>,
}

impl CompressJob {
    /// The layer's uncompressed digest: what the job is known by.
    pub(super) fn uncompressed(&self) -> &Digest {
        &self.uncompressed
    }

    /// The bytes read from the source (before compression), for progress totals.
    pub(super) fn source_size(&self) -> u64 {
        self.descriptor.size
    }
}

/// A blob of a rewritten child: sent as it is (the config), or compressed (a layer).
pub(super) enum ChildBlob {
    Plain(Descriptor),
    Compress(CompressJob),
}

/// A child whose manifest is rewritten once its layers are compressed.
pub(super) struct Recompressed {
    /// Its entry in the index.
    pub(super) position: usize,
    raw: RawManifest,
    manifest: ImageManifest,
    diff_ids: Vec<Digest>,
}

impl Recompressed {
    /// Reads the child's config (for its diff_ids, one per layer).
    pub(super) async fn plan(
        store: &Store,
        source: &Arc<dyn Transport>,
        raw: RawManifest,
        position: usize,
    ) -> Result<Self, PushError> {
        let manifest = ImageManifest::parse(&raw.bytes)?;
        let config = match store.get_blob(&manifest.config.digest) {
            Some(bytes) => bytes,
            None => read_blob(source.as_ref(), &manifest.config, MAX_CONFIG_BYTES)
                .await
                .map_err(|e| PushError::Transport {
                    context: format!(
                        "reading the config of {} from {}",
                        raw.digest,
                        source.describe()
                    ),
                    source: e,
                })?,
        };
        let diff_ids = diff_ids(&config).map_err(|detail| {
            PushError::Recompress(format!("image {}: its config {detail}", raw.digest))
        })?;
        if diff_ids.len() != manifest.layers.len() {
            return Err(PushError::Recompress(format!(
                "image {}: its manifest has {} layers but its config {} diff_ids",
                raw.digest,
                manifest.layers.len(),
                diff_ids.len()
            )));
        }
        Ok(Self {
            position,
            raw,
            manifest,
            diff_ids,
        })
    }

    /// Refuses, before anything is sent, a compression the pushed manifest could not name
    /// (zstd in a Docker v2s2 manifest, stored so or asked for with `--format v2s2`).
    pub(super) fn check(
        &self,
        compression: &Compression,
        format: Option<ListFormat>,
    ) -> Result<(), PushError> {
        let pushed_type = match format {
            Some(ListFormat::Docker) => crate::oci::DOCKER_MANIFEST,
            Some(ListFormat::Oci) => crate::oci::OCI_MANIFEST,
            None => self.raw.media_type.as_str(),
        };
        match compression.layer_media_type(pushed_type) {
            Some(_) => Ok(()),
            None => Err(self.unnamable(compression, pushed_type)),
        }
    }

    fn unnamable(&self, compression: &Compression, manifest_type: &str) -> PushError {
        PushError::Recompress(format!(
            "image {}: {} layers cannot be named in a {manifest_type} manifest; push with --format oci or --compression-format gzip",
            self.raw.digest,
            compression.algorithm.name(),
        ))
    }

    /// The config as it is, and each layer as a compression job.
    pub(super) fn jobs(&self, source: &Arc<dyn Transport>) -> Vec<ChildBlob> {
        let layers = self
            .manifest
            .layers
            .iter()
            .zip(&self.diff_ids)
            .map(|(layer, diff_id)| {
                ChildBlob::Compress(CompressJob {
                    uncompressed: diff_id.clone(),
                    descriptor: layer.clone(),
                    source: source.clone(),
                })
            });
        std::iter::once(ChildBlob::Plain(self.manifest.config.clone()))
            .chain(layers)
            .collect()
    }

    /// The digest of the child as it was stored (before compression).
    pub(super) fn digest(&self) -> &Digest {
        &self.raw.digest
    }

    /// The child manifest naming the compressed layers (then converted to `format` if asked);
    /// every other field stays as the source had it.
    pub(super) fn rewrite(
        &self,
        compressed: &HashMap<Digest, Descriptor>,
        compression: &Compression,
        format: Option<ListFormat>,
        allow_lossy: bool,
    ) -> Result<Converted, PushError> {
        let fail =
            |detail: String| PushError::Recompress(format!("image {}: {detail}", self.raw.digest));
        let media_type = compression
            .layer_media_type(&self.raw.media_type)
            .ok_or_else(|| self.unnamable(compression, &self.raw.media_type))?;
        let mut doc: Map<String, Value> =
            serde_json::from_slice(&self.raw.bytes).map_err(|e| fail(e.to_string()))?;
        let layers = doc
            .get_mut("layers")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| fail("its manifest has no layers array".into()))?;
        for (layer, diff_id) in layers.iter_mut().zip(&self.diff_ids) {
            let done = compressed
                .get(diff_id)
                .ok_or_else(|| fail(format!("layer {diff_id} was not sent")))?;
            let Some(fields) = layer.as_object_mut() else {
                return Err(fail("a layer is not an object".into()));
            };
            fields.insert("mediaType".into(), media_type.into());
            fields.insert("digest".into(), done.digest.as_str().into());
            fields.insert("size".into(), done.size.into());
        }
        let bytes = serde_json::to_vec(&doc).map_err(|e| fail(e.to_string()))?;
        let rewritten = RawManifest {
            digest: Digest::sha256_of(&bytes),
            media_type: self.raw.media_type.clone(),
            bytes: bytes.into(),
        };
        let converted = match format {
            Some(format) => convert_manifest(&rewritten, format, allow_lossy)?,
            None => None,
        };
        Ok(converted.unwrap_or(Converted {
            manifest: rewritten,
            dropped: Vec::new(),
        }))
    }
}

/// The config's `rootfs.diff_ids`.
fn diff_ids(config: &[u8]) -> Result<Vec<Digest>, String> {
    #[derive(serde::Deserialize)]
    struct Config {
        rootfs: RootFs,
    }
    #[derive(serde::Deserialize)]
    struct RootFs {
        diff_ids: Vec<Digest>,
    }
    serde_json::from_slice::<Config>(config)
        .map(|c| c.rootfs.diff_ids)
        .map_err(|e| format!("has no usable rootfs.diff_ids ({e})"))
}

/// Compresses one layer on its way to the destination, which hashes it; the compressed
/// descriptor is recorded for later pushes. A retryable failure starts again from the source.
pub(super) async fn send_layer(
    job: CompressJob,
    dest: Arc<dyn Transport>,
    cache: &LayerCache,
    options: &PushOptions,
    progress: Arc<dyn Observer>,
) -> Result<(Digest, Descriptor), PushError> {
    let compression = options.compression;
    let media_type = compression
        .layer_media_type(crate::oci::OCI_MANIFEST)
        .expect("OCI manifests name every compression");
    let (result, attempts) = with_retries(options, || async {
        let stream = job.source.blob_get(&job.descriptor).await?;
        dest.blob_put_hashed(media_type, compression.compress(counted(stream, &progress)))
            .await
    })
    .await;
    match result {
        Ok(stored) => {
            cache.put(&job.uncompressed, &compression, &stored);
            progress.blob_done();
            Ok((job.uncompressed, stored))
        }
        Err(source) => Err(PushError::Transport {
            context: format!(
                "copying layer {} from {} ({})",
                job.uncompressed,
                job.source.describe(),
                gave_up(attempts)
            ),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::Algorithm;
    use crate::oci;

    fn child_of(media_type: &str) -> Recompressed {
        let layer = Digest::sha256_of(b"tar");
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": oci::OCI_CONFIG, "digest": Digest::sha256_of(b"c").as_str(), "size": 1},
            "layers": [{"mediaType": oci::OCI_LAYER_TAR, "digest": layer.as_str(), "size": 3,
                        "annotations": {"k": "v"}}],
            "annotations": {"org.example": "kept"}
        }))
        .unwrap();
        let raw = RawManifest {
            digest: Digest::sha256_of(&bytes),
            media_type: media_type.to_string(),
            bytes: bytes.into(),
        };
        Recompressed {
            position: 0,
            manifest: ImageManifest::parse(&raw.bytes).unwrap(),
            raw,
            diff_ids: vec![layer],
        }
    }

    fn sent() -> HashMap<Digest, Descriptor> {
        let gz = Descriptor::new(oci::OCI_LAYER_GZIP, Digest::sha256_of(b"gz"), 2);
        HashMap::from([(Digest::sha256_of(b"tar"), gz)])
    }

    #[test]
    fn rewrite_names_the_compressed_layers_and_keeps_the_rest() {
        let child = child_of(oci::OCI_MANIFEST);
        let rewritten = child
            .rewrite(&sent(), &Compression::default(), None, false)
            .unwrap()
            .manifest;
        assert_ne!(rewritten.digest, child.raw.digest);
        assert_eq!(rewritten.digest, Digest::sha256_of(&rewritten.bytes));
        let doc: Value = serde_json::from_slice(&rewritten.bytes).unwrap();
        let layer = &doc["layers"][0];
        assert_eq!(layer["mediaType"], oci::OCI_LAYER_GZIP);
        assert_eq!(layer["digest"], Digest::sha256_of(b"gz").as_str());
        assert_eq!(layer["size"], 2);
        assert_eq!(layer["annotations"]["k"], "v");
        assert_eq!(doc["annotations"]["org.example"], "kept");
        let zstd = Compression::new(Algorithm::Zstd, None).unwrap();
        let doc: Value = serde_json::from_slice(
            &child
                .rewrite(&sent(), &zstd, None, false)
                .unwrap()
                .manifest
                .bytes,
        )
        .unwrap();
        assert_eq!(doc["layers"][0]["mediaType"], oci::OCI_LAYER_ZSTD);
    }

    #[test]
    fn docker_manifests_take_gzip_and_refuse_zstd() {
        let child = child_of(oci::DOCKER_MANIFEST);
        let doc: Value = serde_json::from_slice(
            &child
                .rewrite(&sent(), &Compression::default(), None, false)
                .unwrap()
                .manifest
                .bytes,
        )
        .unwrap();
        assert_eq!(doc["layers"][0]["mediaType"], oci::DOCKER_LAYER_GZIP);
        let zstd = Compression::new(Algorithm::Zstd, None).unwrap();
        let err = child.rewrite(&sent(), &zstd, None, false).unwrap_err();
        assert!(err.to_string().contains("zstd"), "{err}");
        assert!(child.check(&zstd, None).is_err());
        assert!(child.check(&zstd, Some(ListFormat::Oci)).is_ok());
        let oci_child = child_of(oci::OCI_MANIFEST);
        assert!(oci_child.check(&zstd, None).is_ok());
        assert!(
            oci_child.check(&zstd, Some(ListFormat::Docker)).is_err(),
            "--format v2s2 too"
        );
        assert!(oci_child
            .check(&Compression::default(), Some(ListFormat::Docker))
            .is_ok());
    }

    #[test]
    fn a_layer_that_was_not_sent_is_an_error() {
        let err = child_of(oci::OCI_MANIFEST)
            .rewrite(&HashMap::new(), &Compression::default(), None, false)
            .unwrap_err();
        assert!(err.to_string().contains("was not sent"), "{err}");
    }

    #[test]
    fn diff_ids_come_from_the_config() {
        let config = br#"{"rootfs":{"type":"layers","diff_ids":["sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}}"#;
        assert_eq!(diff_ids(config).unwrap().len(), 1);
        assert!(diff_ids(b"{}").is_err());
    }
}
