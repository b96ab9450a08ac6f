//! `manifest inspect LIST_OR_IMAGE`

use super::{find_list, open_store, registry_options, runtime};
use anyhow::{bail, Context, Result};
use manifest::cli::InspectArgs;
use manifest::oci::pretty;
use manifest::reference::{parse_image, ImageRef};
use manifest::resolve::{parse_image_arg, read_manifest_arg, BareName};
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
            // A local image is looked for first, as sealos does; the network only for a
            // name with a transport or a registry host.
            let order = if names_a_remote_image(&args.target) {
                BareName::LocalFirst
            } else {
                BareName::LocalOnly
            };
            let arg = match parse_image_arg(&args.target) {
                Ok(arg) => arg,
                Err(e) if order == BareName::LocalFirst => return Err(e.into()),
                Err(_) => bail!(no_list(&name)),
            };
            let transports = super::transports(registry_options(&args.registry));
            let manifest = runtime()?
                .block_on(read_manifest_arg(&transports, &arg, order))
                .map_err(|e| match order {
                    BareName::LocalOnly => anyhow::Error::new(e).context(no_list(&name)),
                    _ => anyhow::Error::new(e).context(format!(
                        "no manifest list named {name:?}, and reading {} failed",
                        args.target
                    )),
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

fn no_list(name: &str) -> String {
    format!(
        "no manifest list named {name:?} (nor a local image); to inspect an image in a registry, give its \
         registry (docker://REGISTRY/REPO:TAG) or a layout (oci:DIR)"
    )
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
