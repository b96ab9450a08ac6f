//! `verify --deep`: every layer of every image streamed once (each digest once, `jobs` at
//! once, hashed on the way), and every executable in it checked against its image's platform.
//! A file a higher layer of the same image deletes (a whiteout) or replaces is not in the
//! image and does not count: when a lower layer has files of another machine, the layers above
//! it are read a second time for those paths only, so the usual case (nothing wrong) reads each
//! layer once and memory stays flat.

mod layer;
mod machine;
mod whiteout;

use super::report::Report;
use super::structure::Image;
use super::{Problem, ProblemKind, VerifyError};
use crate::copy::Observer;
use crate::model::digest::Digest;
use crate::model::oci::Descriptor;
use crate::model::platform::oci_arch;
use crate::transport::{verified, Transport, TransportError};
use futures_util::{stream, StreamExt, TryStreamExt};
use layer::{walk, Look, WalkError, Walked};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A layer to read, where from, and the platforms of the images that have it.
struct LayerJob {
    descriptor: Descriptor,
    transport: Arc<dyn Transport>,
    platforms: Vec<(String, String)>,
}

/// What reading one layer gave: what it holds, or the fault of its content.
type LayerOutcome = Result<Walked, (ProblemKind, String)>;

/// An executable of another machine in one layer of an image.
struct Finding {
    layer: usize,
    path: String,
    machine: String,
}

/// Reads every layer of `images` and adds what it finds to `report`.
pub(super) async fn check(
    images: &[Image],
    jobs: usize,
    progress: Arc<dyn Observer>,
    report: &mut Report,
) -> Result<(), VerifyError> {
    let mut layers: Vec<LayerJob> = Vec::new();
    let mut at: HashMap<Digest, usize> = HashMap::new();
    for image in images {
        let platform = judged_platform(image);
        for descriptor in &image.layers {
            let n = *at.entry(descriptor.digest.clone()).or_insert_with(|| {
                layers.push(LayerJob {
                    descriptor: descriptor.clone(),
                    transport: image.transport.clone(),
                    platforms: Vec::new(),
                });
                layers.len() - 1
            });
            if let Some(platform) = &platform {
                if !layers[n].platforms.contains(platform) {
                    layers[n].platforms.push(platform.clone());
                }
            }
        }
    }
    progress.set_totals(
        images.len() as u64,
        layers.len() as u64,
        layers.iter().map(|l| l.descriptor.size).sum(),
    );
    let walked: Vec<(Digest, LayerOutcome)> = stream::iter(layers)
        .map(|job| {
            let progress = progress.clone();
            async move {
                let platforms = job.platforms.clone();
                let result = read_layer(
                    &job,
                    Some(progress.clone()),
                    move |stream, handle, progress| {
                        walk(stream, handle, Look::Executables(&platforms), progress)
                    },
                )
                .await;
                progress.blob_done();
                Ok::<_, VerifyError>((job.descriptor.digest.clone(), result?))
            }
        })
        .buffer_unordered(jobs.max(1))
        .try_collect()
        .await?;
    let walked: HashMap<Digest, LayerOutcome> = walked.into_iter().collect();
    for w in walked.values().flatten() {
        report.checked.layers += 1;
        report.checked.bytes += w.bytes;
        report.checked.executables += w.executables;
    }
    for image in images {
        let label = image.platform.as_ref().map(|p| p.display());
        let problem = |kind, detail: String| {
            Problem::new(kind, Some(&image.digest), label.as_deref(), detail)
        };
        let mut findings = Vec::new();
        for (n, layer) in image.layers.iter().enumerate() {
            match &walked[&layer.digest] {
                Err((kind, detail)) => report.problems.push(
                    problem(*kind, format!("layer {}: {detail}", layer.digest))
                        .with_blob(&layer.digest),
                ),
                Ok(w) => {
                    let Some((os, arch)) = judged_platform(image) else {
                        continue;
                    };
                    for (path, found) in &w.findings {
                        if machine::fits(found, &os, &arch) == Some(false) {
                            findings.push(Finding {
                                layer: n,
                                path: path.clone(),
                                machine: found.text.clone(),
                            });
                        }
                    }
                    if w.more > 0 {
                        report.problems.push(
                            problem(
                                ProblemKind::BinaryPlatformMismatch,
                                format!(
                                    "layer {} has {} more executables of other machines than the {} listed",
                                    layer.digest,
                                    w.more,
                                    layer::MAX_FINDINGS
                                ),
                            )
                            .with_blob(&layer.digest),
                        );
                    }
                }
            }
        }
        let findings = still_there(image, findings, jobs).await?;
        for finding in findings {
            let layer = &image.layers[finding.layer].digest;
            let mut found = problem(
                ProblemKind::BinaryPlatformMismatch,
                format!(
                    "/{} in layer {layer} is {}, not for {}",
                    finding.path,
                    finding.machine,
                    label.as_deref().unwrap_or("the image's platform")
                ),
            )
            .with_blob(layer);
            found.path = Some(format!("/{}", finding.path));
            found.machine = Some(finding.machine);
            report.problems.push(found);
        }
    }
    Ok(())
}

/// `(os, arch)` of an image whose executables can be judged.
fn judged_platform(image: &Image) -> Option<(String, String)> {
    let platform = image.platform.as_ref()?;
    if platform.os.is_empty() || platform.architecture.is_empty() {
        return None;
    }
    Some((
        platform.os.to_ascii_lowercase(),
        oci_arch(&platform.architecture),
    ))
}

/// The findings a higher layer of the image does not delete or replace.
async fn still_there(
    image: &Image,
    mut findings: Vec<Finding>,
    jobs: usize,
) -> Result<Vec<Finding>, VerifyError> {
    let top = image.layers.len();
    let asked = |above: usize, findings: &[Finding]| -> Vec<String> {
        let mut paths: Vec<String> = findings
            .iter()
            .filter(|f| f.layer < above)
            .map(|f| f.path.clone())
            .collect();
        paths.sort();
        paths.dedup();
        paths
    };
    let higher: Vec<(usize, Vec<String>)> = (1..top)
        .map(|n| (n, asked(n, &findings)))
        .filter(|(_, paths)| !paths.is_empty())
        .collect();
    let hidden: Vec<(usize, Walked)> = stream::iter(higher)
        .map(|(n, paths)| async move {
            let job = LayerJob {
                descriptor: image.layers[n].clone(),
                transport: image.transport.clone(),
                platforms: Vec::new(),
            };
            let walked = read_layer(&job, None, move |stream, handle, progress| {
                walk(stream, handle, Look::Hides(&paths), progress)
            })
            .await?;
            // A layer that cannot be read was reported by the first pass.
            Ok::<_, VerifyError>((n, walked.unwrap_or_default()))
        })
        .buffer_unordered(jobs.max(1))
        .try_collect()
        .await?;
    let hidden: BTreeMap<usize, Walked> = hidden.into_iter().collect();
    findings.retain(|finding| {
        !hidden
            .range(finding.layer + 1..)
            .any(|(_, walked)| walked.hidden.contains(&finding.path))
    });
    Ok(findings)
}

/// Opens a layer and runs `walk` on it on a blocking thread; a fault of the content is
/// `Ok(Err(..))`, a failure to read it an error.
async fn read_layer<F>(
    job: &LayerJob,
    progress: Option<Arc<dyn Observer>>,
    look: F,
) -> Result<LayerOutcome, VerifyError>
where
    F: FnOnce(
            crate::transport::BlobStream,
            tokio::runtime::Handle,
            Option<Arc<dyn Observer>>,
        ) -> Result<Walked, WalkError>
        + Send
        + 'static,
{
    let failed = |e| {
        VerifyError::new(
            format!(
                "reading layer {} from {}",
                job.descriptor.digest,
                job.transport.describe()
            ),
            e,
        )
    };
    let stream = match job.transport.blob_get(&job.descriptor).await {
        Ok(stream) => verified(stream, &job.descriptor),
        Err(TransportError::NotFound { .. }) => {
            return Ok(Err((ProblemKind::MissingBlob, "not found".into())))
        }
        Err(e @ TransportError::Invalid(_)) => {
            return Ok(Err((ProblemKind::SizeMismatch, e.to_string())))
        }
        Err(e) => return Err(failed(e)),
    };
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || look(stream, handle, progress))
        .await
        .map_err(|e| {
            failed(TransportError::Invalid(format!(
                "the layer reader stopped: {e}"
            )))
        })?;
    match result {
        Ok(walked) => Ok(Ok(walked)),
        Err(WalkError::Fault(kind, detail)) => Ok(Err((kind, detail))),
        Err(WalkError::Transport(e)) => Err(failed(e)),
    }
}
