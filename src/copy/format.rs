//! `--format`, in one place: the format the index is pushed in and what `--allow-lossy` drops to
//! get there, the one conversion of a child manifest (once per child: as it is read, or, for a
//! child rewritten with compressed layers, once it is rewritten), and the one wording of the
//! note that says what was dropped.

use super::error::PushError;
use super::inputs::PushOptions;
use crate::copy::convert::convert_manifest;
use crate::model::digest::Digest;
use crate::model::oci::{Index, ListFormat};
use crate::transport::RawManifest;

/// The format the index is written in, and what `--allow-lossy` drops to get there: fields
/// the format cannot hold and, in a Docker list, whole artifact entries (`artifacts`).
pub(super) fn pushed_format(
    index: &mut Index,
    artifacts: &[(Digest, Option<String>)],
    options: &PushOptions,
) -> Result<(ListFormat, Vec<String>), PushError> {
    let Some(format) = options.format else {
        return Ok((index.auto_format()?, Vec::new()));
    };
    let mut kept = index.clone();
    let mut lost = Vec::new();
    if format == ListFormat::Docker && !artifacts.is_empty() {
        kept.manifests
            .retain(|entry| !artifacts.iter().any(|(d, _)| *d == entry.digest));
        lost.extend(
            artifacts
                .iter()
                .map(|(digest, artifact_type)| match artifact_type {
                    Some(t) => format!("artifact {digest} ({t}), which a Docker list cannot hold"),
                    None => format!("artifact {digest}, which a Docker list cannot hold"),
                }),
        );
    }
    lost.extend(kept.loss_in(format));
    if lost.is_empty() {
        return Ok((format, Vec::new()));
    }
    if options.allow_lossy {
        *index = kept;
        return Ok((format, vec![dropped_note(&lost, None)]));
    }
    Err(PushError::Lossy {
        format: match format {
            ListFormat::Oci => "an OCI index (--format oci)",
            ListFormat::Docker => "a Docker manifest list (--format v2s2)",
        },
        lost: lost.join(", "),
    })
}

/// A child manifest as it is pushed.
pub(super) struct Pushed {
    /// The manifest, in the format asked for.
    pub(super) manifest: RawManifest,
    /// What `--allow-lossy` let the conversion drop, as the note that tells the user.
    pub(super) note: Option<String>,
}

/// The child manifest `raw` as pushed: converted to `--format` when one is asked for. `of` is
/// the child's digest in the list, which the note names.
pub(super) fn pushed_child(
    raw: RawManifest,
    of: &Digest,
    options: &PushOptions,
) -> Result<Pushed, PushError> {
    let converted = match options.format {
        Some(format) => convert_manifest(&raw, format, options.allow_lossy)?,
        None => None,
    };
    Ok(match converted {
        Some(converted) => Pushed {
            note: (!converted.dropped.is_empty())
                .then(|| dropped_note(&converted.dropped, Some(of))),
            manifest: converted.manifest,
        },
        None => Pushed {
            manifest: raw,
            note: None,
        },
    })
}

/// A Docker manifest as OCI (for a zstd variant: a Docker manifest cannot name zstd layers);
/// other manifests as they are. Nothing a Docker manifest holds is lost in OCI.
pub(super) fn as_oci(raw: RawManifest) -> Result<RawManifest, PushError> {
    Ok(match convert_manifest(&raw, ListFormat::Oci, false)? {
        Some(converted) => converted.manifest,
        None => raw,
    })
}

/// `Dropping … [from DIGEST] (--allow-lossy)`: what `--allow-lossy` dropped from the index, or
/// from the child `from`.
fn dropped_note(lost: &[String], from: Option<&Digest>) -> String {
    let lost = lost.join(", ");
    match from {
        Some(digest) => format!("Dropping {lost} from {digest} (--allow-lossy)"),
        None => format!("Dropping {lost} (--allow-lossy)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_notes_name_what_and_where() {
        let lost = ["annotation \"k\"".to_string(), "subject".to_string()];
        let digest = Digest::sha256_of(b"x");
        assert_eq!(
            dropped_note(&lost, Some(&digest)),
            format!("Dropping annotation \"k\", subject from {digest} (--allow-lossy)")
        );
        assert_eq!(
            dropped_note(&lost[..1], None),
            "Dropping annotation \"k\" (--allow-lossy)"
        );
    }
}
