//! `manifest man DIR`

use super::print_line;
use anyhow::{Context, Result};
use manifest::cli::ManArgs;

pub fn run(args: ManArgs) -> Result<()> {
    let written = manifest::manpages::write_man_pages(&args.dir)
        .with_context(|| format!("writing man pages to {}", args.dir.display()))?;
    for path in written {
        print_line(&path.display().to_string())?;
    }
    Ok(())
}
