//! `manifest create LIST [IMAGE...]`

use super::{find_list, open_store, print_line, registry_options, runtime};
use anyhow::Result;
use manifest::cli::CreateArgs;
use manifest::list::parse_annotations;
use manifest::reference::normalize_list_name;
use manifest::resolve::{parse_image_arg, read_image_arg, BareName};
use manifest::source::Selection;
use manifest::store::StoreError;
use std::path::PathBuf;

pub fn run(store_root: Option<PathBuf>, args: CreateArgs) -> Result<()> {
    let store = open_store(store_root)?;
    let name = normalize_list_name(&args.list)?;
    let annotations = parse_annotations(&args.annotation)?;
    let images = args
        .images
        .iter()
        .map(|i| parse_image_arg(i))
        .collect::<Result<Vec<_>, _>>()?;
    let selection = Selection {
        all: args.all,
        platform: super::add::wanted_platform(&args.os, &args.arch, &args.variant),
    };
    // Read every image before touching the store: a failure then changes nothing.
    let mut added = Vec::new();
    if !images.is_empty() {
        let transports = super::transports(registry_options(&args.registry));
        let rt = runtime()?;
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
    let lock = store.lock()?;
    let mut list = match store.create(&name, &lock) {
        Ok(list) => list,
        Err(StoreError::NameInUse { .. }) if args.amend => find_list(&store, &name)?,
        Err(e) => return Err(e.into()),
    };
    list.list.annotate_index(&annotations);
    for entry in added.into_iter().flat_map(|a| a.entries) {
        list.list.add(entry.descriptor, entry.source);
    }
    store.save(&list, &lock)?;
    print_line(&list.id)
}
