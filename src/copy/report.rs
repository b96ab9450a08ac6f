//! What a push decided and did, in the forms it is shown: the summary line, the plan a dry run
//! prints, and the `--metadata-file` document (schemas/push-metadata.json). A dry run and a
//! real run produce the same [`Decisions`] for the same destination state.

use crate::boundary::terminal::escape_controls;
use crate::model::digest::Digest;
use crate::model::oci::Descriptor;
use serde::Serialize;

/// What happens to one child of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChildAction {
    /// The destination has it (and so everything it references): nothing is sent.
    Skip,
    /// Its manifest and missing blobs are sent.
    Copy,
    /// Its layers are compressed on the way and its manifest rewritten (a new digest).
    Rewrite,
}

/// What happens to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobAction {
    /// The destination has it.
    Present,
    /// Mounted from another repository of the same registry (copied if the mount is refused).
    Mount,
    /// Streamed from its source.
    Copy,
}

/// The decision for one child (an entry of the list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildDecision {
    /// The entry's digest in the list.
    pub digest: Digest,
    /// The entry's media type.
    pub media_type: String,
    /// The entry's manifest size in bytes.
    pub size: u64,
    /// `os/arch[/variant]`, or `null` for an entry without one (attestations, artifacts).
    pub platform: Option<String>,
    /// For a buildx attestation entry: the image it describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation_of: Option<Digest>,
    /// The digest it is pushed as, when `--format` converted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed: Option<Digest>,
    /// What the push does with it.
    pub action: ChildAction,
}

impl ChildDecision {
    /// The decision for `entry`, to be filled in (a copy until found otherwise).
    pub(super) fn of(entry: &Descriptor) -> Self {
        let attestation_of = crate::model::platform::attested(entry);
        Self {
            digest: entry.digest.clone(),
            media_type: entry.media_type.clone(),
            size: entry.size,
            platform: entry
                .platform
                .as_ref()
                .filter(|_| attestation_of.is_none())
                .map(|p| p.display()),
            attestation_of,
            pushed: None,
            action: ChildAction::Copy,
        }
    }
}

/// The decision for one blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobDecision {
    /// The blob's digest (for a layer compressed on the way, its uncompressed digest).
    pub digest: Digest,
    /// Its size at the source.
    pub size: u64,
    /// What the push does with it.
    pub action: BlobAction,
    /// The repository a mount is from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The compression a layer is compressed with on the way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compress: Option<String>,
    /// For a compressed layer the destination already has: its compressed digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_as: Option<Digest>,
}

/// The decision for one referrer (a signature, SBOM or attestation whose subject is a child).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerDecision {
    /// The referrer manifest's digest.
    pub digest: Digest,
    /// The child it refers to.
    pub subject: Digest,
    /// The referrer's `artifactType` (signature, SBOM, …), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// `skip` when the destination has it, else `copy`.
    pub action: ChildAction,
}

/// Whether `--add-compression` adds a variant of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VariantAction {
    /// A variant is made and added to the index.
    Add,
    /// No variant (the reason says why).
    Skip,
}

/// The decision for one image and one compression of `--add-compression`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantDecision {
    /// The image's digest in the index as pushed.
    pub of: Digest,
    /// Its platform, `os/arch[/variant]`.
    pub platform: Option<String>,
    /// The compression asked for, as podman names it (`gzip`, `zstd`, `zstd:chunked`).
    pub compression: String,
    /// Whether a variant is added.
    pub action: VariantAction,
    /// Why none is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Every decision of a push.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Decisions {
    /// One decision per child, in list order.
    pub manifests: Vec<ChildDecision>,
    /// One decision per blob of the copied children, each digest once.
    pub blobs: Vec<BlobDecision>,
    /// One decision per referrer found (with `--referrers`).
    pub referrers: Vec<ReferrerDecision>,
    /// `sha256-<hex>` tags written at a destination without the referrers API.
    #[serde(rename = "referrerTags")]
    pub referrer_tags: Vec<String>,
    /// One decision per image and compression of `--add-compression`.
    pub variants: Vec<VariantDecision>,
}

/// Blob and byte counts of a push (planned ones for a dry run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Blobs streamed from their sources.
    pub blobs_copied: u64,
    /// Bytes of the blobs streamed (at the source's size).
    pub bytes_copied: u64,
    /// Blobs mounted from another repository of the same registry.
    pub blobs_mounted: u64,
    /// Bytes of the blobs mounted.
    pub bytes_mounted: u64,
    /// Blobs the destination already had.
    pub blobs_present: u64,
    /// Bytes not sent because the destination had them.
    pub bytes_skipped: u64,
    /// Manifests written by digest (children, nested manifests, referrers).
    pub manifests: u64,
    /// Children the destination already had.
    pub images_present: u64,
}

/// What a push did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// The index's digest as the destination holds it; `None` in a dry run whose children are
    /// rewritten (their digests are known only once their layers are compressed).
    pub digest: Option<Digest>,
    /// The media type the index is pushed as.
    pub media_type: String,
    /// The index as pushed (or to be pushed), when its bytes are known.
    pub index: Option<Vec<u8>>,
    /// The destination as named.
    pub destination: String,
    /// The tags written, in order.
    pub tags: Vec<String>,
    /// The destination named with each tag.
    pub references: Vec<String>,
    /// Every decision, in the order they are made.
    pub decisions: Decisions,
    /// What was (or would be) moved.
    pub counts: Counts,
    /// Whether nothing was written (`--dry-run`).
    pub dry_run: bool,
    /// What the user should know (dropped fields, referrers not copied).
    pub notes: Vec<String>,
}

/// The `--metadata-file` document.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'a> {
    dry_run: bool,
    destination: &'a str,
    digest: Option<&'a Digest>,
    media_type: &'a str,
    tags: &'a [String],
    references: &'a [String],
    manifests: &'a [ChildDecision],
    blobs: &'a [BlobDecision],
    referrers: &'a [ReferrerDecision],
    referrer_tags: &'a [String],
    #[serde(skip_serializing_if = "<[VariantDecision]>::is_empty")]
    variants: &'a [VariantDecision],
    bytes: Bytes,
    counts: &'a Counts,
}

#[derive(Serialize)]
struct Bytes {
    copied: u64,
    mounted: u64,
    skipped: u64,
}

impl PushReport {
    /// The `--metadata-file` document, pretty-printed with a final newline.
    pub fn metadata_json(&self) -> String {
        let metadata = Metadata {
            dry_run: self.dry_run,
            destination: &self.destination,
            digest: self.digest.as_ref(),
            media_type: &self.media_type,
            tags: &self.tags,
            references: &self.references,
            manifests: &self.decisions.manifests,
            blobs: &self.decisions.blobs,
            referrers: &self.decisions.referrers,
            referrer_tags: &self.decisions.referrer_tags,
            variants: &self.decisions.variants,
            bytes: Bytes {
                copied: self.counts.bytes_copied,
                mounted: self.counts.bytes_mounted,
                skipped: self.counts.bytes_skipped,
            },
            counts: &self.counts,
        };
        let value = serde_json::to_value(&metadata).expect("metadata always serialises");
        crate::model::oci::pretty(&value)
    }

    /// The one-line summary shown after a push.
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let digest = self
            .digest
            .as_ref()
            .map_or_else(|| "the list".to_string(), ToString::to_string);
        format!(
            "Pushed {digest} to {}: {} blobs copied ({:.1} MiB), {} mounted, {} already present, {} manifests written, {} images already there",
            self.references.join(", "),
            c.blobs_copied,
            c.bytes_copied as f64 / (1024.0 * 1024.0),
            c.blobs_mounted,
            c.blobs_present,
            c.manifests,
            c.images_present
        )
    }

    /// The plan as a dry run prints it: one line per child, blob and referrer, then the index
    /// and where it would go. Text from sources is escaped for the terminal.
    pub fn plan_text(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&escape_controls(&text));
            out.push('\n');
        };
        line(format!("Plan for {}:", self.destination));
        for child in &self.decisions.manifests {
            let what = match (&child.platform, &child.attestation_of) {
                (_, Some(of)) => format!("attestation of {of}"),
                (Some(p), None) => p.clone(),
                (None, None) => "no platform".into(),
            };
            let action = match child.action {
                ChildAction::Skip => "skip (already there)".to_string(),
                ChildAction::Copy => match &child.pushed {
                    Some(pushed) => format!("copy as {pushed}"),
                    None => "copy".into(),
                },
                ChildAction::Rewrite => "copy with compressed layers (a new digest)".into(),
            };
            line(format!("  image {} {what}: {action}", child.digest));
        }
        for blob in &self.decisions.blobs {
            let action = match (blob.action, &blob.from, &blob.stored_as) {
                (BlobAction::Present, _, Some(stored)) => format!("already there as {stored}"),
                (BlobAction::Present, ..) => "already there".into(),
                (BlobAction::Mount, Some(from), _) => format!("mount from {from}"),
                (BlobAction::Mount, None, _) => "mount".into(),
                (BlobAction::Copy, ..) => match &blob.compress {
                    Some(algorithm) => {
                        format!("compress ({algorithm}) and copy {} bytes", blob.size)
                    }
                    None => format!("copy {} bytes", blob.size),
                },
            };
            line(format!("  blob {}: {action}", blob.digest));
        }
        for referrer in &self.decisions.referrers {
            let action = match referrer.action {
                ChildAction::Skip => "skip (already there)",
                _ => "copy",
            };
            line(format!(
                "  referrer {} of {} ({}): {action}",
                referrer.digest,
                referrer.subject,
                referrer
                    .artifact_type
                    .as_deref()
                    .unwrap_or("no artifact type")
            ));
        }
        for tag in &self.decisions.referrer_tags {
            line(format!("  referrers tag {tag}: write"));
        }
        for variant in &self.decisions.variants {
            let action = match &variant.reason {
                None => "add (a new digest, known once its layers are compressed)".to_string(),
                Some(reason) => format!("none ({reason})"),
            };
            line(format!(
                "  {} variant of {} {}: {action}",
                variant.compression,
                variant.of,
                variant.platform.as_deref().unwrap_or("no platform")
            ));
        }
        for note in &self.notes {
            line(format!("  note: {note}"));
        }
        let c = &self.counts;
        line(format!(
            "  total: {} blobs to copy ({} bytes), {} to mount ({} bytes), {} already there ({} bytes)",
            c.blobs_copied, c.bytes_copied, c.blobs_mounted, c.bytes_mounted, c.blobs_present, c.bytes_skipped
        ));
        match &self.digest {
            Some(digest) => line(format!("Index {digest} ({}) would be written to:", self.media_type)),
            None => line(format!(
                "Index ({}; its digest is known once the layers are compressed) would be written to:",
                self.media_type
            )),
        }
        for reference in &self.references {
            line(format!("  {reference}"));
        }
        if let Some(index) = &self.index {
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(index) {
                out.push_str(&crate::model::oci::pretty(&value));
            }
        }
        out
    }
}
