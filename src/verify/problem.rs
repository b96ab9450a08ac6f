//! What `verify` can find wrong: one [`Problem`] per fault, each of a [`ProblemKind`] that scripts
//! match on (the `kind` of `--format json`).

use crate::model::digest::Digest;
use serde::Serialize;

/// The kinds of fault `verify` reports; the names are stable (schemas/verify.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// A manifest the index (or the reference) names is not there.
    MissingManifest,
    /// A manifest is there but is not a usable manifest (does not parse, wrong digest).
    InvalidManifest,
    /// A blob (config or layer) a manifest names is not there.
    MissingBlob,
    /// A blob is there with another size than its descriptor says.
    SizeMismatch,
    /// A blob's content does not hash to its digest (`--deep`).
    DigestMismatch,
    /// A layer is not a tar stream this tool can read, or breaks one of its limits (`--deep`).
    InvalidLayer,
    /// An image's config is not an image config.
    InvalidConfig,
    /// An image's config names another platform than its entry in the index.
    PlatformMismatch,
    /// An executable in a layer is for another machine than its image's platform (`--deep`).
    BinaryPlatformMismatch,
    /// A platform `--require-platform` asks for has no image.
    MissingPlatform,
    /// A platform `--require-platform` asks for has more than one image.
    DuplicatePlatform,
    /// An attestation entry describes no image of the index.
    OrphanAttestation,
    /// An image has no referrer of the artifact type `--require-referrer` asks for.
    MissingReferrer,
}

impl ProblemKind {
    /// The name scripts see (`missing-blob`).
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::MissingManifest => "missing-manifest",
            ProblemKind::InvalidManifest => "invalid-manifest",
            ProblemKind::MissingBlob => "missing-blob",
            ProblemKind::SizeMismatch => "size-mismatch",
            ProblemKind::DigestMismatch => "digest-mismatch",
            ProblemKind::InvalidLayer => "invalid-layer",
            ProblemKind::InvalidConfig => "invalid-config",
            ProblemKind::PlatformMismatch => "platform-mismatch",
            ProblemKind::BinaryPlatformMismatch => "binary-platform-mismatch",
            ProblemKind::MissingPlatform => "missing-platform",
            ProblemKind::DuplicatePlatform => "duplicate-platform",
            ProblemKind::OrphanAttestation => "orphan-attestation",
            ProblemKind::MissingReferrer => "missing-referrer",
        }
    }
}

/// One fault: what kind, which image, and the facts that show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What kind of fault it is.
    pub kind: ProblemKind,
    /// The image (index entry) it is about; `None` when it is about the index as a whole.
    pub digest: Option<Digest>,
    /// The platform of that image's entry (`os/arch[/variant]`), or the platform asked for.
    pub platform: Option<String>,
    /// The fault in words, with what was expected and what was found.
    pub detail: String,
    /// The blob (config or layer) it is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<Digest>,
    /// For an executable of another machine: its path in the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// For an executable of another machine: the machine its header names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
}

impl Problem {
    /// A problem of `kind` about the image `digest` of `platform`.
    pub(crate) fn new(
        kind: ProblemKind,
        digest: Option<&Digest>,
        platform: Option<&str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            digest: digest.cloned(),
            platform: platform.map(str::to_string),
            detail: detail.into(),
            blob: None,
            path: None,
            machine: None,
        }
    }

    /// The same problem, about the blob `blob` of the image.
    pub(crate) fn with_blob(mut self, blob: &Digest) -> Self {
        self.blob = Some(blob.clone());
        self
    }

    /// The problem as one line for people: `kind digest platform: detail`.
    pub fn line(&self) -> String {
        let mut line = self.kind.name().to_string();
        if let Some(digest) = &self.digest {
            line.push(' ');
            line.push_str(digest.as_str());
        }
        if let Some(platform) = &self.platform {
            line.push_str(" (");
            line.push_str(platform);
            line.push(')');
        }
        line.push_str(": ");
        line.push_str(&self.detail);
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_as_scripts_match_them() {
        for kind in [
            ProblemKind::MissingManifest,
            ProblemKind::BinaryPlatformMismatch,
            ProblemKind::OrphanAttestation,
        ] {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.name());
        }
        let digest = Digest::sha256_of(b"x");
        let problem = Problem::new(
            ProblemKind::MissingBlob,
            Some(&digest),
            Some("linux/arm64/v8"),
            "blob sha256:… not found",
        );
        assert_eq!(
            problem.line(),
            format!("missing-blob {digest} (linux/arm64/v8): blob sha256:… not found")
        );
    }
}
