//! `manifest inspect LIST_OR_IMAGE`

use super::{find_list, names_a_remote_image, open_store, registry_options, runtime};
use anyhow::{bail, Context, Result};
use manifest::cli::InspectArgs;
use manifest::oci::pretty;
use manifest::reference::parse_image;
use manifest::store::StoreError;
use manifest::transport::open::Transports;
use std::io::Write;
use std::path::PathBuf;

pub fn run(store_root: Option<PathBuf>, args: InspectArgs) -> Result<()> {
    let registry = registry_options(&args.registry)?;
    let store = open_store(store_root)?;
    let bytes = match find_list(&store, &args.target) {
        Ok(list) => {
            let (document, _) = list.document()?;
            document
        }
        Err(StoreError::NotFound(name)) => {
            if !names_a_remote_image(&args.target) {
                bail!(
                    "{name}: image not known (no local list by that name; to inspect an image \
                     in a registry, give its registry (docker://REGISTRY/REPO:TAG) or a layout \
                     (oci:DIR))"
                );
            }
            let image = parse_image(&args.target)?;
            let transports = Transports::new(registry);
            let manifest = runtime()?
                .block_on(async {
                    let (transport, reference) = transports.open_read(&image).await?;
                    transport.manifest_get(&reference).await
                })
                .with_context(|| format!("reading image \"{image}\""))?;
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
