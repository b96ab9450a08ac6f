//! `manifest remove LIST INSTANCE` and `manifest remove --platform P LIST`

use super::{find_list, open_store, print_line};
use anyhow::{bail, Result};
use manifest::cli::RemoveArgs;
use manifest::digest::Digest;
use manifest::platform::{PlatformFilter, PlatformSpec};
use std::path::PathBuf;

pub fn run(store_root: Option<PathBuf>, args: RemoveArgs) -> Result<()> {
    let store = open_store(store_root)?;
    let current = find_list(&store, &args.list)?;
    let by_platform = match args.platform.as_slice() {
        [] => PlatformSpec::from_flags(
            args.os.as_deref(),
            args.arch.as_deref(),
            args.variant.as_deref(),
        )
        .map(PlatformFilter::of),
        given => Some(PlatformFilter::parse(given)?),
    };
    if let Some(filter) = by_platform {
        let lock = store.lock()?;
        let mut list = find_list(&store, &args.list)?;
        let name = list.name.clone();
        let removed = list.list.remove_platforms(&filter, &name)?;
        store.save(&list, &lock)?;
        for digest in removed {
            print_line(&format!("{}: {}", list.id, digest))?;
        }
        return Ok(());
    }
    let text = args.digest.as_deref().unwrap_or_default();
    let Some(digest) = current.list.resolve_instance(text, &current.name)? else {
        let reason = match Digest::parse(text) {
            Err(error) if text.contains(':') => error.reason.to_string(),
            _ => "not a digest (sha256:…) or a prefix of an entry's digest".to_string(),
        };
        bail!("invalid instance {text:?}: {reason}");
    };
    let lock = store.lock()?;
    let mut list = find_list(&store, &args.list)?;
    let name = list.name.clone();
    list.list.remove(&digest, &name)?;
    store.save(&list, &lock)?;
    print_line(&format!("{}: {}", list.id, digest))
}
