//! `push --add-compression`: besides each image, a variant whose layers use another compression,
//! added to the index as podman adds it (containers/image `copy/multiple.go`): same platform,
//! annotations and artifactType, `io.github.containers.compression.zstd: true` on zstd
//! images, after the originals, and none for a platform that already has an image of that
//! compression. Layers are read from the image's source, decompressed when they are gzip or
//! zstd, and compressed the other way while they are sent.

use super::children::Gathered;
use super::recompress::Recompressed;
use super::report::{VariantAction, VariantDecision};
use super::{CopyEnv, PushError, PushOptions};
use crate::compress::{layer_compression, AddedCompression, Algorithm, Compression};
use crate::convert::convert_manifest;
use crate::oci::{self, Descriptor, ImageManifest, Index, ListFormat};
use crate::transport::{RawManifest, Transport};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The annotation containers/image puts on an index entry whose layers are zstd; clients that
/// read zstd may prefer that entry, the others skip it.
pub(crate) const ZSTD_ANNOTATION: &str = "io.github.containers.compression.zstd";

/// A pushed child that may get variants: its entry, where it is read from, its manifest as
/// pushed, and whether its layers are compressed on the way (read uncompressed).
pub(super) struct Candidate {
    pub(super) position: usize,
    pub(super) source: Arc<dyn Transport>,
    pub(super) raw: RawManifest,
    pub(super) recompressed: bool,
}

/// A variant to make: the child rewritten with other layers, and what it was asked as.
pub(super) struct Variant {
    pub(super) child: Recompressed,
    pub(super) added: AddedCompression,
}

/// Decides the variants of every candidate, gathers what they need, and marks the originals
/// whose pushed layers are zstd (podman marks them too, so that clients can choose).
pub(super) async fn plan_variants(
    env: &CopyEnv<'_>,
    candidates: Vec<Candidate>,
    index: &mut Index,
    options: &PushOptions,
    gathered: &mut Gathered,
) -> Result<(Vec<Variant>, Vec<VariantDecision>), PushError> {
    let mut variants = Vec::new();
    let mut decisions = Vec::new();
    if options.add_compression.is_empty() {
        return Ok((variants, decisions));
    }
    // What each candidate is: an image with readable layers (and their compression), or why not.
    let kinds: Vec<Result<Algorithm, String>> = candidates
        .iter()
        .map(|c| image_compression(c, &index.manifests[c.position], options))
        .collect();
    let mut present: HashMap<String, HashSet<Algorithm>> = HashMap::new();
    for (candidate, kind) in candidates.iter().zip(&kinds) {
        let entry = &mut index.manifests[candidate.position];
        let algorithm = match kind {
            Ok(Algorithm::Zstd) => {
                entry
                    .annotations
                    .insert(ZSTD_ANNOTATION.into(), "true".into());
                Algorithm::Zstd
            }
            _ if is_zstd(entry) => Algorithm::Zstd,
            _ => Algorithm::Gzip,
        };
        present
            .entry(platform_key(entry))
            .or_default()
            .insert(algorithm);
    }
    for (candidate, kind) in candidates.into_iter().zip(kinds) {
        let entry = index.manifests[candidate.position].clone();
        let key = platform_key(&entry);
        for &added in &options.add_compression {
            let mut decision = VariantDecision {
                of: entry.digest.clone(),
                platform: entry.platform.as_ref().map(|p| p.display()),
                compression: added.name().to_string(),
                action: VariantAction::Skip,
                reason: None,
            };
            let algorithm = added.algorithm();
            let have = present.entry(key.clone()).or_default();
            decision.reason = match &kind {
                Err(why) => Some(why.clone()),
                Ok(_) if have.contains(&algorithm) => Some(format!(
                    "the list already has a {} image for {}",
                    algorithm.name(),
                    decision.platform.as_deref().unwrap_or("no platform")
                )),
                Ok(_) => None,
            };
            if decision.reason.is_none() {
                let child = variant_of(env, &candidate, algorithm, options).await?;
                gathered.add_child_blobs(&child, &candidate.source);
                variants.push(Variant { child, added });
                have.insert(algorithm);
                decision.action = VariantAction::Add;
            }
            decisions.push(decision);
        }
    }
    Ok((variants, decisions))
}

/// The compression of an image's layers as pushed, or why it gets no variant.
fn image_compression(
    candidate: &Candidate,
    entry: &Descriptor,
    options: &PushOptions,
) -> Result<Algorithm, String> {
    if crate::platform::attested(entry).is_some() {
        return Err("an attestation, not an image".into());
    }
    if oci::is_index_type(&candidate.raw.media_type) {
        return Err("an index, not an image".into());
    }
    let manifest = ImageManifest::parse(&candidate.raw.bytes).map_err(|e| e.to_string())?;
    let config_type = manifest.config.media_type.as_str();
    if manifest
        .artifact_type
        .as_ref()
        .is_some_and(|t| !t.is_empty())
        || ![oci::OCI_CONFIG, oci::DOCKER_CONFIG].contains(&config_type)
    {
        return Err("an artifact, not an image".into());
    }
    if candidate.recompressed {
        return Ok(options.compression.algorithm);
    }
    let mut zstd = false;
    for layer in &manifest.layers {
        if !layer.urls.is_empty() {
            return Err(format!("layer {} is a foreign layer", layer.digest));
        }
        match layer_compression(&layer.media_type) {
            Some(Some(Algorithm::Zstd)) => zstd = true,
            Some(_) => {}
            None => {
                return Err(format!(
                    "layer {} is {:?}, which this tool cannot decompress",
                    layer.digest, layer.media_type
                ))
            }
        }
    }
    Ok(if zstd {
        Algorithm::Zstd
    } else {
        Algorithm::Gzip
    })
}

/// The variant of a candidate: its manifest (as OCI when the variant is zstd, which a Docker
/// manifest cannot name) rewritten once the layers are sent compressed with `algorithm`.
async fn variant_of(
    env: &CopyEnv<'_>,
    candidate: &Candidate,
    algorithm: Algorithm,
    options: &PushOptions,
) -> Result<Recompressed, PushError> {
    let compression = Compression::new(algorithm, None).expect("default levels are in range");
    let mut raw = candidate.raw.clone();
    if algorithm == Algorithm::Zstd && raw.media_type == oci::DOCKER_MANIFEST {
        if let Some(converted) = convert_manifest(&raw, ListFormat::Oci, false)? {
            raw = converted.manifest;
        }
    }
    let child = Recompressed::plan(
        env.local,
        &candidate.source,
        raw,
        candidate.position,
        compression,
    )
    .await?;
    child.check(options.format)?;
    Ok(child)
}

/// containers/image's idea of one platform: os, architecture, variant, os.version and the
/// sorted os.features.
fn platform_key(entry: &Descriptor) -> String {
    entry.platform.as_ref().map_or_else(String::new, |p| {
        let mut features = p.os_features.clone();
        features.sort();
        format!(
            "{}\n{}\n{}\n{}\n{}",
            p.os,
            p.architecture,
            p.variant.as_deref().unwrap_or_default(),
            p.os_version.as_deref().unwrap_or_default(),
            features.join(",")
        )
    })
}

fn is_zstd(entry: &Descriptor) -> bool {
    entry.annotations.get(ZSTD_ANNOTATION).map(String::as_str) == Some("true")
}

/// The index entry of a variant: the original's, naming the variant's manifest, marked as zstd
/// (or unmarked, for gzip).
pub(super) fn variant_entry(
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

/// Entries marked zstd after the others, each group in its order (containers/image sorts an
/// index so when it adds variants).
pub(super) fn zstd_last(entries: &mut [Descriptor]) {
    entries.sort_by_key(is_zstd);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

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
