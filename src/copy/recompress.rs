//! Children whose layers are compressed while they are sent: those whose source serves only
//! uncompressed layers (containers-storage), and the compression variants `--add-compression`
//! asks for (each layer read, decompressed when it is gzip or zstd, compressed the other way).
//! Each layer is hashed once by the destination, the child manifest is rewritten with the
//! compressed descriptors (a new digest), and the index takes that digest, as buildah does.
//! Layers an earlier push compressed and the destination has are skipped.

use super::blobs::{counted, gave_up, with_retries};
use super::{LocalStore, Observer, PushError, PushOptions};
use crate::compress::{layer_compression, Algorithm, Compression};
use crate::convert::{convert_manifest, Converted};
use crate::digest::Digest;
use crate::oci::{Descriptor, ImageManifest, ListFormat};
use crate::transport::{read_blob, verified, RawManifest, Transport, MAX_CONFIG_BYTES};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// A layer compressed one way, known by its uncompressed digest (the config's diff_id).
pub(super) type LayerKey = (Digest, Compression);

/// One layer to compress and send, named by its uncompressed digest (the config's diff_id).
pub(super) struct CompressJob {
    uncompressed: Digest,
    /// The layer as the source's manifest names it.
    descriptor: Descriptor,
    source: Arc<dyn Transport>,
    /// How the source's layer is compressed (`None`: a plain tar).
    decompress: Option<Algorithm>,
    /// How it is sent.
    compression: Compression,
}

impl CompressJob {
    /// The layer's uncompressed digest: what the job is known by.
    pub(super) fn uncompressed(&self) -> &Digest {
        &self.uncompressed
    }

    /// How the layer is compressed on its way.
    pub(super) fn compression(&self) -> Compression {
        self.compression
    }

    /// The layer and its compression: the job's identity.
    pub(super) fn key(&self) -> LayerKey {
        (self.uncompressed.clone(), self.compression)
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
    /// Its entry in the index (for a variant: the entry it is a variant of).
    pub(super) position: usize,
    raw: RawManifest,
    manifest: ImageManifest,
    diff_ids: Vec<Digest>,
    compression: Compression,
}

impl Recompressed {
    /// Reads the child's config (for its diff_ids, one per layer); its layers are to be sent
    /// compressed with `compression`.
    pub(super) async fn plan(
        local: &dyn LocalStore,
        source: &Arc<dyn Transport>,
        raw: RawManifest,
        position: usize,
        compression: Compression,
    ) -> Result<Self, PushError> {
        let manifest = ImageManifest::parse(&raw.bytes)?;
        let config = match local.kept(&manifest.config.digest) {
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
            compression,
        })
    }

    /// How the layers are compressed.
    pub(super) fn compression(&self) -> Compression {
        self.compression
    }

    /// Refuses, before anything is sent, a compression the pushed manifest could not name
    /// (zstd in a Docker v2s2 manifest, stored so or asked for with `--format v2s2`).
    pub(super) fn check(&self, format: Option<ListFormat>) -> Result<(), PushError> {
        let compression = &self.compression;
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

    /// The config as it is, and each layer as a compression job (decompressed first when the
    /// source serves it compressed: a source of uncompressed layers serves every one as a tar,
    /// whatever its manifest says).
    pub(super) fn jobs(&self, source: &Arc<dyn Transport>) -> Vec<ChildBlob> {
        let served_compressed = !source.serves_uncompressed_layers();
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
                    decompress: layer_compression(&layer.media_type)
                        .flatten()
                        .filter(|_| served_compressed),
                    compression: self.compression,
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
        compressed: &HashMap<LayerKey, Descriptor>,
        format: Option<ListFormat>,
        allow_lossy: bool,
    ) -> Result<Converted, PushError> {
        let compression = &self.compression;
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
                .get(&(diff_id.clone(), *compression))
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
    local: &dyn LocalStore,
    options: &PushOptions,
    progress: Arc<dyn Observer>,
) -> Result<(LayerKey, Descriptor), PushError> {
    let compression = job.compression;
    let media_type = compression
        .layer_media_type(crate::oci::OCI_MANIFEST)
        .expect("OCI manifests name every compression");
    let (result, attempts) = with_retries(options, || async {
        let mut stream = counted(job.source.blob_get(&job.descriptor).await?, &progress);
        if let Some(algorithm) = job.decompress {
            // The compressed bytes are checked against their digest before they are trusted.
            stream = crate::compress::decompress(verified(stream, &job.descriptor), algorithm);
        }
        dest.blob_put_hashed(media_type, compression.compress(stream))
            .await
    })
    .await;
    match result {
        Ok(stored) => {
            local.record_compressed(&job.uncompressed, &compression, &stored);
            progress.blob_done();
            Ok((job.key(), stored))
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
            compression: Compression::default(),
        }
    }

    fn with(child: Recompressed, compression: Compression) -> Recompressed {
        Recompressed {
            compression,
            ..child
        }
    }

    fn sent() -> HashMap<LayerKey, Descriptor> {
        let gz = Descriptor::new(oci::OCI_LAYER_GZIP, Digest::sha256_of(b"gz"), 2);
        let zstd = Descriptor::new(oci::OCI_LAYER_ZSTD, Digest::sha256_of(b"zstd"), 4);
        let tar = Digest::sha256_of(b"tar");
        HashMap::from([
            ((tar.clone(), Compression::default()), gz),
            (
                (tar, Compression::new(Algorithm::Zstd, None).unwrap()),
                zstd,
            ),
        ])
    }

    #[test]
    fn rewrite_names_the_compressed_layers_and_keeps_the_rest() {
        let child = child_of(oci::OCI_MANIFEST);
        let rewritten = child.rewrite(&sent(), None, false).unwrap().manifest;
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
            &with(child, zstd)
                .rewrite(&sent(), None, false)
                .unwrap()
                .manifest
                .bytes,
        )
        .unwrap();
        assert_eq!(doc["layers"][0]["mediaType"], oci::OCI_LAYER_ZSTD);
        assert_eq!(doc["layers"][0]["size"], 4);
    }

    #[test]
    fn docker_manifests_take_gzip_and_refuse_zstd() {
        let child = child_of(oci::DOCKER_MANIFEST);
        let doc: Value =
            serde_json::from_slice(&child.rewrite(&sent(), None, false).unwrap().manifest.bytes)
                .unwrap();
        assert_eq!(doc["layers"][0]["mediaType"], oci::DOCKER_LAYER_GZIP);
        let zstd = Compression::new(Algorithm::Zstd, None).unwrap();
        assert!(child.check(Some(ListFormat::Docker)).is_ok());
        let child = with(child, zstd);
        let err = child.rewrite(&sent(), None, false).unwrap_err();
        assert!(err.to_string().contains("zstd"), "{err}");
        assert!(child.check(None).is_err());
        assert!(child.check(Some(ListFormat::Oci)).is_ok());
        let oci_child = with(child_of(oci::OCI_MANIFEST), zstd);
        assert!(oci_child.check(None).is_ok());
        assert!(
            oci_child.check(Some(ListFormat::Docker)).is_err(),
            "--format v2s2 too"
        );
    }

    #[test]
    fn a_layer_that_was_not_sent_is_an_error() {
        let err = child_of(oci::OCI_MANIFEST)
            .rewrite(&HashMap::new(), None, false)
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
