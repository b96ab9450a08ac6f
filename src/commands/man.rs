//! `manifest man DIR`

use super::Ctx;
use crate::cli::ManArgs;
use anyhow::{Context, Result};

/// Writes the man pages into a directory and prints the path of each.
pub fn run(ctx: &mut Ctx, args: ManArgs) -> Result<()> {
    let written = crate::cli::manpages::write_man_pages(&args.dir)
        .with_context(|| format!("writing man pages to {}", args.dir.display()))?;
    for path in written {
        writeln!(ctx.out, "{}", path.display())?;
    }
    Ok(())
}
