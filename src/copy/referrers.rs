//! `push --referrers`: each child's OCI 1.1 referrers (signatures, SBOMs, attestations whose
//! `subject` is the child) go with it, as regctl copies them. They are listed through the
//! source's referrers API where it has one, else through the `sha256-<hex>` tag the OCI
//! distribution spec defines as the fallback (what distribution 2.8 and OCI layouts have);
//! referrers of referrers follow, a few levels deep. At a destination without the referrers
//! API, the same fallback tag is updated to list them, keeping what it listed before.

use super::children::{read_manifest, Children, Gathered};
use super::report::{ChildAction, ReferrerDecision};
use super::{CopyEnv, PushError};
use crate::digest::Digest;
use crate::oci::{Descriptor, Index, ListFormat};
use crate::transport::{ManifestRef, RawManifest, Transport, TransportError};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

/// How far referrers of referrers are followed (a signature of an SBOM of an image is 2).
const MAX_DEPTH: usize = 3;

/// What `--referrers` adds to a push.
#[derive(Default)]
pub(super) struct ReferrerWrites {
    pub(super) decisions: Vec<ReferrerDecision>,
    /// Referrer manifests to write by digest, after the children.
    pub(super) manifests: Vec<RawManifest>,
    /// Fallback tags to write at the destination, with the index each lists.
    pub(super) tags: Vec<(String, RawManifest)>,
}

impl ReferrerWrites {
    /// The fallback tags written.
    pub(super) fn tag_names(&self) -> Vec<String> {
        self.tags.iter().map(|(tag, _)| tag.clone()).collect()
    }
}

/// The tag the OCI distribution spec lists `subject`'s referrers under when a registry has no
/// referrers API: `<algorithm>-<hex>`, the hex cut to 64 characters.
pub(crate) fn fallback_tag(subject: &Digest) -> String {
    let hex = subject.hex();
    format!("{}-{}", subject.algorithm(), &hex[..hex.len().min(64)])
}

/// Plans the referrers of every child copied as it is; their blobs join the children's. A child
/// pushed under a new digest (rewritten or converted) keeps its referrers behind: they sign or
/// describe the old digest.
pub(super) async fn plan_referrers(
    env: &CopyEnv<'_>,
    children: &mut Children,
    dest: &Arc<dyn Transport>,
    notes: &mut Vec<String>,
) -> Result<ReferrerWrites, PushError> {
    let mut writes = ReferrerWrites::default();
    let mut seen = HashSet::new();
    let mut gathered = Gathered::default();
    let subjects: Vec<(Digest, bool, Arc<dyn Transport>)> = children
        .decisions
        .iter()
        .zip(&children.sources)
        .map(|(child, source)| {
            let changed = child.action == ChildAction::Rewrite || child.pushed.is_some();
            (child.digest.clone(), changed, source.clone())
        })
        .collect();
    for (child, changed, source) in subjects {
        let mut queue = VecDeque::from([(child.clone(), 0)]);
        while let Some((subject, depth)) = queue.pop_front() {
            let listed = listed(source.as_ref(), &subject).await?;
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
                    let raw = read_manifest(env.store, source.as_ref(), &referrer.digest).await?;
                    gathered.gather(env.store, &source, raw).await?;
                }
                if depth + 1 < MAX_DEPTH {
                    queue.push_back((referrer.digest.clone(), depth + 1));
                }
            }
            if let Some(tag) = fallback_update(dest.as_ref(), &subject, &listed).await? {
                writes.tags.push(tag);
            }
        }
    }
    for (descriptor, source) in &gathered.blobs {
        children.gathered.add_blob(descriptor, source);
    }
    writes.manifests = gathered.manifests;
    Ok(writes)
}

/// The referrers of `subject` where `transport` lists them: its referrers API, else the
/// fallback tag; none when neither lists any.
async fn listed(transport: &dyn Transport, subject: &Digest) -> Result<Vec<Descriptor>, PushError> {
    let failed = |source| PushError::Transport {
        context: format!(
            "listing the referrers of {subject} in {}",
            transport.describe()
        ),
        source,
    };
    if let Some(list) = transport.referrers(subject).await.map_err(failed)? {
        return Ok(list);
    }
    Ok(fallback_index(transport, subject)
        .await
        .map_err(failed)?
        .map(|index| index.manifests)
        .unwrap_or_default())
}

/// The index under `subject`'s fallback tag, if there is one.
async fn fallback_index(
    transport: &dyn Transport,
    subject: &Digest,
) -> Result<Option<Index>, TransportError> {
    match transport
        .manifest_get(&ManifestRef::Tag(fallback_tag(subject)))
        .await
    {
        Ok(raw) => Index::parse(&raw.bytes).map(Some).map_err(|e| {
            TransportError::Invalid(format!(
                "the referrers tag {} is not an index: {e}",
                fallback_tag(subject)
            ))
        }),
        Err(TransportError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
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
/// to what it lists already, when anything is missing from it.
async fn fallback_update(
    dest: &dyn Transport,
    subject: &Digest,
    listed: &[Descriptor],
) -> Result<Option<(String, RawManifest)>, PushError> {
    let failed = |source| PushError::Transport {
        context: format!("reading the referrers of {subject} at {}", dest.describe()),
        source,
    };
    if dest.referrers(subject).await.map_err(failed)?.is_some() {
        return Ok(None);
    }
    let mut index = fallback_index(dest, subject)
        .await
        .map_err(failed)?
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
        super::tags::index_manifest(&index, ListFormat::Oci),
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
