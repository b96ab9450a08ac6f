//! Registry failures as typed errors: a non-success answer becomes [`TransportError`] with its
//! status, the spec's error codes and the registry's own `message`/`detail`; a failed request
//! becomes a network, TLS or plain-HTTP error in words a user can act on.
//!
//! Decisions about an answer are made on the status and the error codes, never by searching
//! the body's text.

use super::wire::{self, BodyError, WireError};
use crate::config::certs::HostCerts;
use crate::config::tls_failure::{TlsFailure, TlsFailureKind};
use crate::transport::{NetworkFailure, TransportError};
use reqwest::{Response, StatusCode, Url};
use std::sync::Arc;
use std::time::Duration;

/// Of an error body, at most this much is read (for its error codes and message).
pub(super) const MAX_ERROR_BODY: usize = 64 * 1024;

/// An error and all its causes on one line: reqwest's own message hides the cause.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

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

/// Turns answers and failures into [`TransportError`]s that name the registry, the repository
/// and, for authentication failures, where credentials were looked for. Cloned into blob streams
/// so that errors found mid-stream read the same.
#[derive(Debug, Clone)]
pub(super) struct Errors {
    pub(super) registry: String,
    /// `host/repository`, for messages.
    pub(super) location: String,
    pub(super) searched: String,
    /// What certs.d holds for the host and where it was looked for, for TLS errors.
    pub(super) certs: Arc<HostCerts>,
    /// Whether `--cert-dir` was given (then the hint does not suggest it).
    pub(super) cert_dir_given: bool,
    /// Whether a credential was found for the repository (then a token without the scope
    /// asked for is a missing permission, not a missing login).
    pub(super) has_credential: bool,
    pub(super) stall: Duration,
}

impl Errors {
    /// A non-success answer: its status, codes and message, read from at most
    /// [`MAX_ERROR_BODY`] bytes of its body.
    pub(super) async fn response(&self, response: Response, op: Op<'_>) -> TransportError {
        let status = response.status().as_u16();
        let url = wire::shown_url(response.url());
        let retry_after = wire::retry_after(response.headers());
        // Without credentials, a missing scope means "log in": that stays Unauthorized.
        let insufficient_scope =
            status == 401 && self.has_credential && says_insufficient_scope(&response);
        let body = wire::read_some(response, MAX_ERROR_BODY, self.stall).await;
        match self.status(status, &url, &body, op, retry_after) {
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
        let context = format!("{} {} ({})", op.method, wire::shown_url(url), op.what);
        match error {
            WireError::Http(e) => self.request(&e, op, url),
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
                context: format!("{} {} ({})", op.method, wire::shown_url(url), op.what),
                detail: error.to_string(),
                kind: NetworkFailure::Stalled,
            },
            BodyError::Http(e) => self.request(&e, op, url),
        }
    }

    /// A failure of reqwest: refused, timed out, TLS, plain HTTP, or a broken connection.
    pub(super) fn request(&self, error: &reqwest::Error, op: Op<'_>, url: &Url) -> TransportError {
        let url = error.url().unwrap_or(url);
        let context = format!("{} {} ({})", op.method, wire::shown_url(url), op.what);
        if let Some(status) = error.status() {
            return self.status(status.as_u16(), &wire::shown_url(url), b"", op, None);
        }
        if let Some(tls) = self.tls(error) {
            return tls;
        }
        let chain = error_chain(error);
        let kind = if error.is_timeout() {
            NetworkFailure::Timeout
        } else if find_cause::<std::io::Error>(error)
            .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            NetworkFailure::Refused
        } else {
            NetworkFailure::Dropped
        };
        let detail = match kind {
            NetworkFailure::Refused => "connection refused: nothing listens there".to_string(),
            NetworkFailure::Timeout => format!("{chain} (--connect-timeout / --response-timeout)"),
            _ => chain,
        };
        TransportError::Network {
            context,
            detail,
            kind,
        }
    }

    /// A failed handshake, in the words buildah users search for, with the certificate
    /// directories that were read; `None` if `error` is not a TLS failure.
    fn tls(&self, error: &reqwest::Error) -> Option<TransportError> {
        use rustls::{Error, InvalidMessage};
        let reason = find_cause::<Error>(error)?;
        let detail = match reason {
            Error::InvalidMessage(InvalidMessage::InvalidContentType) => format!(
                "the registry answered in plain HTTP, not HTTPS: mark it `insecure = true` in \
                 registries.conf or use --tls-verify=false ({reason})"
            ),
            _ => {
                let failure = TlsFailure::explain(error, &self.certs)?;
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
            registry: self.registry.clone(),
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

/// Whether a 401's Bearer challenge says `error="insufficient_scope"` (RFC 6750).
fn says_insufficient_scope(response: &Response) -> bool {
    response
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(super::session::parse_bearer)
        .any(|c| c.error.as_deref() == Some("insufficient_scope"))
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn errors() -> Errors {
        Errors {
            registry: "reg.io".into(),
            location: "reg.io/app".into(),
            searched: "--creds, /a.json".into(),
            certs: Arc::new(HostCerts {
                host: "reg.io".into(),
                searched: vec![std::path::PathBuf::from("/etc/containers/certs.d/reg.io")],
                dir: None,
                ca_certs: Vec::new(),
                identities: Vec::new(),
            }),
            cert_dir_given: false,
            has_credential: true,
            stall: Duration::from_secs(30),
        }
    }

    const READ: Op<'static> = Op {
        method: "GET",
        what: "manifest v1",
        read: true,
    };
    const WRITE: Op<'static> = Op {
        method: "PUT",
        what: "manifest v1",
        read: false,
    };

    fn body(code: &str, detail: &str) -> Vec<u8> {
        format!(r#"{{"errors":[{{"code":"{code}","message":"msg","detail":{detail}}}]}}"#)
            .into_bytes()
    }

    #[test]
    fn statuses_and_codes_become_typed_errors() {
        let e = errors();
        let url = "https://reg.io/v2/app/manifests/v1";
        assert!(matches!(
            e.status(404, url, &body("MANIFEST_UNKNOWN", "null"), READ, None),
            TransportError::NotFound { .. }
        ));
        match e.status(
            400,
            url,
            &body("MANIFEST_BLOB_UNKNOWN", r#""sha256:ab""#),
            WRITE,
            None,
        ) {
            TransportError::Status {
                status,
                codes,
                detail,
                ..
            } => {
                assert_eq!(status, 400);
                assert_eq!(&*codes, ["MANIFEST_BLOB_UNKNOWN"]);
                assert_eq!(detail, "MANIFEST_BLOB_UNKNOWN: msg (sha256:ab)");
            }
            other => panic!("{other:?}"),
        }
        match e.status(401, url, &body("UNAUTHORIZED", "null"), WRITE, None) {
            TransportError::Unauthorized {
                searched, detail, ..
            } => {
                assert_eq!(searched, "--creds, /a.json");
                assert!(
                    detail.contains("401") && detail.contains("UNAUTHORIZED"),
                    "{detail}"
                );
            }
            other => panic!("{other:?}"),
        }
        let denied = e.status(
            403,
            url,
            &body("DENIED", r#"{"quota":"exceeded"}"#),
            WRITE,
            None,
        );
        assert!(
            matches!(denied, TransportError::Denied { .. }),
            "{denied:?}"
        );
        assert!(denied.to_string().contains("quota"), "{denied}");
        let busy = e.status(429, url, b"Too Many Requests (HAP429)", READ, None);
        assert!(busy.is_retryable(), "{busy:?}");
        assert!(busy.to_string().contains("HAP429"), "{busy}");
        let html = e.status(502, url, b"<html>bad gateway</html>", READ, None);
        assert!(html.is_retryable());
        assert!(html.to_string().contains("502"), "{html}");
    }

    #[test]
    fn a_mixed_case_code_is_matched_as_the_spec_spells_it() {
        let err = errors().status(400, "u", &body("blob_unknown", "null"), WRITE, None);
        assert!(err.has_code("BLOB_UNKNOWN"), "{err:?}");
    }
}
