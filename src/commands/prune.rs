//! `manifest prune`

use super::Ctx;
use crate::cli::PruneArgs;
use anyhow::Result;

/// Removes the cached blobs no list uses, printing each digest and then what was freed.
pub fn run(ctx: &mut Ctx, args: PruneArgs) -> Result<()> {
    let pruned = ctx.store()?.prune(args.dry_run)?;
    for digest in &pruned.removed {
        writeln!(ctx.out, "{digest}")?;
    }
    let verb = if args.dry_run { "Would free" } else { "Freed" };
    writeln!(
        ctx.out,
        "{verb} {} in {} cached blob{} no list uses",
        indicatif::HumanBytes(pruned.bytes),
        pruned.removed.len(),
        if pruned.removed.len() == 1 { "" } else { "s" }
    )?;
    Ok(())
}

#[cfg(test)]
#[path = "prune_tests.rs"]
mod tests;
