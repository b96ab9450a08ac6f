//! `manifest verify`: whether a published (or local) list is complete and right, with the
//! facts that show each fault. One job per file:
//!
//! - `subject`: what is checked (a local list with each entry's source, or a manifest at a
//!   registry or layout) and the transports its content is read from;
//! - `structure`: every child manifest there and parsing, every blob there with its size
//!   (`HEAD` on a registry, `stat` on a layout), each config's platform equal to its entry;
//! - `index`: what the index alone shows (attestations of no image, `--require-platform`);
//! - `referrers`: `--require-referrer`, through the referrers API or the `sha256-<hex>` tag;
//! - `deep`: every layer streamed and hashed, and the machine of every executable in it;
//! - `problem`, `report`: what was found, for people and for scripts.
//!
//! A fault of the content is a [`Problem`]; a failure that keeps the check from finishing (an
//! unreachable registry, a refused request) is a [`VerifyError`], never a pass.

mod deep;
mod index;
mod problem;
mod referrers;
mod report;
mod structure;
mod subject;

pub use problem::{Problem, ProblemKind};
pub use report::{Checked, Report};
pub use subject::Subject;

use crate::copy::Observer;
use crate::model::platform::PlatformFilter;
use crate::transport::TransportError;
use std::sync::Arc;

/// What a check covers; every field's default is what `manifest verify` does without flags.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Also stream every layer and check the machine of each executable (default false).
    pub deep: bool,
    /// Platforms that must each have exactly one image (default none).
    pub required_platforms: Option<PlatformFilter>,
    /// Artifact types every image must have a referrer of (default none).
    pub required_referrers: Vec<String>,
    /// Requests (and layer scans) at once (default 8).
    pub jobs: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            deep: false,
            required_platforms: None,
            required_referrers: Vec::new(),
            jobs: 8,
        }
    }
}

/// A failure that kept the check from finishing: nothing can be said about what was not read.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct VerifyError {
    /// What was being read, in words.
    pub context: String,
    /// What the transport reported.
    #[source]
    pub source: TransportError,
}

impl VerifyError {
    pub(crate) fn new(context: impl Into<String>, source: TransportError) -> Self {
        Self {
            context: context.into(),
            source,
        }
    }
}

/// Checks `subject` as `options` ask; `progress` sees the layers of a deep check.
pub async fn verify(
    subject: &Subject,
    options: &VerifyOptions,
    progress: Arc<dyn Observer>,
) -> Result<Report, VerifyError> {
    let mut report = Report::new(subject, options.deep);
    report.problems.extend(subject.problems.iter().cloned());
    let required = options.required_platforms.as_ref();
    if let Some(index) = &subject.index {
        report
            .problems
            .extend(index::check(&index.manifests, required));
    }
    let images = structure::check(subject, options.jobs, &mut report).await?;
    if subject.index.is_none() && subject.problems.is_empty() {
        // A single image: its platform is its config's, known only now.
        let entries: Vec<_> = images
            .iter()
            .map(|image| {
                let mut entry = crate::model::oci::Descriptor::new("", image.digest.clone(), 0);
                entry.platform = image.platform.clone();
                entry
            })
            .collect();
        report.problems.extend(index::check(&entries, required));
    }
    if !options.required_referrers.is_empty() {
        let found = referrers::check(subject, &options.required_referrers, options.jobs).await?;
        report.problems.extend(found);
    }
    if options.deep {
        deep::check(&images, options.jobs, progress, &mut report).await?;
    }
    report.sort_problems();
    Ok(report)
}
