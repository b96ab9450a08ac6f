//! `manifest completion SHELL`

use anyhow::Result;
use manifest::cli::CompletionArgs;
use std::io::Write;

pub fn run(args: CompletionArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    manifest::manpages::write_completion(args.shell, &mut out);
    out.flush()?;
    Ok(())
}
