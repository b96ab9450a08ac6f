//! `manifest remove LIST INSTANCE` and `manifest remove --platform P LIST`

use super::Ctx;
use crate::cli::RemoveArgs;
use crate::model::platform::{PlatformFilter, PlatformSpec};
use anyhow::Result;

/// Removes one entry, or every entry of the platforms asked for, in one transaction; prints
/// `<list id>: <digest>` for each entry removed.
pub fn run(ctx: &mut Ctx, args: RemoveArgs) -> Result<()> {
    let store = ctx.store()?;
    let platform = &args.by_platform;
    let by_platform = match args.platform.as_slice() {
        [] => PlatformSpec::from_flags(
            platform.os.as_deref(),
            platform.arch.as_deref(),
            platform.variant.as_deref(),
        )
        .map(PlatformFilter::of),
        given => Some(PlatformFilter::parse(given)?),
    };
    let (id, removed) = store.update(&args.list, &[], |list| {
        let removed = match &by_platform {
            Some(filter) => list.list.remove_platforms(filter, &list.name)?,
            None => {
                let text = args.digest.as_deref().unwrap_or_default();
                let digest = list.list.instance(text, &list.name)?;
                list.list.remove(&digest, &list.name)?;
                vec![digest]
            }
        };
        Ok((list.id.clone(), removed))
    })?;
    for digest in removed {
        writeln!(ctx.out, "{id}: {digest}")?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "remove_tests.rs"]
mod tests;
