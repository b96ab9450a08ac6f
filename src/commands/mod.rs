//! One module per verb: typed arguments and a [`Ctx`] in, a library call, the result written to
//! `ctx.out`. Errors go up as `anyhow` to `main`, which prints them: this layer and `main` are
//! the only users of `anyhow`.

pub mod add;
pub mod annotate;
pub mod apply;
pub mod completion;
pub mod create;
mod ctx;
pub mod exists;
pub mod inspect;
pub mod man;
pub mod push;
pub mod remove;
pub mod rm;
#[cfg(test)]
mod testing;

pub use ctx::Ctx;

use crate::cli::EntryFlags;
use crate::list::{parse_annotations, split_list_flags, EntryEdit};
use crate::source::SourceError;
use anyhow::{Context as _, Result};

/// The edit an entry's flags ask for (`--os … --annotation K=V`).
fn entry_edit(flags: &EntryFlags) -> Result<EntryEdit> {
    Ok(EntryEdit {
        os: flags.platform.os.clone(),
        arch: flags.platform.arch.clone(),
        variant: flags.platform.variant.clone(),
        os_version: flags.os_version.clone(),
        os_features: split_list_flags(&flags.os_features),
        features: split_list_flags(&flags.features),
        annotations: parse_annotations(&flags.annotation)?,
    })
}

/// A failure to read an image, as the command reports it: one whose registry could not be
/// reached reads as buildah and podman say it (`reading image "IMAGE": pinging container
/// registry HOST: …`), which their users' scripts match.
fn read_failure(error: SourceError) -> anyhow::Error {
    match error.into_unreachable() {
        Ok((image, unreachable)) => {
            anyhow::Error::new(unreachable).context(format!("reading image \"{image}\""))
        }
        Err(other) => other.into(),
    }
}

/// A runtime for the commands that do I/O beyond the store.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}
