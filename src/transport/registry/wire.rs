//! Sending: the one place a registry request goes out, with its time limits (an answer within
//! `response` time, a transfer never slower than the stall floor for a whole window), the cap
//! on every body read, and the `--debug` log line `METHOD URL -> STATUS (ms)`.
//!
//! The log never shows credentials: request headers are not printed at all, and of a URL's
//! query only parameters known to carry no secret are shown (an upload's `_state` and a CDN's
//! signed query are replaced by `…`).

use super::error::error_chain;
use crate::transport::BlobStream;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, Url};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

/// Query parameters that are safe to print.
const SHOWN_PARAMS: &[&str] = &["scope", "service", "mount", "from", "digest", "n", "last"];

/// A transfer slower than this for a whole stall window is abandoned (curl's `--speed-limit`
/// idea with a fixed floor: a link this slow would take days for a real layer).
pub(crate) const STALL_FLOOR_BYTES_PER_SEC: u64 = 1024;

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

/// Why a request produced no response.
#[derive(Debug)]
pub(super) enum WireError {
    /// reqwest's own failure (connect, TLS, a broken connection).
    Http(reqwest::Error),
    /// No answer within the response limit.
    NoAnswer(Duration),
    /// The request body moved slower than the stall floor for a whole window.
    Stalled(Duration),
    /// The request body itself failed (its source broke or served wrong bytes).
    Body(crate::transport::TransportError),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Http(e) => f.write_str(&error_chain(e)),
            WireError::NoAnswer(limit) => {
                write!(
                    f,
                    "no answer within {} (--response-timeout)",
                    seconds(*limit)
                )
            }
            WireError::Stalled(window) => write!(
                f,
                "the transfer stalled: less than {STALL_FLOOR_BYTES_PER_SEC} bytes/s for {} \
                 (--stall-timeout)",
                seconds(*window)
            ),
            WireError::Body(e) => write!(f, "{e}"),
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// One HTTP client for one registry host, with the host's TLS settings, that logs.
#[derive(Debug, Clone)]
pub(super) struct Wire {
    http: reqwest::Client,
    debug: bool,
    timeouts: Timeouts,
}

impl Wire {
    pub(super) fn new(http: reqwest::Client, debug: bool, timeouts: Timeouts) -> Self {
        Self {
            http,
            debug,
            timeouts,
        }
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(super) fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// With `--debug`, a line about what the transport decided (not a request).
    pub(super) fn note(&self, text: &str) {
        if self.debug {
            eprintln!("note: {}", crate::terminal::escape_controls(text));
        }
    }

    /// Sends a request without a streamed body and waits at most the response limit for its
    /// answer; with `--debug`, logs it.
    pub(super) async fn send(&self, request: RequestBuilder) -> Result<Response, WireError> {
        let request = request.build().map_err(WireError::Http)?;
        let (method, url) = (request.method().to_string(), request.url().clone());
        let started = Instant::now();
        let limit = self.timeouts.response;
        let result = match tokio::time::timeout(limit, self.http.execute(request)).await {
            Ok(result) => result.map_err(WireError::Http),
            Err(_) => Err(WireError::NoAnswer(limit)),
        };
        self.log(&method, &url, &result, started);
        result
    }

    /// Sends `request` with `body` streamed as its body (`size` bytes, when known): aborted when
    /// the body moves slower than the stall floor for a whole window, or when no answer comes
    /// within the response limit after its last byte (longer for big bodies, which registries
    /// verify before they answer).
    pub(super) async fn send_streaming(
        &self,
        request: RequestBuilder,
        body: BlobStream,
    ) -> Result<Response, WireError> {
        let meter = Arc::new(Meter::default());
        let failure: Arc<std::sync::Mutex<Option<crate::transport::TransportError>>> =
            Arc::default();
        let metered = MeteredBody {
            inner: body,
            meter: meter.clone(),
            failure: failure.clone(),
            held: None,
            ended: false,
        };
        let request = request
            .body(reqwest::Body::wrap_stream(metered))
            .build()
            .map_err(WireError::Http)?;
        let (method, url) = (request.method().to_string(), request.url().clone());
        let started = Instant::now();
        let sending = self.http.execute(request);
        let result = tokio::select! {
            result = sending => result.map_err(WireError::Http),
            stop = watch_upload(&meter, self.timeouts) => Err(stop),
        };
        // A body that failed on its own is what the user must see, not "error sending request".
        let result = match (
            result,
            failure.lock().unwrap_or_else(|p| p.into_inner()).take(),
        ) {
            (Err(_), Some(detail)) => Err(WireError::Body(detail)),
            (result, _) => result,
        };
        self.log(&method, &url, &result, started);
        result
    }

    fn log(&self, method: &str, url: &Url, result: &Result<Response, WireError>, started: Instant) {
        if !self.debug {
            return;
        }
        let outcome = match result {
            Ok(response) => {
                let mut text = response.status().as_u16().to_string();
                if response.url() != url {
                    text.push_str(&format!(" from {}", shown_url(response.url())));
                }
                text
            }
            Err(e) => format!("error: {e}"),
        };
        eprintln!(
            "{method} {} -> {} ({} ms)",
            shown_url(url),
            crate::terminal::escape_controls(&outcome),
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

/// Why reading a body stopped.
#[derive(Debug)]
pub(super) enum BodyError {
    /// More than the cap arrived (or was announced); the size seen so far.
    TooLarge(u64),
    /// The body moved slower than the stall floor for a whole window.
    Stalled(Duration),
    /// The connection failed.
    Http(reqwest::Error),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge(size) => write!(f, "the answer is over {size} bytes"),
            BodyError::Stalled(window) => write!(
                f,
                "the transfer stalled: less than {STALL_FLOOR_BYTES_PER_SEC} bytes/s for {} \
                 (--stall-timeout)",
                seconds(*window)
            ),
            BodyError::Http(e) => f.write_str(&error_chain(e)),
        }
    }
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

/// A URL for messages and the log: no user info, and only harmless query parameters.
pub(crate) fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_fragment(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let value = if SHOWN_PARAMS.contains(&k.as_ref()) {
                    v.into_owned()
                } else {
                    "…".to_string()
                };
                (k.into_owned(), value)
            })
            .collect();
        shown.set_query(None);
        if !pairs.is_empty() {
            shown.query_pairs_mut().extend_pairs(pairs);
        }
    }
    // The query encoder escapes `…`; show it as written.
    shown.to_string().replace("%E2%80%A6", "…")
}

/// The `Retry-After` of a response: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date in
/// the past means "now"; an unreadable value is ignored.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests;
