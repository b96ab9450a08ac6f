//! One module per verb: typed arguments and a [`Ctx`] in, a library call, the result written to
//! `ctx.out`. Errors go up as `anyhow` to `main`, which prints them: this layer and `main` are
//! the only users of `anyhow`.
//!
//! Beside the verbs: `ctx` (the [`Ctx`]), and what a command gives the copy engine and `verify`
//! of the store (`store_inputs`, with the one `layer_cache` of the command).

pub mod add;
pub mod annotate;
pub mod apply;
pub mod completion;
pub mod create;
mod ctx;
pub mod exists;
pub mod inspect;
mod layer_cache;
pub mod man;
pub mod prune;
pub mod push;
pub mod remove;
pub mod rm;
mod store_inputs;
#[cfg(test)]
mod testing;
pub mod verify;

pub use ctx::Ctx;

use crate::cli::EntryFlags;
use crate::config::registries::RegistriesConf;
use crate::ingest::resolve::{parse_image_arg, read_manifest_arg, BareName};
use crate::ingest::source::SourceError;
use crate::model::list::{parse_annotations, split_list_flags, EntryEdit};
use crate::model::oci::{Descriptor, ImageManifest};
use crate::transport::open::Transports;
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
        artifact_type: None,
    })
}

/// A failure to read an image, as the command reports it: one whose registry could not be
/// reached reads as buildah and podman say it (`reading image "IMAGE": pinging container
/// registry HOST: …`), which their users' scripts match.
fn read_failure(error: SourceError) -> anyhow::Error {
    match error.into_unreachable() {
        Ok(unreachable) => {
            let image = unreachable.image.clone();
            anyhow::Error::new(unreachable).context(format!("reading image \"{image}\""))
        }
        Err(other) => other.into(),
    }
}

/// The descriptor of the manifest an image reference names (a bare name: tried in `order`),
/// with its artifactType when it is a single manifest that has one: what `--subject` and
/// `--artifact-subject` record.
fn describe(
    transports: &Transports,
    registries: &RegistriesConf,
    raw: &str,
    order: BareName,
) -> Result<Descriptor> {
    let image = parse_image_arg(raw, registries)?;
    let manifest = runtime()?
        .block_on(read_manifest_arg(transports, &image, order))
        .map_err(read_failure)?;
    let mut descriptor = Descriptor::new(
        &manifest.media_type,
        manifest.digest.clone(),
        manifest.bytes.len() as u64,
    );
    if !crate::model::oci::is_index_type(&manifest.media_type) {
        descriptor.artifact_type = ImageManifest::parse(&manifest.bytes)
            .ok()
            .and_then(|m| m.artifact_type)
            .filter(|t| !t.is_empty());
    }
    Ok(descriptor)
}

/// Refuses an `--artifact-type` (of the index, or of an entry) that is not a media type; an
/// empty one means "none".
fn check_artifact_type(value: Option<&str>) -> Result<()> {
    if let Some(reason) = value
        .filter(|v| !v.is_empty())
        .and_then(crate::ingest::artifact::media_type_problem)
    {
        anyhow::bail!("--artifact-type: {reason}");
    }
    Ok(())
}

/// A runtime for the commands that do I/O beyond the store.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}
