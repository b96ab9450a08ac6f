//! `manifest rm LIST...`

use super::Ctx;
use crate::cli::RmArgs;
use crate::store::StoreError;
use anyhow::{bail, Result};

/// Deletes each list named (never the images it refers to), printing `untagged: <name>` and
/// its ID; names that are no list are reported together at the end (unless `--ignore`).
pub fn run(ctx: &mut Ctx, args: RmArgs) -> Result<()> {
    let store = ctx.store()?;
    let mut missing = Vec::new();
    let mut lock = None;
    for raw in &args.lists {
        match store.find_id(raw) {
            Ok((id, name)) => {
                let lock = match &lock {
                    Some(lock) => lock,
                    None => lock.insert(store.lock()?),
                };
                store.delete(&id, lock)?;
                writeln!(ctx.out, "untagged: {name}")?;
                writeln!(ctx.out, "{id}")?;
            }
            Err(StoreError::NotFound(name)) => missing.push(name),
            Err(e) => return Err(e.into()),
        }
    }
    if !missing.is_empty() && !args.ignore {
        // One `<name>: image not known` per missing name, as sealos reports them.
        bail!(
            "{}",
            missing
                .iter()
                .map(|name| format!("{name}: image not known"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "rm_tests.rs"]
mod tests;
