//! `manifest add LIST IMAGE`

use super::{entry_edit, find_list, open_store, print_line, registry_options, runtime};
use anyhow::Result;
use manifest::cli::AddArgs;
use manifest::list::{EntryEdit, PlatformWanted};
use manifest::platform::PlatformFilter;
use manifest::resolve::{parse_image_arg, read_image_arg, BareName};
use manifest::source::Selection;
use std::path::PathBuf;

/// The platform to pick from an index: the flags, filled from the host where they are silent.
pub fn wanted_platform(
    os: &Option<String>,
    arch: &Option<String>,
    variant: &Option<String>,
) -> Option<PlatformWanted> {
    if os.is_none() && arch.is_none() && variant.is_none() {
        return None;
    }
    let host = PlatformWanted::host();
    Some(PlatformWanted {
        os: os.clone().unwrap_or(host.os),
        arch: arch.clone().unwrap_or(host.arch),
        variant: variant.clone(),
    })
}

pub fn run(store_root: Option<PathBuf>, args: AddArgs) -> Result<()> {
    let registry = registry_options(&args.registry)?;
    let store = open_store(store_root)?;
    let edit = entry_edit(&args.entry)?;
    let image = parse_image_arg(&args.image, &registry.registries)?;
    // Fail on a missing list before any network traffic.
    find_list(&store, &args.list)?;
    let selection = Selection {
        all: args.all,
        platform: wanted_platform(&args.entry.os, &args.entry.arch, &args.entry.variant),
        filter: match args.platform.as_slice() {
            [] => None,
            given => Some(PlatformFilter::parse(given)?),
        },
    };
    let transports = super::transports(registry);
    let added = runtime()?.block_on(read_image_arg(
        &transports,
        &store,
        &image,
        &selection,
        BareName::RegistryFirst,
    ))?;
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
    let lock = store.lock()?;
    let mut list = find_list(&store, &args.list)?;
    for mut entry in added.entries {
        edit.apply(&mut entry.descriptor);
        list.list.add(entry.descriptor, entry.source);
    }
    store.save_with_blobs(&list, &added.blobs, &lock)?;
    print_line(&format!("{}: {}", list.id, printed))
}
