//! Registry failures as typed errors, the bottom of the registry stack: a non-success answer
//! becomes [`TransportError`] with its status, the spec's error codes and the registry's own
//! `message`/`detail`; a failed request becomes a network, TLS or plain-HTTP error in words a
//! user can act on. Nothing here sends or reads anything: `wire` hands over what arrived.
//!
//! Decisions about an answer are made on the status and the error codes, never by searching
//! the body's text.

use super::challenge::says_insufficient_scope;
use crate::config::certs::HostCerts;
use crate::error_chain;
use crate::transport::tls::failure::{TlsFailure, TlsFailureKind};
use crate::transport::{NetworkFailure, TransportError};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Query parameters that are safe to print.
const SHOWN_PARAMS: &[&str] = &["scope", "service", "mount", "from", "digest", "n", "last"];

/// A transfer slower than this for a whole stall window is abandoned (curl's `--speed-limit`
/// idea with a fixed floor: a link this slow would take days for a real layer).
pub(super) const STALL_FLOOR_BYTES_PER_SEC: u64 = 1024;

/// Of an error body, at most this much is read (for its error codes and message).
pub(super) const MAX_ERROR_BODY: usize = 64 * 1024;

/// Keeps registry texts (sometimes whole HTML pages) to a readable length.
pub(super) fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut clipped: String = text.chars().take(max).collect();
        clipped.push('…');
        clipped
    }
}

/// The distribution spec's error body: `{"errors":[{"code","message","detail"}]}`.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct Envelope {
    #[serde(default)]
    pub(super) errors: Vec<SpecError>,
}

/// One entry of an error body.
#[derive(Debug, serde::Deserialize)]
pub(super) struct SpecError {
    #[serde(default)]
    pub(super) code: String,
    #[serde(default)]
    pub(super) message: String,
    #[serde(default)]
    pub(super) detail: Option<serde_json::Value>,
}

impl Envelope {
    /// The error body's entries, if `body` is one.
    pub(super) fn parse(body: &[u8]) -> Envelope {
        serde_json::from_slice(body).unwrap_or_default()
    }

    fn codes(&self) -> Box<[String]> {
        self.errors
            .iter()
            .map(|e| e.code.to_ascii_uppercase())
            .filter(|c| !c.is_empty())
            .collect()
    }

    /// `CODE: message (detail); CODE: message`.
    fn describe(&self) -> String {
        self.errors
            .iter()
            .map(|e| {
                let mut text = e.code.clone();
                if !e.message.is_empty() {
                    if !text.is_empty() {
                        text.push_str(": ");
                    }
                    text.push_str(&clip(&e.message, 200));
                }
                match &e.detail {
                    Some(serde_json::Value::String(s)) if !s.is_empty() => {
                        text.push_str(&format!(" ({})", clip(s, 300)))
                    }
                    Some(serde_json::Value::Null) | None => {}
                    Some(serde_json::Value::String(_)) => {}
                    Some(other) => text.push_str(&format!(" ({})", clip(&other.to_string(), 300))),
                }
                text
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What a failed request was doing, for the error message.
#[derive(Clone, Copy, Debug)]
pub(super) struct Op<'a> {
    pub(super) method: &'static str,
    /// `manifest v1`, `blob sha256:…`.
    pub(super) what: &'a str,
    /// A 404 on a read means "not there"; on a write it is an error of the write.
    pub(super) read: bool,
}

/// The host a failed request went to, as its wire knew it: what certs.d holds for it (to
/// explain a TLS failure) and whether it had answered before in this command (then a refused
/// connection is a registry restarting, worth another try; on first contact nothing listens).
#[derive(Debug, Clone)]
pub(super) struct Peer {
    pub(super) certs: Arc<HostCerts>,
    pub(super) answered_before: bool,
}

/// Why a request produced no response.
#[derive(Debug)]
pub(super) enum WireError {
    /// reqwest's own failure (connect, TLS, a broken connection), and the host it was for.
    Http(reqwest::Error, Peer),
    /// No answer within the response limit.
    NoAnswer(Duration),
    /// The request body moved slower than the stall floor for a whole window.
    Stalled(Duration),
    /// The request body itself failed (its source broke or served wrong bytes).
    Body(TransportError),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Http(e, _) => f.write_str(&error_chain(e)),
            WireError::NoAnswer(limit) => {
                write!(
                    f,
                    "no answer within {} (--response-timeout)",
                    seconds(*limit)
                )
            }
            WireError::Stalled(window) => write!(f, "{}", stalled(*window)),
            WireError::Body(e) => write!(f, "{e}"),
        }
    }
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
            BodyError::Stalled(window) => f.write_str(&stalled(*window)),
            BodyError::Http(e) => f.write_str(&error_chain(e)),
        }
    }
}

fn stalled(window: Duration) -> String {
    format!(
        "the transfer stalled: less than {STALL_FLOOR_BYTES_PER_SEC} bytes/s for {} \
         (--stall-timeout)",
        seconds(window)
    )
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// A host name that could not be resolved to an address (the system resolver's failure, kept
/// as a type of its own so that it is told apart from a refused or broken connection).
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve the host name {host:?}: {source}")]
pub(super) struct Unresolved {
    pub(super) host: String,
    #[source]
    pub(super) source: std::io::Error,
}

/// Turns answers and failures into [`TransportError`]s that name the registry, the repository
/// and, for authentication failures, where credentials were looked for. Cloned into blob streams
/// so that errors found mid-stream read the same.
#[derive(Debug, Clone)]
pub(super) struct Errors {
    pub(super) registry: String,
    /// `host/repository`, for messages.
    pub(super) location: String,
    pub(super) searched: String,
    /// Whether `--cert-dir` was given (then the hint does not suggest it).
    pub(super) cert_dir_given: bool,
    /// Whether a credential was found for the repository (then a token without the scope
    /// asked for is a missing permission, not a missing login).
    pub(super) has_credential: bool,
    /// The stall window, for reading error bodies.
    pub(super) stall: Duration,
}

impl Errors {
    /// A non-success answer (`status`, from `url`, with `headers`), of whose body `body` is the
    /// start (at most [`MAX_ERROR_BODY`] bytes).
    pub(super) fn answer(
        &self,
        status: u16,
        url: &Url,
        headers: &HeaderMap,
        body: &[u8],
        op: Op<'_>,
    ) -> TransportError {
        // Without credentials, a missing scope means "log in": that stays Unauthorized.
        let insufficient_scope =
            status == 401 && self.has_credential && says_insufficient_scope(headers);
        match self.status(status, &shown_url(url), body, op, retry_after(headers)) {
            // A token was granted but not for this (Docker Hub grants pull and refuses the push
            // at the first upload): the credentials were right, the permission is missing.
            TransportError::Unauthorized {
                registry, detail, ..
            } if insufficient_scope => TransportError::Denied {
                registry,
                detail: format!("{detail}; the token does not grant this (insufficient_scope)"),
            },
            other => other,
        }
    }

    /// The error for `status` with `body` (an error envelope, or text).
    pub(super) fn status(
        &self,
        status: u16,
        url: &str,
        body: &[u8],
        op: Op<'_>,
        retry_after: Option<Duration>,
    ) -> TransportError {
        let envelope = Envelope::parse(body);
        let detail = if envelope.errors.is_empty() {
            clip(&String::from_utf8_lossy(body), 300)
        } else {
            envelope.describe()
        };
        let said = |detail: &str| {
            if detail.is_empty() {
                format!("{status} from {} {url}", op.method)
            } else {
                format!("{status} from {} {url}: {detail}", op.method)
            }
        };
        match status {
            401 => TransportError::Unauthorized {
                registry: self.registry.clone(),
                detail: said(&detail),
                searched: self.searched.clone(),
            },
            403 => TransportError::Denied {
                registry: self.registry.clone(),
                detail: said(&detail),
            },
            404 if op.read => TransportError::NotFound {
                what: op.what.to_string(),
                location: self.location.clone(),
            },
            _ => TransportError::Status {
                method: op.method,
                url: url.to_string(),
                status,
                codes: envelope.codes(),
                detail,
                retry_after_secs: retry_after
                    .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
            },
        }
    }

    /// A request that got no answer.
    pub(super) fn wire(&self, error: WireError, op: Op<'_>, url: &Url) -> TransportError {
        let context = format!("{} {} ({})", op.method, shown_url(url), op.what);
        match error {
            WireError::Http(e, peer) => self.request(&e, op, url, Some(&peer)),
            WireError::NoAnswer(_) => TransportError::Network {
                context,
                detail: error.to_string(),
                kind: NetworkFailure::Timeout,
            },
            WireError::Stalled(_) => TransportError::Network {
                context,
                detail: error.to_string(),
                kind: NetworkFailure::Stalled,
            },
            // The body's own error (a source that broke or served wrong bytes) is what the user
            // must see, not "error sending request".
            WireError::Body(source_error) => source_error,
        }
    }

    /// A body that could not be read whole.
    pub(super) fn body(
        &self,
        error: BodyError,
        op: Op<'_>,
        url: &Url,
        limit: u64,
    ) -> TransportError {
        match error {
            BodyError::TooLarge(size) => TransportError::TooLarge {
                what: format!("{} in {}", op.what, self.location),
                size,
                limit,
            },
            BodyError::Stalled(_) => TransportError::Network {
                context: format!("{} {} ({})", op.method, shown_url(url), op.what),
                detail: error.to_string(),
                kind: NetworkFailure::Stalled,
            },
            BodyError::Http(e) => self.request(&e, op, url, None),
        }
    }

    /// A failure of reqwest: refused, unresolved, timed out, TLS, plain HTTP, or a broken
    /// connection. `peer` is the host the request went to, when it is known.
    fn request(
        &self,
        error: &reqwest::Error,
        op: Op<'_>,
        url: &Url,
        peer: Option<&Peer>,
    ) -> TransportError {
        let url = error.url().unwrap_or(url);
        let context = format!("{} {} ({})", op.method, shown_url(url), op.what);
        if let Some(status) = error.status() {
            return self.status(status.as_u16(), &shown_url(url), b"", op, None);
        }
        if let Some(tls) = peer.and_then(|peer| self.tls(error, &peer.certs)) {
            return tls;
        }
        let unresolved = match find_cause::<Unresolved>(error) {
            Some(unresolved) => Some(unresolved.to_string()),
            // rustls refuses the name for TLS before any lookup (a label over 63 characters).
            None => find_cause::<rustls::pki_types::InvalidDnsNameError>(error).map(|_| {
                format!(
                    "cannot resolve the host name {:?}: it is not a valid DNS name",
                    url.host_str().unwrap_or_default()
                )
            }),
        };
        if let Some(detail) = unresolved {
            return TransportError::Network {
                context,
                detail,
                kind: NetworkFailure::Unresolved,
            };
        }
        let refused = find_cause::<std::io::Error>(error)
            .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused);
        let answered_before = peer.is_some_and(|peer| peer.answered_before);
        let (kind, detail) = match (refused, error.is_timeout()) {
            (true, _) if answered_before => (
                NetworkFailure::RefusedAgain,
                "connection refused, by a host that answered earlier in this command \
                 (restarting?)"
                    .to_string(),
            ),
            (true, _) => (
                NetworkFailure::Refused,
                "connection refused: nothing listens there".to_string(),
            ),
            (false, true) => (
                NetworkFailure::Timeout,
                format!(
                    "{} (--connect-timeout / --response-timeout)",
                    error_chain(error)
                ),
            ),
            (false, false) => (NetworkFailure::Dropped, error_chain(error)),
        };
        TransportError::Network {
            context,
            detail,
            kind,
        }
    }

    /// A failed handshake, in the words buildah users search for, with the certificate
    /// directories that were read; `None` if `error` is not a TLS failure.
    fn tls(&self, error: &reqwest::Error, certs: &HostCerts) -> Option<TransportError> {
        use rustls::{Error, InvalidMessage};
        let reason = find_cause::<Error>(error)?;
        let detail = match reason {
            Error::InvalidMessage(InvalidMessage::InvalidContentType) => format!(
                "the registry answered in plain HTTP, not HTTPS: mark it `insecure = true` in \
                 registries.conf or use --tls-verify=false ({reason})"
            ),
            _ => {
                let failure = TlsFailure::explain(error, certs)?;
                let trust = match (failure.kind, self.cert_dir_given) {
                    (TlsFailureKind::UnknownAuthority, false) => {
                        "put the registry's CA certificate (*.crt) in the first of those \
                         directories or pass --cert-dir DIR; "
                    }
                    (TlsFailureKind::UnknownAuthority, true) => {
                        "no CA certificate in --cert-dir vouches for it; "
                    }
                    _ => "",
                };
                format!(
                    "{failure}; {trust}to skip verification for this registry, mark it \
                     `insecure = true` in registries.conf or use --tls-verify=false"
                )
            }
        };
        Some(TransportError::Tls {
            registry: certs.host.clone(),
            detail,
        })
    }

    /// A token server that answered, and not with a token.
    pub(super) fn token_refused(&self, status: u16, detail: &str) -> TransportError {
        TransportError::Unauthorized {
            registry: self.registry.clone(),
            detail: if status == 0 {
                clip(detail, 300)
            } else {
                format!("the token server refused ({status}): {}", clip(detail, 300))
            },
            searched: self.searched.clone(),
        }
    }
}

/// The first cause of type `T` in an error's chain, looking inside `io::Error`s too (that is
/// where rustls and connection errors travel, sometimes one `io::Error` inside another).
fn find_cause<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// Whether a status means "try again later" (429 and 5xx).
pub(super) fn is_throttle_or_server_error(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// A URL for messages and the log: no user info, and only harmless query parameters.
pub(super) fn shown_url(url: &Url) -> String {
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
#[path = "error_tests.rs"]
mod tests;
