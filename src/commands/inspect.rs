//! `manifest inspect LIST_OR_IMAGE`

use super::{runtime, Ctx};
use crate::cli::{InspectArgs, InspectFormat};
use crate::ingest::resolve::{parse_image_arg, read_manifest_arg, BareName, ImageArg};
use crate::model::list::Source;
use crate::model::oci::pretty;
use crate::model::reference::{is_explicit_image, normalize_list_name, ImageRef};
use crate::store::StoreError;
use anyhow::{bail, Context, Result};

/// Writes a local list as it will be pushed, or an image's manifest: indented JSON, the exact
/// bytes (`--raw`) or a table.
pub fn run(ctx: &mut Ctx, args: InspectArgs) -> Result<()> {
    let registry = ctx.registry(&args.registry)?;
    let store = ctx.store()?;
    let bytes = match store.find(&args.target) {
        Ok(list) => {
            let local = list
                .list
                .sources
                .values()
                .filter(|source| matches!(source, Source::Image(ImageRef::Storage(_))))
                .count();
            if local > 0 {
                // On stderr, so that stdout stays the document scripts parse.
                let (count, what) = match local {
                    1 => ("1 entry is a local image".to_string(), "its digest is"),
                    n => (format!("{n} entries are local images"), "their digests are"),
                };
                eprintln!(
                    "Note: {count} (containers-storage): {what} assigned at push, when the \
                     layers stored uncompressed are compressed (`push --dry-run` shows them)"
                );
            }
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
                Err(_) => bail!(no_list(&name, store.similar_name(&name))),
            };
            // The registry image the name means, when it means one: what a user who typed a
            // registry host is after (a local image of that name is looked for too).
            let shown = match &arg {
                ImageArg::Explicit(image) => image.to_string(),
                ImageArg::Bare { remote, text, .. } => remote
                    .first()
                    .map_or_else(|| text.clone(), ToString::to_string),
            };
            // A name under `localhost/` is how lists are named (`mylist` is
            // `localhost/mylist:latest`): whoever typed one meant a list first, so say that no
            // list has it before what the image lookup answered.
            let meant_a_list = order == BareName::LocalOnly
                || normalize_list_name(&name).is_ok_and(|n| n.starts_with("localhost/"));
            let transports = ctx.transports(registry);
            let manifest = runtime()?
                .block_on(read_manifest_arg(&transports, &arg, order))
                .map_err(|e| match order {
                    BareName::LocalOnly => {
                        anyhow::Error::new(e).context(no_list(&name, store.similar_name(&name)))
                    }
                    _ => {
                        let error = match e.into_unreachable() {
                            Ok(unreachable) => anyhow::Error::new(unreachable),
                            Err(e) => anyhow::Error::new(e),
                        };
                        if meant_a_list {
                            error.context(format!(
                                "{}; as an image, reading \"{shown}\"",
                                no_list_named(&name, store.similar_name(&name))
                            ))
                        } else {
                            error.context(format!("reading image \"{shown}\""))
                        }
                    }
                })?;
            manifest.bytes.to_vec()
        }
        Err(e) => return Err(e.into()),
    };
    if args.raw {
        ctx.out.write_all(&bytes)?;
    } else if args.format == InspectFormat::Table {
        ctx.out
            .write_all(crate::cli::table::table(&bytes)?.as_bytes())?;
    } else {
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).context("the manifest is not JSON")?;
        ctx.out.write_all(pretty(&value).as_bytes())?;
    }
    Ok(())
}

/// The first thing to say about a list-like name no list has, with the list meant if its name
/// is close.
fn no_list_named(name: &str, similar: Option<String>) -> String {
    match similar {
        Some(known) => format!("{name}: no local list has that name (did you mean {known}?)"),
        None => format!("{name}: no local list has that name"),
    }
}

/// sealos' words for a name that is nothing here, and how to reach a registry instead.
fn no_list(name: &str, similar: Option<String>) -> String {
    let hint = similar.map_or_else(String::new, |known| format!("did you mean {known}? "));
    format!(
        "{name}: image not known (no local list or local image by that name; {hint}to inspect \
         an image in a registry, give its registry (docker://REGISTRY/REPO:TAG) or a layout \
         (oci:DIR))"
    )
}

#[cfg(test)]
#[path = "inspect_tests.rs"]
mod tests;
