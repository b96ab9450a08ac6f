//! Resumable uploads of big blobs: the blob goes in chunks (`PATCH` with `Content-Range`), each
//! acknowledged with the session's next `Location`; when a chunk breaks, the registry is asked
//! how much of the session it holds (`GET` on the last location, its `Range`), the source is
//! reopened at that offset, and the upload goes on from there. A drop near the end of a 4 GiB
//! layer then costs at most one chunk again, not the layer.
//!
//! Where that is not possible the upload starts over, and `--debug` says why: a registry that
//! lost the session (distribution 2.8 cancels a session whose PATCH broke part-way, unless a
//! request-buffering proxy such as nginx's default kept the partial chunk from it), or one that
//! refuses chunks (GHCR above 4 MiB); such a host gets single streamed PATCHes from then on.
//! The digest is verified once, by the registry, when the upload is finished.

use super::error::Op;
use super::session::{Access, Session};
use super::upload::{self, Expect};
use crate::retry::Retryable;
use crate::transport::resume::BlobSource;
use crate::transport::{BlobStream, TransportError};
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use std::sync::Arc;
use tokio::sync::Mutex;

/// Sends `source`'s blob to the session's repository, resuming after breaks where the registry
/// allows it. Blobs no larger than one chunk (and every blob to a host that refused chunks) go
/// in one streamed PATCH.
pub(super) async fn upload_from(
    session: &Session,
    uploads: &Url,
    source: &dyn BlobSource,
    chunk_size: u64,
) -> Result<(), TransportError> {
    let descriptor = source.descriptor();
    let known = Expect::Known {
        digest: &descriptor.digest,
        size: descriptor.size,
    };
    if descriptor.size <= chunk_size || session.host().refuses_chunks() {
        let body = source.open(0).await?;
        return upload::upload(session, uploads, body, known)
            .await
            .map(|_| ());
    }
    let what = format!("blob {}", descriptor.digest);
    let policy = session.host().policy;
    let mut failures: u32 = 0;
    loop {
        let started = match upload::start(session, uploads, &what).await {
            Ok(started) => started,
            Err(e) => return Err(upload::explain_refused_upload(session, uploads, e).await),
        };
        let chunk = chunk_size.max(started.min_chunk.unwrap_or(0));
        let mut location = started.location;
        let mut offset = 0;
        let mut reader = ChunkReader::new(source.open(0).await?);
        let lost = loop {
            if offset == descriptor.size {
                return upload::finish(session, &location, &descriptor.digest, &what).await;
            }
            let end = (offset + chunk).min(descriptor.size);
            let failure = match patch_chunk(
                session,
                &location,
                reader.take(end - offset),
                offset,
                end,
                &what,
            )
            .await
            {
                Ok(next) => {
                    location = next;
                    offset = end;
                    continue;
                }
                Err(ChunkFailure::Refused(e)) if offset == 0 => {
                    session.host().wire.note(&format!(
                        "{what}: the registry refuses chunks ({e}); sending it and every later \
                         blob to this registry in one streamed PATCH"
                    ));
                    session.host().refuse_chunks();
                    let body = source.open(0).await?;
                    return upload::upload(session, uploads, body, known)
                        .await
                        .map(|_| ());
                }
                Err(ChunkFailure::Refused(e) | ChunkFailure::Broken(e)) => e,
            };
            if !policy.allows(failure.retry_class(), failures) {
                return Err(failure.gave_up(failures + 1));
            }
            tokio::time::sleep(policy.backoff(failures, failure.retry_after())).await;
            failures += 1;
            match held_by_registry(session, &location).await {
                Some(held) if held <= descriptor.size => {
                    session.host().wire.note(&format!(
                        "{what}: chunk {offset}-{} broke ({failure}); the registry holds {held} \
                         bytes, resuming there",
                        end - 1
                    ));
                    offset = held;
                    reader = ChunkReader::new(source.open(offset).await?);
                }
                _ => break failure,
            }
        };
        session.host().wire.note(&format!(
            "{what}: the registry no longer has the upload session ({lost}); starting again"
        ));
    }
}

/// Why a chunk did not go through.
enum ChunkFailure {
    /// The registry will not take chunks like this (a size it refuses, a range it does not
    /// understand): send the blob another way.
    Refused(TransportError),
    /// The connection broke, timed out, or the registry failed: resume.
    Broken(TransportError),
}

/// `PATCH <location>` with `Content-Range: start-end` (bare, as ACR requires) and a matching
/// `Content-Length` (as zot requires) → the session's next location.
async fn patch_chunk(
    session: &Session,
    location: &Url,
    body: BlobStream,
    start: u64,
    end: u64,
    what: &str,
) -> Result<Url, ChunkFailure> {
    let op = Op {
        method: "PATCH",
        what,
        read: false,
    };
    let wire = &session.host().wire;
    let (credentials, _) = session
        .credentials(Access::Push)
        .await
        .map_err(ChunkFailure::Broken)?;
    let request = wire
        .http()
        .patch(location.clone())
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, end - start)
        .header("Content-Range", format!("{start}-{}", end - 1));
    let request = session.authorize(request, location, &credentials);
    let response = wire
        .send_streaming(request, body)
        .await
        .map_err(|e| ChunkFailure::Broken(session.errors().wire(e, op, location)))?;
    let status = response.status();
    if status.is_success() {
        // 202 by the spec; ECR answers 201.
        return upload::next_location(&response, op).map_err(ChunkFailure::Broken);
    }
    let refused_size = matches!(
        status,
        StatusCode::RANGE_NOT_SATISFIABLE | StatusCode::PAYLOAD_TOO_LARGE
    );
    let error = session.errors().response(response, op).await;
    if refused_size || error.has_code("BLOB_UPLOAD_INVALID") || error.has_code("SIZE_INVALID") {
        Err(ChunkFailure::Refused(error))
    } else {
        Err(ChunkFailure::Broken(error))
    }
}

/// How many bytes of the upload session at `location` the registry holds (`GET`, `Range:
/// 0-LAST`); `None` when it no longer knows the session.
async fn held_by_registry(session: &Session, location: &Url) -> Option<u64> {
    let op = Op {
        method: "GET",
        what: "the upload's status",
        read: false,
    };
    let build = || session.host().wire.http().get(location.clone());
    let response = session
        .send(Access::Push, op, location, &build)
        .await
        .ok()?;
    if response.status() != StatusCode::NO_CONTENT && !response.status().is_success() {
        return None;
    }
    let range = response.headers().get("range")?.to_str().ok()?;
    parse_held(range)
}

/// `0-LAST` (distribution also writes `0-0` for an empty session) → bytes held.
fn parse_held(range: &str) -> Option<u64> {
    let range = range.trim().trim_start_matches("bytes=");
    let (first, last) = range.split_once('-')?;
    if first.trim() != "0" {
        return None;
    }
    let last: u64 = last.trim().parse().ok()?;
    Some(if last == 0 { 0 } else { last + 1 })
}

/// Hands out consecutive pieces of one stream as request bodies of exact lengths.
struct ChunkReader {
    inner: Arc<Mutex<Pieces>>,
}

struct Pieces {
    stream: BlobStream,
    leftover: Option<Bytes>,
}

impl ChunkReader {
    fn new(stream: BlobStream) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Pieces {
                stream,
                leftover: None,
            })),
        }
    }

    /// The next `len` bytes of the stream, as a stream of their own.
    fn take(&mut self, len: u64) -> BlobStream {
        let inner = self.inner.clone();
        Box::pin(futures_util::stream::unfold(
            (inner, len),
            |(inner, left)| async move {
                if left == 0 {
                    return None;
                }
                let mut pieces = inner.lock().await;
                let chunk = match pieces.leftover.take() {
                    Some(chunk) => chunk,
                    None => match pieces.stream.next().await {
                        Some(Ok(chunk)) => chunk,
                        Some(Err(e)) => {
                            drop(pieces);
                            return Some((Err(e), (inner, 0)));
                        }
                        None => {
                            drop(pieces);
                            let short = TransportError::Invalid(format!(
                                "the blob's source ended {left} bytes early"
                            ));
                            return Some((Err(short), (inner, 0)));
                        }
                    },
                };
                let (now, later) = if chunk.len() as u64 > left {
                    let at = left as usize;
                    (chunk.slice(..at), Some(chunk.slice(at..)))
                } else {
                    (chunk, None)
                };
                pieces.leftover = later;
                drop(pieces);
                let rest = left - now.len() as u64;
                Some((Ok(now), (inner, rest)))
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_registry_holds() {
        assert_eq!(parse_held("0-0"), Some(0));
        assert_eq!(parse_held("0-1048575"), Some(1 << 20));
        assert_eq!(parse_held("bytes=0-9"), Some(10));
        assert_eq!(parse_held("5-9"), None);
        assert_eq!(parse_held("junk"), None);
    }

    #[tokio::test]
    async fn chunks_are_cut_at_exact_lengths_across_pieces() {
        let pieces: Vec<Result<Bytes, TransportError>> = [b"abcde".as_slice(), b"fg", b"hijklmn"]
            .iter()
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect();
        let mut reader = ChunkReader::new(Box::pin(futures_util::stream::iter(pieces)));
        let mut got = Vec::new();
        for len in [3, 4, 0, 7] {
            let mut chunk = Vec::new();
            let mut stream = reader.take(len);
            while let Some(piece) = stream.next().await {
                chunk.extend_from_slice(&piece.unwrap());
            }
            assert_eq!(chunk.len() as u64, len);
            got.extend(chunk);
        }
        assert_eq!(got, b"abcdefghijklmn");
        let mut over = reader.take(1);
        assert!(over.next().await.unwrap().is_err());
    }
}
