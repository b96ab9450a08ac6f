//! `manifest annotate LIST INSTANCE` and `manifest annotate --index LIST`

use super::{
    entry_edit, find_list, names_a_remote_image, open_store, print_line, registry_options, runtime,
};
use anyhow::{bail, Result};
use manifest::cli::AnnotateArgs;
use manifest::config::registries::RegistriesConf;
use manifest::oci::Descriptor;
use manifest::resolve::{parse_image_arg, read_manifest_arg, BareName};
use manifest::transport::open::Transports;
use std::path::PathBuf;

pub fn run(store_root: Option<PathBuf>, args: AnnotateArgs) -> Result<()> {
    let registry = registry_options(&args.registry)?;
    let store = open_store(store_root)?;
    let edit = entry_edit(&args.entry)?;
    let current = find_list(&store, &args.list)?;
    let on_index = args.index || args.subject.is_some();
    let registries = registry.registries.clone();
    let transports = super::transports(registry);
    if on_index {
        let platform_edit = manifest::list::EntryEdit {
            annotations: Vec::new(),
            ..edit.clone()
        };
        if !platform_edit.is_empty() {
            bail!("--index applies annotations (and --subject) to the index itself; platform flags need an entry digest");
        }
        if let Some(instance) = &args.instance {
            bail!("--index takes no INSTANCE (got {instance:?})");
        }
        let subject = match &args.subject {
            Some(raw) => Some(describe(
                &transports,
                &registries,
                raw,
                BareName::LocalFirst,
            )?),
            None => None,
        };
        let lock = store.lock()?;
        let mut list = find_list(&store, &args.list)?;
        list.list.annotate_index(&edit.annotations);
        if let Some(subject) = subject {
            list.list.index.subject = Some(subject);
        }
        store.save(&list, &lock)?;
        return print_line(&list.id);
    }
    let Some(instance) = &args.instance else {
        bail!("annotate needs the digest of an entry (or --index to annotate the list itself)");
    };
    // A digest or a digest prefix is looked up in the list itself, never on the network.
    let digest = match current.list.resolve_instance(instance, &current.name)? {
        Some(digest) => digest,
        None if names_a_remote_image(instance) => {
            describe(&transports, &registries, instance, BareName::LocalFirst)?.digest
        }
        // A short name may be a local image; it never reaches Docker Hub.
        None => {
            describe(&transports, &registries, instance, BareName::LocalOnly)
                .map_err(|e| {
                    e.context(format!(
                        "{instance}: image not known (give an entry's digest, a unique prefix of \
                     it, a local image, or an image with its registry or transport: \
                     docker://REGISTRY/REPO:TAG, oci:DIR)"
                    ))
                })?
                .digest
        }
    };
    let lock = store.lock()?;
    let mut list = find_list(&store, &args.list)?;
    let name = list.name.clone();
    list.list.annotate(&digest, &edit, &name)?;
    store.save(&list, &lock)?;
    print_line(&format!("{}: {}", list.id, digest))
}

/// The descriptor of the manifest an image reference names (a bare name: tried in `order`; a
/// local image first, as sealos looks it up).
fn describe(
    transports: &Transports,
    registries: &RegistriesConf,
    raw: &str,
    order: BareName,
) -> Result<Descriptor> {
    let image = parse_image_arg(raw, registries)?;
    let manifest = runtime()?.block_on(read_manifest_arg(transports, &image, order))?;
    Ok(Descriptor::new(
        &manifest.media_type,
        manifest.digest.clone(),
        manifest.bytes.len() as u64,
    ))
}
