//! `containers-storage:` as a read-only transport: images that buildah, podman and `sealos build`
//! keep locally, read without a daemon. Manifests and configs come from the image's big-data
//! items; layers are regenerated from tar-split data and the layer's files, under the store's
//! own shared locks, and served uncompressed (the copy engine compresses them on the way).

mod lock;
/// images.json and layers.json.
pub(crate) mod metadata;
/// Layer tar streams from tar-split data.
pub(crate) mod tarsplit;

use super::{BlobStream, ManifestRef, RawManifest, Transport, TransportError};
use crate::config::storage::{self as storage_conf, Environment, StorageOptions, StoreLocation};
use crate::error_chain;
use crate::model::digest::Digest;
use crate::model::oci::Descriptor;
use crate::model::reference::{parse_image, ImageRef, StorageRef, StoreSpec};
use crate::transport::blocking_stream::stream_from_blocking;
use async_trait::async_trait;
use bytes::Bytes;
use metadata::{ImageRecord, MetadataError, Snapshot, StorePaths};
use std::collections::HashMap;
use std::io::Write;
use tarsplit::KnownSize;

/// One image in one containers-storage store, resolved when opened.
pub(crate) struct StorageTransport {
    paths: StorePaths,
    image: ImageRecord,
    reference: StorageRef,
    label: String,
}

impl StorageTransport {
    /// Decides the store (reference, flags, storage.conf) and finds the image in it.
    pub(crate) fn open(
        reference: &StorageRef,
        options: &StorageOptions,
    ) -> Result<StorageTransport, TransportError> {
        let location =
            storage_conf::resolve(reference.store.as_ref(), options, &Environment::current())
                .map_err(|e| TransportError::Invalid(error_chain(&e)))?;
        let paths = StorePaths { location };
        let snapshot = Snapshot::load(&paths).map_err(metadata_error)?;
        let image = snapshot
            .find_image(reference, &paths.describe())
            .map_err(metadata_error)?
            .clone();
        Ok(StorageTransport {
            label: reference.to_string(),
            reference: reference.clone(),
            paths,
            image,
        })
    }

    /// The store as a reference's bracket part, so a recorded source needs no flags later.
    fn store_spec(&self) -> StoreSpec {
        let StoreLocation {
            driver,
            graph_root,
            run_root,
            options,
        } = &self.paths.location;
        StoreSpec {
            driver: Some(driver.clone()),
            graph_root: graph_root.clone(),
            run_root: Some(run_root.clone()),
            options: options.clone(),
        }
    }

    fn image_label(&self) -> String {
        match self.image.names.first() {
            // Names come from a file other programs write: escaped before they reach a terminal.
            Some(name) => format!("{} ({})", name.escape_debug(), short(&self.image.id)),
            None => short(&self.image.id).to_string(),
        }
    }

    /// Reads one big-data item of `image`, checked against the digest c/storage recorded.
    fn read_big_data(
        &self,
        image: &ImageRecord,
        key: &str,
        limit: u64,
    ) -> Result<Bytes, TransportError> {
        let what = format!("{key:?} of image {}", short(&image.id));
        let gone = || TransportError::NotFound {
            what: what.clone(),
            location: self.paths.describe(),
        };
        let root = self.paths.root()?.ok_or_else(gone)?;
        let region = root
            .open_file(self.paths.big_data(&image.id, key))?
            .ok_or_else(gone)?;
        if region.size() > limit {
            return Err(TransportError::TooLarge {
                what: format!("{what} ({})", region.label()),
                size: region.size(),
                limit,
            });
        }
        let bytes = Bytes::from(region.read_all(limit)?);
        if let Some(expected) = image.big_data_digests.get(key) {
            let actual = Digest::sha256_of(&bytes);
            if expected.algorithm() == "sha256" && &actual != expected {
                return Err(TransportError::DigestMismatch {
                    what,
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        Ok(bytes)
    }

    /// The image that holds the manifest `digest`: this one, or (for a list's instances)
    /// another image of the store.
    fn image_with_manifest(
        &self,
        digest: &Digest,
    ) -> Result<(ImageRecord, String), TransportError> {
        if let Some(key) = self.image.manifest_key(digest) {
            return Ok((self.image.clone(), key));
        }
        let snapshot = Snapshot::load(&self.paths).map_err(metadata_error)?;
        snapshot
            .image_with_manifest(digest)
            .and_then(|image| image.manifest_key(digest).map(|key| (image.clone(), key)))
            .ok_or_else(|| TransportError::NotFound {
                what: format!("manifest {digest}"),
                location: self.label.clone(),
            })
    }

    /// buildah's record of where each instance of a list came from (`instances.json`).
    fn list_instances(&self) -> HashMap<String, String> {
        if !self
            .image
            .big_data_names
            .iter()
            .any(|n| n == "instances.json")
        {
            return HashMap::new();
        }
        self.read_big_data(&self.image, "instances.json", super::MAX_MANIFEST_BYTES)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Transport for StorageTransport {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn serves_uncompressed_layers(&self) -> bool {
        true
    }

    fn source_of(&self, digest: &Digest) -> Option<ImageRef> {
        if self.image.manifest_digests().any(|d| &d == digest) {
            return Some(ImageRef::Storage(
                self.reference.pinned(self.store_spec(), &self.image.id),
            ));
        }
        // An instance of a list buildah made: where buildah read it from.
        if let Some(recorded) = self.list_instances().get(digest.as_str()) {
            if let Ok(image) = parse_image(recorded) {
                return Some(image);
            }
        }
        let snapshot = Snapshot::load(&self.paths).ok()?;
        let image = snapshot.image_with_manifest(digest)?;
        let bare = StorageRef {
            store: None,
            name: None,
            digest: None,
            id: None,
        };
        Some(ImageRef::Storage(bare.pinned(self.store_spec(), &image.id)))
    }

    async fn manifest_get(&self, reference: &ManifestRef) -> Result<RawManifest, TransportError> {
        let (image, key) = match reference {
            ManifestRef::Digest(digest) => self.image_with_manifest(digest)?,
            ManifestRef::Tag(_) | ManifestRef::Default => {
                (self.image.clone(), "manifest".to_string())
            }
        };
        let bytes = self.read_big_data(&image, &key, super::MAX_MANIFEST_BYTES)?;
        let what = format!("manifest of {}", self.image_label());
        super::check_manifest(bytes, reference, None, &what)
    }

    async fn manifest_put(&self, _: &ManifestRef, _: &RawManifest) -> Result<(), TransportError> {
        Err(read_only())
    }

    /// A config (the image's big data), or a complete layer of the image by its uncompressed
    /// or compressed digest: what `verify` asks of a local entry's blobs.
    async fn blob_exists(&self, descriptor: &Descriptor) -> Result<bool, TransportError> {
        let digest = &descriptor.digest;
        if self.image.big_data_names.contains(&digest.to_string()) {
            return Ok(true);
        }
        let snapshot = Snapshot::load(&self.paths).map_err(metadata_error)?;
        let Some(image) = snapshot.images.iter().find(|i| i.id == self.image.id) else {
            return Ok(false);
        };
        Ok(snapshot.chain(image).iter().any(|layer| {
            !layer.is_incomplete()
                && (layer.diff_digest.as_ref() == Some(digest)
                    || layer.compressed_digest.as_ref() == Some(digest))
        }))
    }

    async fn blob_get(&self, descriptor: &Descriptor) -> Result<BlobStream, TransportError> {
        let key = descriptor.digest.to_string();
        if self.image.big_data_names.contains(&key) {
            let bytes = self.read_big_data(&self.image, &key, super::MAX_CONFIG_BYTES)?;
            return Ok(Box::pin(futures_util::stream::once(
                async move { Ok(bytes) },
            )));
        }
        Ok(self.layer_stream(descriptor))
    }

    async fn blob_put(&self, _: &Descriptor, _: BlobStream) -> Result<(), TransportError> {
        Err(read_only())
    }
}

impl StorageTransport {
    /// The uncompressed tar of the image's layer with the descriptor's (uncompressed or
    /// compressed) digest, regenerated on a blocking thread that holds `layers.lock` until the
    /// last byte is sent.
    fn layer_stream(&self, descriptor: &Descriptor) -> BlobStream {
        let paths = self.paths.clone();
        let image_id = self.image.id.clone();
        let image_label = self.image_label();
        let descriptor = descriptor.clone();
        stream_from_blocking(move |out| {
            send_layer(&paths, &image_id, &image_label, &descriptor, out)
        })
    }
}

fn send_layer(
    paths: &StorePaths,
    image_id: &str,
    image_label: &str,
    descriptor: &Descriptor,
    out: &mut dyn Write,
) -> Result<(), TransportError> {
    let digest = &descriptor.digest;
    // layers.lock stays held while the layer is read: a `buildah rmi` or `podman rmi` waits.
    let (snapshot, _layers_lock) = Snapshot::load_holding_layers(paths).map_err(metadata_error)?;
    let unreadable = |detail: String| {
        TransportError::Invalid(format!(
            "image {image_label}: {detail} in containers-storage at {}; nothing was sent from it",
            paths.describe()
        ))
    };
    let image = snapshot
        .images
        .iter()
        .find(|i| i.id == image_id)
        .ok_or_else(|| unreadable("the image was removed".into()))?;
    let chain = snapshot.chain(image);
    let layer = chain
        .iter()
        .find(|l| {
            l.diff_digest.as_ref() == Some(digest) || l.compressed_digest.as_ref() == Some(digest)
        })
        .ok_or_else(|| unreadable(format!("its layer {digest} is gone")))?;
    if layer.is_incomplete() {
        return Err(unreadable(format!(
            "its layer {} is being created or removed",
            short(&layer.id)
        )));
    }
    let expected = layer
        .diff_digest
        .clone()
        .ok_or_else(|| unreadable(format!("layer {} has no diff digest", short(&layer.id))))?;
    let known = known_size(layer.diff_size, descriptor, &expected);
    let root = paths
        .root()?
        .ok_or_else(|| unreadable("the store is gone".into()))?;
    let tar_split_rel = paths.tar_split(&layer.id);
    let not_read = |e: &dyn std::error::Error| {
        unreadable(format!(
            "layer {} is not read: {}",
            short(&layer.id),
            error_chain(e)
        ))
    };
    let tar_split = root
        .open_file(&tar_split_rel)
        .map_err(|e| not_read(&e))?
        .ok_or_else(|| {
            unreadable(format!(
                "layer {} has no tar-split data ({}), so its exact tar cannot be regenerated",
                short(&layer.id),
                root.path().join(&tar_split_rel).display()
            ))
        })?;
    let layer_rel = paths.layer_dir(&layer.id);
    let layer_dir = root
        .open_dir(&layer_rel)
        .map_err(|e| not_read(&e))?
        .ok_or_else(|| {
            unreadable(format!(
                "the directory of layer {} ({}) is missing",
                short(&layer.id),
                root.path().join(&layer_rel).display()
            ))
        })?;
    tarsplit::regenerate(&tar_split, &layer_dir, &expected, known, out)
        .map(|_| ())
        .map_err(|e| {
            TransportError::Invalid(format!(
                "image {image_label}: reading layer {} in containers-storage at {}: {}; the \
                 stream was stopped there, so no destination stores this layer (a registry \
                 discards the unfinished upload)",
                short(&layer.id),
                paths.describe(),
                error_chain(&e)
            ))
        })
}

/// The size the regenerated layer must have: `diff-size` of layers.json, and the
/// descriptor's size when it names the uncompressed layer (the smaller when both are known).
fn known_size(diff_size: Option<i64>, descriptor: &Descriptor, diff: &Digest) -> Option<KnownSize> {
    let recorded = diff_size
        .and_then(|size| u64::try_from(size).ok())
        .map(|bytes| KnownSize {
            bytes,
            recorded: "diff-size in layers.json",
        });
    let described = (&descriptor.digest == diff).then_some(KnownSize {
        bytes: descriptor.size,
        recorded: "size in the image's manifest",
    });
    match (recorded, described) {
        (Some(a), Some(b)) => Some(if b.bytes < a.bytes { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn read_only() -> TransportError {
    TransportError::Invalid(
        "containers-storage is read-only here: push to a registry (docker://) or a layout (oci:)"
            .into(),
    )
}

fn metadata_error(e: MetadataError) -> TransportError {
    match e {
        MetadataError::NoImage { wanted, store } => TransportError::NotFound {
            what: format!("image {wanted}"),
            location: format!("containers-storage at {store}"),
        },
        other => TransportError::Invalid(error_chain(&other)),
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
