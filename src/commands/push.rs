//! `manifest push LIST [DEST]`

use super::store_inputs::StoreInputs;
use super::{runtime, Ctx};
use crate::boundary::fsutil;
use crate::boundary::retry::RetryPolicy;
use crate::cli::progress::Progress;
use crate::cli::{AddCompression, CompressionFormat, CopyFlags, PushArgs, PushFormat};
use crate::copy::compress::{AddedCompression, Algorithm, Compression};
use crate::copy::{copy, CopyEnv, PushOptions, PushReport};
use crate::model::oci::ListFormat;
use crate::model::platform::PlatformFilter;
use crate::model::reference::parse_image;
use crate::model::reference::ImageRef;
use crate::store::Deletion;
use crate::transport::open::Transports;
use crate::transport::ManifestRef;
use crate::verify::{verify, Subject, VerifyOptions};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::sync::Arc;

/// Pushes a list and the images it references (children first, the index last); with `--rm`,
/// deletes the list afterwards if it is still as it was pushed.
pub fn run(ctx: &mut Ctx, args: PushArgs) -> Result<()> {
    // Never silently ignored: a script that asks for signing must learn it got none.
    // (--remove-signatures is accepted as it is: nothing is signed.)
    for (flag, given) in [
        ("--sign-by", args.sign_by.is_some()),
        ("--signature-policy", args.signature_policy.is_some()),
    ] {
        if given {
            bail!("signing and signature policies are not supported ({flag}); push without it");
        }
    }
    let registry = ctx.registry(&args.registry)?;
    let store = ctx.store()?;
    let list = store.find(&args.list)?;
    let destination = match &args.destination {
        Some(raw) => parse_image(raw)?,
        None => parse_image(&format!("docker://{}", list.name))?,
    };
    let options = push_options(&args.copy, args.all, registry.retry)?;
    let transports = ctx.transports(registry);
    let progress = Arc::new(Progress::new(args.copy.quiet));
    let local = StoreInputs::new(&store);
    let env = CopyEnv {
        transports: &transports,
        local: &local,
    };
    let report = runtime()?.block_on(copy(
        &env,
        &list.list.index,
        &list.list.sources,
        &destination,
        &options,
        progress.clone(),
    ));
    progress.finish();
    let report = report.with_context(|| format!("pushing {} to {destination}", list.name))?;
    show_result(&report, &args.copy, &progress, ctx.out)?;
    if args.copy.verify && !report.dry_run {
        verify_pushed(&transports, &destination, &report, &options)?;
    }
    if args.rm && !report.dry_run {
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

/// The copy engine's options from the flags `push` and `apply` share.
pub(super) fn push_options(
    flags: &CopyFlags,
    all: bool,
    retry: RetryPolicy,
) -> Result<PushOptions> {
    let platforms = match flags.platform.as_slice() {
        [] => None,
        given => Some(PlatformFilter::parse(given)?),
    };
    Ok(PushOptions {
        all,
        format: flags.format.map(|f| match f {
            PushFormat::Oci => ListFormat::Oci,
            PushFormat::V2s2 => ListFormat::Docker,
        }),
        allow_lossy: flags.allow_lossy,
        jobs: flags.jobs as usize,
        retry,
        compression: Compression::new(
            match flags.compression_format {
                CompressionFormat::Gzip => Algorithm::Gzip,
                CompressionFormat::Zstd => Algorithm::Zstd,
            },
            flags.compression_level,
        )?,
        tags: flags.tag.clone(),
        platforms,
        referrers: flags.referrers,
        dry_run: flags.dry_run,
        required_platforms: match flags.require_platform.as_slice() {
            [] => None,
            given => Some(PlatformFilter::parse(given)?),
        },
        sort: flags.sort,
        add_compression: flags
            .add_compression
            .iter()
            .map(|added| match added {
                AddCompression::Gzip => AddedCompression::Gzip,
                AddCompression::Zstd => AddedCompression::Zstd,
                AddCompression::ZstdChunked => AddedCompression::ZstdChunked,
            })
            .fold(Vec::new(), |mut once, added| {
                if !once.contains(&added) {
                    once.push(added);
                }
                once
            }),
    })
}

/// `--verify`: the destination holds every manifest and blob of the index just written (read
/// by its digest, as `manifest verify` reads it). The tag has moved already, so a failure says
/// so.
pub(super) fn verify_pushed(
    transports: &Transports,
    destination: &ImageRef,
    report: &PushReport,
    options: &PushOptions,
) -> Result<()> {
    let digest = report
        .digest
        .clone()
        .expect("a successful push has a digest");
    let checks = VerifyOptions {
        required_platforms: options.required_platforms.clone(),
        jobs: options.jobs,
        ..VerifyOptions::default()
    };
    let found = runtime()?.block_on(async {
        let (transport, _) = transports.open_probe(destination).await?;
        let subject = Subject::of_reference(
            transport,
            &ManifestRef::Digest(digest.clone()),
            &destination.to_string(),
        )
        .await?;
        let quiet = Arc::new(Progress::new(true));
        anyhow::Ok(verify(&subject, &checks, quiet).await?)
    });
    let found = found.with_context(|| {
        format!(
            "--verify: {digest} was written to {} (the tag has moved), but it could not be checked",
            report.references.join(", ")
        )
    })?;
    if !found.ok() {
        let lines: Vec<String> = found.problems.iter().map(|p| p.line()).collect();
        bail!(
            "--verify: {digest} was written to {} (the tag has moved), but the destination does \
             not hold what it names: {}",
            report.references.join(", "),
            lines.join("; ")
        );
    }
    Ok(())
}

/// After a push: the plan on stdout (dry run), the metadata and digest files, the summary.
pub(super) fn show_result(
    report: &PushReport,
    flags: &CopyFlags,
    progress: &Progress,
    out: &mut dyn Write,
) -> Result<()> {
    if let Some(path) = &flags.metadata_file {
        fsutil::write_atomic(path, report.metadata_json().as_bytes())
            .with_context(|| format!("writing the metadata file {}", path.display()))?;
    }
    if report.dry_run {
        out.write_all(report.plan_text().as_bytes())?;
        return Ok(());
    }
    let digest = report
        .digest
        .clone()
        .expect("a successful push has a digest");
    if let Some(path) = &flags.digestfile {
        fsutil::write_atomic(path, digest.as_str().as_bytes()).with_context(|| {
            format!("the push succeeded ({digest}) but the digest file could not be written")
        })?;
    }
    progress.note(&report.summary());
    Ok(())
}

#[cfg(test)]
#[path = "push_tests.rs"]
mod tests;
