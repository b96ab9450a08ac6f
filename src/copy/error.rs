//! Why a push (or its plan) fails: the one error type of the copy engine.

use crate::copy::convert::ConvertError;
use crate::model::digest::Digest;
use crate::model::oci;
use crate::transport::TransportError;

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
    RequiredPlatforms(crate::model::platform::Shortfall),
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
