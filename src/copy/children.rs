//! Planning the children of the list: each child manifest read (from the store's kept copy or
//! its source) and brought to the format asked for, the destination asked whether it has it
//! (`jobs` at once), and what the missing ones need gathered. Children whose layers are
//! compressed on the way are planned as rewrites.

use super::error::PushError;
use super::format::{pushed_child, Pushed};
use super::gather::{read_manifest, Gathered};
use super::inputs::{open_source, CopyEnv, PushOptions};
use super::recompress::plan_rewrite;
use super::report::{ChildAction, ChildDecision};
use super::steps::Recompressed;
use crate::model::list::Sources;
use crate::model::oci::{self, Descriptor, Index};
use crate::transport::{RawManifest, Transport};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::sync::Arc;

/// A pushed child that may get variants (`--add-compression`): its entry, where it is read
/// from, its manifest as pushed, and whether its layers are compressed on the way (read
/// uncompressed).
pub(super) struct Candidate {
    pub(super) position: usize,
    pub(super) source: Arc<dyn Transport>,
    pub(super) raw: RawManifest,
    pub(super) recompressed: bool,
}

/// What planning the children found.
pub(super) struct Children {
    pub(super) decisions: Vec<ChildDecision>,
    pub(super) gathered: Gathered,
    /// Children whose manifests are rewritten once their layers are compressed.
    pub(super) recompressed: Vec<Recompressed>,
    /// The transport each child was read from, in the order of `decisions`.
    pub(super) sources: Vec<Arc<dyn Transport>>,
    /// What `--allow-lossy` let the conversions drop, one note per child that lost anything.
    pub(super) notes: Vec<String>,
    /// The children that may get variants (with `--add-compression`).
    pub(super) candidates: Vec<Candidate>,
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
    let mut prepared: Vec<(usize, Arc<dyn Transport>, Pushed, bool)> =
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
        notes: Vec::new(),
        candidates: Vec::new(),
    };
    for (position, source, child, present) in prepared {
        let entry = &mut index.manifests[position];
        let mut decision = ChildDecision::of(entry);
        let raw = child.manifest;
        children.notes.extend(child.note);
        let recompressed =
            source.serves_uncompressed_layers() && !oci::is_index_type(&raw.media_type);
        if !options.add_compression.is_empty() {
            children.candidates.push(Candidate {
                position,
                source: source.clone(),
                raw: raw.clone(),
                recompressed,
            });
        }
        if recompressed {
            let child =
                plan_rewrite(env.local, &source, raw, position, options.compression).await?;
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
    Ok(children)
}

/// One entry's manifest, read from the store's kept copy or its recorded source, as pushed
/// (except a child rewritten later, brought to the format asked for once it is rewritten), and
/// the transport its blobs can be read from.
async fn read_child(
    env: &CopyEnv<'_>,
    sources: &Sources,
    entry: &Descriptor,
    options: &PushOptions,
) -> Result<(Arc<dyn Transport>, Pushed), PushError> {
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
    if source.serves_uncompressed_layers() {
        let unconverted = Pushed {
            manifest: raw,
            note: None,
        };
        return Ok((source, unconverted));
    }
    let pushed = pushed_child(raw, &entry.digest, options)?;
    Ok((source, pushed))
}
