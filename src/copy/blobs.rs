//! Sending one blob as the plan decided: mounted (copied when the registry refuses the mount),
//! streamed from its source, or (a layer) compressed on its way; verified on the way, and
//! restarted from the source on a retryable failure.

use super::error::PushError;
use super::inputs::{LocalStore, Observer, PushOptions};
use super::report::BlobAction;
use super::steps::{BlobStep, CompressJob, LayerKey};
use crate::model::oci::Descriptor;
use crate::transport::resume::TransportSource;
use crate::transport::{verified, BlobStream, Transport, TransportError};
use futures_util::StreamExt;
use std::sync::Arc;

/// What moving a blob came to.
pub(super) enum BlobOutcome {
    Present,
    Mounted(u64),
    Copied(u64),
}

/// Brings one blob the plan did not find at the destination.
pub(super) async fn send_blob(
    step: BlobStep,
    dest: Arc<dyn Transport>,
    options: &PushOptions,
    progress: Arc<dyn Observer>,
) -> Result<BlobOutcome, PushError> {
    let descriptor = &step.descriptor;
    match (step.action, &step.from) {
        (BlobAction::Present, _) => return Ok(BlobOutcome::Present),
        (BlobAction::Mount, Some(from)) => {
            // Any failure is "not mounted": copying is always a correct fallback.
            if let Ok(true) = dest.blob_mount(descriptor, from).await {
                progress.blob_done();
                return Ok(BlobOutcome::Mounted(descriptor.size));
            }
        }
        _ => {}
    }
    let (result, attempts) = with_retries(options, || async {
        if dest.checks_uploaded_digests() {
            // The destination verifies the digest, so it may ask for the rest of a blob whose
            // upload broke (sizes are checked on the way).
            let counter = progress.clone();
            let source = TransportSource::new(step.source.clone(), descriptor.clone(), move |s| {
                counted(s, &counter)
            });
            dest.blob_put_from(&source).await
        } else {
            let stream = step.source.blob_get(descriptor).await?;
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
                step.source.describe(),
                gave_up(attempts)
            ),
            source,
        }),
    }
}

/// Compresses one layer on its way to the destination, which hashes it; the compressed
/// descriptor is recorded for later pushes. A retryable failure starts again from the source.
pub(super) async fn send_layer(
    job: CompressJob,
    dest: Arc<dyn Transport>,
    local: &dyn LocalStore,
    options: &PushOptions,
    progress: Arc<dyn Observer>,
) -> Result<(LayerKey, Descriptor), PushError> {
    let compression = job.compression;
    let media_type = compression
        .layer_media_type(crate::model::oci::OCI_MANIFEST)
        .expect("OCI manifests name every compression");
    let (result, attempts) = with_retries(options, || async {
        let mut stream = counted(job.source.blob_get(&job.descriptor).await?, &progress);
        if let Some(algorithm) = job.decompress {
            // The compressed bytes are checked against their digest before they are trusted.
            stream =
                crate::copy::compress::decompress(verified(stream, &job.descriptor), algorithm);
        }
        dest.blob_put_hashed(media_type, compression.compress(stream))
            .await
    })
    .await;
    match result {
        Ok(stored) => {
            local.record_compressed(&job.uncompressed, &compression, &stored);
            progress.blob_done();
            Ok((job.key(), stored))
        }
        Err(source) => Err(PushError::Transport {
            context: format!(
                "copying layer {} from {} ({})",
                job.uncompressed,
                job.source.describe(),
                gave_up(attempts)
            ),
            source,
        }),
    }
}

/// Runs `attempt` under the push's retry policy (streams are restarted from their source by
/// each attempt); the last result and how many attempts were made.
async fn with_retries<T, F, Fut>(
    options: &PushOptions,
    attempt: F,
) -> (Result<T, TransportError>, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TransportError>>,
{
    use crate::boundary::retry::Retryable;
    options
        .retry
        .run_counted(attempt, TransportError::retry_class)
        .await
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
