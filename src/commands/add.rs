//! `manifest add LIST IMAGE`

use super::{entry_edit, read_failure, runtime, Ctx};
use crate::cli::AddArgs;
use crate::list::{EntryEdit, PlatformWanted};
use crate::platform::PlatformFilter;
use crate::resolve::{parse_image_arg, read_image_arg, BareName};
use crate::source::Selection;
use anyhow::Result;

/// Reads the image (before the store is locked), then adds its entries to the list in one
/// transaction; prints `<list id>: <digest of the first entry added>`.
pub fn run(ctx: &mut Ctx, args: AddArgs) -> Result<()> {
    let registry = ctx.registry(&args.registry)?;
    let store = ctx.store()?;
    let edit = entry_edit(&args.entry)?;
    let image = parse_image_arg(&args.image, &registry.registries)?;
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

#[cfg(test)]
mod tests;
