//! `manifest create LIST [IMAGE...]`

use super::{runtime, Ctx};
use crate::cli::CreateArgs;
use crate::ingest::resolve::{
    parse_image_arg, read_image_arg, read_image_named_like_list, BareName,
};
use crate::ingest::source::Selection;
use crate::model::list::{parse_annotations, ManifestList, PlatformWanted};
use crate::model::reference::normalize_list_name;
use crate::store::StoreError;
use anyhow::{bail, Result};

/// Reads every image first (a failure then changes nothing), then creates the list, replaces it
/// (`--replace`) or adds to it (`--amend`); prints the list ID.
pub fn run(ctx: &mut Ctx, args: CreateArgs) -> Result<()> {
    if args.amend && args.replace {
        bail!("--amend and --replace are mutually exclusive: --amend adds to the existing list, --replace starts a new one");
    }
    let registry = ctx.registry(&args.registry)?;
    let store = ctx.store()?;
    let name = normalize_list_name(&args.list)?;
    let annotations = parse_annotations(&args.annotation)?;
    super::check_artifact_type(args.artifact_type.as_deref())?;
    let artifact_type = args.artifact_type.clone().filter(|t| !t.is_empty());
    let images = args
        .images
        .iter()
        .map(|i| parse_image_arg(i, &registry.registries))
        .collect::<Result<Vec<_>, _>>()?;
    let selection = Selection {
        all: args.all,
        platform: PlatformWanted::from_flags(
            args.platform.os.as_deref(),
            args.platform.arch.as_deref(),
            args.platform.variant.as_deref(),
        ),
        filter: None,
    };
    // `--amend NAME` with no list NAME but a local image NAME: that image starts the list.
    let converts = args.amend && matches!(store.find(&args.list), Err(StoreError::NotFound(_)));
    let mut added = Vec::new();
    if converts || !images.is_empty() {
        let transports = ctx.transports(registry);
        let rt = runtime()?;
        if converts {
            added.extend(
                rt.block_on(read_image_named_like_list(&transports, &store, &args.list))
                    .map_err(super::read_failure)?,
            );
        }
        for image in &images {
            added.push(
                rt.block_on(read_image_arg(
                    &transports,
                    &store,
                    image,
                    &selection,
                    BareName::LocalFirst,
                ))
                .map_err(super::read_failure)?,
            );
        }
    }
    let fill = |list: &mut ManifestList| {
        list.annotate_index(&annotations);
        if artifact_type.is_some() {
            list.index.artifact_type = artifact_type.clone();
        }
        for entry in added.iter().flat_map(|a| &a.entries) {
            list.add(entry.descriptor.clone(), entry.source.clone());
        }
    };
    let blobs: Vec<_> = added.iter().flat_map(|a| a.blobs.clone()).collect();
    let list = if args.amend {
        store.update_or_create(&name, &blobs, fill)?
    } else {
        let mut content = ManifestList::default();
        fill(&mut content);
        let lock = store.lock()?;
        match store.id_of(&name)? {
            Some(old) if args.replace => store.replace(&old, &name, content, &blobs, &lock)?,
            _ => store.create(&name, content, &blobs, &lock)?,
        }
    };
    writeln!(ctx.out, "{}", list.id)?;
    Ok(())
}

#[cfg(test)]
#[path = "create_tests.rs"]
mod tests;
