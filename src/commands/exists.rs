//! `manifest exists LIST`: exit 0 if the list exists, 1 if not, 125 on other errors.

use super::Ctx;
use crate::cli::ExistsArgs;
use crate::store::StoreError;
use anyhow::Result;

/// Whether the list exists; an error is a store that cannot be read (`main` exits 125).
pub fn run(ctx: &mut Ctx, args: ExistsArgs) -> Result<bool> {
    match ctx.store()?.find(&args.list) {
        Ok(_) => Ok(true),
        Err(StoreError::NotFound(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
#[path = "exists_tests.rs"]
mod tests;
