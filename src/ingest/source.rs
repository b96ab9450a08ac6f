//! Reading an image to add: its manifest (once, as raw bytes), its config when the platform must
//! be filled, and the choice of entries when the image is an index.

use crate::boundary::terminal::shortened_list;
use crate::model::digest::Digest;
use crate::model::list::{PlatformWanted, Source};
use crate::model::oci::{self, Descriptor, ImageConfig, ImageManifest, Index};
use crate::model::platform::PlatformFilter;
use crate::model::reference::{ImageRef, LayoutRef, RegistryRef};
use crate::store::Store;
use crate::transport::open::Transports;
use crate::transport::{read_blob, ManifestRef, RawManifest, TransportError, MAX_CONFIG_BYTES};
use bytes::Bytes;

/// Why an image cannot be read for a list.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The transport failed to read the image.
    #[error("reading {image}")]
    Transport {
        /// The image, as the user named it.
        image: String,
        /// What the transport reported.
        #[source]
        source: TransportError,
    },
    /// The manifest or its config is not a usable image.
    #[error("{image} is not an image: {reason}")]
    NotAnImage {
        /// The image, as the user named it.
        image: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The manifest is an index that does not parse.
    #[error("{image} is not a usable index: {reason}")]
    NotAnIndex {
        /// The image, as the user named it.
        image: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The image is an index without an entry for the platform asked for.
    #[error("{image} is an index with no entry for platform {wanted} (it has: {available}); choose one with --os/--arch/--variant, or add them all with --all")]
    NoMatchingPlatform {
        /// The image, as the user named it.
        image: String,
        /// The platform asked for, as `os/arch[/variant]`.
        wanted: String,
        /// The platforms the index has.
        available: String,
    },
    /// The image is a single image of another platform than `--platform` asks for.
    #[error("{image} is {platform}, not one of the platforms asked for ({wanted})")]
    OtherPlatform {
        /// The image, as the user named it.
        image: String,
        /// The platform the image is for.
        platform: String,
        /// The platforms asked for.
        wanted: String,
    },
    /// A bare name is neither in local storage nor readable from a registry.
    #[error("{name:?} is neither a registry image nor a local one (locally: {local})")]
    NotLocalNorRemote {
        /// The name, as the user typed it.
        name: String,
        /// Why the local lookup failed, as one line.
        local: String,
        /// Why the registry read failed.
        #[source]
        source: Box<SourceError>,
    },
}

/// An image that could not be read because its registry could not be reached, told as buildah
/// and podman tell it (`pinging container registry HOST: …`), then what a bare name's local
/// lookup found.
#[derive(Debug, thiserror::Error)]
#[error("{error}{}", local_suffix(.local))]
pub struct Unreachable {
    /// The image that was being read, as the user named it.
    pub image: String,
    /// The failure to reach its registry.
    pub error: TransportError,
    /// For a bare name: the name and why no local image had it.
    pub local: Option<(String, String)>,
}

fn local_suffix(local: &Option<(String, String)>) -> String {
    match local {
        Some((name, why)) => {
            format!("; {name:?} is neither a registry image nor a local one (locally: {why})")
        }
        None => String::new(),
    }
}

impl SourceError {
    /// When the image could not be read because its registry could not be reached: that
    /// failure first, with the image that was being read (and for a bare name, the local miss
    /// after it), as buildah and podman report it: `reading image "IMAGE": pinging container
    /// registry HOST: …`.
    pub fn into_unreachable(self) -> Result<Unreachable, Self> {
        if !self.is_unreachable() {
            return Err(self);
        }
        match self {
            SourceError::Transport { image, source } => Ok(Unreachable {
                image,
                error: source,
                local: None,
            }),
            SourceError::NotLocalNorRemote {
                name,
                local,
                source,
            } => source.into_unreachable().map(|unreachable| Unreachable {
                local: Some((name, local)),
                ..unreachable
            }),
            other => Err(other),
        }
    }

    fn is_unreachable(&self) -> bool {
        match self {
            SourceError::Transport { source, .. } => source.is_unreachable(),
            SourceError::NotLocalNorRemote { source, .. } => source.is_unreachable(),
            _ => false,
        }
    }
}

/// What reading an image for `add` produced.
#[derive(Debug, Clone)]
pub struct Added {
    /// The digest of the manifest the reference named (the index's, for `--all`).
    pub digest: Digest,
    /// The entries to add: one, or every entry of an index with `--all`.
    pub entries: Vec<NewEntry>,
    /// Manifests and configs read on the way, for the store to keep when it saves the list
    /// (nothing is written to the store while reading, so a refused edit changes nothing).
    pub blobs: Vec<(Digest, Bytes)>,
}

/// One entry about to be added to a list.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// The entry as it goes into the list (digest, size, media type, platform).
    pub descriptor: Descriptor,
    /// Where push reads this entry's content from, pinned by digest where that means anything.
    pub source: Source,
}

/// How to turn an index into entries.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `--all`: every entry of an index, not one picked by platform.
    pub all: bool,
    /// `--os`/`--arch`/`--variant`: which entry of an index to take (the host's when unset).
    pub platform: Option<PlatformWanted>,
    /// `--platform`: the entries of these platforms, with their attestations (with or without
    /// `all`); a single image must be one of them.
    pub filter: Option<PlatformFilter>,
}

/// Reads `image` and returns the entries it contributes, with the manifests and configs to cache
/// so that `inspect` and `push` of layout children work offline.
pub(crate) async fn read_entries(
    transports: &Transports,
    store: &Store,
    image: &ImageRef,
    selection: &Selection,
) -> Result<Added, SourceError> {
    let label = image.to_string();
    let fail = |source| SourceError::Transport {
        image: label.clone(),
        source,
    };
    let (transport, reference) = transports.open_read(image).await.map_err(fail)?;
    let manifest = transport.manifest_get(&reference).await.map_err(fail)?;
    let source_for = |digest: &Digest| {
        Source::Image(
            transport
                .source_of(digest)
                .unwrap_or_else(|| pinned_source(image, digest)),
        )
    };

    if oci::is_index_type(&manifest.media_type) {
        let index = Index::parse(&manifest.bytes).map_err(|e| SourceError::NotAnIndex {
            image: label.clone(),
            reason: e.to_string(),
        })?;
        let available = || shortened_list(crate::model::platform::platforms(&index.manifests));
        let chosen: Vec<Descriptor> = if let Some(filter) = &selection.filter {
            let chosen = crate::model::platform::selected(&index.manifests, filter);
            if chosen.is_empty() {
                return Err(SourceError::NoMatchingPlatform {
                    image: label.clone(),
                    wanted: filter.display(),
                    available: available(),
                });
            }
            chosen
                .into_iter()
                .map(|at| index.manifests[at].clone())
                .collect()
        } else if selection.all {
            index.manifests.clone()
        } else if let (None, Some(image)) = (&selection.platform, only_image(&index.manifests)) {
            // A per-arch CI build's digest: buildx wraps its one image (and the image's
            // attestation) in an index. It is that image, whatever the host's platform.
            index
                .manifests
                .iter()
                .filter(|entry| {
                    entry.digest == image.digest
                        || crate::model::platform::attested(entry).as_ref() == Some(&image.digest)
                })
                .cloned()
                .collect()
        } else {
            let wanted = selection
                .platform
                .clone()
                .unwrap_or_else(PlatformWanted::host);
            let entry =
                wanted
                    .pick(&index.manifests)
                    .ok_or_else(|| SourceError::NoMatchingPlatform {
                        image: label.clone(),
                        wanted: wanted.display(),
                        available: available(),
                    })?;
            vec![entry.clone()]
        };
        let local = matches!(image, ImageRef::Layout(_) | ImageRef::Storage(_));
        let mut entries = Vec::new();
        let mut blobs = Vec::new();
        for child in chosen {
            // Layout children are cached now (cheap, and push/inspect then work offline);
            // registry children are read when pushed, which keeps `add --all` to one request.
            if local {
                match transport
                    .manifest_get(&ManifestRef::Digest(child.digest.clone()))
                    .await
                {
                    Ok(raw) => blobs.push((raw.digest, raw.bytes)),
                    // A containers-storage list may name instances that live in a registry
                    // (buildah's instances.json says where): they are read from there on push.
                    Err(TransportError::NotFound { .. })
                        if matches!(image, ImageRef::Storage(_))
                            && transport.source_of(&child.digest).is_some() => {}
                    Err(e) => return Err(fail(e)),
                }
            }
            let mut descriptor =
                Descriptor::new(&child.media_type, child.digest.clone(), child.size);
            descriptor.platform = child.platform.clone();
            descriptor.annotations = child.annotations.clone();
            descriptor.artifact_type = child.artifact_type.clone();
            descriptor.urls = child.urls.clone();
            entries.push(NewEntry {
                source: source_for(&child.digest),
                descriptor,
            });
        }
        // `--all` added the index; otherwise the one image picked from it was added.
        let digest = match entries.first() {
            Some(first) if !selection.all && selection.filter.is_none() => {
                first.descriptor.digest.clone()
            }
            _ => manifest.digest.clone(),
        };
        return Ok(Added {
            digest,
            entries,
            blobs,
        });
    }

    let (descriptor, blobs) = describe_image(transports, store, image, &manifest).await?;
    if let Some(filter) = &selection.filter {
        if !filter.matches(&descriptor) {
            return Err(SourceError::OtherPlatform {
                image: label,
                platform: crate::model::platform::describe(&descriptor),
                wanted: filter.display(),
            });
        }
    }
    Ok(Added {
        digest: descriptor.digest.clone(),
        entries: vec![NewEntry {
            source: source_for(&descriptor.digest),
            descriptor,
        }],
        blobs,
    })
}

/// The one image of an index that holds a single platform's image (and maybe its
/// attestations): `None` when it holds several images, or none.
fn only_image(entries: &[Descriptor]) -> Option<&Descriptor> {
    let mut images = entries
        .iter()
        .filter(|entry| !crate::model::platform::is_attestation(entry));
    match (images.next(), images.next()) {
        (Some(image), None) => Some(image),
        _ => None,
    }
}

/// The descriptor of a single-image manifest, with the platform read from its config; and the
/// manifest and config, to cache.
async fn describe_image(
    transports: &Transports,
    store: &Store,
    image: &ImageRef,
    manifest: &RawManifest,
) -> Result<(Descriptor, Vec<(Digest, Bytes)>), SourceError> {
    let label = image.to_string();
    let not_image = |reason: String| SourceError::NotAnImage {
        image: label.clone(),
        reason,
    };
    let media_type = manifest.media_type.as_str();
    if media_type != oci::OCI_MANIFEST && media_type != oci::DOCKER_MANIFEST {
        return Err(not_image(if media_type.is_empty() {
            "its manifest has no recognisable mediaType".into()
        } else {
            format!("unsupported manifest type {media_type}")
        }));
    }
    let parsed = ImageManifest::parse(&manifest.bytes).map_err(|e| not_image(e.to_string()))?;
    let (transport, _) =
        transports
            .open_read(image)
            .await
            .map_err(|source| SourceError::Transport {
                image: label.clone(),
                source,
            })?;
    let config_bytes = match store.get_blob(&parsed.config.digest) {
        Some(bytes) => bytes,
        None => read_blob(transport.as_ref(), &parsed.config, MAX_CONFIG_BYTES)
            .await
            .map_err(|source| SourceError::Transport {
                image: label.clone(),
                source,
            })?,
    };
    let config: ImageConfig = serde_json::from_slice(&config_bytes)
        .map_err(|e| not_image(format!("its config is not an image config: {e}")))?;
    let mut descriptor = Descriptor::new(
        media_type,
        manifest.digest.clone(),
        manifest.bytes.len() as u64,
    );
    // Artifacts (attestations, signatures) have configs without a platform: keep them as
    // entries without one rather than inventing "unknown/unknown".
    if !config.os.is_empty() || !config.architecture.is_empty() {
        descriptor.platform = Some(config.platform());
    }
    if let Some(t) = &parsed.artifact_type {
        descriptor.artifact_type = Some(t.clone());
    }
    let blobs = vec![
        (manifest.digest.clone(), manifest.bytes.clone()),
        (parsed.config.digest.clone(), config_bytes),
    ];
    Ok((descriptor, blobs))
}

/// The image recorded as an entry's source: a registry repository pinned to the entry's digest,
/// or the layout directory (any of its blobs can be read by digest).
fn pinned_source(image: &ImageRef, digest: &Digest) -> ImageRef {
    match image {
        ImageRef::Registry(r) => ImageRef::Registry(RegistryRef {
            tag: None,
            digest: Some(digest.clone()),
            ..r.clone()
        }),
        ImageRef::Layout(l) => ImageRef::Layout(LayoutRef {
            name: None,
            path: std::fs::canonicalize(&l.path).unwrap_or_else(|_| l.path.clone()),
            kind: l.kind,
        }),
        // The transport pins its own images (`source_of`); this is only a fallback.
        ImageRef::Storage(_) => image.clone(),
    }
}
