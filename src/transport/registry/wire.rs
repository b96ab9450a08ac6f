//! Sending: the one place a registry request goes out, with its time limits (an answer within
//! `response` time, a transfer never slower than the stall floor for a whole window), the cap
//! on every body read, and the `--debug` log line `METHOD URL -> STATUS (ms)`.
//!
//! One [`Wire`] per host, built with that host's own TLS configuration (its certs.d CAs and
//! client certificate). A wire sends one request and follows no redirect: where a request goes
//! next, and with which credentials, is the session's decision.
//!
//! The log never shows credentials: request headers are not printed at all, and of a URL's
//! query only parameters known to carry no secret are shown (an upload's `_state` and a CDN's
//! signed query are replaced by `…`).

use super::error::{
    shown_url, BodyError, Errors, Op, Peer, WireError, MAX_ERROR_BODY, STALL_FLOOR_BYTES_PER_SEC,
};
use crate::config::certs::HostCerts;
use crate::model::digest::Digest;
use crate::transport::{BlobStream, TransportError};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
};
use reqwest::{Method, Response, Url};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// After the last byte of an upload, registries verify what they got before answering: the
/// response limit grows by one second per this many bytes sent.
const VERIFY_BYTES_PER_SEC: u64 = 50 * 1024 * 1024;

/// Time limits for registry traffic. The defaults are what a person at a terminal would wait
/// for a registry that has stopped answering; each has a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect plus TLS handshake (`--connect-timeout`). Default 10 s.
    pub connect: Duration,
    /// From a request sent (for an upload, its last byte) to the status line and headers of the
    /// answer (`--response-timeout`). Default 30 s.
    pub response: Duration,
    /// A body transfer, either way, that moves less than 1 KiB/s during this long is abandoned
    /// (`--stall-timeout`). Default 30 s.
    pub stall: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            response: Duration::from_secs(30),
            stall: Duration::from_secs(30),
        }
    }
}

/// A request's body: none, bytes that can be sent again (after a 401 or a redirect), or a
/// stream that can be sent once.
pub(super) enum Body {
    Empty,
    Bytes(Bytes),
    Stream(BlobStream),
    /// A stream that was sent already.
    Spent,
}

impl Body {
    /// The body for one more attempt: a copy of a replayable one, or the stream itself the
    /// first time (`None` once it is spent).
    fn take(&mut self) -> Option<Body> {
        match self {
            Body::Empty => Some(Body::Empty),
            Body::Bytes(bytes) => Some(Body::Bytes(bytes.clone())),
            Body::Stream(_) => Some(std::mem::replace(self, Body::Spent)),
            Body::Spent => None,
        }
    }
}

/// A request as the registry layer describes it, apart from the client that sends it: a
/// redirect to another host is sent by that host's own wire.
pub(super) struct Request {
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) headers: HeaderMap,
    pub(super) body: Body,
    /// Whether a redirect answer is followed (by the session) or handed to the caller.
    pub(super) follow_redirects: bool,
}

impl Request {
    /// A request without a body that follows redirects.
    pub(super) fn new(method: Method, url: &Url) -> Request {
        Request {
            method,
            url: url.clone(),
            headers: HeaderMap::new(),
            body: Body::Empty,
            follow_redirects: true,
        }
    }

    /// Adds a header.
    pub(super) fn header(mut self, name: HeaderName, value: impl Into<HeaderValue>) -> Request {
        self.headers.insert(name, value.into());
        self
    }

    /// Adds a header whose value this program wrote (ASCII, no line breaks).
    pub(super) fn text_header(self, name: HeaderName, value: &str) -> Request {
        let value = HeaderValue::from_str(value).expect("header values we write are ASCII");
        self.header(name, value)
    }

    /// A body that can be sent again.
    pub(super) fn bytes(mut self, bytes: Bytes) -> Request {
        self.body = Body::Bytes(bytes);
        self
    }

    /// A streamed body, sent once.
    pub(super) fn stream(mut self, stream: BlobStream) -> Request {
        self.body = Body::Stream(stream);
        self
    }

    /// A redirect answer is the answer (the referrers API counts only from the registry's own
    /// origin).
    pub(super) fn without_redirects(mut self) -> Request {
        self.follow_redirects = false;
        self
    }

    /// This request for one more attempt; `None` when its streamed body was sent already.
    pub(super) fn attempt(&mut self) -> Option<Request> {
        Some(Request {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            body: self.body.take()?,
            follow_redirects: self.follow_redirects,
        })
    }

    /// Whether another attempt could be made.
    pub(super) fn can_repeat(&self) -> bool {
        !matches!(self.body, Body::Stream(_) | Body::Spent)
    }

    /// This request sent on to `to`, as a redirect with `status` says: 303 (and 301/302 of a
    /// POST) become a GET without a body; 307/308 keep the method and body. `None` when the
    /// body is a stream that was sent already.
    pub(super) fn redirected(mut self, status: u16, to: Url) -> Option<Request> {
        let becomes_get = match status {
            303 => self.method != Method::HEAD,
            301 | 302 => self.method == Method::POST,
            _ => false,
        };
        if becomes_get {
            self.method = Method::GET;
            self.body = Body::Empty;
            for name in [CONTENT_LENGTH, CONTENT_TYPE, CONTENT_RANGE] {
                self.headers.remove(name);
            }
        }
        if matches!(self.body, Body::Spent) {
            return None;
        }
        self.url = to;
        Some(self)
    }
}

/// One HTTP client for one host, with that host's TLS settings, that logs.
#[derive(Debug, Clone)]
pub(super) struct Wire {
    http: reqwest::Client,
    debug: bool,
    timeouts: Timeouts,
    /// What certs.d holds for the host, for TLS errors.
    certs: Arc<HostCerts>,
    /// Whether any request of this command got an answer from the host.
    answered: Arc<AtomicBool>,
}

impl Wire {
    pub(super) fn new(
        http: reqwest::Client,
        debug: bool,
        timeouts: Timeouts,
        certs: Arc<HostCerts>,
    ) -> Self {
        Self {
            http,
            debug,
            timeouts,
            certs,
            answered: Arc::default(),
        }
    }

    /// With `--debug`, a line about what the transport decided (not a request).
    pub(super) fn note(&self, text: &str) {
        if self.debug {
            eprintln!("note: {}", crate::boundary::terminal::escape_controls(text));
        }
    }

    /// Sends one request (no redirect followed) and waits at most the response limit for its
    /// answer; a streamed body is aborted when it moves slower than the stall floor for a
    /// whole window, and its answer may take longer (registries verify big bodies before they
    /// answer). With `--debug`, logs it.
    pub(super) async fn send(&self, request: Request) -> Result<Response, WireError> {
        let Request {
            method,
            url,
            headers,
            body,
            ..
        } = request;
        let builder = self
            .http
            .request(method.clone(), url.clone())
            .headers(headers);
        let started = Instant::now();
        let result = match body {
            Body::Empty | Body::Spent => self.exchange(builder).await,
            Body::Bytes(bytes) => self.exchange(builder.body(bytes)).await,
            Body::Stream(stream) => self.exchange_streaming(builder, stream).await,
        };
        if result.is_ok() {
            self.answered.store(true, Ordering::Relaxed);
        }
        self.log(method.as_str(), &url, &result, started);
        result
    }

    fn peer(&self) -> Peer {
        Peer {
            certs: self.certs.clone(),
            answered_before: self.answered.load(Ordering::Relaxed),
        }
    }

    async fn exchange(&self, builder: reqwest::RequestBuilder) -> Result<Response, WireError> {
        let request = builder
            .build()
            .map_err(|e| WireError::Http(e, self.peer()))?;
        let limit = self.timeouts.response;
        match tokio::time::timeout(limit, self.http.execute(request)).await {
            Ok(result) => result.map_err(|e| WireError::Http(e, self.peer())),
            Err(_) => Err(WireError::NoAnswer(limit)),
        }
    }

    async fn exchange_streaming(
        &self,
        builder: reqwest::RequestBuilder,
        body: BlobStream,
    ) -> Result<Response, WireError> {
        let meter = Arc::new(Meter::default());
        let failure: Arc<std::sync::Mutex<Option<TransportError>>> = Arc::default();
        let metered = MeteredBody {
            inner: body,
            meter: meter.clone(),
            failure: failure.clone(),
            held: None,
            ended: false,
        };
        let request = builder
            .body(reqwest::Body::wrap_stream(metered))
            .build()
            .map_err(|e| WireError::Http(e, self.peer()))?;
        let sending = self.http.execute(request);
        let result = tokio::select! {
            result = sending => result.map_err(|e| WireError::Http(e, self.peer())),
            stop = watch_upload(&meter, self.timeouts) => Err(stop),
        };
        // A body that failed on its own is what the user must see, not "error sending request".
        let failed = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (result, failed) {
            (Err(_), Some(detail)) => Err(WireError::Body(detail)),
            (result, _) => result,
        }
    }

    fn log(&self, method: &str, url: &Url, result: &Result<Response, WireError>, started: Instant) {
        if !self.debug {
            return;
        }
        let outcome = match result {
            Ok(response) => response.status().as_u16().to_string(),
            Err(e) => format!("error: {e}"),
        };
        eprintln!(
            "{method} {} -> {} ({} ms)",
            shown_url(url),
            crate::boundary::terminal::escape_controls(&outcome),
            started.elapsed().as_millis()
        );
    }
}

/// Bytes a body has yielded, and whether it has yielded its last.
#[derive(Default)]
struct Meter {
    bytes: AtomicU64,
    finished: AtomicBool,
}

/// A request body that counts what hyper pulls from it and keeps its own error aside.
///
/// Each chunk is handed on only once the next item is known: with a Content-Length, hyper stops
/// polling the body once that many bytes went out, and a [`crate::transport::verified`] stream
/// reports a bad digest only after its last chunk, so without the delay that error would never
/// be seen (the registry would still refuse the blob, with a less precise DIGEST_INVALID).
struct MeteredBody {
    inner: BlobStream,
    meter: Arc<Meter>,
    failure: Arc<std::sync::Mutex<Option<crate::transport::TransportError>>>,
    held: Option<Bytes>,
    ended: bool,
}

impl Stream for MeteredBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.ended {
                let last = self.held.take();
                if last.is_none() {
                    self.meter.finished.store(true, Ordering::Relaxed);
                }
                return Poll::Ready(last.map(|chunk| Ok(self.metered(chunk))));
            }
            match self.inner.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(chunk))) if chunk.is_empty() => continue,
                Poll::Ready(Some(Ok(chunk))) => match self.held.replace(chunk) {
                    Some(previous) => return Poll::Ready(Some(Ok(self.metered(previous)))),
                    None => continue,
                },
                Poll::Ready(Some(Err(e))) => {
                    let detail = e.to_string();
                    *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    self.held = None;
                    self.ended = true;
                    return Poll::Ready(Some(Err(std::io::Error::other(detail))));
                }
                Poll::Ready(None) => self.ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl MeteredBody {
    fn metered(&self, chunk: Bytes) -> Bytes {
        self.meter
            .bytes
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        chunk
    }
}

/// Resolves (with the reason) when an upload stalls or its answer is late; never otherwise.
async fn watch_upload(meter: &Meter, timeouts: Timeouts) -> WireError {
    let window = timeouts.stall.max(Duration::from_millis(10));
    let floor = floor_bytes(window);
    let mut window_start_bytes = 0;
    loop {
        // Check at least every second so that the end of the body is noticed promptly.
        let step = window.min(Duration::from_secs(1));
        let mut waited = Duration::ZERO;
        while waited < window && !meter.finished.load(Ordering::Relaxed) {
            tokio::time::sleep(step).await;
            waited += step;
        }
        let sent = meter.bytes.load(Ordering::Relaxed);
        if meter.finished.load(Ordering::Relaxed) {
            let limit = timeouts.response + Duration::from_secs(sent / VERIFY_BYTES_PER_SEC);
            tokio::time::sleep(limit).await;
            return WireError::NoAnswer(limit);
        }
        if sent - window_start_bytes < floor {
            return WireError::Stalled(window);
        }
        window_start_bytes = sent;
    }
}

fn floor_bytes(window: Duration) -> u64 {
    (STALL_FLOOR_BYTES_PER_SEC as f64 * window.as_secs_f64()) as u64
}

/// Reads a whole body of at most `limit` bytes: a larger one is refused as soon as it is
/// announced or seen, and one that trickles is abandoned after a stall window.
pub(super) async fn read_capped(
    response: Response,
    limit: u64,
    stall: Duration,
) -> Result<Bytes, BodyError> {
    if let Some(size) = response.content_length() {
        if size > limit {
            return Err(BodyError::TooLarge(size));
        }
    }
    let capacity = response.content_length().unwrap_or(4096).min(limit) as usize;
    let mut body = BytesMut::with_capacity(capacity);
    let mut stream = guard_stream(Box::pin(response.bytes_stream()), stall);
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk?);
        if body.len() as u64 > limit {
            return Err(BodyError::TooLarge(body.len() as u64));
        }
    }
    Ok(body.freeze())
}

/// At most `limit` bytes of a body, for error messages: whatever arrived before a failure, a
/// stall or the cap.
pub(super) async fn read_some(response: Response, limit: usize, stall: Duration) -> Bytes {
    let mut body = BytesMut::new();
    let mut stream = guard_stream(Box::pin(response.bytes_stream()), stall);
    while body.len() < limit {
        match stream.next().await {
            Some(Ok(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())])
            }
            _ => break,
        }
    }
    body.freeze()
}

type HttpStream = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// A response body stream that fails with [`BodyError::Stalled`] when, while it is waited on,
/// less than the stall floor arrives per window. Only time spent waiting for the peer counts,
/// so a slow consumer (an upload that reads from this) is not mistaken for a slow peer.
pub(super) fn guard_stream(
    inner: HttpStream,
    window: Duration,
) -> impl Stream<Item = Result<Bytes, BodyError>> + Send {
    StallGuard {
        inner,
        window: window.max(Duration::from_millis(10)),
        waited: Duration::ZERO,
        received: 0,
        pending_since: None,
        timer: None,
        failed: false,
    }
}

struct StallGuard {
    inner: HttpStream,
    window: Duration,
    /// Time spent waiting for the peer since the window started.
    waited: Duration,
    /// Bytes received since the window started.
    received: u64,
    pending_since: Option<tokio::time::Instant>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    failed: bool,
}

impl Stream for StallGuard {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        let polled = self.inner.poll_next_unpin(cx);
        if let Some(since) = self.pending_since.take() {
            self.waited += since.elapsed();
        }
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.received += chunk.len() as u64;
        }
        if self.waited >= self.window {
            if self.received < floor_bytes(self.window) {
                self.failed = true;
                return Poll::Ready(Some(Err(BodyError::Stalled(self.window))));
            }
            self.waited = Duration::ZERO;
            self.received = 0;
        }
        match polled {
            Poll::Ready(item) => {
                self.timer = None;
                Poll::Ready(item.map(|r| r.map_err(BodyError::Http)))
            }
            Poll::Pending => {
                self.pending_since = Some(tokio::time::Instant::now());
                // Wake up at the end of the window even if the peer sends nothing at all.
                let rest = self.window.saturating_sub(self.waited);
                let deadline = tokio::time::Instant::now() + rest;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                timer.as_mut().reset(deadline);
                let _ = timer.as_mut().poll(cx);
                Poll::Pending
            }
        }
    }
}

/// The error for a non-success answer, read from at most [`MAX_ERROR_BODY`] bytes of its body.
pub(super) async fn refusal(errors: &Errors, response: Response, op: Op<'_>) -> TransportError {
    let status = response.status().as_u16();
    let url = response.url().clone();
    let headers = response.headers().clone();
    let body = read_some(response, MAX_ERROR_BODY, errors.stall).await;
    errors.answer(status, &url, &headers, &body, op)
}

/// A response's `Docker-Content-Digest`, when it is a digest we can check.
pub(super) fn content_digest(headers: &HeaderMap) -> Option<Digest> {
    let value = headers.get("docker-content-digest")?.to_str().ok()?;
    Digest::parse(value.trim()).ok()
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
