//! `manifest remove LIST INSTANCE`

use super::{find_list, open_store, print_line};
use anyhow::{bail, Result};
use manifest::cli::RemoveArgs;
use manifest::digest::Digest;
use std::path::PathBuf;

pub fn run(store_root: Option<PathBuf>, args: RemoveArgs) -> Result<()> {
    let store = open_store(store_root)?;
    let current = find_list(&store, &args.list)?;
    let Some(digest) = current.list.resolve_instance(&args.digest, &current.name)? else {
        let reason = match Digest::parse(&args.digest) {
            Err(error) if args.digest.contains(':') => error.reason.to_string(),
            _ => "not a digest (sha256:…) or a prefix of an entry's digest".to_string(),
        };
        bail!("invalid instance {:?}: {reason}", args.digest);
    };
    let lock = store.lock()?;
    let mut list = find_list(&store, &args.list)?;
    let name = list.name.clone();
    list.list.remove(&digest, &name)?;
    store.save(&list, &lock)?;
    print_line(&format!("{}: {}", list.id, digest))
}
