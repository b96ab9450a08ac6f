//! Blob uploads: `POST /v2/<repo>/blobs/uploads/`, one streamed `PATCH` with the body, then
//! `PUT <location>?digest=…` — the sequence every registry accepts (a monolithic PUT with the
//! body is refused by some, e.g. Artifactory).
//!
//! Each `Location` is resolved against the URL that answered (registries send relative ones,
//! and an upload may be redirected to another host); every request goes through the session,
//! so credentials go only to the registry's own origin. The body is hashed while it is sent
//! when its digest is not known beforehand (a layer compressed on the fly), so that it is read
//! once.

use super::error::{is_throttle_or_server_error, Op};
use super::exists::exists;
use super::session::{Access, Session};
use super::wire::{content_digest, Request};
use crate::model::digest::Digest;
use crate::transport::{BlobStream, TransportError};
use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};
use sha2::{Digest as _, Sha256};
use std::sync::{Arc, Mutex};

/// What the body's digest is: known and checked by the registry, or computed while sending.
pub(super) enum Expect<'a> {
    Known { digest: &'a Digest, size: u64 },
    Compute,
}

/// Sends `body` as a new blob of the session's repository (`uploads` is its
/// `…/blobs/uploads/` URL); returns the digest and size stored.
pub(super) async fn upload(
    session: &Session,
    uploads: &Url,
    body: BlobStream,
    expect: Expect<'_>,
) -> Result<(Digest, u64), TransportError> {
    let what = match &expect {
        Expect::Known { digest, .. } => format!("blob {digest}"),
        Expect::Compute => "a new blob".to_string(),
    };
    let location = start(session, uploads, &what).await?.location;
    let hashed = Arc::new(Mutex::new(Hashed::default()));
    let body = hashing(body, hashed.clone(), matches!(expect, Expect::Compute));
    let location = match patch(session, &location, body, &expect, &what).await {
        Ok(location) => location,
        // The body failed (a local layer that turned out wrong, a source that broke) or the
        // registry refused it: what it holds of this upload is freed now rather than at its
        // cleanup. Not when the registry cannot be reached: the DELETE would only wait too.
        Err(error) if !matches!(error, TransportError::Network { .. }) => {
            cancel(session, &location).await;
            return Err(error);
        }
        Err(error) => return Err(error),
    };
    let (digest, size) = {
        let mut hashed = hashed.lock().unwrap_or_else(|p| p.into_inner());
        match expect {
            Expect::Known { digest, size } => (digest.clone(), size),
            Expect::Compute => match hashed.digest.take() {
                Some(digest) => (digest, hashed.size),
                None => {
                    return Err(TransportError::Invalid(format!(
                        "{what}: the upload ended before its body did"
                    )))
                }
            },
        }
    };
    finish(session, uploads, &location, &digest, &what).await?;
    Ok((digest, size))
}

/// An upload session the registry opened.
pub(super) struct Started {
    pub(super) location: Url,
    /// What its `OCI-Chunk-Min-Length` says.
    pub(super) min_chunk: ChunkMinimum,
}

/// The smallest chunk a registry takes but the last (`OCI-Chunk-Min-Length` on its answer to
/// the POST), as far as the header can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ChunkMinimum {
    /// No header: any size.
    Any,
    AtLeast(u64),
    /// A header that is not a number of bytes (the text, for the `--debug` note).
    Unreadable(String),
}

impl ChunkMinimum {
    fn from_headers(headers: &HeaderMap) -> ChunkMinimum {
        let Some(value) = headers.get("oci-chunk-min-length") else {
            return ChunkMinimum::Any;
        };
        let text = String::from_utf8_lossy(value.as_bytes()).trim().to_string();
        match text.parse::<u64>() {
            Ok(size) => ChunkMinimum::AtLeast(size),
            Err(_) => ChunkMinimum::Unreadable(super::error::clip(&text, 40)),
        }
    }
}

/// `POST …/blobs/uploads/` → the upload's location. A POST that fails is explained when the
/// repository is missing (see [`explain_refused_upload`]).
pub(super) async fn start(
    session: &Session,
    uploads: &Url,
    what: &str,
) -> Result<Started, TransportError> {
    let op = Op {
        method: "POST",
        what,
        read: false,
    };
    let started = session
        .host()
        .policy
        .run(|| async {
            // Some registries need an explicit `Content-Length: 0` on the POST.
            let request = Request::new(Method::POST, uploads).header(CONTENT_LENGTH, 0u64);
            let response = session.send(Access::Push, op, request).await?;
            if response.status() != StatusCode::ACCEPTED && !response.status().is_success() {
                return Err(session.refusal(response, op).await);
            }
            Ok(Started {
                location: next_location(&response, op)?,
                min_chunk: ChunkMinimum::from_headers(response.headers()),
            })
        })
        .await;
    match started {
        Ok(started) => Ok(started),
        Err(e) => Err(explain_refused_upload(session, uploads, e).await),
    }
}

/// An upload that could not even start, explained when the repository is missing: Amazon ECR
/// cuts the connection of a POST to a repository that was not created (after every retry the
/// user would read only "connection closed"), and others answer 404 `NAME_UNKNOWN`. One
/// `GET …/tags/list` tells: 404 there means no such repository.
async fn explain_refused_upload(
    session: &Session,
    uploads: &Url,
    error: TransportError,
) -> TransportError {
    let suspicious =
        matches!(error, TransportError::Network { .. }) || error.has_code("NAME_UNKNOWN");
    if !suspicious {
        return error;
    }
    let Ok(tags) = uploads.join("../../tags/list") else {
        return error;
    };
    let op = Op {
        method: "GET",
        what: "the repository's tags",
        read: false,
    };
    match session
        .send(Access::Push, op, Request::new(Method::GET, &tags))
        .await
    {
        Ok(response) if response.status() == StatusCode::NOT_FOUND => {
            let answer = session.refusal(response, op).await;
            TransportError::NoRepository {
                location: session.errors().location.clone(),
                detail: format!("{answer}; the upload failed with: {error}"),
            }
        }
        _ => error,
    }
}

/// The `Location` of an upload answer, resolved against the URL that answered.
pub(super) fn next_location(response: &Response, op: Op<'_>) -> Result<Url, TransportError> {
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            TransportError::Invalid(format!(
                "{} {}: the registry answered {} without an upload Location",
                op.method,
                super::error::shown_url(response.url()),
                response.status().as_u16()
            ))
        })?;
    response.url().join(location).map_err(|e| {
        TransportError::Invalid(format!(
            "{} {}: the upload Location is not a URL: {e}",
            op.method,
            super::error::shown_url(response.url())
        ))
    })
}

/// One streamed `PATCH` with the whole body → the location for the final `PUT`. A known size
/// goes as `Content-Length` only: with a `Content-Range` too, registries take the PATCH for one
/// chunk of a chunked upload, and GHCR refuses chunks over 4 MiB (containers/image sends the
/// same).
async fn patch(
    session: &Session,
    location: &Url,
    body: BlobStream,
    expect: &Expect<'_>,
    what: &str,
) -> Result<Url, TransportError> {
    let op = Op {
        method: "PATCH",
        what,
        read: false,
    };
    let mut request = Request::new(Method::PATCH, location)
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )
        .stream(body);
    if let Expect::Known { size, .. } = expect {
        request = request.header(CONTENT_LENGTH, *size);
    }
    let response = session.send(Access::Push, op, request).await?;
    // 202 by the spec; ECR answers 201, some 204.
    if !response.status().is_success() {
        return Err(session.refusal(response, op).await);
    }
    next_location(&response, op)
}

/// `PUT <location>?digest=…` with an empty body: the registry checks the digest and commits.
///
/// A commit whose answer was lost (GHCR takes 5–11 s to commit a big blob, and its front end
/// answers 504 meanwhile; a dropped connection does the same) is sent again, and then finds
/// `BLOB_UPLOAD_UNKNOWN` (the session is gone: committed) or `BLOB_UNKNOWN` (lost). Either way
/// the blob is looked for (`HEAD`, as jib does since GoogleContainerTools/jib#4301): there, the
/// upload is done; absent, it starts again from its source ([`TransportError::StartAgain`]).
pub(super) async fn finish(
    session: &Session,
    uploads: &Url,
    location: &Url,
    digest: &Digest,
    what: &str,
) -> Result<(), TransportError> {
    let op = Op {
        method: "PUT",
        what,
        read: false,
    };
    let mut url = location.clone();
    url.query_pairs_mut().append_pair("digest", digest.as_str());
    let response = session
        .host()
        .policy
        .run(|| async {
            let request = Request::new(Method::PUT, &url).header(CONTENT_LENGTH, 0u64);
            let response = session.send(Access::Push, op, request).await?;
            if is_throttle_or_server_error(response.status()) {
                return Err(session.refusal(response, op).await);
            }
            Ok(response)
        })
        .await?;
    // The spec says 201; registries answer 200, 202 or 204 too, and the blob is stored.
    if response.status().is_success() {
        return check_stored(response.headers(), digest, what, session);
    }
    let error = session.refusal(response, op).await;
    if error.has_code("DIGEST_INVALID") {
        return Err(TransportError::RejectedDigest {
            what: what.to_string(),
            detail: error.to_string(),
        });
    }
    if !(error.has_code("BLOB_UPLOAD_UNKNOWN") || error.has_code("BLOB_UNKNOWN")) {
        return Err(error);
    }
    let Ok(blob) = uploads.join(&format!("../{digest}")) else {
        return Err(error);
    };
    match exists(session, &blob, what, None).await {
        Ok(true) => {
            session.note(&format!(
                "{what}: the registry no longer knows the upload ({error}); the blob is there, \
                 so its commit went through"
            ));
            Ok(())
        }
        Ok(false) => Err(TransportError::StartAgain {
            context: format!("committing {what}"),
            detail: format!("the registry lost the upload ({error}); uploading it again"),
        }),
        Err(_) => Err(error),
    }
}

/// Cancels the upload session at `location` (`DELETE`, best effort), so that the registry
/// need not keep what was sent until its cleanup; only on the registry itself: a DELETE
/// elsewhere is not ours to send.
pub(super) async fn cancel(session: &Session, location: &Url) {
    if !session.is_registry_origin(location) {
        return;
    }
    let op = Op {
        method: "DELETE",
        what: "an upload session",
        read: false,
    };
    let _ = session
        .send(Access::Push, op, Request::new(Method::DELETE, location))
        .await;
}

/// The registry names what it stored; with the same algorithm it must be our digest.
fn check_stored(
    headers: &HeaderMap,
    digest: &Digest,
    what: &str,
    session: &Session,
) -> Result<(), TransportError> {
    match content_digest(headers) {
        Some(stored) if stored.algorithm() == digest.algorithm() && &stored != digest => {
            Err(TransportError::DigestMismatch {
                what: format!("{what} as stored in {}", session.errors().location),
                expected: digest.clone(),
                actual: stored,
            })
        }
        _ => Ok(()),
    }
}

/// What went through a hashing body.
#[derive(Default)]
struct Hashed {
    size: u64,
    digest: Option<Digest>,
}

/// Counts (and, with `hash`, hashes) a body as it is sent; the result is set when it ends.
fn hashing(body: BlobStream, out: Arc<Mutex<Hashed>>, hash: bool) -> BlobStream {
    struct State {
        inner: BlobStream,
        hasher: Option<Sha256>,
        size: u64,
        out: Arc<Mutex<Hashed>>,
    }
    let state = State {
        inner: body,
        hasher: hash.then(Sha256::new),
        size: 0,
        out,
    };
    Box::pin(futures_util::stream::unfold(
        Some(state),
        |state| async move {
            let mut s = state?;
            match s.inner.next().await {
                Some(Ok(chunk)) => {
                    s.size += chunk.len() as u64;
                    if let Some(hasher) = s.hasher.as_mut() {
                        hasher.update(&chunk);
                    }
                    Some((Ok(chunk), Some(s)))
                }
                Some(Err(e)) => Some((Err(e), None)),
                None => {
                    let mut out = s.out.lock().unwrap_or_else(|p| p.into_inner());
                    out.size = s.size;
                    out.digest = s.hasher.take().map(Digest::from_sha256);
                    None
                }
            }
        },
    ))
}
