//! The copy engine: an index and the sources of its entries go to any destination through one
//! path. Every child's blobs and manifest reach the destination before the index, each digest
//! is transferred once, at most `jobs` transfers run at once across all children, and the index
//! is written last (to every tag), so a failure anywhere leaves the destination's tags untouched.
//!
//! A push is plan → steps → run: `plan` makes every decision with read-only requests (which
//! children and blobs the destination has, which blobs can be mounted) and leaves them as the
//! steps of `steps`; `run` carries out exactly those steps. A dry run prints the steps instead,
//! so both make the same decisions by construction. The modules form a one-way stack (top to
//! bottom; `tests/it/layering/copy_stack.rs` checks it on the source tree):
//!
//! - `plan` (the decisions) and `run` (carrying them out);
//! - `variants` (`--add-compression`), `referrers` (`--referrers`), `blobs` (sending one blob
//!   or compressing one layer on its way);
//! - `children` (reading the child manifests and deciding each);
//! - `gather` (what the children need, each digest once) and `recompress` (planning a child
//!   whose layers are compressed on the way);
//! - `steps` (the step types, and the rewrite of a recompressed child);
//! - `tags` (where the index goes) and `format` (`--format`: the one conversion of a child and
//!   the one note of what `--allow-lossy` dropped);
//! - `report` (what was or would be done), `inputs` (what a copy is given: options, observer,
//!   transports, the little it reads from the store) and `error`;
//! - what only the engine uses: [`convert`] (rewriting a manifest between OCI and Docker v2s2)
//!   and [`compress`] (gzip and zstd while a layer is sent).

mod blobs;
mod children;
pub mod compress;
pub mod convert;
mod error;
mod format;
mod gather;
mod inputs;
mod plan;
mod recompress;
mod referrers;
pub mod report;
mod run;
mod steps;
mod tags;
mod variants;

use crate::model::list::Sources;
use crate::model::oci;
use crate::model::reference::ImageRef;
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
