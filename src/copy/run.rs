//! Carrying out a [`Plan`]: the blobs (at most `jobs` at once across all children), then the
//! rewritten children, the child manifests (images before the indexes that name them), the
//! referrers and their fallback tags, and last the index, to every tag.

use super::blobs::{send_blob, send_layer, BlobOutcome};
use super::error::PushError;
use super::format::pushed_child;
use super::inputs::{CopyEnv, Observer, PushOptions};
use super::report::{BlobAction, ChildAction, Counts, PushReport};
use super::steps::{zstd_last, LayerKey, Plan};
use super::tags::write_index;
use crate::model::digest::Digest;
use crate::model::oci::{self, Descriptor};
use crate::transport::{ManifestRef, RawManifest, Transport};
use futures_util::{stream, FutureExt, StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::sync::Arc;

/// Does what `plan` decided; returns what was done.
pub(super) async fn execute(
    mut plan: Plan,
    env: &CopyEnv<'_>,
    options: &PushOptions,
    progress: Arc<dyn Observer>,
) -> Result<PushReport, PushError> {
    let mut report = plan.report();
    report.dry_run = false;
    report.counts = Counts {
        images_present: report.counts.images_present,
        ..Counts::default()
    };
    let dest = plan.dest.clone();
    for child in plan
        .children
        .iter()
        .filter(|c| c.action == ChildAction::Skip)
    {
        progress.line(&format!(
            "Skipping image {} ({}): already at the destination",
            child.digest,
            label(child.platform.as_deref(), child.attestation_of.as_ref())
        ));
    }

    let compressed = send_blobs(&mut plan, env, options, &progress, &mut report.counts).await?;
    let mut manifests = std::mem::take(&mut plan.manifests);
    for child in std::mem::take(&mut plan.recompressed) {
        let rewritten = pushed_child(child.rewrite(&compressed)?, child.digest(), options)?;
        if let Some(note) = &rewritten.note {
            progress.note(note);
        }
        let rewritten = rewritten.manifest;
        let entry = &mut plan.index.manifests[child.position];
        progress.note(&format!(
            "Rewrote manifest {} with compressed layers as {}",
            entry.digest, rewritten.digest
        ));
        entry.media_type = rewritten.media_type.clone();
        entry.digest = rewritten.digest.clone();
        entry.size = rewritten.bytes.len() as u64;
        manifests.push(rewritten);
    }
    let mut variants = Vec::new();
    for variant in std::mem::take(&mut plan.variants) {
        // A variant is its original with other layers: what the format drops, the original's
        // note names already.
        let rewritten = pushed_child(
            variant.child.rewrite(&compressed)?,
            variant.child.digest(),
            options,
        )?
        .manifest;
        let original = &plan.index.manifests[variant.child.position];
        progress.note(&format!(
            "Added a {} variant of {} as {}",
            variant.added.name(),
            original.digest,
            rewritten.digest
        ));
        variants.push(variant.entry(original, &rewritten));
        manifests.push(rewritten);
    }
    if !variants.is_empty() {
        plan.index.manifests.extend(variants);
        zstd_last(&mut plan.index.manifests);
    }

    // Image manifests before the indexes that refer to them; referrers after their subjects.
    let (images, indexes): (Vec<_>, Vec<_>) = manifests
        .into_iter()
        .partition(|m| !oci::is_index_type(&m.media_type));
    let entries: HashMap<Digest, String> = plan
        .index
        .manifests
        .iter()
        .map(|e| (e.digest.clone(), entry_label(e)))
        .collect();
    let referrers = std::mem::take(&mut plan.referrers.manifests);
    for batch in [images, indexes, referrers] {
        report.counts.manifests += batch.len() as u64;
        write_manifests(
            dest.as_ref(),
            batch,
            &entries,
            options.jobs,
            progress.as_ref(),
        )
        .await?;
    }
    for (tag, index) in &plan.referrers.tags {
        progress.line(&format!("Writing the referrers list {tag}"));
        dest.manifest_put(&ManifestRef::Tag(tag.clone()), index)
            .await
            .map_err(|source| PushError::Transport {
                context: format!("writing the referrers tag {tag} to {}", dest.describe()),
                source,
            })?;
    }

    let written = write_index(
        dest.as_ref(),
        &plan.target,
        &plan.index,
        plan.format,
        options.format.is_some(),
        progress.as_ref(),
    )
    .await?;
    report.digest = Some(written.digest);
    report.media_type = written.media_type;
    report.index = Some(written.bytes.to_vec());
    Ok(report)
}

/// Every blob and layer the plan sends, `jobs` at once; returns the compressed descriptor of
/// each layer by its uncompressed digest and compression.
async fn send_blobs(
    plan: &mut Plan,
    env: &CopyEnv<'_>,
    options: &PushOptions,
    progress: &Arc<dyn Observer>,
    counts: &mut Counts,
) -> Result<HashMap<LayerKey, Descriptor>, PushError> {
    let dest = plan.dest.clone();
    let mut compressed = HashMap::new();
    let (present, blobs): (Vec<_>, Vec<_>) = std::mem::take(&mut plan.blobs)
        .into_iter()
        .partition(|step| step.action == BlobAction::Present);
    for step in present {
        counts.blobs_present += 1;
        counts.bytes_skipped += step.descriptor.size;
    }
    let mut layers = Vec::new();
    for step in std::mem::take(&mut plan.layers) {
        match step.present_as {
            Some(known) => {
                counts.blobs_present += 1;
                counts.bytes_skipped += step.job.source_size();
                compressed.insert(step.job.key(), known);
            }
            None => layers.push(step.job),
        }
    }
    let images = (plan.manifests.len() + plan.recompressed.len() + plan.variants.len()) as u64;
    progress.set_totals(
        images,
        (blobs.len() + layers.len()) as u64,
        blobs.iter().map(|b| b.descriptor.size).sum::<u64>()
            + layers.iter().map(|l| l.source_size()).sum::<u64>(),
    );
    let blob_jobs = stream::iter(blobs).map(|step| {
        send_blob(step, dest.clone(), options, progress.clone())
            .map(|r| r.map(|outcome| (outcome, None)))
            .boxed()
    });
    let layer_jobs = stream::iter(layers).map(|job| {
        send_layer(job, dest.clone(), env.local, options, progress.clone())
            .map(|r| {
                r.map(|(key, stored)| {
                    let size = stored.size;
                    (BlobOutcome::Copied(size), Some((key, stored)))
                })
            })
            .boxed()
    });
    let outcomes: Vec<(BlobOutcome, Option<(LayerKey, Descriptor)>)> =
        stream::select(blob_jobs, layer_jobs)
            .buffer_unordered(options.jobs.max(1))
            .try_collect()
            .await?;
    for (outcome, layer) in outcomes {
        if let Some((key, descriptor)) = layer {
            compressed.insert(key, descriptor);
        }
        match outcome {
            BlobOutcome::Present => counts.blobs_present += 1,
            BlobOutcome::Mounted(bytes) => {
                counts.blobs_mounted += 1;
                counts.bytes_mounted += bytes;
            }
            BlobOutcome::Copied(bytes) => {
                counts.blobs_copied += 1;
                counts.bytes_copied += bytes;
            }
        }
    }
    Ok(compressed)
}

/// Writes manifests by digest, `jobs` at once; one line per child of the list.
async fn write_manifests(
    dest: &dyn Transport,
    batch: Vec<RawManifest>,
    entries: &HashMap<Digest, String>,
    jobs: usize,
    progress: &dyn Observer,
) -> Result<(), PushError> {
    stream::iter(batch)
        .map(|manifest| async move {
            dest.manifest_put(&ManifestRef::Digest(manifest.digest.clone()), &manifest)
                .await
                .map_err(|source| PushError::Transport {
                    context: format!("writing manifest {}", manifest.digest),
                    source,
                })?;
            if let Some(label) = entries.get(&manifest.digest) {
                progress.line(&format!("Copied image {} ({label})", manifest.digest));
            }
            Ok::<_, PushError>(())
        })
        .buffer_unordered(jobs.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

fn entry_label(entry: &Descriptor) -> String {
    label(
        entry.platform.as_ref().map(|p| p.display()).as_deref(),
        crate::model::platform::attested(entry).as_ref(),
    )
}

fn label(platform: Option<&str>, attestation_of: Option<&Digest>) -> String {
    match (platform, attestation_of) {
        (_, Some(of)) => format!("attestation of {of}"),
        (Some(platform), None) => platform.to_string(),
        (None, None) => "no platform".into(),
    }
}
