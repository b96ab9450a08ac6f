//! Every decision of a push, made once and with read-only requests before anything is written:
//! which entries are pushed (`--platform`), which children the destination already has, and
//! for every blob whether it is there, can be mounted from another repository of the same
//! registry, or must be copied. A dry run shows this plan ([`Plan::report`]); a real run hands
//! it to [`super::run::execute`], which does exactly what it says.

use super::children::{plan_children, Gathered};
use super::recompress::{CompressJob, Recompressed};
use super::referrers::{plan_referrers, ReferrerWrites};
use super::report::{
    BlobAction, BlobDecision, ChildAction, ChildDecision, Counts, PushReport, VariantDecision,
};
use super::tags::{index_manifest, Target};
use super::variants::Variant;
use super::{CopyEnv, Observer, PushError, PushOptions};
use crate::digest::Digest;
use crate::list::{Source, Sources};
use crate::oci::{Descriptor, ImageManifest, Index, ListFormat, DOCKER_CONFIG, OCI_CONFIG};
use crate::reference::ImageRef;
use crate::transport::{RawManifest, Transport};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::sync::Arc;

/// A blob to bring, where it is read from, and what to do with it.
pub(super) struct BlobStep {
    pub(super) descriptor: Descriptor,
    pub(super) source: Arc<dyn Transport>,
    pub(super) action: BlobAction,
    /// The repository to mount from (with [`BlobAction::Mount`]).
    pub(super) from: Option<String>,
}

/// A layer to compress on the way, or the compressed layer an earlier push left at the
/// destination.
pub(super) struct LayerStep {
    pub(super) job: CompressJob,
    pub(super) present_as: Option<Descriptor>,
}

/// A push, decided.
pub(crate) struct Plan {
    pub(super) dest: Arc<dyn Transport>,
    pub(super) target: Target,
    pub(super) format: ListFormat,
    /// The index as pushed (children converted; rewritten children take their digests later).
    pub(super) index: Index,
    pub(super) children: Vec<ChildDecision>,
    pub(super) blobs: Vec<BlobStep>,
    pub(super) layers: Vec<LayerStep>,
    /// Child and nested manifests to write by digest.
    pub(super) manifests: Vec<RawManifest>,
    pub(super) recompressed: Vec<Recompressed>,
    /// Compression variants to add (`--add-compression`), and the decision for each image.
    pub(super) variants: Vec<Variant>,
    pub(super) variant_decisions: Vec<VariantDecision>,
    pub(super) referrers: ReferrerWrites,
    pub(super) notes: Vec<String>,
}

/// Decides a push of `index` (read from `sources`) to `destination`. Only reads: a dry run
/// opens the destination for reading and treats a layout that does not exist yet as empty.
pub(crate) async fn plan(
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
    for (digest, dropped) in &children.dropped {
        notes.push(format!(
            "Dropping {} from {digest} (--allow-lossy)",
            dropped.join(", ")
        ));
    }
    if options.referrers {
        plan.referrers = plan_referrers(env, &mut children, &dest, &mut notes).await?;
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
    plan.variants = children.variants;
    plan.variant_decisions = children.variant_decisions;
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
        let kept = crate::platform::selected(&index.manifests, filter);
        if kept.is_empty() {
            return Err(PushError::NoPlatform {
                wanted: filter.display(),
                available: crate::terminal::shortened_list(crate::platform::platforms(
                    &index.manifests,
                )),
            });
        }
        index.manifests = kept
            .into_iter()
            .map(|at| index.manifests[at].clone())
            .collect();
    }
    if options.sort {
        index.manifests = crate::list::sorted_by_platform(&index.manifests);
    }
    if let Some(required) = &options.required_platforms {
        let shortfall = crate::platform::shortfall(&index.manifests, required);
        if !shortfall.is_empty() {
            return Err(PushError::RequiredPlatforms(shortfall));
        }
    }
    Ok(index)
}

/// The format the index is written in, and what `--allow-lossy` drops to get there: fields
/// the format cannot hold and, in a Docker list, whole artifact entries (`artifacts`).
fn pushed_format(
    index: &mut Index,
    artifacts: &[(Digest, Option<String>)],
    options: &PushOptions,
) -> Result<(ListFormat, Vec<String>), PushError> {
    let Some(format) = options.format else {
        return Ok((index.auto_format()?, Vec::new()));
    };
    let mut kept = index.clone();
    let mut lost = Vec::new();
    if format == ListFormat::Docker && !artifacts.is_empty() {
        kept.manifests
            .retain(|entry| !artifacts.iter().any(|(d, _)| *d == entry.digest));
        lost.extend(
            artifacts
                .iter()
                .map(|(digest, artifact_type)| match artifact_type {
                    Some(t) => format!("artifact {digest} ({t}), which a Docker list cannot hold"),
                    None => format!("artifact {digest}, which a Docker list cannot hold"),
                }),
        );
    }
    lost.extend(kept.loss_in(format));
    if lost.is_empty() {
        return Ok((format, Vec::new()));
    }
    let lost = lost.join(", ");
    if options.allow_lossy {
        *index = kept;
        return Ok((format, vec![format!("Dropping {lost} (--allow-lossy)")]));
    }
    Err(PushError::Lossy {
        format: match format {
            ListFormat::Oci => "an OCI index (--format oci)",
            ListFormat::Docker => "a Docker manifest list (--format v2s2)",
        },
        lost,
    })
}

/// The entries that are artifacts rather than images, with their artifactType when known:
/// those whose manifest (as the store keeps it) has an artifactType or a config that is not an
/// image config; without a kept manifest, those made by `add --artifact` or whose entry has an
/// artifactType.
fn artifacts_in(
    index: &Index,
    sources: &Sources,
    local: &dyn super::LocalStore,
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
        let known = env.local.compressed(job.uncompressed(), &job.compression());
        let present_as = match known {
            Some(known) if matches!(dest.blob_exists(&known).await, Ok(true)) => Some(known),
            _ => None,
        };
        steps.push(LayerStep { job, present_as });
    }
    steps
}

impl Plan {
    /// What the plan decided, as a report of a dry run.
    pub(crate) fn report(&self) -> PushReport {
        let index = (self.recompressed.is_empty() && self.variants.is_empty())
            .then(|| index_manifest(&self.index, self.format));
        PushReport {
            digest: index.as_ref().map(|m| m.digest.clone()),
            media_type: self.format.media_type().to_string(),
            index: index.map(|m| m.bytes.to_vec()),
            destination: self.target.image.to_string(),
            tags: self.target.tag_names(),
            references: self.target.references(),
            decisions: self.decisions(),
            counts: self.planned_counts(),
            dry_run: true,
            notes: self.notes.clone(),
        }
    }

    /// Every decision, in the form both a dry run and a real run report.
    pub(crate) fn decisions(&self) -> super::report::Decisions {
        let compress = self.layers.iter().map(|step| BlobDecision {
            digest: step.job.uncompressed().clone(),
            size: step.job.source_size(),
            action: match step.present_as {
                Some(_) => BlobAction::Present,
                None => BlobAction::Copy,
            },
            from: None,
            compress: Some(step.job.compression().algorithm.name().to_string()),
            stored_as: step.present_as.as_ref().map(|d| d.digest.clone()),
        });
        super::report::Decisions {
            manifests: self.children.clone(),
            blobs: self
                .blobs
                .iter()
                .map(|step| BlobDecision {
                    digest: step.descriptor.digest.clone(),
                    size: step.descriptor.size,
                    action: step.action,
                    from: step.from.clone(),
                    compress: None,
                    stored_as: None,
                })
                .chain(compress)
                .collect(),
            referrers: self.referrers.decisions.clone(),
            referrer_tags: self.referrers.tag_names(),
            variants: self.variant_decisions.clone(),
        }
    }

    /// The counts the plan expects (a refused mount becomes a copy when it runs).
    fn planned_counts(&self) -> Counts {
        let mut counts = Counts {
            manifests: (self.manifests.len()
                + self.recompressed.len()
                + self.variants.len()
                + self.referrers.manifests.len()) as u64,
            images_present: self
                .children
                .iter()
                .filter(|c| c.action == ChildAction::Skip)
                .count() as u64,
            ..Counts::default()
        };
        for blob in self.decisions().blobs {
            match blob.action {
                BlobAction::Present => {
                    counts.blobs_present += 1;
                    counts.bytes_skipped += blob.size;
                }
                BlobAction::Mount => {
                    counts.blobs_mounted += 1;
                    counts.bytes_mounted += blob.size;
                }
                BlobAction::Copy => {
                    counts.blobs_copied += 1;
                    counts.bytes_copied += blob.size;
                }
            }
        }
        counts
    }
}
