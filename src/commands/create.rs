//! `manifest create LIST [IMAGE...]`

use super::{find_list, open_store, print_line, registry_options, runtime};
use anyhow::{bail, Result};
use manifest::cli::CreateArgs;
use manifest::list::{parse_annotations, ManifestList};
use manifest::reference::normalize_list_name;
use manifest::resolve::{parse_image_arg, read_image_arg, read_image_named_like_list, BareName};
use manifest::source::Selection;
use manifest::store::StoreError;
use std::path::PathBuf;

pub fn run(store_root: Option<PathBuf>, args: CreateArgs) -> Result<()> {
    if args.amend && args.replace {
        bail!("--amend and --replace are mutually exclusive: --amend adds to the existing list, --replace starts a new one");
    }
    let registry = registry_options(&args.registry)?;
    let store = open_store(store_root)?;
    let name = normalize_list_name(&args.list)?;
    let annotations = parse_annotations(&args.annotation)?;
    let images = args
        .images
        .iter()
        .map(|i| parse_image_arg(i, &registry.registries))
        .collect::<Result<Vec<_>, _>>()?;
    let selection = Selection {
        all: args.all,
        platform: super::add::wanted_platform(&args.os, &args.arch, &args.variant),
        filter: None,
    };
    // `--amend NAME` with no list NAME but a local image NAME: that image starts the list.
    let converts =
        args.amend && matches!(find_list(&store, &args.list), Err(StoreError::NotFound(_)));
    // Read every image before touching the store: a failure then changes nothing.
    let mut added = Vec::new();
    if converts || !images.is_empty() {
        let transports = super::transports(registry);
        let rt = runtime()?;
        if converts {
            added.extend(rt.block_on(read_image_named_like_list(
                &transports,
                &store,
                &args.list,
            ))?);
        }
        for image in &images {
            added.push(rt.block_on(read_image_arg(
                &transports,
                &store,
                image,
                &selection,
                BareName::LocalFirst,
            ))?);
        }
    }
    let fill = |list: &mut ManifestList| {
        list.annotate_index(&annotations);
        for entry in added.iter().flat_map(|a| &a.entries) {
            list.add(entry.descriptor.clone(), entry.source.clone());
        }
    };
    let blobs: Vec<_> = added.iter().flat_map(|a| a.blobs.clone()).collect();
    let mut content = ManifestList::default();
    fill(&mut content);
    let lock = store.lock()?;
    let list = match store.create(&name, content.clone(), &blobs, &lock) {
        Ok(list) => list,
        Err(StoreError::NameInUse { .. }) if args.amend => {
            let mut list = find_list(&store, &name)?;
            fill(&mut list.list);
            store.save_with_blobs(&list, &blobs, &lock)?;
            list
        }
        Err(StoreError::NameInUse { id, .. }) if args.replace => {
            store.replace(&id, &name, content, &blobs, &lock)?
        }
        Err(e) => return Err(e.into()),
    };
    print_line(&list.id)
}
