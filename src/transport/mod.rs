//! The one interface every place images live behind: a registry repository or an OCI layout.
//! After a reference is parsed, nothing asks "local or remote?"; it asks a `Transport`.

pub(crate) mod archive;
pub(crate) mod blocking_stream;
mod checked;
mod error;
pub(crate) mod layout;
pub mod open;
pub(crate) mod referrers;
pub mod registry;
pub mod resume;
pub mod storage;
pub(crate) mod store_blobs;
pub mod tls;

use crate::model::digest::Digest;
use crate::model::oci::Descriptor;
use crate::model::reference::ImageRef;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use std::pin::Pin;

pub(crate) use crate::model::oci::{MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES};

/// The most referrers one subject may list (over every page of a registry's referrers API, or
/// under its fallback tag); more is an error that names this limit.
pub const MAX_REFERRERS_PER_SUBJECT: usize = 256;
pub(crate) use checked::{check_manifest, size_checked, spool};
pub use checked::{read_blob, verified};
pub use error::{NetworkFailure, TransportError};

/// A manifest exactly as it was read: its digest is the sha256 of these bytes.
#[derive(Debug, Clone)]
pub struct RawManifest {
    /// The exact bytes; never re-serialised, so the digest stays the same.
    pub bytes: Bytes,
    /// The manifest's media type, decided from the body (see
    /// [`crate::model::media_type::manifest_kind`]).
    pub media_type: String,
    /// The sha256 of `bytes`.
    pub digest: Digest,
}

impl RawManifest {
    /// Wraps bytes this program made or already checked, typed by
    /// [`crate::model::media_type::manifest_kind`].
    pub fn from_bytes(bytes: Bytes) -> Self {
        let media_type = crate::model::media_type::manifest_kind(&bytes, None).unwrap_or_default();
        let digest = Digest::sha256_of(&bytes);
        Self {
            bytes,
            media_type,
            digest,
        }
    }
}

/// How a manifest is named inside one repository or layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    /// A tag (`latest`, `v1`), or a layout's `org.opencontainers.image.ref.name`.
    Tag(String),
    /// A digest the manifest is stored under.
    Digest(Digest),
    /// No tag or digest given: `latest` in a registry, the only entry in a layout.
    Default,
}

impl std::fmt::Display for ManifestRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestRef::Tag(t) => f.write_str(t),
            ManifestRef::Digest(d) => write!(f, "{d}"),
            ManifestRef::Default => f.write_str("(default)"),
        }
    }
}

/// What [`Transport::blob_stat`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobStat {
    /// Not stored there.
    Absent,
    /// Stored there; `size` is its stored size when the place states it without a read.
    Present {
        /// The stored size in bytes, when known.
        size: Option<u64>,
    },
}

/// A blob's bytes as they arrive, in chunks; an error ends it.
pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes, TransportError>> + Send>>;

/// One repository of one registry, or one OCI layout.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Where this points, for messages: `127.0.0.1:5000/dst/app` or `oci:/tmp/layout`.
    fn describe(&self) -> String;

    /// `(registry host, repository)` for registries, so the copy engine can mount across
    /// repositories of the same registry; `None` for layouts.
    fn registry_repository(&self) -> Option<(String, String)> {
        None
    }

    /// Reads a manifest as its exact bytes, checked against its digest.
    async fn manifest_get(&self, reference: &ManifestRef) -> Result<RawManifest, TransportError>;

    /// Stores a manifest's exact bytes under a digest or a tag.
    async fn manifest_put(
        &self,
        reference: &ManifestRef,
        manifest: &RawManifest,
    ) -> Result<(), TransportError>;

    /// Whether the blob this descriptor names is stored here (a layout checks its size too).
    async fn blob_exists(&self, descriptor: &Descriptor) -> Result<bool, TransportError>;

    /// Whether the blob `descriptor` names is stored here and, where this place can tell
    /// without reading it, its size: a registry's `HEAD` (confirmed by a ranged `GET` when it
    /// states another size), a layout's file size. By default [`Transport::blob_exists`]
    /// answers and the size is not known.
    async fn blob_stat(&self, descriptor: &Descriptor) -> Result<BlobStat, TransportError> {
        Ok(if self.blob_exists(descriptor).await? {
            BlobStat::Present { size: None }
        } else {
            BlobStat::Absent
        })
    }

    /// Whether a manifest with this digest is stored here. A registry accepts a manifest only
    /// once everything it references is present, so a child found here needs nothing copied.
    async fn manifest_exists(&self, digest: &Digest) -> Result<bool, TransportError> {
        match self
            .manifest_get(&ManifestRef::Digest(digest.clone()))
            .await
        {
            Ok(_) => Ok(true),
            Err(TransportError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Streams a blob. The stream is not verified here; wrap it in [`verified`].
    async fn blob_get(&self, descriptor: &Descriptor) -> Result<BlobStream, TransportError>;

    /// Streams a blob from byte `offset` to its end, to continue a transfer that broke. By
    /// default the whole blob is read and its first `offset` bytes dropped.
    async fn blob_get_from(
        &self,
        descriptor: &Descriptor,
        offset: u64,
    ) -> Result<BlobStream, TransportError> {
        Ok(resume::skip(self.blob_get(descriptor).await?, offset))
    }

    /// Stores a blob from a stream; the destination checks size and digest before committing.
    async fn blob_put(
        &self,
        descriptor: &Descriptor,
        data: BlobStream,
    ) -> Result<(), TransportError>;

    /// Stores a blob from a source it may reopen part-way: a destination that can continue an
    /// interrupted upload asks `source` for the rest instead of starting again. By default, one
    /// [`Transport::blob_put`] of the whole source.
    async fn blob_put_from(&self, source: &dyn resume::BlobSource) -> Result<(), TransportError> {
        self.blob_put(source.descriptor(), source.open(0).await?)
            .await
    }

    /// Whether `blob_put` itself refuses content that does not match the descriptor's digest.
    /// Registries must (the distribution spec requires it) and layouts do, so the copy engine
    /// then checks only sizes on the way instead of hashing every byte a second time.
    fn checks_uploaded_digests(&self) -> bool {
        false
    }

    /// Asks the registry to link a blob from another repository; `Ok(false)` means "copy it".
    async fn blob_mount(
        &self,
        _descriptor: &Descriptor,
        _from_repository: &str,
    ) -> Result<bool, TransportError> {
        Ok(false)
    }

    /// Stores a blob whose digest is known only once all of it has been read (a layer compressed while
    /// it is sent): the transport hashes what it sends and returns the descriptor it stored
    /// (`media_type`, the computed sha256 digest, the size).
    async fn blob_put_hashed(
        &self,
        media_type: &str,
        data: BlobStream,
    ) -> Result<Descriptor, TransportError> {
        let spooled = spool(data).await?;
        let descriptor = Descriptor::new(media_type, spooled.digest.clone(), spooled.size);
        let stream = spooled.into_stream().await?;
        self.blob_put(&descriptor, stream).await?;
        Ok(descriptor)
    }

    /// The manifests whose `subject` is `digest`, as this place's OCI 1.1 referrers API lists
    /// them; `None` when it has no such API (distribution 2.8, OCI layouts): the
    /// `sha256-<hex>` tag is then where referrers are listed.
    async fn referrers(&self, _digest: &Digest) -> Result<Option<Vec<Descriptor>>, TransportError> {
        Ok(None)
    }

    /// Whether this source can serve layers only as uncompressed tar streams (containers-storage):
    /// the copy engine then compresses each layer while sending it and rewrites the manifest.
    fn serves_uncompressed_layers(&self) -> bool {
        false
    }

    /// Where push should later read the manifest `digest` (one this transport served) and its
    /// blobs from, when that is not this transport's reference pinned to the digest: a local
    /// image pinned to its ID, or an instance of a list recorded elsewhere.
    fn source_of(&self, _digest: &Digest) -> Option<ImageRef> {
        None
    }
}

/// Test helper: every byte of `stream`, panicking on an error.
#[cfg(test)]
pub(crate) async fn collect(mut stream: BlobStream) -> Vec<u8> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

#[cfg(test)]
mod tests;
