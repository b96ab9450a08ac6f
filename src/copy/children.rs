//! Reading what a push must bring: each child manifest (from the store's cache or its source,
//! converted when `--format` asks), and everything below it (nested indexes are followed), each
//! digest gathered once across all children.

use super::recompress::{ChildBlob, CompressJob, LayerKey, Recompressed};
use super::report::VariantDecision;
use super::report::{ChildAction, ChildDecision};
use super::variants::{plan_variants, Candidate, Variant};
use super::LocalStore;
use super::{open_source, CopyEnv, PushError, PushOptions};
use crate::convert::{convert_manifest, Converted};
use crate::digest::Digest;
use crate::list::Sources;
use crate::oci::{self, Descriptor, ImageManifest, Index};
use crate::transport::{ManifestRef, RawManifest, Transport};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::collections::HashSet;
use std::sync::Arc;

/// Manifests and blobs to bring, in the order they were found, each digest once.
#[derive(Default)]
pub(super) struct Gathered {
    /// Manifests to write by digest (children, nested manifests, referrers).
    pub(super) manifests: Vec<RawManifest>,
    /// Blobs to bring, with the transport each can be read from.
    pub(super) blobs: Vec<(Descriptor, Arc<dyn Transport>)>,
    /// Layers to compress while sending, each (uncompressed digest, compression) once.
    pub(super) layers: Vec<CompressJob>,
    seen_manifests: HashSet<Digest>,
    seen_blobs: HashSet<Digest>,
    seen_layers: HashSet<LayerKey>,
}

impl Gathered {
    pub(super) fn add_blob(&mut self, descriptor: &Descriptor, source: &Arc<dyn Transport>) {
        if self.seen_blobs.insert(descriptor.digest.clone()) {
            self.blobs.push((descriptor.clone(), source.clone()));
        }
    }

    fn add_layer(&mut self, job: CompressJob) {
        if self.seen_layers.insert(job.key()) {
            self.layers.push(job);
        }
    }

    /// Adds what a child rewritten with compressed layers needs: its config as it is, and each
    /// layer as a compression job.
    pub(super) fn add_child_blobs(&mut self, child: &Recompressed, source: &Arc<dyn Transport>) {
        for blob in child.jobs(source) {
            match blob {
                ChildBlob::Compress(job) => self.add_layer(job),
                ChildBlob::Plain(descriptor) => self.add_blob(&descriptor, source),
            }
        }
    }

    /// Adds a manifest and everything below it; nested indexes are followed so the
    /// destination never holds an index with unknown children.
    pub(super) async fn gather(
        &mut self,
        local: &dyn LocalStore,
        source: &Arc<dyn Transport>,
        root: RawManifest,
    ) -> Result<(), PushError> {
        let mut pending = vec![root];
        while let Some(raw) = pending.pop() {
            if !self.seen_manifests.insert(raw.digest.clone()) {
                continue;
            }
            if oci::is_index_type(&raw.media_type) {
                let nested = Index::parse(&raw.bytes)?;
                for child in nested.manifests {
                    pending.push(read_manifest(local, source.as_ref(), &child.digest).await?);
                }
            } else {
                let image = ImageManifest::parse(&raw.bytes)?;
                for blob in image.blobs() {
                    // Foreign layers (with URLs) are not copied by registries or by buildah.
                    if blob.urls.is_empty() {
                        self.add_blob(blob, source);
                    }
                }
            }
            self.manifests.push(raw);
        }
        Ok(())
    }
}

/// What planning the children found.
pub(super) struct Children {
    pub(super) decisions: Vec<ChildDecision>,
    pub(super) gathered: Gathered,
    /// Children whose manifests are rewritten once their layers are compressed.
    pub(super) recompressed: Vec<Recompressed>,
    /// The transport each child was read from, in the order of `decisions`.
    pub(super) sources: Vec<Arc<dyn Transport>>,
    /// The fields `--allow-lossy` let the conversion drop, per child (its original digest).
    pub(super) dropped: Vec<(Digest, Vec<String>)>,
    /// Compression variants to add (`--add-compression`), and the decision for each image.
    pub(super) variants: Vec<Variant>,
    pub(super) variant_decisions: Vec<VariantDecision>,
}

/// Reads every child manifest, converts it when asked, asks the destination whether it has
/// it (`jobs` at once), and gathers what the missing ones need. Converted children take their
/// new digest in `index`.
pub(super) async fn plan_children(
    env: &CopyEnv<'_>,
    sources: &Sources,
    index: &mut Index,
    options: &PushOptions,
    dest: &Arc<dyn Transport>,
) -> Result<Children, PushError> {
    let mut prepared: Vec<(usize, Arc<dyn Transport>, Converted, bool)> =
        stream::iter(index.manifests.iter().enumerate())
            .map(|(position, entry)| async move {
                let (source, child) = read_child(env, sources, entry, options).await?;
                let digest = &child.manifest.digest;
                // A child that will be rewritten has no known digest at the destination yet.
                let present = !source.serves_uncompressed_layers()
                    && dest.manifest_exists(digest).await.map_err(|source| {
                        PushError::Transport {
                            context: format!("checking manifest {digest} at the destination"),
                            source,
                        }
                    })?;
                Ok::<_, PushError>((position, source, child, present))
            })
            .buffer_unordered(options.jobs.max(1))
            .try_collect()
            .await?;
    prepared.sort_by_key(|(position, ..)| *position);

    let mut children = Children {
        decisions: Vec::new(),
        gathered: Gathered::default(),
        recompressed: Vec::new(),
        sources: Vec::new(),
        dropped: Vec::new(),
        variants: Vec::new(),
        variant_decisions: Vec::new(),
    };
    let mut candidates = Vec::new();
    for (position, source, child, present) in prepared {
        let entry = &mut index.manifests[position];
        let mut decision = ChildDecision::of(entry);
        let raw = child.manifest;
        if !child.dropped.is_empty() {
            children.dropped.push((entry.digest.clone(), child.dropped));
        }
        let recompressed =
            source.serves_uncompressed_layers() && !oci::is_index_type(&raw.media_type);
        if !options.add_compression.is_empty() {
            candidates.push(Candidate {
                position,
                source: source.clone(),
                raw: raw.clone(),
                recompressed,
            });
        }
        if recompressed {
            let child =
                Recompressed::plan(env.local, &source, raw, position, options.compression).await?;
            child.check(options.format)?;
            children.gathered.add_child_blobs(&child, &source);
            children.recompressed.push(child);
            children.sources.push(source);
            decision.action = ChildAction::Rewrite;
            children.decisions.push(decision);
            continue;
        }
        if raw.digest != entry.digest {
            // Converted by --format: the index names the new manifest.
            entry.media_type = raw.media_type.clone();
            entry.digest = raw.digest.clone();
            entry.size = raw.bytes.len() as u64;
            decision.pushed = Some(raw.digest.clone());
        }
        children.sources.push(source.clone());
        if present {
            decision.action = ChildAction::Skip;
        } else {
            decision.action = ChildAction::Copy;
            children.gathered.gather(env.local, &source, raw).await?;
        }
        children.decisions.push(decision);
    }
    (children.variants, children.variant_decisions) =
        plan_variants(env, candidates, index, options, &mut children.gathered).await?;
    Ok(children)
}

/// One entry's manifest, read from the store's cache or its recorded source, converted to
/// `options.format` when asked (except children that are rewritten later, converted then), and
/// the transport its blobs can be read from.
async fn read_child(
    env: &CopyEnv<'_>,
    sources: &Sources,
    entry: &Descriptor,
    options: &PushOptions,
) -> Result<(Arc<dyn Transport>, Converted), PushError> {
    let opened = match sources.get(&entry.digest) {
        None => {
            return Err(PushError::NoSource {
                digest: entry.digest.clone(),
            })
        }
        Some(source) => open_source(source, env.transports, env.local)
            .await
            .map_err(|e| (source.to_string(), e)),
    };
    let source = opened.map_err(|(image, source)| PushError::Transport {
        context: format!("opening the source of {} ({image})", entry.digest),
        source,
    })?;
    let raw = read_manifest(env.local, source.as_ref(), &entry.digest).await?;
    let unconverted = |manifest| Converted {
        manifest,
        dropped: Vec::new(),
    };
    if source.serves_uncompressed_layers() {
        return Ok((source, unconverted(raw)));
    }
    let converted = match options.format {
        Some(format) => convert_manifest(&raw, format, options.allow_lossy)?,
        None => None,
    };
    Ok((source, converted.unwrap_or_else(|| unconverted(raw))))
}

/// A manifest by digest: the store's kept copy, else read from `source`.
pub(super) async fn read_manifest(
    local: &dyn LocalStore,
    source: &dyn Transport,
    digest: &Digest,
) -> Result<RawManifest, PushError> {
    if let Some(bytes) = local.kept(digest) {
        let mut raw = RawManifest::from_bytes(bytes);
        raw.digest = digest.clone();
        return Ok(raw);
    }
    source
        .manifest_get(&ManifestRef::Digest(digest.clone()))
        .await
        .map_err(|e| PushError::Transport {
            context: format!("reading manifest {digest} from {}", source.describe()),
            source: e,
        })
}
