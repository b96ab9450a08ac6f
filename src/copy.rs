//! The push engine: every child's blobs and manifest reach the destination before the index,
//! each digest is transferred once, at most `jobs` transfers run at once across all children,
//! and the index is written last, so a failure anywhere leaves the destination tag untouched.

use crate::convert::{convert_manifest, ConvertError, Converted};
use crate::digest::Digest;
use crate::oci::{self, Descriptor, ImageManifest, Index, ListFormat};
use crate::progress::Progress;
use crate::reference::{parse_image, ImageRef};
use crate::retry::{RetryPolicy, Retryable};
use crate::store::{Store, StoredList};
use crate::transport::open::Transports;
use crate::transport::resume::TransportSource;
use crate::transport::{verified, BlobStream, ManifestRef, RawManifest, Transport, TransportError};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Copy every referenced image before the index (default true).
    pub all: bool,
    /// Convert to this format; `None` pushes the stored bytes unchanged.
    pub format: Option<ListFormat>,
    /// Let `format` drop what it cannot hold, naming each dropped field (default false: refuse).
    pub allow_lossy: bool,
    /// Blob transfers at once (default 8).
    pub jobs: usize,
    /// How a blob whose transfer failed is restarted from its source (the one retry policy).
    pub retry: RetryPolicy,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            all: true,
            format: None,
            allow_lossy: false,
            jobs: 8,
            retry: RetryPolicy::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error("cannot push as {format} without losing {lost}; push with --allow-lossy to drop them")]
    Lossy { format: &'static str, lost: String },
    #[error("{0}")]
    Document(#[from] oci::DocumentError),
    #[error("entry {digest} has no recorded source; remove it and add it again")]
    NoSource { digest: Digest },
    #[error("entry {digest}: bad source {source_ref:?}: {detail}")]
    BadSource {
        digest: Digest,
        source_ref: String,
        detail: String,
    },
    #[error("{context}")]
    Transport {
        context: String,
        #[source]
        source: TransportError,
    },
    #[error("entry {digest} is not in {destination}; push with --all (the default) to copy it")]
    MissingChild { digest: Digest, destination: String },
    #[error("a list cannot be pushed to a digest reference; give a tag")]
    DigestDestination,
}

/// What a push did, for the summary line and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    pub digest: Option<Digest>,
    pub blobs_copied: u64,
    pub bytes_copied: u64,
    pub blobs_mounted: u64,
    pub blobs_present: u64,
    pub manifests: u64,
    /// Children the destination already had, so nothing of them was sent.
    pub images_present: u64,
}

/// A blob to bring to the destination and the transport it can be read from.
struct BlobJob {
    descriptor: Descriptor,
    source: Arc<dyn Transport>,
}

/// Pushes `list` to `destination`; returns the digest of the index as the destination holds it.
pub async fn push_list(
    transports: &Transports,
    store: &Store,
    list: &StoredList,
    destination: &ImageRef,
    options: &PushOptions,
    progress: &Arc<Progress>,
) -> Result<PushReport, PushError> {
    let mut index = list.list.index.clone();
    let format = match options.format {
        Some(format) => {
            match index.loss_in(format) {
                Some(lost) if options.allow_lossy => {
                    progress.note(&format!("Dropping {lost} (--allow-lossy)"))
                }
                Some(lost) => {
                    return Err(PushError::Lossy {
                        format: match format {
                            ListFormat::Oci => "an OCI index (--format oci)",
                            ListFormat::Docker => "a Docker manifest list (--format v2s2)",
                        },
                        lost,
                    })
                }
                None => {}
            }
            format
        }
        None => index.auto_format()?,
    };
    let (dest, dest_ref) =
        transports
            .open_write(destination)
            .await
            .map_err(|source| PushError::Transport {
                context: format!("opening {destination}"),
                source,
            })?;
    if matches!(dest_ref, ManifestRef::Digest(_)) {
        return Err(PushError::DigestDestination);
    }
    let mut report = PushReport::default();

    if options.all {
        let plan = plan_children(transports, store, list, &mut index, options, &dest).await?;
        for (digest, dropped) in &plan.dropped {
            progress.note(&format!(
                "Dropping {} from {digest} (--allow-lossy)",
                dropped.join(", ")
            ));
        }
        report.images_present = plan.present;
        progress.set_totals(
            plan.manifests.len() as u64,
            plan.blobs.len() as u64,
            plan.blobs.values().map(|b| b.descriptor.size).sum(),
        );
        let blob_total = plan.blobs.len();
        progress.line(&format!(
            "Copying {} images with {} blobs in list",
            plan.manifests.len(),
            blob_total
        ));
        let outcomes: Vec<BlobOutcome> = stream::iter(plan.blobs.into_values())
            .map(|job| copy_blob(job, dest.clone(), options, progress.clone()))
            .buffer_unordered(options.jobs.max(1))
            .try_collect()
            .await?;
        for outcome in outcomes {
            match outcome {
                BlobOutcome::Present => report.blobs_present += 1,
                BlobOutcome::Mounted => report.blobs_mounted += 1,
                BlobOutcome::Copied(bytes) => {
                    report.blobs_copied += 1;
                    report.bytes_copied += bytes;
                }
            }
        }
        // Image manifests before the indexes that refer to them.
        let (images, indexes): (Vec<_>, Vec<_>) = plan
            .manifests
            .into_iter()
            .partition(|m| !oci::is_index_type(&m.media_type));
        for batch in [images, indexes] {
            report.manifests += batch.len() as u64;
            stream::iter(batch)
                .map(|manifest| {
                    let dest = dest.clone();
                    async move {
                        progress.line(&format!(
                            "Writing manifest {} to image destination",
                            manifest.digest
                        ));
                        dest.manifest_put(&ManifestRef::Digest(manifest.digest.clone()), &manifest)
                            .await
                            .map_err(|source| PushError::Transport {
                                context: format!("writing manifest {}", manifest.digest),
                                source,
                            })
                    }
                })
                .buffer_unordered(options.jobs.max(1))
                .try_collect::<Vec<()>>()
                .await?;
        }
    } else {
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
        }
    }

    let bytes = index.to_bytes(format);
    let manifest = RawManifest {
        digest: Digest::sha256_of(&bytes),
        media_type: format.media_type().to_string(),
        bytes: bytes.into(),
    };
    progress.line("Writing manifest list to image destination");
    let written = match dest.manifest_put(&dest_ref, &manifest).await {
        Err(e) if e.rejects_manifest_type() && options.format.is_none() => {
            match docker_list_instead(&index, format) {
                Some(docker) => {
                    progress.line(&format!(
                        "The destination refused an OCI index ({e}); writing it as a Docker manifest list"
                    ));
                    dest.manifest_put(&dest_ref, &docker).await.map(|()| docker)
                }
                None => Err(e),
            }
        }
        other => other.map(|()| manifest),
    };
    let written = written.map_err(|source| PushError::Transport {
        context: format!("writing the manifest list to {}", dest.describe()),
        source,
    })?;
    report.digest = Some(written.digest);
    Ok(report)
}

/// The list as a Docker manifest list, when the OCI index a registry refused can be one without
/// losing anything: every child a Docker manifest and nothing OCI-only set. buildah (through
/// containers/image) tries the other list type the same way, so Quay and zot, which refuse an
/// OCI index over Docker manifests, get what they accept, and every other registry still gets
/// the bytes buildah pushes.
fn docker_list_instead(index: &Index, format: ListFormat) -> Option<RawManifest> {
    let all_docker = index.manifests.iter().all(|m| {
        m.media_type == oci::DOCKER_MANIFEST || m.media_type == ListFormat::Docker.media_type()
    });
    if format != ListFormat::Oci || !all_docker || index.loss_in(ListFormat::Docker).is_some() {
        return None;
    }
    let bytes = index.to_bytes(ListFormat::Docker);
    Some(RawManifest {
        digest: Digest::sha256_of(&bytes),
        media_type: ListFormat::Docker.media_type().to_string(),
        bytes: bytes.into(),
    })
}

struct Plan {
    manifests: Vec<RawManifest>,
    blobs: HashMap<Digest, BlobJob>,
    /// Children the destination already holds (with everything they reference).
    present: u64,
    /// The fields `--allow-lossy` let the conversion drop, per child (its original digest).
    dropped: Vec<(Digest, Vec<String>)>,
}

/// Reads every child manifest (from the store's cache or its source), converts it when asked,
/// and gathers the blobs to copy, each digest once.
async fn plan_children(
    transports: &Transports,
    store: &Store,
    list: &StoredList,
    index: &mut Index,
    options: &PushOptions,
    dest: &Arc<dyn Transport>,
) -> Result<Plan, PushError> {
    // Read (and convert) every child and ask the destination whether it has it, `jobs` at once.
    let mut prepared: Vec<(usize, Arc<dyn Transport>, Converted, bool)> =
        stream::iter(index.manifests.iter().enumerate())
            .map(|(position, entry)| async move {
                let (source, child) = read_child(transports, store, list, entry, options).await?;
                let digest = &child.manifest.digest;
                let present =
                    dest.manifest_exists(digest)
                        .await
                        .map_err(|source| PushError::Transport {
                            context: format!("checking manifest {digest} at the destination"),
                            source,
                        })?;
                Ok::<_, PushError>((position, source, child, present))
            })
            .buffer_unordered(options.jobs.max(1))
            .try_collect()
            .await?;
    prepared.sort_by_key(|(position, ..)| *position);

    let mut plan = Plan {
        manifests: Vec::new(),
        blobs: HashMap::new(),
        present: 0,
        dropped: Vec::new(),
    };
    let mut seen_manifests = HashSet::new();
    for (position, source, child, present) in prepared {
        let entry = &mut index.manifests[position];
        let raw = child.manifest;
        if !child.dropped.is_empty() {
            plan.dropped.push((entry.digest.clone(), child.dropped));
        }
        if raw.digest != entry.digest {
            // Converted by --format: the index names the new manifest.
            entry.media_type = raw.media_type.clone();
            entry.digest = raw.digest.clone();
            entry.size = raw.bytes.len() as u64;
        }
        if present {
            plan.present += 1;
            continue;
        }
        gather(store, &source, raw, &mut plan, &mut seen_manifests).await?;
    }
    Ok(plan)
}

/// One entry's manifest, read from the store's cache or its recorded source, converted to
/// `options.format` when asked, and the transport its blobs can be read from.
async fn read_child(
    transports: &Transports,
    store: &Store,
    list: &StoredList,
    entry: &Descriptor,
    options: &PushOptions,
) -> Result<(Arc<dyn Transport>, Converted), PushError> {
    let source_ref = list
        .list
        .sources
        .get(&entry.digest)
        .ok_or_else(|| PushError::NoSource {
            digest: entry.digest.clone(),
        })?;
    let image = parse_image(source_ref).map_err(|e| PushError::BadSource {
        digest: entry.digest.clone(),
        source_ref: source_ref.clone(),
        detail: e.to_string(),
    })?;
    let (source, _) =
        transports
            .open_read(&image)
            .await
            .map_err(|source| PushError::Transport {
                context: format!("opening the source of {} ({image})", entry.digest),
                source,
            })?;
    let raw = read_manifest(store, source.as_ref(), &entry.digest).await?;
    let converted = match options.format {
        Some(format) => convert_manifest(&raw, format, options.allow_lossy)?,
        None => None,
    };
    let converted = converted.unwrap_or(Converted {
        manifest: raw,
        dropped: Vec::new(),
    });
    Ok((source, converted))
}

/// Adds a manifest and everything below it to the plan; nested indexes are followed so the
/// destination never holds an index with unknown children.
async fn gather(
    store: &Store,
    source: &Arc<dyn Transport>,
    root: RawManifest,
    plan: &mut Plan,
    seen: &mut HashSet<Digest>,
) -> Result<(), PushError> {
    let mut pending = vec![root];
    while let Some(raw) = pending.pop() {
        if !seen.insert(raw.digest.clone()) {
            continue;
        }
        if oci::is_index_type(&raw.media_type) {
            let nested = Index::parse(&raw.bytes)?;
            for child in nested.manifests {
                pending.push(read_manifest(store, source.as_ref(), &child.digest).await?);
            }
        } else {
            let image = ImageManifest::parse(&raw.bytes)?;
            for blob in image.blobs() {
                // Foreign layers (with URLs) are not copied by registries or by buildah.
                if !blob.urls.is_empty() {
                    continue;
                }
                plan.blobs
                    .entry(blob.digest.clone())
                    .or_insert_with(|| BlobJob {
                        descriptor: blob.clone(),
                        source: source.clone(),
                    });
            }
        }
        plan.manifests.push(raw);
    }
    Ok(())
}

async fn read_manifest(
    store: &Store,
    source: &dyn Transport,
    digest: &Digest,
) -> Result<RawManifest, PushError> {
    if let Some(bytes) = store.get_blob(digest) {
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

enum BlobOutcome {
    Present,
    Mounted,
    Copied(u64),
}

/// Brings one blob to the destination: already there → skip; same registry → mount; else
/// stream it, verified on the way, restarting from the source on a retryable failure.
async fn copy_blob(
    job: BlobJob,
    dest: Arc<dyn Transport>,
    options: &PushOptions,
    progress: Arc<Progress>,
) -> Result<BlobOutcome, PushError> {
    let descriptor = &job.descriptor;
    // Same registry, other repository: mount first. A mount of a blob the destination already
    // has is a cheap 201 too, so the existence check would only add a request per blob.
    if let (Some((src_host, src_repo)), Some((dst_host, dst_repo))) =
        (job.source.registry_repository(), dest.registry_repository())
    {
        if src_host == dst_host && src_repo != dst_repo {
            // Any failure is "not mounted": checking and copying is always a correct fallback.
            if let Ok(true) = dest.blob_mount(descriptor, &src_repo).await {
                progress.line(&format!(
                    "Copying blob {} mounted from {src_repo}",
                    descriptor.digest
                ));
                progress.blob_done();
                return Ok(BlobOutcome::Mounted);
            }
        }
    }
    // Non-streaming requests are retried inside the transport; only streams are retried here.
    let exists = dest
        .blob_exists(descriptor)
        .await
        .map_err(|source| PushError::Transport {
            context: format!("checking blob {}", descriptor.digest),
            source,
        })?;
    if exists {
        progress.line(&format!(
            "Copying blob {} skipped: already exists",
            descriptor.digest
        ));
        progress.blob_done();
        return Ok(BlobOutcome::Present);
    }
    progress.line(&format!("Copying blob {}", descriptor.digest));
    let mut attempt = 0;
    loop {
        let counter = progress.clone();
        let count = move |stream: BlobStream| -> BlobStream {
            let counter = counter.clone();
            Box::pin(stream.inspect(move |chunk| {
                if let Ok(bytes) = chunk {
                    counter.add_bytes(bytes.len() as u64);
                }
            }))
        };
        let result = if dest.checks_uploaded_digests() {
            // The destination verifies the digest, so it may ask for the rest of a blob whose
            // upload broke (sizes are checked on the way).
            let source = TransportSource::new(job.source.clone(), descriptor.clone(), count);
            dest.blob_put_from(&source).await
        } else {
            async {
                let stream = count(job.source.blob_get(descriptor).await?);
                dest.blob_put(descriptor, verified(stream, descriptor))
                    .await
            }
            .await
        };
        match result {
            Ok(()) => {
                progress.blob_done();
                return Ok(BlobOutcome::Copied(descriptor.size));
            }
            Err(e) if options.retry.allows(e.retry_class(), attempt) => {
                tokio::time::sleep(options.retry.backoff(attempt, e.retry_after())).await;
                attempt += 1;
            }
            Err(source) => {
                return Err(PushError::Transport {
                    context: format!(
                        "copying blob {} from {} (gave up after {} attempt{})",
                        descriptor.digest,
                        job.source.describe(),
                        attempt + 1,
                        if attempt == 0 { "" } else { "s" }
                    ),
                    source,
                })
            }
        }
    }
}
