//! `manifest remove LIST DIGEST`

use super::{find_list, open_store, print_line};
use anyhow::{anyhow, Result};
use manifest::cli::RemoveArgs;
use manifest::digest::Digest;
use std::path::PathBuf;

pub fn run(store_root: Option<PathBuf>, args: RemoveArgs) -> Result<()> {
    let store = open_store(store_root)?;
    let digest = Digest::parse(&args.digest)
        .map_err(|e| anyhow!("invalid instance {:?}: {}", args.digest, e.reason))?;
    find_list(&store, &args.list)?;
    let lock = store.lock()?;
    let mut list = find_list(&store, &args.list)?;
    let name = list.name.clone();
    list.list.remove(&digest, &name)?;
    store.save(&list, &lock)?;
    print_line(&format!("{}: {}", list.id, digest))
}
