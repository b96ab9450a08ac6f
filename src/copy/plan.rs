//! Every decision of a push, made once and with read-only requests before anything is written:
//! which entries are pushed (`--platform`), in which format, which children the destination
//! already has, and for every blob whether it is there, can be mounted from another repository
//! of the same registry, or must be copied. The result is a [`Plan`]: the steps a dry run shows
//! and a real run carries out.

use super::children::plan_children;
use super::error::PushError;
use super::format::pushed_format;
use super::gather::Gathered;
use super::inputs::{CopyEnv, LocalStore, Observer, PushOptions};
use super::referrers::plan_referrers;
use super::report::{BlobAction, ChildAction, ChildDecision};
use super::steps::{BlobStep, CompressJob, LayerStep, Plan, ReferrerWrites};
use super::tags::Target;
use super::variants::plan_variants;
use crate::model::digest::Digest;
use crate::model::list::{Source, Sources};
use crate::model::oci::{Descriptor, ImageManifest, Index, ListFormat, DOCKER_CONFIG, OCI_CONFIG};
use crate::model::reference::ImageRef;
use crate::transport::Transport;
use futures_util::{stream, StreamExt, TryStreamExt};
use std::sync::Arc;

/// Decides a push of `index` (read from `sources`) to `destination`. Only reads: a dry run
/// opens the destination for reading and treats a layout that does not exist yet as empty.
pub(super) async fn plan(
    env: &CopyEnv<'_>,
    index: &Index,
    sources: &Sources,
    destination: &ImageRef,
    options: &PushOptions,
    progress: &dyn Observer,
) -> Result<Plan, PushError> {
    if !options.add_compression.is_empty() && !options.all {
        return Err(PushError::AddCompression(
            "pushes new images; not with --all=false",
        ));
    }
    let mut index = pushed_entries(index, options)?;
    let artifacts = artifacts_in(&index, sources, env.local);
    let (format, mut notes) = pushed_format(&mut index, &artifacts, options)?;
    if !options.add_compression.is_empty() && format == ListFormat::Docker {
        return Err(PushError::AddCompression(
            "needs an OCI index (variants are told apart by annotations); not with --format \
             v2s2, nor for a list that is a Docker list (entries with platform features)",
        ));
    }
    if let Some(required) = &options.required_platforms {
        notes.push(format!(
            "--require-platform {}: one image each",
            required.display()
        ));
    }
    let target = Target::new(destination, &options.tags)?;
    let opened = if options.dry_run {
        env.transports.open_probe(destination).await
    } else {
        env.transports.open_write(destination).await
    };
    let (dest, _) = opened.map_err(|source| PushError::Transport {
        context: format!("opening {destination}"),
        source,
    })?;
    let mut plan = Plan {
        dest: dest.clone(),
        target,
        format,
        index,
        children: Vec::new(),
        blobs: Vec::new(),
        layers: Vec::new(),
        manifests: Vec::new(),
        recompressed: Vec::new(),
        variants: Vec::new(),
        variant_decisions: Vec::new(),
        referrers: ReferrerWrites::default(),
        notes: Vec::new(),
    };
    if !options.all {
        plan.children = children_already_there(&plan.index, dest.as_ref()).await?;
        for note in &notes {
            progress.note(note);
        }
        plan.notes = notes;
        return Ok(plan);
    }
    let mut children = plan_children(env, sources, &mut plan.index, options, &dest).await?;
    notes.append(&mut children.notes);
    (plan.variants, plan.variant_decisions) = plan_variants(
        env,
        children.candidates,
        &mut plan.index,
        options,
        &mut children.gathered,
    )
    .await?;
    if options.referrers {
        plan.referrers = plan_referrers(
            env,
            &children.decisions,
            &children.sources,
            &mut children.gathered,
            &dest,
            &mut notes,
        )
        .await?;
    }
    for note in &notes {
        progress.note(note);
    }
    let Gathered {
        manifests,
        blobs,
        layers,
        ..
    } = children.gathered;
    plan.children = children.decisions;
    plan.recompressed = children.recompressed;
    plan.manifests = manifests;
    plan.blobs = decide_blobs(blobs, &dest, options.jobs).await?;
    plan.layers = decide_layers(layers, &dest, env).await;
    plan.notes = notes;
    Ok(plan)
}

/// The index with only the entries `--platform` keeps, in `--sort` order, refused when it
/// lacks what `--require-platform` asks for (before anything is opened or written).
fn pushed_entries(index: &Index, options: &PushOptions) -> Result<Index, PushError> {
    let mut index = index.clone();
    if let Some(filter) = &options.platforms {
        let kept = crate::model::platform::selected(&index.manifests, filter);
        if kept.is_empty() {
            return Err(PushError::NoPlatform {
                wanted: filter.display(),
                available: crate::boundary::terminal::shortened_list(
                    crate::model::platform::platforms(&index.manifests),
                ),
            });
        }
        index.manifests = kept
            .into_iter()
            .map(|at| index.manifests[at].clone())
            .collect();
    }
    if options.sort {
        index.manifests = crate::model::list::sorted_by_platform(&index.manifests);
    }
    if let Some(required) = &options.required_platforms {
        let shortfall = crate::model::platform::shortfall(&index.manifests, required);
        if !shortfall.is_empty() {
            return Err(PushError::RequiredPlatforms(shortfall));
        }
    }
    Ok(index)
}

/// The entries that are artifacts rather than images, with their artifactType when known:
/// those whose manifest (as the store keeps it) has an artifactType or a config that is not an
/// image config; without a kept manifest, those made by `add --artifact` or whose entry has an
/// artifactType.
fn artifacts_in(
    index: &Index,
    sources: &Sources,
    local: &dyn LocalStore,
) -> Vec<(Digest, Option<String>)> {
    index
        .manifests
        .iter()
        .filter_map(|entry| {
            let declared = entry.artifact_type.clone().filter(|t| !t.is_empty());
            let manifest = local
                .kept(&entry.digest)
                .and_then(|bytes| ImageManifest::parse(&bytes).ok());
            let artifact = match &manifest {
                Some(m) => {
                    m.artifact_type.as_ref().is_some_and(|t| !t.is_empty())
                        || ![OCI_CONFIG, DOCKER_CONFIG].contains(&m.config.media_type.as_str())
                }
                None => declared.is_some() || sources.get(&entry.digest) == Some(&Source::Store),
            };
            let shown = declared.or_else(|| manifest.and_then(|m| m.artifact_type));
            artifact.then(|| (entry.digest.clone(), shown))
        })
        .collect()
}

/// `--all=false`: every child must already be at the destination.
async fn children_already_there(
    index: &Index,
    dest: &dyn Transport,
) -> Result<Vec<ChildDecision>, PushError> {
    let mut decisions = Vec::new();
    for entry in &index.manifests {
        let present = dest
            .manifest_exists(&entry.digest)
            .await
            .map_err(|source| PushError::Transport {
                context: format!("checking {} at the destination", entry.digest),
                source,
            })?;
        if !present {
            return Err(PushError::MissingChild {
                digest: entry.digest.clone(),
                destination: dest.describe(),
            });
        }
        let mut decision = ChildDecision::of(entry);
        decision.action = ChildAction::Skip;
        decisions.push(decision);
    }
    Ok(decisions)
}

/// For each blob, `jobs` at once: mountable from a repository of the same registry, already
/// there, or to be copied. A mountable blob is not checked first: the mount answers for a blob
/// already there as well, so a check would only add a request per blob to the push that gains the
/// most from mounting. A mount is decided without trying it (that would be a write); a refused
/// mount is copied when the plan runs.
async fn decide_blobs(
    blobs: Vec<(Descriptor, Arc<dyn Transport>)>,
    dest: &Arc<dyn Transport>,
    jobs: usize,
) -> Result<Vec<BlobStep>, PushError> {
    let dest_repo = dest.registry_repository();
    stream::iter(blobs)
        .map(|(descriptor, source)| {
            let dest_repo = dest_repo.clone();
            async move {
                let mount_from = match (source.registry_repository(), dest_repo) {
                    (Some((src_host, src_repo)), Some((dst_host, dst_repo)))
                        if src_host == dst_host && src_repo != dst_repo =>
                    {
                        Some(src_repo)
                    }
                    _ => None,
                };
                let (action, from) = match mount_from {
                    Some(from) => (BlobAction::Mount, Some(from)),
                    None => {
                        let present = dest.blob_exists(&descriptor).await.map_err(|e| {
                            PushError::Transport {
                                context: format!("checking blob {}", descriptor.digest),
                                source: e,
                            }
                        })?;
                        if present {
                            (BlobAction::Present, None)
                        } else {
                            (BlobAction::Copy, None)
                        }
                    }
                };
                Ok::<_, PushError>(BlobStep {
                    descriptor,
                    source,
                    action,
                    from,
                })
            }
        })
        .buffered(jobs.max(1))
        .try_collect()
        .await
}

/// For each layer to compress: whether an earlier push left it, compressed the same way, at the
/// destination. Any failure to tell means "compress and send it".
async fn decide_layers(
    layers: Vec<CompressJob>,
    dest: &Arc<dyn Transport>,
    env: &CopyEnv<'_>,
) -> Vec<LayerStep> {
    let mut steps = Vec::new();
    for job in layers {
        let known = env.local.compressed(&job.uncompressed, &job.compression);
        let present_as = match known {
            Some(known) if matches!(dest.blob_exists(&known).await, Ok(true)) => Some(known),
            _ => None,
        };
        steps.push(LayerStep { job, present_as });
    }
    steps
}
