//! `manifest inspect LIST_OR_IMAGE`

use super::{find_list, open_store, registry_options, runtime};
use anyhow::{bail, Context, Result};
use manifest::cli::InspectArgs;
use manifest::oci::pretty;
use manifest::reference::{parse_image, ImageRef};
use manifest::store::StoreError;
use std::io::Write;
use std::path::PathBuf;

pub fn run(store_root: Option<PathBuf>, args: InspectArgs) -> Result<()> {
    let store = open_store(store_root)?;
    let bytes = match find_list(&store, &args.target) {
        Ok(list) => {
            let (document, _) = list.document()?;
            document
        }
        Err(StoreError::NotFound(name)) => {
            if !names_a_remote_image(&args.target) {
                bail!(
                    "no manifest list named {name:?}; to inspect an image in a registry, give its \
                     registry (docker://REGISTRY/REPO:TAG) or a layout (oci:DIR)"
                );
            }
            let image = parse_image(&args.target)?;
            let transports = super::transports(registry_options(&args.registry));
            let manifest = runtime()?
                .block_on(async {
                    let (transport, reference) = transports.open_read(&image).await?;
                    transport.manifest_get(&reference).await
                })
                .with_context(|| {
                    format!("no manifest list named {name:?}, and reading {image} failed")
                })?;
            manifest.bytes.to_vec()
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::stdout().lock();
    if args.raw {
        out.write_all(&bytes)?;
    } else {
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).context("the manifest is not JSON")?;
        out.write_all(pretty(&value).as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

/// Only an explicit transport or registry host sends `inspect` to the network: a short name
/// that is not a local list is an error, not a silent request to Docker Hub.
fn names_a_remote_image(target: &str) -> bool {
    if target.starts_with("docker://")
        || target.starts_with("oci:")
        || target.starts_with("oci-archive:")
        || target.starts_with("containers-storage:")
    {
        return true;
    }
    let first = target.split('/').next().unwrap_or_default();
    target.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
        && matches!(parse_image(target), Ok(ImageRef::Registry(_)))
}
