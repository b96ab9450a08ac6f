//! The steps of a push, owned here and nowhere else: planning makes them, the run carries them
//! out, and neither knows the other. A [`Plan`] is every step of one push; a dry run shows it
//! ([`Plan::report`]), a real run does exactly what it says.

use super::error::PushError;
use super::report::{
    BlobAction, BlobDecision, ChildAction, ChildDecision, Counts, Decisions, PushReport,
    ReferrerDecision, VariantDecision,
};
use super::tags::{index_manifest, Target};
use crate::copy::compress::{layer_compression, AddedCompression, Algorithm, Compression};
use crate::model::digest::Digest;
use crate::model::oci::{self, Descriptor, ImageManifest, Index, ListFormat};
use crate::transport::{RawManifest, Transport};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// A push, decided.
pub(super) struct Plan {
    pub(super) dest: Arc<dyn Transport>,
    pub(super) target: Target,
    pub(super) format: ListFormat,
    /// The index as pushed (children converted; rewritten children take their digests later).
    pub(super) index: Index,
    pub(super) children: Vec<ChildDecision>,
    pub(super) blobs: Vec<BlobStep>,
    pub(super) layers: Vec<LayerStep>,
    /// Child and nested manifests to write by digest.
    pub(super) manifests: Vec<RawManifest>,
    pub(super) recompressed: Vec<Recompressed>,
    /// Compression variants to add (`--add-compression`), and the decision for each image.
    pub(super) variants: Vec<Variant>,
    pub(super) variant_decisions: Vec<VariantDecision>,
    pub(super) referrers: ReferrerWrites,
    pub(super) notes: Vec<String>,
}

/// A blob to bring, where it is read from, and what to do with it.
pub(super) struct BlobStep {
    pub(super) descriptor: Descriptor,
    pub(super) source: Arc<dyn Transport>,
    pub(super) action: BlobAction,
    /// The repository to mount from (with [`BlobAction::Mount`]).
    pub(super) from: Option<String>,
}

/// A layer compressed one way, known by its uncompressed digest (the config's diff_id).
pub(super) type LayerKey = (Digest, Compression);

/// One layer to compress and send, named by its uncompressed digest (the config's diff_id).
pub(super) struct CompressJob {
    pub(super) uncompressed: Digest,
    /// The layer as the source's manifest names it.
    pub(super) descriptor: Descriptor,
    pub(super) source: Arc<dyn Transport>,
    /// How the source's layer is compressed (`None`: a plain tar).
    pub(super) decompress: Option<Algorithm>,
    /// How it is sent.
    pub(super) compression: Compression,
}

impl CompressJob {
    /// The layer and its compression: the job's identity.
    pub(super) fn key(&self) -> LayerKey {
        (self.uncompressed.clone(), self.compression)
    }

    /// The bytes read from the source (before compression), for progress totals.
    pub(super) fn source_size(&self) -> u64 {
        self.descriptor.size
    }
}

/// A layer to compress on the way, or the compressed layer an earlier push left at the
/// destination.
pub(super) struct LayerStep {
    pub(super) job: CompressJob,
    pub(super) present_as: Option<Descriptor>,
}

/// A blob of a rewritten child: sent as it is (the config), or compressed (a layer).
pub(super) enum ChildBlob {
    Plain(Descriptor),
    Compress(CompressJob),
}

/// A child whose manifest is rewritten once its layers are compressed: one whose source serves
/// only uncompressed layers (containers-storage), or a variant `--add-compression` adds.
pub(super) struct Recompressed {
    /// Its entry in the index (for a variant: the entry it is a variant of).
    pub(super) position: usize,
    pub(super) raw: RawManifest,
    pub(super) manifest: ImageManifest,
    /// The config's `rootfs.diff_ids`, one per layer.
    pub(super) diff_ids: Vec<Digest>,
    pub(super) compression: Compression,
}

impl Recompressed {
    /// The digest of the child as it was stored (before compression).
    pub(super) fn digest(&self) -> &Digest {
        &self.raw.digest
    }

    /// Refuses, before anything is sent, a compression the pushed manifest could not name
    /// (zstd in a Docker v2s2 manifest, stored so or asked for with `--format v2s2`).
    pub(super) fn check(&self, format: Option<ListFormat>) -> Result<(), PushError> {
        let compression = &self.compression;
        let pushed_type = match format {
            Some(ListFormat::Docker) => oci::DOCKER_MANIFEST,
            Some(ListFormat::Oci) => oci::OCI_MANIFEST,
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
    pub(super) fn blobs(&self, source: &Arc<dyn Transport>) -> Vec<ChildBlob> {
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

    /// The child manifest naming the compressed layers; every other field stays as the source
    /// had it. (`--format` is applied to the result, as to every child, by `format`.)
    pub(super) fn rewrite(
        &self,
        compressed: &HashMap<LayerKey, Descriptor>,
    ) -> Result<RawManifest, PushError> {
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
        Ok(RawManifest {
            digest: Digest::sha256_of(&bytes),
            media_type: self.raw.media_type.clone(),
            bytes: bytes.into(),
        })
    }
}

/// The annotation containers/image puts on an index entry whose layers are zstd; clients that
/// read zstd may prefer that entry, the others skip it.
pub(crate) const ZSTD_ANNOTATION: &str = "io.github.containers.compression.zstd";

/// A variant to make (`--add-compression`): the child rewritten with other layers, and what it
/// was asked as.
pub(super) struct Variant {
    pub(super) child: Recompressed,
    pub(super) added: AddedCompression,
}

impl Variant {
    /// The variant's index entry: the original's, naming the variant's `manifest`, marked as
    /// zstd (or unmarked, for gzip).
    pub(super) fn entry(&self, original: &Descriptor, manifest: &RawManifest) -> Descriptor {
        variant_entry(original, manifest, self.child.compression.algorithm)
    }
}

fn variant_entry(
    original: &Descriptor,
    manifest: &RawManifest,
    algorithm: Algorithm,
) -> Descriptor {
    let mut entry = original.clone();
    entry.media_type = manifest.media_type.clone();
    entry.digest = manifest.digest.clone();
    entry.size = manifest.bytes.len() as u64;
    match algorithm {
        Algorithm::Zstd => {
            entry
                .annotations
                .insert(ZSTD_ANNOTATION.into(), "true".into());
        }
        Algorithm::Gzip => {
            entry.annotations.remove(ZSTD_ANNOTATION);
        }
    }
    entry
}

/// Whether an index entry is marked as having zstd layers.
pub(super) fn is_zstd(entry: &Descriptor) -> bool {
    entry.annotations.get(ZSTD_ANNOTATION).map(String::as_str) == Some("true")
}

/// Entries marked zstd after the others, each group in its order (containers/image sorts an
/// index so when it adds variants).
pub(super) fn zstd_last(entries: &mut [Descriptor]) {
    entries.sort_by_key(is_zstd);
}

/// What `--referrers` adds to a push.
#[derive(Default)]
pub(super) struct ReferrerWrites {
    pub(super) decisions: Vec<ReferrerDecision>,
    /// Referrer manifests to write by digest, after the children.
    pub(super) manifests: Vec<RawManifest>,
    /// Fallback tags to write at the destination, with the index each lists.
    pub(super) tags: Vec<(String, RawManifest)>,
}

impl ReferrerWrites {
    /// The fallback tags written.
    pub(super) fn tag_names(&self) -> Vec<String> {
        self.tags.iter().map(|(tag, _)| tag.clone()).collect()
    }
}

impl Plan {
    /// What the plan decided, as a report of a dry run.
    pub(super) fn report(&self) -> PushReport {
        let index = (self.recompressed.is_empty() && self.variants.is_empty())
            .then(|| index_manifest(&self.index, self.format));
        PushReport {
            digest: index.as_ref().map(|m| m.digest.clone()),
            media_type: self.format.media_type().to_string(),
            index: index.map(|m| m.bytes.to_vec()),
            destination: self.target.image.to_string(),
            tags: self.target.tag_names(),
            references: self.target.references(),
            decisions: self.decisions(),
            counts: self.planned_counts(),
            dry_run: true,
            notes: self.notes.clone(),
        }
    }

    /// Every decision, in the form both a dry run and a real run report.
    fn decisions(&self) -> Decisions {
        let compress = self.layers.iter().map(|step| BlobDecision {
            digest: step.job.uncompressed.clone(),
            size: step.job.source_size(),
            action: match step.present_as {
                Some(_) => BlobAction::Present,
                None => BlobAction::Copy,
            },
            from: None,
            compress: Some(step.job.compression.algorithm.name().to_string()),
            stored_as: step.present_as.as_ref().map(|d| d.digest.clone()),
        });
        Decisions {
            manifests: self.children.clone(),
            blobs: self
                .blobs
                .iter()
                .map(|step| BlobDecision {
                    digest: step.descriptor.digest.clone(),
                    size: step.descriptor.size,
                    action: step.action,
                    from: step.from.clone(),
                    compress: None,
                    stored_as: None,
                })
                .chain(compress)
                .collect(),
            referrers: self.referrers.decisions.clone(),
            referrer_tags: self.referrers.tag_names(),
            variants: self.variant_decisions.clone(),
        }
    }

    /// The counts the plan expects (a refused mount becomes a copy when it runs).
    fn planned_counts(&self) -> Counts {
        let mut counts = Counts {
            manifests: (self.manifests.len()
                + self.recompressed.len()
                + self.variants.len()
                + self.referrers.manifests.len()) as u64,
            images_present: self
                .children
                .iter()
                .filter(|c| c.action == ChildAction::Skip)
                .count() as u64,
            ..Counts::default()
        };
        for blob in self.decisions().blobs {
            match blob.action {
                BlobAction::Present => {
                    counts.blobs_present += 1;
                    counts.bytes_skipped += blob.size;
                }
                BlobAction::Mount => {
                    counts.blobs_mounted += 1;
                    counts.bytes_mounted += blob.size;
                }
                BlobAction::Copy => {
                    counts.blobs_copied += 1;
                    counts.bytes_copied += blob.size;
                }
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let rewritten = child.rewrite(&sent()).unwrap();
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
        let doc: Value =
            serde_json::from_slice(&with(child, zstd).rewrite(&sent()).unwrap().bytes).unwrap();
        assert_eq!(doc["layers"][0]["mediaType"], oci::OCI_LAYER_ZSTD);
        assert_eq!(doc["layers"][0]["size"], 4);
    }

    #[test]
    fn docker_manifests_take_gzip_and_refuse_zstd() {
        let child = child_of(oci::DOCKER_MANIFEST);
        let doc: Value = serde_json::from_slice(&child.rewrite(&sent()).unwrap().bytes).unwrap();
        assert_eq!(doc["layers"][0]["mediaType"], oci::DOCKER_LAYER_GZIP);
        let zstd = Compression::new(Algorithm::Zstd, None).unwrap();
        assert!(child.check(Some(ListFormat::Docker)).is_ok());
        let child = with(child, zstd);
        let err = child.rewrite(&sent()).unwrap_err();
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
            .rewrite(&HashMap::new())
            .unwrap_err();
        assert!(err.to_string().contains("was not sent"), "{err}");
    }

    #[test]
    fn zstd_entries_go_last_in_their_order_and_variants_keep_the_rest() {
        let entry = |n: u8, zstd: bool| {
            let mut d = Descriptor::new(oci::OCI_MANIFEST, Digest::sha256_of(&[n]), 1);
            if zstd {
                d.annotations.insert(ZSTD_ANNOTATION.into(), "true".into());
            }
            d
        };
        let mut entries = vec![
            entry(1, true),
            entry(2, false),
            entry(3, true),
            entry(4, false),
        ];
        zstd_last(&mut entries);
        let order: Vec<_> = entries.iter().map(|e| e.digest.clone()).collect();
        let expected: Vec<_> = [2u8, 4, 1, 3]
            .iter()
            .map(|n| Digest::sha256_of(&[*n]))
            .collect();
        assert_eq!(order, expected);

        let mut original = entry(5, true);
        original.annotations.insert("k".into(), "v".into());
        original.artifact_type = Some("application/x".into());
        let manifest = RawManifest::from_bytes(bytes::Bytes::from_static(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#,
        ));
        let gzip = variant_entry(&original, &manifest, Algorithm::Gzip);
        assert_eq!(gzip.digest, manifest.digest);
        assert_eq!(gzip.annotations.get("k").map(String::as_str), Some("v"));
        assert!(!gzip.annotations.contains_key(ZSTD_ANNOTATION));
        assert_eq!(gzip.artifact_type.as_deref(), Some("application/x"));
        assert!(is_zstd(&variant_entry(
            &entry(6, false),
            &manifest,
            Algorithm::Zstd
        )));
    }
}
