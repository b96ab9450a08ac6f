//! `manifest apply FILE`

use super::push::{push_options, show_result};
use super::{open_store, registry_options, runtime, transports};
use anyhow::{Context, Result};
use manifest::apply::{build, Spec};
use manifest::cli::ApplyArgs;
use manifest::copy::{copy, typed_sources, CopyEnv};
use manifest::progress::Progress;
use manifest::terminal::escape_controls;
use std::path::PathBuf;
use std::sync::Arc;

pub fn run(store_root: Option<PathBuf>, args: ApplyArgs) -> Result<()> {
    let registry = registry_options(&args.registry)?;
    let file = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("reading {file}"))?;
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
    let store = open_store(store_root)?;
    let registries = registry.registries.clone();
    let transports = transports(registry);
    let progress = Arc::new(Progress::new(args.copy.quiet));
    let env = CopyEnv {
        transports: &transports,
        store: &store,
    };
    let report = runtime()?.block_on(async {
        let list = build(&spec, &transports, &store, &registries).await?;
        let sources = typed_sources(&list)?;
        copy(
            &env,
            &list.index,
            &sources,
            &destination,
            &options,
            progress.clone(),
        )
        .await
        .with_context(|| format!("pushing the list of {file} to {destination}"))
    });
    progress.finish();
    show_result(&report?, &args.copy, &progress)
}
