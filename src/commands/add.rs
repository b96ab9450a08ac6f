//! `manifest add LIST IMAGE`

use super::{describe, entry_edit, read_failure, runtime, Ctx};
use crate::cli::{AddArgs, ArtifactFlags};
use crate::ingest::artifact::{self, ArtifactSpec};
use crate::ingest::resolve::{parse_image_arg, read_image_arg, BareName};
use crate::ingest::source::Selection;
use crate::model::list::parse_annotations;
use crate::model::list::{EntryEdit, PlatformWanted};
use crate::model::platform::PlatformFilter;
use anyhow::{bail, Result};
use std::path::PathBuf;

/// Reads the image (before the store is locked), then adds its entries to the list in one
/// transaction; prints `<list id>: <digest of the first entry added>`.
pub fn run(ctx: &mut Ctx, args: AddArgs) -> Result<()> {
    if args.artifact.artifact {
        return add_artifact(ctx, args);
    }
    refuse_artifact_flags(&args.artifact)?;
    let [image] = args.images.as_slice() else {
        bail!("too many arguments: expected a list and one image to add (--artifact adds files)");
    };
    let registry = ctx.registry(&args.registry)?;
    let store = ctx.store()?;
    let edit = entry_edit(&args.entry)?;
    let image = parse_image_arg(image, &registry.registries)?;
    // Fail on a missing list before any network traffic.
    store.find(&args.list)?;
    let platform = &args.entry.platform;
    let selection = Selection {
        all: args.all,
        platform: PlatformWanted::from_flags(
            platform.os.as_deref(),
            platform.arch.as_deref(),
            platform.variant.as_deref(),
        ),
        filter: match args.platform.as_slice() {
            [] => None,
            given => Some(PlatformFilter::parse(given)?),
        },
    };
    let transports = ctx.transports(registry);
    let added = runtime()?
        .block_on(read_image_arg(
            &transports,
            &store,
            &image,
            &selection,
            BareName::RegistryFirst,
        ))
        .map_err(read_failure)?;
    // With --all the platform flags chose nothing and change nothing; annotations apply to all.
    let edit = if added.entries.len() > 1 || args.all || selection.filter.is_some() {
        EntryEdit {
            annotations: edit.annotations,
            ..EntryEdit::default()
        }
    } else {
        edit
    };
    // sealos prints the first instance it added (the index's digest only if it had none).
    let printed = added
        .entries
        .first()
        .map_or(&added.digest, |entry| &entry.descriptor.digest)
        .clone();
    let id = store.update(&args.list, &added.blobs, |list| {
        for mut entry in added.entries {
            edit.apply(&mut entry.descriptor);
            list.list.add(entry.descriptor, entry.source);
        }
        Ok(list.id.clone())
    })?;
    writeln!(ctx.out, "{id}: {printed}")?;
    Ok(())
}

/// `add --artifact LIST FILE…`: the files become one artifact manifest, kept in the store with
/// them and added as one entry (its platform and annotations from the entry flags); prints
/// `<list id>: <artifact digest>`.
fn add_artifact(ctx: &mut Ctx, args: AddArgs) -> Result<()> {
    if args.all {
        bail!("--all adds every image of an index; it has no meaning with --artifact");
    }
    if !args.platform.is_empty() {
        bail!("--platform picks images of an index; an artifact's platform is set with --os, --arch and --variant");
    }
    let registry = ctx.registry(&args.registry)?;
    let store = ctx.store()?;
    let edit = entry_edit(&args.entry)?;
    // Fail on a missing list before any file is copied or the subject read.
    store.find(&args.list)?;
    let flags = &args.artifact;
    let mut spec = ArtifactSpec {
        artifact_type: flags.artifact_type.clone(),
        config_type: flags.artifact_config_type.clone(),
        config_file: flags.artifact_config.clone().map(PathBuf::from),
        layer_type: flags.artifact_layer_type.clone(),
        exclude_titles: flags.artifact_exclude_titles,
        annotations: parse_annotations(&flags.artifact_annotation)?
            .into_iter()
            .collect(),
        subject: None,
    };
    spec.check()?;
    if let Some(subject) = &flags.artifact_subject {
        let registries = registry.registries.clone();
        let transports = ctx.transports(registry);
        spec.subject = Some(describe(
            &transports,
            &registries,
            subject,
            BareName::LocalFirst,
        )?);
    }
    let files: Vec<PathBuf> = args.images.iter().map(PathBuf::from).collect();
    // Held until the list names the copied files, so that `prune` cannot take them first.
    let _writing = store.blob_writers(false)?;
    let made = artifact::make(&store, &spec, &files)?;
    let mut entry = made.entry;
    edit.apply(&mut entry);
    let digest = entry.digest.clone();
    let id = store.update(&args.list, &made.blobs, |list| {
        list.list.add_artifact(entry, made.files);
        Ok(list.id.clone())
    })?;
    writeln!(ctx.out, "{id}: {digest}")?;
    Ok(())
}

/// buildah's and podman's refusal of `--artifact-*` flags without `--artifact`, in their words.
fn refuse_artifact_flags(flags: &ArtifactFlags) -> Result<()> {
    let given: Vec<&str> = [
        ("--artifact-type", flags.artifact_type.is_some()),
        ("--artifact-config", flags.artifact_config.is_some()),
        (
            "--artifact-config-type",
            flags.artifact_config_type.is_some(),
        ),
        ("--artifact-layer-type", flags.artifact_layer_type.is_some()),
        ("--artifact-subject", flags.artifact_subject.is_some()),
        ("--artifact-exclude-titles", flags.artifact_exclude_titles),
        (
            "--artifact-annotation",
            !flags.artifact_annotation.is_empty(),
        ),
    ]
    .into_iter()
    .filter_map(|(flag, set)| set.then_some(flag))
    .collect();
    match given.as_slice() {
        [] => Ok(()),
        [one] => bail!("{one} requires --artifact"),
        several => bail!("{} require --artifact", several.join("/")),
    }
}

#[cfg(test)]
#[path = "add_tests.rs"]
mod tests;
