//! Resumable uploads of big blobs: the blob goes in chunks (`PATCH` with `Content-Range`), each
//! acknowledged with the session's next `Location`; when a chunk breaks, the registry is asked
//! how much of the session it holds (`GET` on the last location, its `Range`), the source is
//! reopened at that offset, and the upload goes on from there. A drop near the end of a 4 GiB
//! layer then costs at most one chunk again, not the layer. Breaks are retried by the one retry
//! policy, as any request.
//!
//! Where that is not possible the upload starts over another way, and `--debug` says why:
//! - the registry lost the session (distribution 2.8 cancels a session whose PATCH broke
//!   part-way, unless a request-buffering proxy such as nginx's default kept the partial chunk
//!   from it): a fresh session;
//! - the registry refuses a chunk, at any offset (Google Artifact Registry does not take
//!   chunked uploads, GHCR refuses chunks over 4 MiB, ECR parts under 5 MiB but the last): the
//!   session is cancelled, the blob goes as one streamed upload, and so does every later blob
//!   to that host;
//! - a number from the registry cannot be right (a `Range` beyond what was sent, negative or
//!   malformed; an `OCI-Chunk-Min-Length` that is not a number or exceeds the blob), or a
//!   resumed upload turns out wrong at its commit (the digest refused): the session is
//!   cancelled and the blob goes as one streamed upload, which needs no number from it.
//!
//! Offsets are checked arithmetic on the blob's own size; the digest is verified once, by the
//! registry, when the upload is finished.

use super::error::{is_throttle_or_server_error, Op};
use super::session::{Access, Session};
use super::upload::{self, ChunkMinimum, Expect};
use super::wire::Request;
use crate::boundary::retry::Retryable;
use crate::transport::resume::BlobSource;
use crate::transport::{BlobStream, TransportError};
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use std::sync::atomic::{AtomicBool, Ordering};
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
    let size = source.descriptor().size;
    if size <= chunk_size || session.host().refuses_chunks() {
        return streamed(session, uploads, source).await;
    }
    let upload = Chunked {
        session,
        uploads,
        source,
        chunk_size,
        what: format!("blob {}", source.descriptor().digest),
        state: Mutex::new(None),
        resumed: AtomicBool::new(false),
    };
    let policy = session.host().policy;
    let (result, attempts) = policy
        .run_counted(|| upload.attempt(), TransportError::retry_class)
        .await;
    match result {
        Ok(Outcome::Done) => Ok(()),
        Ok(Outcome::Stream(why)) => {
            session.note(&format!(
                "{}: {why}; sending it in one streamed PATCH",
                upload.what
            ));
            streamed(session, uploads, source).await
        }
        Err(e) if attempts > 1 => Err(e.gave_up(attempts)),
        Err(e) => Err(e),
    }
}

/// The whole blob in one streamed PATCH.
async fn streamed(
    session: &Session,
    uploads: &Url,
    source: &dyn BlobSource,
) -> Result<(), TransportError> {
    let descriptor = source.descriptor();
    let known = Expect::Known {
        digest: &descriptor.digest,
        size: descriptor.size,
    };
    let body = source.open(0).await?;
    upload::upload(session, uploads, body, known)
        .await
        .map(|_| ())
}

/// How a chunked upload ended without an error.
enum Outcome {
    Done,
    /// The blob must go another way (why, for the `--debug` note).
    Stream(String),
}

/// An upload session in progress.
struct Open {
    location: Url,
    chunk: u64,
    /// Bytes the registry acknowledged.
    offset: u64,
    /// Where the chunk that broke would have ended: the registry cannot hold more.
    sent: u64,
    /// The source, read from `offset`.
    reader: ChunkReader,
    /// A chunk broke: the next attempt asks the registry what it holds.
    broken: bool,
}

/// One chunked upload, attempted under the retry policy.
struct Chunked<'a> {
    session: &'a Session,
    uploads: &'a Url,
    source: &'a dyn BlobSource,
    chunk_size: u64,
    what: String,
    state: Mutex<Option<Open>>,
    /// A session was resumed at an offset the registry gave.
    resumed: AtomicBool,
}

impl Chunked<'_> {
    /// Goes on from where the last attempt stopped (resuming, or in a fresh session) until the
    /// blob is committed, a chunk breaks (an error: the policy decides whether to try again),
    /// or the blob must be sent another way.
    async fn attempt(&self) -> Result<Outcome, TransportError> {
        let mut state = self.state.lock().await;
        if let Some(open) = state.as_mut().filter(|open| open.broken) {
            match self.resume(open).await {
                Ok(()) => {}
                Err(Resume::Fresh(why)) => {
                    self.session
                        .note(&format!("{}: {why}; starting again", self.what));
                    upload::cancel(self.session, &open.location).await;
                    *state = None;
                }
                Err(Resume::Stream(why)) => {
                    upload::cancel(self.session, &open.location).await;
                    *state = None;
                    return Ok(Outcome::Stream(why));
                }
            }
        }
        let open = match state.as_mut() {
            Some(open) => open,
            None => match self.open().await? {
                Ok(open) => state.insert(open),
                Err(why) => return Ok(Outcome::Stream(why)),
            },
        };
        let size = self.source.descriptor().size;
        while open.offset < size {
            let end = open
                .offset
                .checked_add(open.chunk)
                .map_or(size, |end| end.min(size));
            let body = open.reader.take(end - open.offset);
            match self
                .patch_chunk(&open.location, body, open.offset, end)
                .await
            {
                Ok(next) => {
                    open.location = next;
                    open.offset = end;
                }
                Err(ChunkFailure::Refused(e)) => {
                    // One place for every registry that will not take chunks at some offset:
                    // Google Artifact Registry (no chunked uploads at all), GHCR (none over
                    // 4 MiB), ECR (none under 5 MiB but the last).
                    self.session.host().refuse_chunks();
                    upload::cancel(self.session, &open.location).await;
                    let chunk = format!("{}-{}", open.offset, end - 1);
                    *state = None;
                    return Ok(Outcome::Stream(format!(
                        "the registry refuses chunks (chunk {chunk}: {e}), and gets every later \
                         blob in one PATCH too"
                    )));
                }
                Err(ChunkFailure::Broken(e)) => {
                    open.sent = end;
                    open.broken = true;
                    return Err(e);
                }
            }
        }
        let location = open.location.clone();
        let digest = &self.source.descriptor().digest;
        let finished =
            upload::finish(self.session, self.uploads, &location, digest, &self.what).await;
        match finished {
            Ok(()) => Ok(Outcome::Done),
            // The offset the registry gave was wrong after all (distribution appends a chunk
            // wherever its session stands): no number of the registry's is needed for one
            // streamed upload, and the source is checked on the way.
            Err(TransportError::RejectedDigest { detail, .. })
                if self.resumed.load(Ordering::Relaxed) =>
            {
                *state = None;
                Ok(Outcome::Stream(format!(
                    "the registry refused the resumed upload ({detail})"
                )))
            }
            Err(e) => {
                // Whatever the commit left, the next attempt starts a fresh session.
                *state = None;
                Err(e)
            }
        }
    }

    /// A new session, its chunk size, and the source from its start; `Err` with the reason
    /// when the registry's minimum chunk cannot be honoured by chunks.
    async fn open(&self) -> Result<Result<Open, String>, TransportError> {
        let started = upload::start(self.session, self.uploads, &self.what).await?;
        let size = self.source.descriptor().size;
        let chunk = match started.min_chunk {
            ChunkMinimum::Any => self.chunk_size,
            ChunkMinimum::AtLeast(min) if min < size => self.chunk_size.max(min),
            ChunkMinimum::AtLeast(min) => {
                upload::cancel(self.session, &started.location).await;
                return Ok(Err(format!(
                    "the registry's smallest chunk (OCI-Chunk-Min-Length: {min}) is not smaller \
                     than the blob ({size} bytes)"
                )));
            }
            ChunkMinimum::Unreadable(text) => {
                upload::cancel(self.session, &started.location).await;
                return Ok(Err(format!(
                    "the registry's OCI-Chunk-Min-Length {text:?} is not a number of bytes"
                )));
            }
        };
        Ok(Ok(Open {
            location: started.location,
            chunk,
            offset: 0,
            sent: 0,
            reader: ChunkReader::new(self.source.open(0).await?),
            broken: false,
        }))
    }

    /// After a broken chunk: what the registry holds of the session, checked against what was
    /// sent, and the source reopened there.
    async fn resume(&self, open: &mut Open) -> Result<(), Resume> {
        let (range, location) = match held_by_registry(self.session, &open.location).await {
            Held::Range(range, location) => (range, location),
            Held::Unknown(why) => return Err(Resume::Fresh(why)),
        };
        let held = parse_held(&range).map_err(|why| {
            Resume::Stream(format!(
                "after a broken chunk the registry says it holds {range:?}, {why}"
            ))
        })?;
        if held > open.sent {
            return Err(Resume::Stream(format!(
                "after a broken chunk the registry says it holds {held} bytes ({range:?}), more \
                 than the {} sent",
                open.sent
            )));
        }
        self.session.note(&format!(
            "{}: chunk {}-{} broke; the registry holds {held} bytes, resuming there",
            self.what,
            open.offset,
            open.sent - 1
        ));
        let reader = self
            .source
            .open(held)
            .await
            .map_err(|e| Resume::Fresh(format!("the source cannot be reopened there ({e})")))?;
        open.reader = ChunkReader::new(reader);
        open.offset = held;
        open.broken = false;
        self.resumed.store(true, Ordering::Relaxed);
        if let Some(location) = location {
            open.location = location;
        }
        Ok(())
    }

    /// `PATCH <location>` with `Content-Range: start-end` (bare, as ACR requires) and a
    /// matching `Content-Length` (as zot requires) → the session's next location.
    async fn patch_chunk(
        &self,
        location: &Url,
        body: BlobStream,
        start: u64,
        end: u64,
    ) -> Result<Url, ChunkFailure> {
        let op = Op {
            method: "PATCH",
            what: &self.what,
            read: false,
        };
        let request = Request::new(Method::PATCH, location)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )
            .header(CONTENT_LENGTH, end - start)
            .text_header(CONTENT_RANGE, &format!("{start}-{}", end - 1))
            .stream(body);
        let response = self
            .session
            .send(Access::Push, op, request)
            .await
            .map_err(ChunkFailure::Broken)?;
        let status = response.status();
        if status.is_success() {
            // 202 by the spec; ECR answers 201.
            return upload::next_location(&response, op).map_err(ChunkFailure::Broken);
        }
        let error = self.session.refusal(response, op).await;
        if refuses_chunk(status, &error) {
            Err(ChunkFailure::Refused(error))
        } else {
            Err(ChunkFailure::Broken(error))
        }
    }
}

/// Whether an answer to a chunk says "not chunks like this" (a size or range the registry will
/// not take), rather than a failure worth resuming: a 4xx other than the ones about
/// credentials, a lost session or throttling; or the spec's codes for a refused upload.
fn refuses_chunk(status: StatusCode, error: &TransportError) -> bool {
    let not_about_chunks = matches!(
        status,
        StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::NOT_FOUND
            | StatusCode::REQUEST_TIMEOUT
    ) || is_throttle_or_server_error(status);
    (status.is_client_error() && !not_about_chunks)
        || error.has_code("BLOB_UPLOAD_INVALID")
        || error.has_code("SIZE_INVALID")
}

/// Why a chunk did not go through.
enum ChunkFailure {
    /// The registry will not take chunks like this: send the blob another way.
    Refused(TransportError),
    /// The connection broke, timed out, or the registry failed: resume.
    Broken(TransportError),
}

/// Why a session cannot be resumed.
enum Resume {
    /// The registry no longer has it: a fresh one.
    Fresh(String),
    /// A number from the registry cannot be right: no more chunks for this blob.
    Stream(String),
}

/// What the registry said about a session.
enum Held {
    /// Its `Range` header, as sent, and the session's `Location` when the answer names one
    /// (resolved; the spec's status answer does, with a fresh state for distribution).
    Range(String, Option<Url>),
    /// It does not know the session (or would not say): why.
    Unknown(String),
}

/// `GET` on the upload session at `location`: its `Range` (`0-LAST`).
async fn held_by_registry(session: &Session, location: &Url) -> Held {
    let op = Op {
        method: "GET",
        what: "the upload's status",
        read: false,
    };
    let response = match session
        .send(Access::Push, op, Request::new(Method::GET, location))
        .await
    {
        Ok(response) => response,
        Err(e) => return Held::Unknown(format!("its status could not be read ({e})")),
    };
    if !response.status().is_success() {
        let error = session.refusal(response, op).await;
        return Held::Unknown(format!(
            "the registry no longer has the upload session ({error})"
        ));
    }
    let location = upload::next_location(&response, op).ok();
    match response.headers().get("range") {
        Some(range) => Held::Range(
            String::from_utf8_lossy(range.as_bytes()).into_owned(),
            location,
        ),
        None => Held::Unknown("the registry does not say how much of the upload it holds".into()),
    }
}

/// `0-LAST` (distribution also writes `0-0` for an empty session, so that is read as nothing
/// held: sending a byte again is harmless) → bytes held; an error says what is wrong with it.
fn parse_held(range: &str) -> Result<u64, &'static str> {
    let range = range.trim();
    let range = range.strip_prefix("bytes=").unwrap_or(range);
    let (first, last) = range
        .split_once('-')
        .ok_or("which is not a range (FIRST-LAST)")?;
    if first.trim() != "0" {
        return Err("which does not start at byte 0");
    }
    let last = last.trim();
    if last.is_empty() || !last.bytes().all(|b| b.is_ascii_digit()) {
        return Err("whose end is not a byte offset");
    }
    let last: u64 = last.parse().map_err(|_| "whose end is not a byte offset")?;
    match last {
        0 => Ok(0),
        last => last.checked_add(1).ok_or("whose end is past any size"),
    }
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
        assert_eq!(parse_held("0-0"), Ok(0));
        assert_eq!(parse_held("0-1048575"), Ok(1 << 20));
        assert_eq!(parse_held("bytes=0-9"), Ok(10));
        assert_eq!(parse_held(" 0-9 "), Ok(10));
        for bad in [
            "5-9",
            "junk",
            "0--5",
            "-5",
            "0-",
            "0-+5",
            "0-9x",
            "0-18446744073709551615",
            "0-99999999999999999999",
        ] {
            assert!(parse_held(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_chunk_refusal_is_told_from_a_break() {
        let status = |code: u16| TransportError::Status {
            method: "PATCH",
            url: String::new(),
            status: code,
            codes: Box::new([]),
            detail: String::new(),
            retry_after_secs: None,
        };
        for refused in [400, 411, 413, 416] {
            let code = StatusCode::from_u16(refused).unwrap();
            assert!(refuses_chunk(code, &status(refused)), "{refused}");
        }
        for broken in [401, 403, 404, 408, 429, 500, 502, 503, 504] {
            let code = StatusCode::from_u16(broken).unwrap();
            assert!(!refuses_chunk(code, &status(broken)), "{broken}");
        }
        let invalid = TransportError::Status {
            method: "PATCH",
            url: String::new(),
            status: 500,
            codes: Box::new(["BLOB_UPLOAD_INVALID".into()]),
            detail: String::new(),
            retry_after_secs: None,
        };
        assert!(refuses_chunk(StatusCode::INTERNAL_SERVER_ERROR, &invalid));
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
