//! `manifest push LIST [DEST]`

use super::{find_list, open_store, registry_options, runtime, transports};
use anyhow::{bail, Context, Result};
use manifest::cli::{CompressionFormat, PushArgs, PushFormat};
use manifest::compress::{Algorithm, Compression};
use manifest::copy::{copy, typed_sources, CopyEnv, PushOptions};
use manifest::oci::ListFormat;
use manifest::progress::Progress;
use manifest::reference::parse_image;
use manifest::store::Deletion;
use std::path::PathBuf;
use std::sync::Arc;

pub fn run(store_root: Option<PathBuf>, args: PushArgs) -> Result<()> {
    // Never silently ignored: a script that asks for signing must learn it got none.
    // (--remove-signatures is accepted as it is: nothing is signed, so nothing is copied.)
    for (flag, given) in [
        ("--sign-by", args.sign_by.is_some()),
        ("--signature-policy", args.signature_policy.is_some()),
    ] {
        if given {
            bail!("signing and signature policies are not supported ({flag}); push without it");
        }
    }
    let registry = registry_options(&args.registry)?;
    let store = open_store(store_root)?;
    let list = find_list(&store, &args.list)?;
    let destination = match &args.destination {
        Some(raw) => parse_image(raw)?,
        None => parse_image(&format!("docker://{}", list.name))?,
    };
    let options = PushOptions {
        all: args.all,
        format: args.format.map(|f| match f {
            PushFormat::Oci => ListFormat::Oci,
            PushFormat::V2s2 => ListFormat::Docker,
        }),
        allow_lossy: args.allow_lossy,
        jobs: args.jobs as usize,
        retry: registry.retry,
        compression: Compression::new(
            match args.compression_format {
                CompressionFormat::Gzip => Algorithm::Gzip,
                CompressionFormat::Zstd => Algorithm::Zstd,
            },
            args.compression_level,
        )?,
    };
    let sources = typed_sources(&list.list)?;
    let transports = transports(registry);
    let progress = Arc::new(Progress::new(args.quiet));
    let env = CopyEnv {
        transports: &transports,
        store: &store,
    };
    let report = runtime()?.block_on(copy(
        &env,
        &list.list.index,
        &sources,
        &destination,
        &options,
        progress.clone(),
    ));
    progress.finish();
    let report = report.with_context(|| format!("pushing {} to {destination}", list.name))?;
    let digest = report
        .digest
        .clone()
        .expect("a successful push has a digest");
    if let Some(path) = &args.digestfile {
        manifest::store::write_atomic(path, digest.as_str().as_bytes()).with_context(|| {
            format!("the push succeeded ({digest}) but the digest file could not be written")
        })?;
    }
    progress.note(&format!(
        "Pushed {digest} to {destination}: {} blobs copied ({:.1} MiB), {} mounted, {} already present, {} manifests written, {} images already there",
        report.blobs_copied,
        report.bytes_copied as f64 / (1024.0 * 1024.0),
        report.blobs_mounted,
        report.blobs_present,
        report.manifests,
        report.images_present
    ));
    if args.rm {
        let lock = store.lock()?;
        if store.delete_if_unchanged(&list, &lock)? == Deletion::Changed {
            eprintln!(
                "Warning: {} changed while it was pushed; it was kept (the push sent it as it was \
                 before the change; delete it with `manifest rm {}`)",
                list.name, list.name
            );
        }
    }
    Ok(())
}
