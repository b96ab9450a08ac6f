//! `manifest apply FILE`

use super::push::{push_options, show_result, verify_pushed};
use super::store_inputs::StoreInputs;
use super::{runtime, Ctx};
use crate::boundary::fsutil::{self, caps};
use crate::boundary::terminal::escape_controls;
use crate::cli::progress::Progress;
use crate::cli::ApplyArgs;
use crate::copy::{copy, CopyEnv};
use crate::ingest::apply::{build, Spec};
use anyhow::{Context, Result};
use std::sync::Arc;

/// Builds the list a spec file describes (without storing it) and pushes it.
pub fn run(ctx: &mut Ctx, args: ApplyArgs) -> Result<()> {
    let registry = ctx.registry(&args.registry)?;
    let file = args.file.display().to_string();
    let text = fsutil::read_text(&args.file, caps::APPLY_SPEC)
        .with_context(|| format!("reading {file}"))?
        .with_context(|| format!("reading {file}: no such file"))?;
    let spec = Spec::parse(&text, &file)?;
    for key in spec.ignored_keys() {
        eprintln!(
            "Warning: {}: ignoring unknown key {}",
            escape_controls(&file),
            escape_controls(&key)
        );
    }
    let destination = spec.destination()?;
    let mut options = push_options(&args.copy, true, registry.retry)?;
    options.tags = spec.tags.iter().chain(&args.copy.tag).cloned().collect();
    options.sort |= spec.sort;
    let store = ctx.store()?;
    let registries = registry.registries.clone();
    let transports = ctx.transports(registry);
    let progress = Arc::new(Progress::new(args.copy.quiet));
    let local = StoreInputs::new(&store);
    let env = CopyEnv {
        transports: &transports,
        local: &local,
    };
    let report = runtime()?.block_on(async {
        let list = build(&spec, &transports, &store, &registries).await?;
        copy(
            &env,
            &list.index,
            &list.sources,
            &destination,
            &options,
            progress.clone(),
        )
        .await
        .with_context(|| format!("pushing the list of {file} to {destination}"))
    });
    progress.finish();
    let report = report?;
    show_result(&report, &args.copy, &progress, ctx.out)?;
    if args.copy.verify && !report.dry_run {
        verify_pushed(&transports, &destination, &report, &options)?;
    }
    Ok(())
}
