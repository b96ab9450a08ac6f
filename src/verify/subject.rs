//! What a check covers: the index (or single image) and, for each entry, the transport its
//! content is read from: the entry's recorded source for a local list, the repository or layout
//! of the index otherwise.

use super::{Problem, ProblemKind, VerifyError};
use crate::copy::{open_source, LocalStore};
use crate::model::digest::Digest;
use crate::model::list::Sources;
use crate::model::oci::{self, Descriptor, Index};
use crate::transport::open::Transports;
use crate::transport::{ManifestRef, RawManifest, Transport, TransportError};
use std::sync::Arc;

/// One entry of what is checked.
pub(crate) struct Child {
    /// The entry as the index has it (for a single image: its digest, size and media type).
    pub(crate) entry: Descriptor,
    /// Where its manifest and blobs are read from; `None` when it has no source at all.
    pub(crate) transport: Option<Arc<dyn Transport>>,
    /// Its manifest, when it was read already (a single image).
    pub(crate) manifest: Option<RawManifest>,
}

/// A list or image to check, with where each of its entries is read from.
pub struct Subject {
    /// The list or reference as the user named it.
    pub label: String,
    /// The digest of the index (or the single image), when there is one.
    pub digest: Option<Digest>,
    /// The media type of the index (or the single image).
    pub media_type: Option<String>,
    /// The index, when the subject is one (a list, or an index at a registry or layout).
    pub(crate) index: Option<Index>,
    pub(crate) children: Vec<Child>,
    /// Faults found while reading the subject itself.
    pub(crate) problems: Vec<Problem>,
}

impl Subject {
    /// A local list: each entry read from its recorded source.
    pub async fn of_list(
        transports: &Transports,
        local: &dyn LocalStore,
        label: &str,
        index: &Index,
        sources: &Sources,
    ) -> Result<Self, VerifyError> {
        let mut subject = Subject {
            label: label.to_string(),
            digest: None,
            media_type: index.auto_format().ok().map(|f| f.media_type().to_string()),
            index: Some(index.clone()),
            children: Vec::new(),
            problems: Vec::new(),
        };
        for entry in &index.manifests {
            let platform = entry.platform.as_ref().map(|p| p.display());
            let transport = match sources.get(&entry.digest) {
                None => {
                    subject.problems.push(Problem::new(
                        ProblemKind::MissingManifest,
                        Some(&entry.digest),
                        platform.as_deref(),
                        "the entry has no recorded source; remove it and add it again",
                    ));
                    None
                }
                Some(image) => match open_source(image, transports, local).await {
                    Ok(transport) => Some(transport),
                    Err(TransportError::NotFound { what, location }) => {
                        subject.problems.push(Problem::new(
                            ProblemKind::MissingManifest,
                            Some(&entry.digest),
                            platform.as_deref(),
                            format!("its source {image} is gone ({what} not found in {location})"),
                        ));
                        None
                    }
                    Err(e) => {
                        return Err(VerifyError::new(
                            format!("opening the source of {} ({image})", entry.digest),
                            e,
                        ))
                    }
                },
            };
            subject.children.push(Child {
                entry: entry.clone(),
                transport,
                manifest: None,
            });
        }
        Ok(subject)
    }

    /// The manifest `reference` names in `transport`: an index and its children, or one image.
    pub async fn of_reference(
        transport: Arc<dyn Transport>,
        reference: &ManifestRef,
        label: &str,
    ) -> Result<Self, VerifyError> {
        let mut subject = Subject {
            label: label.to_string(),
            digest: None,
            media_type: None,
            index: None,
            children: Vec::new(),
            problems: Vec::new(),
        };
        let pinned = match reference {
            ManifestRef::Digest(d) => Some(d),
            _ => None,
        };
        let manifest = match transport.manifest_get(reference).await {
            Ok(manifest) => manifest,
            Err(e) => {
                let kind = match &e {
                    TransportError::NotFound { .. } => ProblemKind::MissingManifest,
                    TransportError::DigestMismatch { .. } | TransportError::Invalid(_) => {
                        ProblemKind::InvalidManifest
                    }
                    _ => return Err(VerifyError::new(format!("reading {label}"), e)),
                };
                subject.digest = pinned.cloned();
                subject
                    .problems
                    .push(Problem::new(kind, pinned, None, e.to_string()));
                return Ok(subject);
            }
        };
        subject.digest = Some(manifest.digest.clone());
        subject.media_type = Some(manifest.media_type.clone());
        if !oci::is_index_type(&manifest.media_type) {
            let entry = Descriptor::new(
                &manifest.media_type,
                manifest.digest.clone(),
                manifest.bytes.len() as u64,
            );
            subject.children.push(Child {
                entry,
                transport: Some(transport),
                manifest: Some(manifest),
            });
            return Ok(subject);
        }
        match Index::parse(&manifest.bytes) {
            Ok(index) => {
                subject.children = index
                    .manifests
                    .iter()
                    .map(|entry| Child {
                        entry: entry.clone(),
                        transport: Some(transport.clone()),
                        manifest: None,
                    })
                    .collect();
                subject.index = Some(index);
            }
            Err(e) => subject.problems.push(Problem::new(
                ProblemKind::InvalidManifest,
                Some(&manifest.digest),
                None,
                format!("the index does not parse: {e}"),
            )),
        }
        Ok(subject)
    }
}
