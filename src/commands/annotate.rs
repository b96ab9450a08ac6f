//! `manifest annotate LIST INSTANCE` and `manifest annotate --index LIST`

use super::{entry_edit, read_failure, runtime, Ctx};
use crate::cli::AnnotateArgs;
use crate::config::registries::RegistriesConf;
use crate::list::EntryEdit;
use crate::oci::Descriptor;
use crate::reference::is_explicit_image;
use crate::resolve::{parse_image_arg, read_manifest_arg, BareName};
use crate::transport::open::Transports;
use anyhow::{bail, Result};

/// Edits one entry (or, with `--index`/`--subject`, the index itself) in one transaction;
/// prints `<list id>: <entry digest>` (or the list ID).
pub fn run(ctx: &mut Ctx, args: AnnotateArgs) -> Result<()> {
    let registry = ctx.registry(&args.registry)?;
    let store = ctx.store()?;
    let edit = entry_edit(&args.entry)?;
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
            Ok(list.id.clone())
        })?;
        writeln!(ctx.out, "{id}")?;
        return Ok(());
    }
    let Some(instance) = &args.instance else {
        bail!("annotate needs the digest of an entry (or --index to annotate the list itself)");
    };
    // A digest or a digest prefix is looked up in the list itself, never on the network.
    let digest = match current.list.resolve_instance(instance, &current.name)? {
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
    };
    let id = store.update(&args.list, &[], |list| {
        list.list.annotate(&digest, &edit, &list.name)?;
        Ok(list.id.clone())
    })?;
    writeln!(ctx.out, "{id}: {digest}")?;
    Ok(())
}

/// The descriptor of the manifest an image reference names (a bare name: tried in `order`; a
/// local image first, as sealos looks it up).
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
    Ok(Descriptor::new(
        &manifest.media_type,
        manifest.digest.clone(),
        manifest.bytes.len() as u64,
    ))
}

#[cfg(test)]
mod tests;
