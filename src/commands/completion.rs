//! `manifest completion SHELL`

use super::Ctx;
use crate::cli::CompletionArgs;
use anyhow::Result;

/// Writes the completion script for one shell.
pub fn run(ctx: &mut Ctx, args: CompletionArgs) -> Result<()> {
    crate::cli::manpages::write_completion(args.shell, ctx.out);
    Ok(())
}
