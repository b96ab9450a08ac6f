//! `manifest rm LIST...`

use super::{find_list, open_store, print_line};
use anyhow::{bail, Result};
use manifest::cli::RmArgs;
use manifest::store::StoreError;
use std::path::PathBuf;

pub fn run(store_root: Option<PathBuf>, args: RmArgs) -> Result<()> {
    let store = open_store(store_root)?;
    let mut missing = Vec::new();
    let mut lock = None;
    for raw in &args.lists {
        match find_list(&store, raw) {
            Ok(list) => {
                let lock = match &lock {
                    Some(lock) => lock,
                    None => lock.insert(store.lock()?),
                };
                store.delete(&list.id, lock)?;
                print_line(&format!("untagged: {}", list.name))?;
                print_line(&list.id)?;
            }
            Err(StoreError::NotFound(name)) => missing.push(name),
            Err(e) => return Err(e.into()),
        }
    }
    if !missing.is_empty() {
        bail!(
            "no manifest list named {}",
            missing
                .iter()
                .map(|m| format!("{m:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}
