//! The copy engine: an index and its typed sources go to any destination through one path.
//! Every child's blobs and manifest reach the destination before the index, each digest is
//! transferred once, at most `jobs` transfers run at once across all children, and the index is
//! written last, so a failure anywhere leaves the destination tag untouched. Children whose
//! source serves only uncompressed layers (containers-storage) are compressed on the way and
//! rewritten (see [`recompress`]).

mod recompress;

use crate::compress::Compression;
use crate::convert::{convert_manifest, ConvertError, Converted};
use crate::digest::Digest;
use crate::layer_cache::LayerCache;
use crate::list::ManifestList;
use crate::oci::{self, Descriptor, ImageManifest, Index, ListFormat};
use crate::reference::{parse_image, ImageRef};
use crate::retry::{RetryPolicy, Retryable};
use crate::store::Store;
use crate::transport::open::Transports;
use crate::transport::resume::TransportSource;
use crate::transport::{verified, BlobStream, ManifestRef, RawManifest, Transport, TransportError};
use futures_util::{stream, FutureExt, StreamExt, TryStreamExt};
use recompress::{ChildBlob, CompressJob, Recompressed};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

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
    /// Let `format` drop what it cannot hold, naming each dropped field (default false: refuse).
    pub allow_lossy: bool,
    /// Blob transfers at once (default 8).
    pub jobs: usize,
    /// How a blob whose transfer failed is restarted from its source (the one retry policy).
    pub retry: RetryPolicy,
    /// How layers a source serves uncompressed are compressed (default gzip, level 6).
    pub compression: Compression,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            all: true,
            format: None,
            allow_lossy: false,
            jobs: 8,
            retry: RetryPolicy::default(),
            compression: Compression::default(),
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
        let mut plan = plan_children(env, sources, &mut index, options, &dest).await?;
        for (digest, dropped) in &plan.dropped {
            progress.note(&format!(
                "Dropping {} from {digest} (--allow-lossy)",
                dropped.join(", ")
            ));
        }
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
            let rewritten = child.rewrite(
                &compressed,
                &options.compression,
                options.format,
                options.allow_lossy,
            )?;
            if !rewritten.dropped.is_empty() {
                progress.note(&format!(
                    "Dropping {} from {} (--allow-lossy)",
                    rewritten.dropped.join(", "),
                    child.digest()
                ));
            }
            let rewritten = rewritten.manifest;
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
    /// Layers to compress while sending, by uncompressed digest (each once).
    compress: HashMap<Digest, CompressJob>,
    /// Children whose manifests are rewritten once their layers are compressed.
    recompressed: Vec<Recompressed>,
    /// Children the destination already holds (with everything they reference).
    present: u64,
    /// The fields `--allow-lossy` let the conversion drop, per child (its original digest).
    dropped: Vec<(Digest, Vec<String>)>,
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
        dropped: Vec::new(),
    };
    let mut seen_manifests = HashSet::new();
    for (position, source, child, present) in prepared {
        let entry = &mut index.manifests[position];
        let raw = child.manifest;
        if !child.dropped.is_empty() {
            plan.dropped.push((entry.digest.clone(), child.dropped));
        }
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
/// `options.format` when asked (except children that are rewritten later, converted then), and
/// the transport its blobs can be read from.
async fn read_child(
    env: &CopyEnv<'_>,
    sources: &Sources,
    entry: &Descriptor,
    options: &PushOptions,
) -> Result<(Arc<dyn Transport>, Converted), PushError> {
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
        if dest.checks_uploaded_digests() {
            // The destination verifies the digest, so it may ask for the rest of a blob whose
            // upload broke (sizes are checked on the way).
            let counter = progress.clone();
            let source = TransportSource::new(job.source.clone(), descriptor.clone(), move |s| {
                counted(s, &counter)
            });
            dest.blob_put_from(&source).await
        } else {
            let stream = job.source.blob_get(descriptor).await?;
            dest.blob_put(descriptor, verified(counted(stream, &progress), descriptor))
                .await
        }
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

/// Runs `attempt` until it succeeds, fails in a way another try cannot fix, or the retries of
/// `options.retry` are used up; streams are restarted from their source. Returns the last
/// result and how many attempts were made.
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
            Err(e) if options.retry.allows(e.retry_class(), made - 1) => {
                tokio::time::sleep(options.retry.backoff(made - 1, e.retry_after())).await;
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
