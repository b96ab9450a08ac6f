//! `manifest inspect LIST_OR_IMAGE`

use super::{runtime, Ctx};
use crate::cli::{InspectArgs, InspectFormat};
use crate::oci::pretty;
use crate::reference::is_explicit_image;
use crate::resolve::{parse_image_arg, read_manifest_arg, BareName, ImageArg};
use crate::store::StoreError;
use anyhow::{bail, Context, Result};

/// Writes a local list as it will be pushed, or an image's manifest: indented JSON, the exact
/// bytes (`--raw`) or a table.
pub fn run(ctx: &mut Ctx, args: InspectArgs) -> Result<()> {
    let registry = ctx.registry(&args.registry)?;
    let store = ctx.store()?;
    let bytes = match store.find(&args.target) {
        Ok(list) => {
            let (document, _) = list.document()?;
            document
        }
        Err(StoreError::NotFound(name)) => {
            // A local image is looked for first, as sealos does; the network only for a
            // name with a transport or a registry host.
            let order = if is_explicit_image(&args.target) {
                BareName::LocalFirst
            } else {
                BareName::LocalOnly
            };
            let arg = match parse_image_arg(&args.target, &registry.registries) {
                Ok(arg) => arg,
                Err(e) if order == BareName::LocalFirst => return Err(e.into()),
                Err(_) => bail!(no_list(&name)),
            };
            // The registry image the name means, when it means one: what a user who typed a
            // registry host is after (a local image of that name is looked for too).
            let shown = match &arg {
                ImageArg::Explicit(image) => image.to_string(),
                ImageArg::Bare { remote, text, .. } => remote
                    .first()
                    .map_or_else(|| text.clone(), ToString::to_string),
            };
            let transports = ctx.transports(registry);
            let manifest = runtime()?
                .block_on(read_manifest_arg(&transports, &arg, order))
                .map_err(|e| match order {
                    BareName::LocalOnly => anyhow::Error::new(e).context(no_list(&name)),
                    _ => match e.into_unreachable() {
                        Ok(unreachable) => anyhow::Error::new(unreachable),
                        Err(e) => anyhow::Error::new(e),
                    }
                    .context(format!("reading image \"{shown}\"")),
                })?;
            manifest.bytes.to_vec()
        }
        Err(e) => return Err(e.into()),
    };
    if args.raw {
        ctx.out.write_all(&bytes)?;
    } else if args.format == InspectFormat::Table {
        ctx.out.write_all(crate::table::table(&bytes)?.as_bytes())?;
    } else {
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).context("the manifest is not JSON")?;
        ctx.out.write_all(pretty(&value).as_bytes())?;
    }
    Ok(())
}

/// sealos' words for a name that is nothing here, and how to reach a registry instead.
fn no_list(name: &str) -> String {
    format!(
        "{name}: image not known (no local list or local image by that name; to inspect an \
         image in a registry, give its registry (docker://REGISTRY/REPO:TAG) or a layout \
         (oci:DIR))"
    )
}

#[cfg(test)]
mod tests;
