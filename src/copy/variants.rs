//! Planning `push --add-compression`: besides each image, a variant whose layers use another
//! compression, added to the index as podman adds it (containers/image `copy/multiple.go`):
//! same platform, annotations and artifactType, `io.github.containers.compression.zstd: true`
//! on zstd images, after the originals, and none for a platform that already has an image of
//! that compression. Each variant is a rewrite step: its layers are read from the image's
//! source, decompressed when they are gzip or zstd, and compressed the other way while they are
//! sent.

use super::children::Candidate;
use super::error::PushError;
use super::format::as_oci;
use super::gather::Gathered;
use super::inputs::{CopyEnv, PushOptions};
use super::recompress::plan_rewrite;
use super::report::{VariantAction, VariantDecision};
use super::steps::{is_zstd, Recompressed, Variant, ZSTD_ANNOTATION};
use crate::copy::compress::{layer_compression, Algorithm, Compression};
use crate::model::oci::{self, Descriptor, ImageManifest, Index};
use std::collections::{HashMap, HashSet};

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
    if crate::model::platform::attested(entry).is_some() {
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
        raw = as_oci(raw)?;
    }
    let child = plan_rewrite(
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
