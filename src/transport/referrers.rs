//! Where any transport lists an image's referrers: its OCI 1.1 referrers API, else the
//! `<algorithm>-<hex>` tag the distribution spec names as the fallback (what distribution 2.8
//! and OCI layouts have). One reading for `push --referrers` and `verify --require-referrer`.

use super::{ManifestRef, Transport, TransportError, MAX_REFERRERS_PER_SUBJECT};
use crate::model::digest::Digest;
use crate::model::oci::{Descriptor, Index};

/// The tag the OCI distribution spec lists `subject`'s referrers under when a registry has no
/// referrers API: `<algorithm>-<hex>`, the hex cut to 64 characters.
pub(crate) fn fallback_tag(subject: &Digest) -> String {
    let hex = subject.hex();
    format!("{}-{}", subject.algorithm(), &hex[..hex.len().min(64)])
}

/// The referrers of `subject` where `transport` lists them: its referrers API, else the
/// fallback tag; none when neither lists any. More than [`MAX_REFERRERS_PER_SUBJECT`] is an
/// error naming the limit. `note` hears what was decided about odd answers (`--debug`).
pub(crate) async fn referrers_of(
    transport: &dyn Transport,
    subject: &Digest,
    note: &(dyn Fn(&str) + Sync),
) -> Result<Vec<Descriptor>, TransportError> {
    if let Some(list) = transport.referrers(subject).await? {
        return Ok(list);
    }
    let listed = fallback_index(transport, subject, note)
        .await?
        .map(|index| index.manifests)
        .unwrap_or_default();
    if listed.len() > MAX_REFERRERS_PER_SUBJECT {
        return Err(TransportError::Invalid(format!(
            "the referrers tag {} lists more than {MAX_REFERRERS_PER_SUBJECT} referrers (the \
             limit per image)",
            fallback_tag(subject)
        )));
    }
    Ok(listed)
}

/// The index under `subject`'s fallback tag, if there is one. A tag that resolves to the
/// subject itself (GitLab resolves such tags to the image) or to something that is not an
/// index lists no referrers.
pub(crate) async fn fallback_index(
    transport: &dyn Transport,
    subject: &Digest,
    note: &(dyn Fn(&str) + Sync),
) -> Result<Option<Index>, TransportError> {
    let tag = fallback_tag(subject);
    let raw = match transport.manifest_get(&ManifestRef::Tag(tag.clone())).await {
        Ok(raw) => raw,
        Err(TransportError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let place = transport.describe();
    if raw.digest == *subject {
        note(&format!(
            "{place}: the referrers tag {tag} is the image {subject} itself (GitLab resolves \
             such tags to the image): no referrers listed there"
        ));
        return Ok(None);
    }
    match Index::parse(&raw.bytes) {
        Ok(index) => Ok(Some(index)),
        Err(e) => {
            note(&format!(
                "{place}: the referrers tag {tag} is not an index ({e}): no referrers listed there"
            ));
            Ok(None)
        }
    }
}
