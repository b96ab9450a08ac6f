//! `manifest annotate LIST INSTANCE` and `manifest annotate --index LIST`

use super::{check_artifact_type, describe, entry_edit, Ctx};
use crate::cli::AnnotateArgs;
use crate::ingest::resolve::BareName;
use crate::model::list::EntryEdit;
use crate::model::platform::PlatformFilter;
use crate::model::reference::is_explicit_image;
use anyhow::{bail, Result};

/// Edits one entry (or, with `--index`/`--subject`, the index itself) in one transaction;
/// prints `<list id>: <entry digest>` (or the list ID).
pub fn run(ctx: &mut Ctx, args: AnnotateArgs) -> Result<()> {
    let registry = ctx.registry(&args.registry)?;
    let store = ctx.store()?;
    let mut edit = entry_edit(&args.entry)?;
    check_artifact_type(args.artifact_type.as_deref())?;
    let current = store.find(&args.list)?;
    let registries = registry.registries.clone();
    let transports = ctx.transports(registry);
    if args.index || args.subject.is_some() {
        let platform_edit = EntryEdit {
            annotations: Vec::new(),
            ..edit.clone()
        };
        if !platform_edit.is_empty() {
            bail!("--index applies annotations (and --subject) to the index itself; platform flags need an entry digest");
        }
        if let Some(instance) = &args.instance {
            bail!("--index takes no INSTANCE (got {instance:?})");
        }
        let subject = match &args.subject {
            Some(raw) => Some(describe(
                &transports,
                &registries,
                raw,
                BareName::LocalFirst,
            )?),
            None => None,
        };
        let id = store.update(&args.list, &[], |list| {
            list.list.annotate_index(&edit.annotations);
            if let Some(subject) = subject {
                list.list.index.subject = Some(subject);
            }
            if let Some(artifact_type) = &args.artifact_type {
                list.list.index.artifact_type =
                    Some(artifact_type.clone()).filter(|t| !t.is_empty());
            }
            Ok(list.id.clone())
        })?;
        writeln!(ctx.out, "{id}")?;
        return Ok(());
    }
    if let Some(platform) = &args.platform {
        let filter = PlatformFilter::parse(std::slice::from_ref(platform))?;
        let id = store.update(&args.list, &[], |list| {
            let digest = list.list.image_for_platform(&filter, &list.name)?;
            list.list.annotate(&digest, &edit, &list.name)?;
            Ok((list.id.clone(), digest))
        })?;
        writeln!(ctx.out, "{}: {}", id.0, id.1)?;
        return Ok(());
    }
    let Some(instance) = &args.instance else {
        bail!("annotate needs the digest of an entry, --platform to pick the entry of a platform, or --index to annotate the list itself");
    };
    edit.artifact_type = args.artifact_type.clone();
    // A file an artifact was made from names that artifact (buildah); a digest or a digest
    // prefix is looked up in the list itself, never on the network.
    let by_file = crate::ingest::artifact::absolute(std::path::Path::new(instance));
    let by_file = by_file
        .to_str()
        .and_then(|path| current.list.instance_by_file(path));
    let digest = match by_file {
        Some(digest) => digest,
        None => match current.list.resolve_instance(instance, &current.name)? {
            Some(digest) => digest,
            None if is_explicit_image(instance) => {
                describe(&transports, &registries, instance, BareName::LocalFirst)?.digest
            }
            // A short name may be a local image; it never reaches Docker Hub.
            None => {
                describe(&transports, &registries, instance, BareName::LocalOnly)
                    .map_err(|e| {
                        e.context(format!(
                        "{instance}: image not known (give an entry's digest, a unique prefix of \
                     it, a local image, or an image with its registry or transport: \
                     docker://REGISTRY/REPO:TAG, oci:DIR)"
                    ))
                    })?
                    .digest
            }
        },
    };
    let id = store.update(&args.list, &[], |list| {
        list.list.annotate(&digest, &edit, &list.name)?;
        Ok(list.id.clone())
    })?;
    writeln!(ctx.out, "{id}: {digest}")?;
    Ok(())
}

#[cfg(test)]
#[path = "annotate_tests.rs"]
mod tests;
