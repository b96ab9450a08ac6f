//! `manifest rm LIST...`

use super::{open_store, print_line};
use anyhow::{bail, Result};
use manifest::cli::RmArgs;
use manifest::store::StoreError;
use std::path::PathBuf;

pub fn run(store_root: Option<PathBuf>, args: RmArgs) -> Result<()> {
    let store = open_store(store_root)?;
    let mut missing = Vec::new();
    let mut lock = None;
    for raw in &args.lists {
        let name = manifest::reference::normalize_list_name(raw).ok();
        match store.resolve_id(name.as_deref(), raw) {
            Ok((id, name)) => {
                let lock = match &lock {
                    Some(lock) => lock,
                    None => lock.insert(store.lock()?),
                };
                store.delete(&id, lock)?;
                print_line(&format!("untagged: {name}"))?;
                print_line(&id)?;
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
