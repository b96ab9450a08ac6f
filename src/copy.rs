//! The copy engine: an index and its typed sources go to any destination through one path.
//! Every child's blobs and manifest reach the destination before the index, each digest is
//! transferred once, at most `jobs` transfers run at once across all children, and the index is
//! written last (to every tag), so a failure anywhere leaves the destination's tags untouched.
//!
//! A push is two steps with one job each: `plan::plan` makes every decision with read-only
//! requests (which children and blobs the destination has, which blobs can be mounted), and
//! `run::execute` carries out exactly that plan. A dry run prints the plan instead, so both
//! make the same decisions by construction.
//!
//! - `plan`: the decisions; `children`: reading child manifests and what they reference;
//!   `referrers`: OCI 1.1 referrers of the children (`--referrers`); `tags`: where the index
//!   goes; `blobs`: moving one blob; `run`: execution; `report`: what was (or would be) done;
//!   `recompress`: children whose layers are compressed on the way (containers-storage);
//!   `variants`: the compression variants `--add-compression` adds.

mod blobs;
mod children;
mod error;
mod inputs;
pub(crate) mod plan;
mod recompress;
mod referrers;
pub mod report;
pub(crate) mod run;
pub(crate) mod tags;
mod variants;

use crate::list::Sources;
use crate::oci;
use crate::reference::ImageRef;
use std::sync::Arc;

pub use error::PushError;
pub(crate) use inputs::open_source;
pub use inputs::{CopyEnv, LocalStore, Observer, PushOptions};
pub use report::PushReport;

/// Copies `index` with every child (read from `sources`) to `destination` and every tag of
/// `options.tags`; returns what was done, with the digest of the index as the destination holds
/// it. With `options.dry_run`, returns what would be done and writes nothing.
pub async fn copy(
    env: &CopyEnv<'_>,
    index: &oci::Index,
    sources: &Sources,
    destination: &ImageRef,
    options: &PushOptions,
    progress: Arc<dyn Observer>,
) -> Result<PushReport, PushError> {
    let planned = plan::plan(env, index, sources, destination, options, progress.as_ref()).await?;
    if options.dry_run {
        return Ok(planned.report());
    }
    run::execute(planned, env, options, progress).await
}
