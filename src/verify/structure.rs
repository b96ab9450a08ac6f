//! The checks that read only manifests and configs: every child manifest there and parsing
//! (nested indexes followed), every blob it names there with its descriptor's size (`HEAD` on
//! a registry, so no pull is counted; the file's size in a layout), and each config's platform
//! equal to its entry's. Children are checked `jobs` at once.

use super::report::Report;
use super::subject::{Child, Subject};
use super::{Problem, ProblemKind, VerifyError};
use crate::model::digest::Digest;
use crate::model::oci::{self, Descriptor, ImageConfig, ImageManifest, Index, Platform};
use crate::model::platform::{is_attestation, same_platform};
use crate::transport::{
    read_blob, BlobStat, ManifestRef, RawManifest, Transport, TransportError, MAX_CONFIG_BYTES,
};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::sync::Arc;

/// How deep indexes inside the index are followed.
const MAX_NESTING: usize = 3;

/// An image whose layers a deep check reads.
pub(super) struct Image {
    /// The image's manifest digest.
    pub(super) digest: Digest,
    /// The platform its binaries must fit: its entry's, else its config's.
    pub(super) platform: Option<Platform>,
    /// Where its layers are read from.
    pub(super) transport: Arc<dyn Transport>,
    /// Its layers, base first.
    pub(super) layers: Vec<Descriptor>,
}

/// What checking one child found.
#[derive(Default)]
struct Found {
    problems: Vec<Problem>,
    images: Vec<Image>,
    /// Image manifests read (children and nested ones).
    manifests: u64,
    blobs: u64,
}

/// Checks every child of `subject`; returns the images a deep check reads, in entry order.
pub(super) async fn check(
    subject: &Subject,
    jobs: usize,
    report: &mut Report,
) -> Result<Vec<Image>, VerifyError> {
    let mut found: Vec<(usize, Found)> = stream::iter(subject.children.iter().enumerate())
        .map(|(position, child)| async move { Ok((position, check_child(child).await?)) })
        .buffer_unordered(jobs.max(1))
        .try_collect::<Vec<_>>()
        .await?;
    found.sort_by_key(|(position, _)| *position);
    let mut images = Vec::new();
    for (_, child) in found {
        report.problems.extend(child.problems);
        report.checked.images += child.manifests;
        report.checked.blobs += child.blobs;
        images.extend(child.images);
    }
    Ok(images)
}

/// One child, and the nested manifests below it when it is an index.
async fn check_child(child: &Child) -> Result<Found, VerifyError> {
    let mut found = Found::default();
    let Some(transport) = &child.transport else {
        return Ok(found);
    };
    let mut pending = vec![(child.entry.clone(), child.manifest.clone(), 0)];
    while let Some((entry, manifest, depth)) = pending.pop() {
        let platform = entry
            .platform
            .as_ref()
            .filter(|_| !is_attestation(&entry))
            .map(Platform::display);
        let problem = |kind, detail: String| {
            Problem::new(kind, Some(&entry.digest), platform.as_deref(), detail)
        };
        let manifest = match manifest {
            Some(manifest) => manifest,
            None => match read_manifest(transport.as_ref(), &entry.digest).await? {
                Ok(manifest) => manifest,
                Err(fault) => {
                    found.problems.push(problem(fault.0, fault.1));
                    continue;
                }
            },
        };
        if manifest.bytes.len() as u64 != entry.size {
            found.problems.push(problem(
                ProblemKind::SizeMismatch,
                format!(
                    "the manifest is {} bytes, its entry says {}",
                    manifest.bytes.len(),
                    entry.size
                ),
            ));
        }
        if oci::is_index_type(&manifest.media_type) {
            match Index::parse(&manifest.bytes) {
                Ok(nested) if depth < MAX_NESTING => pending.extend(
                    nested
                        .manifests
                        .into_iter()
                        .map(|nested| (nested, None, depth + 1)),
                ),
                Ok(_) => found.problems.push(problem(
                    ProblemKind::InvalidManifest,
                    format!("indexes are nested more than {MAX_NESTING} deep"),
                )),
                Err(e) => found.problems.push(problem(
                    ProblemKind::InvalidManifest,
                    format!("the index does not parse: {e}"),
                )),
            }
            continue;
        }
        let image = match ImageManifest::parse(&manifest.bytes) {
            Ok(image) => image,
            Err(e) => {
                found.problems.push(problem(
                    ProblemKind::InvalidManifest,
                    format!("the manifest does not parse: {e}"),
                ));
                continue;
            }
        };
        found.manifests += 1;
        let mut present = Vec::new();
        // Foreign layers (with URLs) are not stored by registries; push does not copy them either.
        for blob in image.blobs().filter(|blob| blob.urls.is_empty()) {
            found.blobs += 1;
            match stat(transport.as_ref(), blob).await? {
                None => present.push(blob.digest.clone()),
                Some(fault) => found
                    .problems
                    .push(problem(fault.0, fault.1).with_blob(&blob.digest)),
            }
        }
        let mut image_platform = entry.platform.clone();
        if present.contains(&image.config.digest) && is_image_config(&image.config.media_type) {
            match read_config(transport.as_ref(), &image.config).await? {
                Err(fault) => found
                    .problems
                    .push(problem(fault.0, fault.1).with_blob(&image.config.digest)),
                Ok(config) => {
                    let from_config = config.platform();
                    match &entry.platform {
                        Some(listed) if !is_attestation(&entry) => {
                            if !same_platform(listed, &from_config) {
                                found.problems.push(
                                    problem(
                                        ProblemKind::PlatformMismatch,
                                        format!(
                                            "the entry says {}, its config says {}",
                                            describe(listed),
                                            describe(&from_config)
                                        ),
                                    )
                                    .with_blob(&image.config.digest),
                                );
                            }
                        }
                        Some(_) => {}
                        None => image_platform = Some(from_config),
                    }
                }
            }
        }
        if !is_attestation(&entry) {
            let layers = image
                .layers
                .iter()
                .filter(|layer| layer.urls.is_empty() && present.contains(&layer.digest))
                .filter(|layer| is_tar_layer(&layer.media_type))
                .cloned()
                .collect();
            found.images.push(Image {
                digest: entry.digest.clone(),
                platform: image_platform,
                transport: transport.clone(),
                layers,
            });
        }
    }
    Ok(found)
}

/// A fault of the content: its kind and the words for it.
type Fault = (ProblemKind, String);

/// A manifest by digest; a missing or broken one is a fault, a failed read an error.
async fn read_manifest(
    transport: &dyn Transport,
    digest: &Digest,
) -> Result<Result<RawManifest, Fault>, VerifyError> {
    match transport
        .manifest_get(&ManifestRef::Digest(digest.clone()))
        .await
    {
        Ok(manifest) => Ok(Ok(manifest)),
        Err(TransportError::NotFound { .. }) => Ok(Err((
            ProblemKind::MissingManifest,
            format!("manifest {digest} not found in {}", transport.describe()),
        ))),
        Err(
            e @ (TransportError::DigestMismatch { .. }
            | TransportError::Invalid(_)
            | TransportError::TooLarge { .. }),
        ) => Ok(Err((ProblemKind::InvalidManifest, e.to_string()))),
        Err(e) => Err(VerifyError::new(
            format!("reading manifest {digest} from {}", transport.describe()),
            e,
        )),
    }
}

/// Whether a blob is there with its descriptor's size: `None` when it is.
async fn stat(transport: &dyn Transport, blob: &Descriptor) -> Result<Option<Fault>, VerifyError> {
    let stat = transport.blob_stat(blob).await.map_err(|e| {
        VerifyError::new(
            format!("checking blob {} in {}", blob.digest, transport.describe()),
            e,
        )
    })?;
    Ok(match stat {
        BlobStat::Absent => Some((
            ProblemKind::MissingBlob,
            format!(
                "blob {} ({} bytes) not found in {}",
                blob.digest,
                blob.size,
                transport.describe()
            ),
        )),
        BlobStat::Present { size: Some(size) } if size != blob.size => Some((
            ProblemKind::SizeMismatch,
            format!(
                "blob {} is {size} bytes in {}, its descriptor says {}",
                blob.digest,
                transport.describe(),
                blob.size
            ),
        )),
        BlobStat::Present { .. } => None,
    })
}

/// An image config, read whole (it is small and capped) and parsed.
async fn read_config(
    transport: &dyn Transport,
    config: &Descriptor,
) -> Result<Result<ImageConfig, Fault>, VerifyError> {
    let bytes = match read_blob(transport, config, MAX_CONFIG_BYTES).await {
        Ok(bytes) => bytes,
        Err(e @ (TransportError::DigestMismatch { .. } | TransportError::SizeMismatch { .. })) => {
            return Ok(Err((ProblemKind::DigestMismatch, e.to_string())))
        }
        Err(e @ TransportError::TooLarge { .. }) => {
            return Ok(Err((ProblemKind::InvalidConfig, e.to_string())))
        }
        Err(e) => {
            return Err(VerifyError::new(
                format!(
                    "reading config {} from {}",
                    config.digest,
                    transport.describe()
                ),
                e,
            ))
        }
    };
    Ok(serde_json::from_slice(&bytes).map_err(|e| {
        (
            ProblemKind::InvalidConfig,
            format!("the config is not an image config: {e}"),
        )
    }))
}

/// `os/arch[/variant]` and the OS version, when there is one.
fn describe(platform: &Platform) -> String {
    match platform.os_version.as_deref().filter(|v| !v.is_empty()) {
        Some(version) => format!("{} (os.version {version})", platform.display()),
        None => platform.display(),
    }
}

/// Configs that describe a runnable image (artifacts have others, or the empty config).
fn is_image_config(media_type: &str) -> bool {
    media_type == oci::OCI_CONFIG || media_type == oci::DOCKER_CONFIG
}

/// Layers that are tar streams (plain, gzip or zstd), whatever registry spelled the type.
pub(super) fn is_tar_layer(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.oci.image.layer.")
        || media_type.starts_with("application/vnd.docker.image.rootfs.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(os: &str, arch: &str, variant: Option<&str>, version: Option<&str>) -> Platform {
        Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(str::to_string),
            os_version: version.map(str::to_string),
            ..Platform::default()
        }
    }

    #[test]
    fn entries_and_configs_agree_as_runtimes_read_them() {
        let cases = [
            (
                platform("linux", "arm64", None, None),
                platform("linux", "arm64", Some("v8"), None),
                true,
            ),
            (
                platform("linux", "arm64", None, None),
                platform("linux", "aarch64", None, None),
                true,
            ),
            (
                platform("linux", "arm", None, None),
                platform("linux", "arm", Some("v7"), None),
                true,
            ),
            (
                platform("linux", "arm", Some("v6"), None),
                platform("linux", "arm", None, None),
                false,
            ),
            (
                platform("linux", "arm64", None, None),
                platform("linux", "amd64", None, None),
                false,
            ),
            (
                platform("linux", "amd64", None, None),
                platform("windows", "amd64", None, None),
                false,
            ),
            (
                platform("windows", "amd64", None, Some("10.0.17763.1")),
                platform("windows", "amd64", None, Some("10.0.20348.1")),
                false,
            ),
            (
                platform("windows", "amd64", None, Some("10.0.17763.1")),
                platform("windows", "amd64", None, None),
                false,
            ),
        ];
        for (entry, config, agree) in cases {
            assert_eq!(
                same_platform(&entry, &config),
                agree,
                "{} vs {}",
                describe(&entry),
                describe(&config)
            );
        }
        assert!(is_tar_layer(oci::OCI_LAYER_GZIP));
        assert!(is_tar_layer(
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        ));
        assert!(!is_tar_layer("application/vnd.in-toto+json"));
    }
}
