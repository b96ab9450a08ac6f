//! What a copy is given besides the index and its sources: the options, an observer, the
//! transports, and the little it reads from the local store ([`LocalStore`]). Nothing else
//! outside the engine is reachable from it.

use crate::boundary::retry::RetryPolicy;
use crate::copy::compress::{AddedCompression, Compression};
use crate::model::digest::Digest;
use crate::model::list::Source;
use crate::model::oci::{Descriptor, ListFormat};
use crate::model::platform::PlatformFilter;
use crate::transport::open::Transports;
use crate::transport::{Transport, TransportError};
use bytes::Bytes;
use std::sync::Arc;

/// What a copy reports as it goes; the terminal implementation is
/// [`crate::cli::progress::Progress`].
pub trait Observer: Send + Sync {
    /// One line of the log shown when stderr is not a terminal: one per child and one per tag.
    fn line(&self, message: &str);
    /// Something the user should know even with a live display (a child was rewritten).
    fn note(&self, message: &str);
    /// What the copy will move: images, blobs, and the bytes of those blobs.
    fn set_totals(&self, images: u64, blobs: u64, bytes: u64);
    /// `n` more bytes were read from a source.
    fn add_bytes(&self, n: u64);
    /// One more blob is at the destination.
    fn blob_done(&self);
}

/// The local store as the copy engine reads it, and no more: the manifests and configs kept
/// when entries were added, the store's own blob area (artifacts made by `add --artifact`),
/// and what earlier pushes compressed.
pub trait LocalStore: Send + Sync {
    /// A manifest or config kept when its entry was added, checked against its digest.
    fn kept(&self, digest: &Digest) -> Option<Bytes>;
    /// The store's own blob area as a transport, where entries made there are read from.
    fn own_blobs(&self) -> Result<Arc<dyn Transport>, TransportError>;
    /// The compressed layer an earlier push made of the layer `uncompressed` with `compression`.
    fn compressed(&self, uncompressed: &Digest, compression: &Compression) -> Option<Descriptor>;
    /// Records the compressed layer a push made; a failure only costs a later push some work.
    fn record_compressed(
        &self,
        uncompressed: &Digest,
        compression: &Compression,
        compressed: &Descriptor,
    );
}

/// What a copy reads besides its sources.
pub struct CopyEnv<'a> {
    /// Opens sources and the destination.
    pub transports: &'a Transports,
    /// Kept manifests and configs, the store's own blobs and the compressed-layer records.
    pub local: &'a dyn LocalStore,
}

/// A transport to read an entry from: its image's, or the store's own blobs.
pub(crate) async fn open_source(
    source: &Source,
    transports: &Transports,
    local: &dyn LocalStore,
) -> Result<Arc<dyn Transport>, TransportError> {
    match source {
        Source::Image(image) => transports.open_read(image).await.map(|(source, _)| source),
        Source::Store => local.own_blobs(),
    }
}

/// How a push runs; every field's default is what `manifest push` does without flags.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Copy every referenced image before the index (default true).
    pub all: bool,
    /// Convert to this format; `None` pushes the stored bytes unchanged.
    pub format: Option<ListFormat>,
    /// Let `format` drop what it cannot hold, naming each dropped field (default false: refuse).
    pub allow_lossy: bool,
    /// Blob transfers at once (default 8).
    pub jobs: usize,
    /// How a blob whose transfer failed is restarted from its source (the one retry policy).
    pub retry: RetryPolicy,
    /// How layers a source serves uncompressed are compressed (default gzip, level 6).
    pub compression: Compression,
    /// More tags (or references in the destination's repository) the index is written to
    /// (default none).
    pub tags: Vec<String>,
    /// Push only the entries of these platforms, with their attestations (default all).
    pub platforms: Option<PlatformFilter>,
    /// Copy each child's OCI referrers (signatures, SBOMs) too (default false).
    pub referrers: bool,
    /// Plan only: read what is needed to decide, write nothing (default false).
    pub dry_run: bool,
    /// Refuse the push in its plan unless each of these platforms has exactly one image
    /// (default none).
    pub required_platforms: Option<PlatformFilter>,
    /// Order the entries by platform, each attestation after its image (default false: as
    /// added, as buildah pushes them).
    pub sort: bool,
    /// Compression variants to add beside each image, in this order (default none).
    pub add_compression: Vec<AddedCompression>,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            all: true,
            format: None,
            allow_lossy: false,
            jobs: 8,
            retry: RetryPolicy::default(),
            compression: Compression::default(),
            tags: Vec::new(),
            platforms: None,
            referrers: false,
            dry_run: false,
            required_platforms: None,
            sort: false,
            add_compression: Vec::new(),
        }
    }
}
