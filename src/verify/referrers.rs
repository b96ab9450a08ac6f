//! `--require-referrer ARTIFACT_TYPE`: every image of the index (attestations aside) must have a
//! referrer of each type asked for (a signature, an SBOM), listed by the referrers API where the
//! registry has one, else under the `sha256-<hex>` tag the distribution spec names as its
//! fallback (what distribution 2.8 and OCI layouts have).

use super::subject::Subject;
use super::{Problem, ProblemKind, VerifyError};
use crate::model::digest::Digest;
use crate::model::oci::Descriptor;
use crate::model::platform::is_attestation;
use crate::transport::referrers::referrers_of;
use crate::transport::Transport;
use futures_util::{stream, StreamExt, TryStreamExt};

/// One problem per image and artifact type it has no referrer of.
pub(super) async fn check(
    subject: &Subject,
    required: &[String],
    jobs: usize,
) -> Result<Vec<Problem>, VerifyError> {
    let images = subject
        .children
        .iter()
        .filter(|child| !is_attestation(&child.entry))
        .filter_map(|child| Some((&child.entry, child.transport.as_ref()?)));
    let found: Vec<Vec<Problem>> = stream::iter(images)
        .map(|(entry, transport)| async move {
            let listed = listed(transport.as_ref(), &entry.digest).await?;
            let platform = entry.platform.as_ref().map(|p| p.display());
            Ok::<_, VerifyError>(
                required
                    .iter()
                    .filter(|wanted| {
                        !listed
                            .iter()
                            .any(|r| r.artifact_type.as_deref() == Some(wanted.as_str()))
                    })
                    .map(|wanted| {
                        Problem::new(
                            ProblemKind::MissingReferrer,
                            Some(&entry.digest),
                            platform.as_deref(),
                            format!(
                                "no referrer of type {wanted} ({} listed in {})",
                                listed.len(),
                                transport.describe()
                            ),
                        )
                    })
                    .collect(),
            )
        })
        .buffered(jobs.max(1))
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// The referrers of `subject` where `transport` lists them (see
/// [`crate::transport::referrers::referrers_of`]).
async fn listed(
    transport: &dyn Transport,
    subject: &Digest,
) -> Result<Vec<Descriptor>, VerifyError> {
    referrers_of(transport, subject, &|_| {})
        .await
        .map_err(|e| {
            VerifyError::new(
                format!(
                    "listing the referrers of {subject} in {}",
                    transport.describe()
                ),
                e,
            )
        })
}
