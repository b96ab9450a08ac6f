//! `push --referrers`: each child's OCI 1.1 referrers (signatures, SBOMs, attestations whose
//! `subject` is the child) go with it, as regctl copies them. They are listed through the
//! source's referrers API where it has one, else through the `sha256-<hex>` tag the OCI
//! distribution spec defines as the fallback (what distribution 2.8 and OCI layouts have);
//! referrers of referrers follow, a few levels deep. At a destination without the referrers
//! API, the same fallback tag is updated to list them, keeping what it listed before.
//!
//! Everything listed is counted before anything is read: at most
//! [`crate::transport::MAX_REFERRERS_PER_SUBJECT`] per image and [`MAX_REFERRERS_PER_PUSH`] in one push, named in
//! the error when a source lists more (a source that lists 40 new referrers for each digest
//! stops there, not after 64,000). A fallback tag that names the image itself (GitLab resolves
//! `sha256-<hex>` tags to the image, oras-project/oras-go#1396) or something that is not an
//! index lists nothing. Whether the destination has the referrers API is a question that never
//! fails the push: an answer that says nothing (an error) counts as "no API".

use super::error::PushError;
use super::gather::{read_manifest, Gathered};
use super::inputs::CopyEnv;
use super::report::{ChildAction, ChildDecision, ReferrerDecision};
use super::steps::ReferrerWrites;
use super::tags::index_manifest;
use crate::model::digest::Digest;
use crate::model::oci::{Descriptor, ListFormat};
use crate::transport::referrers::{fallback_index, fallback_tag, referrers_of};
use crate::transport::{RawManifest, Transport, TransportError};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

/// How far referrers of referrers are followed (a signature of an SBOM of an image is 2).
const MAX_DEPTH: usize = 3;

/// The most referrers one push copies (all images and depths together); more is an error
/// naming this limit.
pub(crate) const MAX_REFERRERS_PER_PUSH: usize = 1024;

/// One subject's listing, found in the first pass.
struct Listing {
    subject: Digest,
    listed: Vec<Descriptor>,
    source: Arc<dyn Transport>,
}

/// Plans the referrers of every child (`children`, each read from the transport at the same
/// place in `sources`) copied as it is; their blobs join the children's (`blobs`). A child
/// pushed under a new digest (rewritten or converted) keeps its referrers behind: they sign or
/// describe the old digest.
pub(super) async fn plan_referrers(
    env: &CopyEnv<'_>,
    children: &[ChildDecision],
    sources: &[Arc<dyn Transport>],
    blobs: &mut Gathered,
    dest: &Arc<dyn Transport>,
    notes: &mut Vec<String>,
) -> Result<ReferrerWrites, PushError> {
    let subjects: Vec<(Digest, bool, Arc<dyn Transport>)> = children
        .iter()
        .zip(sources)
        .map(|(child, source)| {
            let changed = child.action == ChildAction::Rewrite || child.pushed.is_some();
            (child.digest.clone(), changed, source.clone())
        })
        .collect();
    // First every listing, within the limits; nothing is read or checked at the destination
    // before the whole count is known.
    let mut seen: HashSet<Digest> = HashSet::new();
    let mut listings = Vec::new();
    for (child, changed, source) in subjects {
        let mut queue = VecDeque::from([(child.clone(), 0)]);
        while let Some((subject, depth)) = queue.pop_front() {
            let listed = listed(env, source.as_ref(), &subject).await?;
            if listed.is_empty() {
                continue;
            }
            if changed {
                notes.push(format!(
                    "The referrers of {child} are not copied: it is pushed as a new manifest, which they do not refer to"
                ));
                break;
            }
            for referrer in &listed {
                if !seen.insert(referrer.digest.clone()) {
                    continue;
                }
                if seen.len() > MAX_REFERRERS_PER_PUSH {
                    return Err(PushError::Transport {
                        context: format!(
                            "listing the referrers of {subject} in {}",
                            source.describe()
                        ),
                        source: TransportError::Invalid(format!(
                            "more than {MAX_REFERRERS_PER_PUSH} referrers in one push (the limit \
                             per push)"
                        )),
                    });
                }
                if depth + 1 < MAX_DEPTH {
                    queue.push_back((referrer.digest.clone(), depth + 1));
                }
            }
            listings.push(Listing {
                subject,
                listed,
                source: source.clone(),
            });
        }
    }
    let mut writes = ReferrerWrites::default();
    let mut gathered = Gathered::default();
    let mut decided = HashSet::new();
    for Listing {
        subject,
        listed,
        source,
    } in listings
    {
        for referrer in &listed {
            if !decided.insert(referrer.digest.clone()) {
                continue;
            }
            let present = exists(dest.as_ref(), &referrer.digest).await?;
            writes.decisions.push(ReferrerDecision {
                digest: referrer.digest.clone(),
                subject: subject.clone(),
                artifact_type: referrer.artifact_type.clone().filter(|t| !t.is_empty()),
                action: if present {
                    ChildAction::Skip
                } else {
                    ChildAction::Copy
                },
            });
            if !present {
                let raw = read_manifest(env.local, source.as_ref(), &referrer.digest).await?;
                gathered.gather(env.local, &source, raw).await?;
            }
        }
        if let Some(tag) = fallback_update(env, dest.as_ref(), &subject, &listed).await? {
            writes.tags.push(tag);
        }
    }
    for (descriptor, source) in &gathered.blobs {
        blobs.add_blob(descriptor, source);
    }
    writes.manifests = gathered.manifests;
    Ok(writes)
}

/// The referrers of `subject` where `transport` lists them (see
/// [`crate::transport::referrers::referrers_of`]).
async fn listed(
    env: &CopyEnv<'_>,
    transport: &dyn Transport,
    subject: &Digest,
) -> Result<Vec<Descriptor>, PushError> {
    referrers_of(transport, subject, &|text| env.transports.debug_note(text))
        .await
        .map_err(|source| PushError::Transport {
            context: format!(
                "listing the referrers of {subject} in {}",
                transport.describe()
            ),
            source,
        })
}

async fn exists(dest: &dyn Transport, digest: &Digest) -> Result<bool, PushError> {
    dest.manifest_exists(digest)
        .await
        .map_err(|source| PushError::Transport {
            context: format!("checking referrer {digest} at the destination"),
            source,
        })
}

/// At a destination without the referrers API: the fallback tag's index with `listed` added
/// to what it lists already, when anything is missing from it. A destination whose API check
/// fails is taken as one without the API (writing the tag too is harmless).
async fn fallback_update(
    env: &CopyEnv<'_>,
    dest: &dyn Transport,
    subject: &Digest,
    listed: &[Descriptor],
) -> Result<Option<(String, RawManifest)>, PushError> {
    match dest.referrers(subject).await {
        Ok(Some(_)) => return Ok(None),
        Ok(None) => {}
        Err(e) => env.transports.debug_note(&format!(
            "{}: checking the referrers API failed ({e}): taken as no API",
            dest.describe()
        )),
    }
    let mut index = fallback_index(dest, subject, &|text| env.transports.debug_note(text))
        .await
        .map_err(|source| PushError::Transport {
            context: format!("reading the referrers of {subject} at {}", dest.describe()),
            source,
        })?
        .unwrap_or_default();
    let before = index.manifests.len();
    for referrer in listed {
        if !index.manifests.iter().any(|d| d.digest == referrer.digest) {
            index.manifests.push(referrer.clone());
        }
    }
    if index.manifests.len() == before {
        return Ok(None);
    }
    Ok(Some((
        fallback_tag(subject),
        index_manifest(&index, ListFormat::Oci),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_tags_follow_the_distribution_spec() {
        let digest = Digest::sha256_of(b"x");
        assert_eq!(fallback_tag(&digest), format!("sha256-{}", digest.hex()));
    }
}
