//! The copy engine: an index and its typed sources go to any destination through one path.
//! Every child's blobs and manifest reach the destination before the index, each digest is
//! transferred once, at most `jobs` transfers run at once across all children, and the index is
//! written last (to every tag), so a failure anywhere leaves the destination's tags untouched.
//!
//! A push is two steps with one job each: `plan::plan` makes every decision with read-only
//! requests (which children and blobs the destination has, which blobs can be mounted), and
//! `run::execute` carries out exactly that plan. A dry run prints the plan instead, so both
//! make the same decisions by construction.
//!
//! - `plan`: the decisions; `children`: reading child manifests and what they reference;
//!   `referrers`: OCI 1.1 referrers of the children (`--referrers`); `tags`: where the index
//!   goes; `blobs`: moving one blob; `run`: execution; `report`: what was (or would be) done;
//!   `recompress`: children whose layers are compressed on the way (containers-storage);
//!   `variants`: the compression variants `--add-compression` adds.

mod blobs;
mod children;
pub(crate) mod plan;
mod recompress;
mod referrers;
pub mod report;
pub(crate) mod run;
pub(crate) mod tags;
mod variants;

use crate::compress::{AddedCompression, Compression};
use crate::convert::ConvertError;
use crate::digest::Digest;
use crate::list::{Source, Sources};
use crate::oci::{self, ListFormat};
use crate::platform::PlatformFilter;
use crate::reference::ImageRef;
use crate::retry::RetryPolicy;
use crate::store::Store;
use crate::transport::open::Transports;
use crate::transport::store_blobs::StoreBlobs;
use crate::transport::{Transport, TransportError};
use std::sync::Arc;

pub use report::PushReport;

/// What a copy reports as it goes; the terminal implementation is [`crate::progress::Progress`].
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

/// A transport to read an entry from: its image's, or the store's own blobs.
pub(crate) async fn open_source(
    source: &Source,
    transports: &Transports,
    store: &Store,
) -> Result<Arc<dyn Transport>, TransportError> {
    match source {
        Source::Image(image) => transports.open_read(image).await.map(|(source, _)| source),
        Source::Store => {
            StoreBlobs::open(store.root()).map(|blobs| Arc::new(blobs) as Arc<dyn Transport>)
        }
    }
}

/// What a copy reads besides its sources: the transports, and the store's cached manifests,
/// configs and compressed-layer records.
pub struct CopyEnv<'a> {
    /// Opens sources and the destination.
    pub transports: &'a Transports,
    /// Cached manifests and configs, and the compressed-layer records.
    pub store: &'a Store,
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

/// Why a push (or its plan) failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// A child could not be converted to the format asked for.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// The format asked for cannot hold fields the list has, and `--allow-lossy` was not given.
    #[error("cannot push as {format} without losing {lost}; push with --allow-lossy to drop them")]
    Lossy {
        /// The format, in words with its flag.
        format: &'static str,
        /// Every field that would be dropped.
        lost: String,
    },
    /// The stored list is not a valid index, or no format can hold it.
    #[error("{0}")]
    Document(#[from] oci::DocumentError),
    /// An entry has no recorded source to copy it from.
    #[error("entry {digest} has no recorded source; remove it and add it again")]
    NoSource {
        /// The entry's digest.
        digest: Digest,
    },
    /// A read from a source or a write to the destination failed.
    #[error("{context}")]
    Transport {
        /// What was being done, in words.
        context: String,
        /// What the transport reported.
        #[source]
        source: TransportError,
    },
    /// With `--all=false`, an entry the destination does not hold.
    #[error("entry {digest} is not in {destination}; push with --all (the default) to copy it")]
    MissingChild {
        /// The entry's digest.
        digest: Digest,
        /// The destination, as the user named it.
        destination: String,
    },
    /// The destination is pinned by digest; a list needs a tag to be pushed to.
    #[error("a list cannot be pushed to a digest reference; give a tag")]
    DigestDestination,
    /// A layer cannot be recompressed (the image's config does not describe its layers).
    #[error("{0}")]
    Recompress(String),
    /// A `--tag` is not a valid tag or reference in the destination's repository.
    #[error("--tag {tag:?}: {reason}")]
    BadTag {
        /// The tag, as given.
        tag: String,
        /// Why it is refused.
        reason: String,
    },
    /// `--require-platform` finds a platform missing or doubled; nothing was written.
    #[error("--require-platform: {0}; nothing was pushed")]
    RequiredPlatforms(crate::platform::Shortfall),
    /// `--add-compression` with options it cannot work with.
    #[error("--add-compression {0}")]
    AddCompression(&'static str),
    /// `--platform` matches no entry of the list.
    #[error("no entry of the list is for platform {wanted} (it has: {available})")]
    NoPlatform {
        /// The platforms asked for.
        wanted: String,
        /// The platforms the list has.
        available: String,
    },
}

/// Copies `index` with every child (read from `sources`) to `destination` and every tag of
/// `options.tags`; returns what was done, with the digest of the index as the destination holds
/// it. With `options.dry_run`, returns what would be done and writes nothing.
pub async fn copy(
    env: &CopyEnv<'_>,
    index: &oci::Index,
    sources: &Sources,
    destination: &ImageRef,
    options: &PushOptions,
    progress: Arc<dyn Observer>,
) -> Result<PushReport, PushError> {
    let planned = plan::plan(env, index, sources, destination, options, progress.as_ref()).await?;
    if options.dry_run {
        return Ok(planned.report());
    }
    run::execute(planned, env, options, progress).await
}
