//! Blob uploads: `POST /v2/<repo>/blobs/uploads/`, one streamed `PATCH` with the body, then
//! `PUT <location>?digest=…` — the sequence every registry accepts (a monolithic PUT with the
//! body is refused by some, e.g. Artifactory).
//!
//! Each `Location` is resolved against the URL that answered (registries send relative ones,
//! and an upload may be redirected to another host); credentials go only to the registry's
//! own origin (see `session`). The body is hashed while it is sent when its digest is not
//! known beforehand (a layer compressed on the fly), so that it is read once.

use super::error::Op;
use super::session::{Access, Session};
use super::wire;
use crate::digest::Digest;
use crate::transport::{BlobStream, TransportError};
use futures_util::StreamExt;
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Response, StatusCode, Url};
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
    let location = match start(session, uploads, &what).await {
        Ok(started) => started.location,
        Err(e) => return Err(explain_refused_upload(session, uploads, e).await),
    };
    let hashed = Arc::new(Mutex::new(Hashed::default()));
    let body = hashing(body, hashed.clone(), matches!(expect, Expect::Compute));
    let location = patch(session, &location, body, &expect, &what).await?;
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
    finish(session, &location, &digest, &what).await?;
    Ok((digest, size))
}

/// An upload session the registry opened.
pub(super) struct Started {
    pub(super) location: Url,
    /// `OCI-Chunk-Min-Length`: the smallest chunk the registry takes (but the last).
    pub(super) min_chunk: Option<u64>,
}

/// `POST …/blobs/uploads/` → the upload's location.
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
    let wire = &session.host().wire;
    // Some registries need an explicit `Content-Length: 0` on the POST.
    let build = || wire.http().post(uploads.clone()).header(CONTENT_LENGTH, 0);
    session
        .host()
        .policy
        .run(|| async {
            let response = session.send(Access::Push, op, uploads, &build).await?;
            if response.status() != StatusCode::ACCEPTED && !response.status().is_success() {
                return Err(session.errors().response(response, op).await);
            }
            let min_chunk = response
                .headers()
                .get("oci-chunk-min-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            Ok(Started {
                location: next_location(&response, op)?,
                min_chunk,
            })
        })
        .await
}

/// An upload that could not even start, explained when the repository is missing: Amazon ECR
/// cuts the connection of a POST to a repository that was not created (after every retry the
/// user would read only "connection closed"), and others answer 404 `NAME_UNKNOWN`. One
/// `GET …/tags/list` tells: 404 there means no such repository.
pub(super) async fn explain_refused_upload(
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
    let build = || session.host().wire.http().get(tags.clone());
    match session.send(Access::Push, op, &tags, &build).await {
        Ok(response) if response.status() == StatusCode::NOT_FOUND => {
            let answer = session.errors().response(response, op).await;
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
                wire::shown_url(response.url()),
                response.status().as_u16()
            ))
        })?;
    response.url().join(location).map_err(|e| {
        TransportError::Invalid(format!(
            "{} {}: the upload Location is not a URL: {e}",
            op.method,
            wire::shown_url(response.url())
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
    let wire = &session.host().wire;
    let (credentials, _) = session.credentials(Access::Push).await?;
    let mut request = wire
        .http()
        .patch(location.clone())
        .header(CONTENT_TYPE, "application/octet-stream");
    if let Expect::Known { size, .. } = expect {
        request = request.header(CONTENT_LENGTH, *size);
    }
    let request = session.authorize(request, location, &credentials);
    let response = wire
        .send_streaming(request, body)
        .await
        .map_err(|e| session.errors().wire(e, op, location))?;
    // 202 by the spec; ECR answers 201, some 204.
    if !response.status().is_success() {
        return Err(session.errors().response(response, op).await);
    }
    next_location(&response, op)
}

/// `PUT <location>?digest=…` with an empty body: the registry checks the digest and commits.
pub(super) async fn finish(
    session: &Session,
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
    let wire = &session.host().wire;
    let build = || wire.http().put(url.clone()).header(CONTENT_LENGTH, 0);
    let response = session
        .host()
        .policy
        .run(|| async {
            let response = session.send(Access::Push, op, &url, &build).await?;
            if super::error::is_throttle_or_server_error(response.status()) {
                return Err(session.errors().response(response, op).await);
            }
            Ok(response)
        })
        .await?;
    // The spec says 201; registries answer 200, 202 or 204 too, and the blob is stored.
    if response.status().is_success() {
        return check_stored(response.headers(), digest, what, session);
    }
    let error = session.errors().response(response, op).await;
    if error.has_code("DIGEST_INVALID") {
        return Err(TransportError::RejectedDigest {
            what: what.to_string(),
            detail: error.to_string(),
        });
    }
    Err(error)
}

/// The registry names what it stored; with the same algorithm it must be our digest.
fn check_stored(
    headers: &HeaderMap,
    digest: &Digest,
    what: &str,
    session: &Session,
) -> Result<(), TransportError> {
    match super::content_digest(headers) {
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
