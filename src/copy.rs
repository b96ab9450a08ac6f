//! The copy engine: an index and its typed sources go to any destination through one path.
//! Every child's blobs and manifest reach the destination before the index, each digest is
//! transferred once, at most `jobs` transfers run at once across all children, and the index is
//! written last, so a failure anywhere leaves the destination tag untouched. Children whose
//! source serves only uncompressed layers (containers-storage) are compressed on the way and
//! rewritten (see [`recompress`]).

mod recompress;

use crate::compress::Compression;
use crate::convert::{convert_manifest, ConvertError};
use crate::digest::Digest;
use crate::layer_cache::LayerCache;
use crate::list::ManifestList;
use crate::oci::{self, Descriptor, ImageManifest, Index, ListFormat};
use crate::reference::{parse_image, ImageRef};
use crate::store::Store;
use crate::transport::open::Transports;
use crate::transport::registry::backoff;
use crate::transport::{
    size_checked, verified, BlobStream, ManifestRef, RawManifest, Transport, TransportError,
};
use futures_util::{stream, FutureExt, StreamExt, TryStreamExt};
use recompress::{ChildBlob, CompressJob, Recompressed};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// What a copy reports as it goes; the terminal implementation is [`crate::progress::Progress`].
pub trait Observer: Send + Sync {
    /// A message in buildah's wording (`Copying blob sha256:…`).
    fn line(&self, message: &str);
    /// Something the user should know even with a live display (a child was rewritten).
    fn note(&self, message: &str);
    /// What the copy will move: images, blobs, and the bytes of those blobs.
    fn set_totals(&self, images: u64, blobs: u64, bytes: u64);
    /// `n` more bytes were read from a source.
    fn add_bytes(&self, n: u64);
    /// One more blob is at the destination.
    fn blob_done(&self);
}

/// Where each entry of an index is read from, parsed once.
pub type Sources = BTreeMap<Digest, ImageRef>;

/// Parses a stored list's recorded sources.
pub fn typed_sources(list: &ManifestList) -> Result<Sources, PushError> {
    list.sources
        .iter()
        .map(|(digest, raw)| {
            parse_image(raw)
                .map(|image| (digest.clone(), image))
                .map_err(|e| PushError::BadSource {
                    digest: digest.clone(),
                    source_ref: raw.clone(),
                    detail: e.to_string(),
                })
        })
        .collect()
}

/// What a copy reads besides its sources: the transports, and the store's cached manifests,
/// configs and compressed-layer records.
pub struct CopyEnv<'a> {
    /// Opens sources and the destination.
    pub transports: &'a Transports,
    /// Cached manifests and configs, and the compressed-layer records.
    pub store: &'a Store,
}

#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Copy every referenced image before the index (default true).
    pub all: bool,
    /// Convert to this format; `None` pushes the stored bytes unchanged.
    pub format: Option<ListFormat>,
    /// Blob transfers at once (default 8).
    pub jobs: usize,
    /// Extra attempts for a blob whose transfer failed in a retryable way (default 3).
    pub retries: u32,
    /// Delay before the first retry, doubled each time (default 1 s).
    pub retry_delay: Duration,
    /// How layers a source serves uncompressed are compressed (default gzip, level 6).
    pub compression: Compression,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            all: true,
            format: None,
            jobs: 8,
            retries: 3,
            retry_delay: Duration::from_secs(1),
            compression: Compression::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error("cannot push as {format}: {lost} would be lost")]
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
    #[error("{0}")]
    Recompress(String),
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

/// Copies `index` with every child (read from `sources`) to `destination`; returns what was
/// done, with the digest of the index as the destination holds it.
pub async fn copy(
    env: &CopyEnv<'_>,
    index: &Index,
    sources: &Sources,
    destination: &ImageRef,
    options: &PushOptions,
    progress: Arc<dyn Observer>,
) -> Result<PushReport, PushError> {
    // Borrowed by the manifest writers below; cloned into each blob transfer.
    let progress = &progress;
    let transports = env.transports;
    let mut index = index.clone();
    let format = match options.format {
        Some(format) => {
            if let Some(lost) = index.loss_in(format) {
                return Err(PushError::Lossy {
                    format: match format {
                        ListFormat::Oci => "an OCI index (--format oci)",
                        ListFormat::Docker => "a Docker manifest list (--format v2s2)",
                    },
                    lost,
                });
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
        let mut plan = plan_children(env, sources, &mut index, options, &dest).await?;
        report.images_present = plan.present;
        let images = (plan.manifests.len() + plan.recompressed.len()) as u64;
        let jobs = plan.blobs.len() + plan.compress.len();
        progress.set_totals(
            images,
            jobs as u64,
            plan.blobs.values().map(|b| b.descriptor.size).sum::<u64>()
                + plan.compress.values().map(|c| c.source_size()).sum::<u64>(),
        );
        progress.line(&format!(
            "Copying {images} images with {jobs} blobs in list"
        ));
        let cache = LayerCache::new(env.store.root());
        let blob_jobs = stream::iter(plan.blobs.into_values())
            .map(|job| copy_blob(job, dest.clone(), options, progress.clone()).boxed());
        let compress_jobs = stream::iter(plan.compress.into_values()).map(|job| {
            recompress::send_layer(job, dest.clone(), &cache, options, progress.clone()).boxed()
        });
        let outcomes: Vec<(BlobOutcome, Option<(Digest, Descriptor)>)> =
            stream::select(blob_jobs, compress_jobs)
                .buffer_unordered(options.jobs.max(1))
                .try_collect()
                .await?;
        let mut compressed = HashMap::new();
        for (outcome, layer) in outcomes {
            if let Some((uncompressed, descriptor)) = layer {
                compressed.insert(uncompressed, descriptor);
            }
            match outcome {
                BlobOutcome::Present => report.blobs_present += 1,
                BlobOutcome::Mounted => report.blobs_mounted += 1,
                BlobOutcome::Copied(bytes) => {
                    report.blobs_copied += 1;
                    report.bytes_copied += bytes;
                }
            }
        }
        for child in std::mem::take(&mut plan.recompressed) {
            let rewritten = child.rewrite(&compressed, &options.compression, options.format)?;
            let entry = &mut index.manifests[child.position];
            progress.note(&format!(
                "Rewrote manifest {} with compressed layers as {}",
                entry.digest, rewritten.digest
            ));
            entry.media_type = rewritten.media_type.clone();
            entry.digest = rewritten.digest.clone();
            entry.size = rewritten.bytes.len() as u64;
            plan.manifests.push(rewritten);
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
    dest.manifest_put(&dest_ref, &manifest)
        .await
        .map_err(|source| PushError::Transport {
            context: format!("writing the manifest list to {}", dest.describe()),
            source,
        })?;
    report.digest = Some(manifest.digest);
    Ok(report)
}

struct Plan {
    manifests: Vec<RawManifest>,
    blobs: HashMap<Digest, BlobJob>,
    /// Layers to compress while sending, by uncompressed digest (each once).
    compress: HashMap<Digest, CompressJob>,
    /// Children whose manifests are rewritten once their layers are compressed.
    recompressed: Vec<Recompressed>,
    /// Children the destination already holds (with everything they reference).
    present: u64,
}

/// Reads every child manifest (from the store's cache or its source), converts it when asked,
/// and gathers the blobs to copy, each digest once.
async fn plan_children(
    env: &CopyEnv<'_>,
    sources: &Sources,
    index: &mut Index,
    options: &PushOptions,
    dest: &Arc<dyn Transport>,
) -> Result<Plan, PushError> {
    let (format, jobs) = (options.format, options.jobs);
    // Read (and convert) every child and ask the destination whether it has it, `jobs` at once.
    let mut prepared: Vec<(usize, Arc<dyn Transport>, RawManifest, bool)> =
        stream::iter(index.manifests.iter().enumerate())
            .map(|(position, entry)| async move {
                let (source, raw) = read_child(env, sources, entry, format).await?;
                // A child that will be rewritten has no known digest at the destination yet.
                let present = !source.serves_uncompressed_layers()
                    && dest.manifest_exists(&raw.digest).await.map_err(|source| {
                        PushError::Transport {
                            context: format!("checking manifest {} at the destination", raw.digest),
                            source,
                        }
                    })?;
                Ok::<_, PushError>((position, source, raw, present))
            })
            .buffer_unordered(jobs.max(1))
            .try_collect()
            .await?;
    prepared.sort_by_key(|(position, ..)| *position);

    let mut plan = Plan {
        manifests: Vec::new(),
        blobs: HashMap::new(),
        compress: HashMap::new(),
        recompressed: Vec::new(),
        present: 0,
    };
    let mut seen_manifests = HashSet::new();
    for (position, source, raw, present) in prepared {
        let entry = &mut index.manifests[position];
        if source.serves_uncompressed_layers() && !oci::is_index_type(&raw.media_type) {
            let child = Recompressed::plan(env.store, &source, raw, position).await?;
            child.check(&options.compression, format)?;
            for blob in child.jobs(&source) {
                match blob {
                    ChildBlob::Compress(job) => {
                        plan.compress
                            .entry(job.uncompressed().clone())
                            .or_insert(job);
                    }
                    ChildBlob::Plain(descriptor) => {
                        plan.blobs
                            .entry(descriptor.digest.clone())
                            .or_insert_with(|| BlobJob {
                                descriptor,
                                source: source.clone(),
                            });
                    }
                }
            }
            plan.recompressed.push(child);
            continue;
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
        gather(env.store, &source, raw, &mut plan, &mut seen_manifests).await?;
    }
    Ok(plan)
}

/// One entry's manifest, read from the store's cache or its recorded source, converted to
/// `format` when asked (except children that are rewritten later, converted then), and the
/// transport its blobs can be read from.
async fn read_child(
    env: &CopyEnv<'_>,
    sources: &Sources,
    entry: &Descriptor,
    format: Option<ListFormat>,
) -> Result<(Arc<dyn Transport>, RawManifest), PushError> {
    let image = sources
        .get(&entry.digest)
        .ok_or_else(|| PushError::NoSource {
            digest: entry.digest.clone(),
        })?;
    let (source, _) =
        env.transports
            .open_read(image)
            .await
            .map_err(|source| PushError::Transport {
                context: format!("opening the source of {} ({image})", entry.digest),
                source,
            })?;
    let raw = read_manifest(env.store, source.as_ref(), &entry.digest).await?;
    if source.serves_uncompressed_layers() {
        return Ok((source, raw));
    }
    let raw = match format.map(|f| convert_manifest(&raw, f)).transpose()? {
        Some(Some(converted)) => converted,
        _ => raw,
    };
    Ok((source, raw))
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
    progress: Arc<dyn Observer>,
) -> Result<(BlobOutcome, Option<(Digest, Descriptor)>), PushError> {
    copy_plain_blob(job, dest, options, progress)
        .await
        .map(|outcome| (outcome, None))
}

async fn copy_plain_blob(
    job: BlobJob,
    dest: Arc<dyn Transport>,
    options: &PushOptions,
    progress: Arc<dyn Observer>,
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
    let (result, attempts) = with_retries(options, || async {
        let stream = job.source.blob_get(descriptor).await?;
        let checked = if dest.checks_uploaded_digests() {
            size_checked(counted(stream, &progress), descriptor)
        } else {
            verified(counted(stream, &progress), descriptor)
        };
        dest.blob_put(descriptor, checked).await
    })
    .await;
    match result {
        Ok(()) => {
            progress.blob_done();
            Ok(BlobOutcome::Copied(descriptor.size))
        }
        Err(source) => Err(PushError::Transport {
            context: format!(
                "copying blob {} from {} ({})",
                descriptor.digest,
                job.source.describe(),
                gave_up(attempts)
            ),
            source,
        }),
    }
}

/// Runs `attempt` until it succeeds, fails in a way another try cannot fix, or the extra
/// tries `options.retries` allows are used up; streams are restarted from their source.
/// Returns the last result and how many attempts were made.
async fn with_retries<T, F, Fut>(
    options: &PushOptions,
    mut attempt: F,
) -> (Result<T, TransportError>, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TransportError>>,
{
    let mut made = 0;
    loop {
        made += 1;
        match attempt().await {
            Err(e) if e.is_retryable() && made <= options.retries => {
                tokio::time::sleep(backoff(options.retry_delay, made - 1, e.retry_after())).await;
            }
            result => return (result, made),
        }
    }
}

/// `gave up after N attempts`, for errors after [`with_retries`].
fn gave_up(attempts: u32) -> String {
    format!(
        "gave up after {attempts} attempt{}",
        if attempts == 1 { "" } else { "s" }
    )
}

/// The stream, counting its bytes into the observer as they pass.
fn counted(stream: BlobStream, progress: &Arc<dyn Observer>) -> BlobStream {
    let counter = progress.clone();
    Box::pin(stream.inspect(move |chunk| {
        if let Ok(bytes) = chunk {
            counter.add_bytes(bytes.len() as u64);
        }
    }))
}
