//! How reading or writing images fails, for every transport, and which failures are worth retrying.

use crate::boundary::retry::{RetryClass, Retryable};
use crate::model::digest::Digest;

/// How a request failed below HTTP, which decides whether it is worth trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkFailure {
    /// Nothing listens there, on first contact: one line, no retries.
    Refused,
    /// A host that answered earlier in the same command refuses connections now (a registry
    /// restarting): retried.
    RefusedAgain,
    /// The host name does not resolve to an address: one line naming the host, no retries.
    Unresolved,
    /// The connection broke or could not be made: retried.
    Dropped,
    /// No answer within the time limit (connect or response): retried once.
    Timeout,
    /// A transfer moved less than the minimum rate for a whole stall window: retried once.
    Stalled,
}

/// Every way reading or writing images can fail, for every transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The manifest, blob or image is not there.
    #[error("{what} not found in {location}")]
    NotFound {
        /// What was looked for, in words (`manifest sha256:…`, `blob …`, `image app:v1`).
        what: String,
        /// Where it was looked for (a registry repository, a layout, a store).
        location: String,
    },
    /// Content read does not hash to the digest it was read by.
    #[error("{what}: content does not match its digest {expected} (got {actual})")]
    DigestMismatch {
        /// What was read, in words.
        what: String,
        /// The digest the content was asked for by.
        expected: Digest,
        /// The digest of the bytes that arrived.
        actual: Digest,
    },
    /// Content read is not the size its descriptor says.
    #[error("{what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// What was read, in words.
        what: String,
        /// The size its descriptor gives.
        expected: u64,
        /// The number of bytes that arrived.
        actual: u64,
    },
    /// The destination hashed an upload and refused it.
    #[error(
        "{what}: the registry refused the content because it does not match its digest ({detail})"
    )]
    RejectedDigest {
        /// What was uploaded, in words.
        what: String,
        /// The registry's own words for the refusal.
        detail: String,
    },
    /// A document or answer over a size limit of this tool.
    #[error("{what} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// What was too large, in words.
        what: String,
        /// Its size in bytes (as declared, or as far as it was read).
        size: u64,
        /// The limit it exceeded, in bytes.
        limit: u64,
    },
    /// A registry answered with an error status; `codes` are the spec's error codes of its body.
    #[error("{method} {url}: {status}{}", detail_suffix(.detail))]
    Status {
        /// The HTTP method of the failed request.
        method: &'static str,
        /// The request URL, with only the query parameters that are safe to show.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The `code` of every entry in the body's `errors` array (distribution spec).
        codes: Box<[String]>,
        /// The body's `errors` in words, or its start when it is not the spec's JSON.
        detail: String,
        /// The registry's `Retry-After`, in whole seconds (the header has no finer unit).
        retry_after_secs: Option<u32>,
    },
    /// The registry or its token server did not accept the credentials (or wanted some).
    #[error(
        "{registry}: authentication failed ({detail}); credentials were looked for in {searched}"
    )]
    Unauthorized {
        /// The registry host that refused.
        registry: String,
        /// What the registry or token server said.
        detail: String,
        /// The credential sources that were looked in, for the message.
        searched: String,
    },
    /// The registry knows who we are and refuses anyway (403): permissions, quota, a locked
    /// repository. Not a wrong password.
    #[error("{registry}: the registry refused the request ({detail}); check that the account may push to this repository and that its quota is not exhausted")]
    Denied {
        /// The registry host that refused.
        registry: String,
        /// What the registry said.
        detail: String,
    },
    /// The destination repository does not exist, and the registry does not create repositories
    /// on push (Amazon ECR).
    #[error("{location}: the repository does not exist on the registry ({detail}); create it first (Amazon ECR, for one, needs repositories created before a push)")]
    NoRepository {
        /// The repository that is missing (`host/repository`).
        location: String,
        /// What the registry said.
        detail: String,
    },
    /// A rule of this tool forbids the request (a blocked registry, credentials that would
    /// travel in clear text); nothing was sent.
    #[error("{registry}: {detail}")]
    Refused {
        /// The registry host the request was for.
        registry: String,
        /// Which rule forbids it.
        detail: String,
    },
    /// The TLS handshake failed: the registry could not be reached (buildah's and podman's
    /// words, which scripts and their test suites match, come first).
    #[error("{PINGING} {registry}: TLS error: {detail}")]
    Tls {
        /// The registry host of the failed handshake.
        registry: String,
        /// Why the handshake failed and, when that is known, what to do about it.
        detail: String,
    },
    /// The connection failed, timed out or stalled.
    #[error("{}", network_message(context, detail, *kind))]
    Network {
        /// The request that failed, in words.
        context: String,
        /// The underlying error's message chain.
        detail: String,
        /// Which kind of failure it was; it decides the retries.
        kind: NetworkFailure,
    },
    /// A step that failed in a way that doing it again from its start fixes: the registry lost
    /// an upload whose commit answer was lost, or asked for new credentials in the middle of a
    /// streamed body (which cannot be sent twice). Retried like a dropped connection.
    #[error("{context}: {detail}")]
    StartAgain {
        /// The step, in words.
        context: String,
        /// Why it must start again.
        detail: String,
    },
    /// A local file could not be read or written.
    #[error("{context}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file of a layout or archive that may not be read (not a regular file inside it, or not
    /// the size it should be).
    #[error(transparent)]
    File(#[from] crate::boundary::fsutil::FileError),
    /// Anything else that is wrong with the input or the answer.
    #[error("{0}")]
    Invalid(String),
}

/// How buildah and podman begin a failure to reach a registry (`pinging container registry
/// HOST: …`); their users' scripts and test suites match these words.
const PINGING: &str = "pinging container registry";

/// The message of [`TransportError::Network`]: a failure to reach the registry at all (nothing
/// listens, or its API root did not answer) begins with [`PINGING`] and the host; a transfer
/// that broke or stalled later is shown as it is.
fn network_message(context: &str, detail: &str, kind: NetworkFailure) -> String {
    let reaching = match kind {
        NetworkFailure::Refused | NetworkFailure::RefusedAgain | NetworkFailure::Unresolved => true,
        NetworkFailure::Timeout | NetworkFailure::Dropped => {
            context.contains("(the registry's API root)") || context.ends_with(NO_ANSWER)
        }
        NetworkFailure::Stalled => false,
    };
    match host_of(context).filter(|_| reaching) {
        // The probe names the bare host as its context: say it once.
        Some(host) if host == context => format!("{PINGING} {host}: {detail}"),
        Some(host) => format!("{PINGING} {host}: {context}: {detail}"),
        None => format!("{context}: {detail}"),
    }
}

/// The end of the context of a registry that answered neither over HTTPS nor over HTTP.
const NO_ANSWER: &str = ": no answer over HTTPS or HTTP";

/// The registry a network failure's context names: `HOST`, `HOST: no answer …`, or the URL of
/// `METHOD URL (what)`.
fn host_of(context: &str) -> Option<String> {
    let context = context.strip_suffix(NO_ANSWER).unwrap_or(context);
    let mut words = context.split_whitespace();
    let (first, second) = (words.next()?, words.next());
    let Some(url) = second else {
        return Some(first.to_string());
    };
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

impl TransportError {
    /// An I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        TransportError::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether trying the same request again may succeed (see [`RetryClass`]).
    #[cfg(test)]
    pub(crate) fn is_retryable(&self) -> bool {
        self.retry_class() != RetryClass::Never
    }

    /// Whether the registry could not be reached at all (a TLS handshake that failed, nothing
    /// listening, no answer from its API root): what buildah and podman report as `pinging
    /// container registry HOST: …`.
    pub fn is_unreachable(&self) -> bool {
        match self {
            TransportError::Tls { .. } => true,
            TransportError::Network {
                context,
                detail,
                kind,
            } => network_message(context, detail, *kind).starts_with(PINGING),
            _ => false,
        }
    }

    /// Whether a registry refused a manifest for its media type: 415, or 400 `MANIFEST_INVALID`
    /// / `UNSUPPORTED` (Quay for an OCI index over Docker manifests, zot for Docker types).
    pub(crate) fn rejects_manifest_type(&self) -> bool {
        match self {
            TransportError::Status { status: 415, .. } => true,
            TransportError::Status { status: 400, .. } => {
                self.has_code("MANIFEST_INVALID") || self.has_code("UNSUPPORTED")
            }
            _ => false,
        }
    }

    /// Whether a registry answered with this spec error code (e.g. `BLOB_UNKNOWN`).
    pub(crate) fn has_code(&self, code: &str) -> bool {
        matches!(self, TransportError::Status { codes, .. } if codes.iter().any(|c| c == code))
    }
}

impl Retryable for TransportError {
    fn retry_class(&self) -> RetryClass {
        match self {
            TransportError::Network { kind, .. } => match kind {
                NetworkFailure::Refused | NetworkFailure::Unresolved => RetryClass::Never,
                NetworkFailure::Dropped | NetworkFailure::RefusedAgain => RetryClass::Transient,
                NetworkFailure::Timeout | NetworkFailure::Stalled => RetryClass::Timeout,
            },
            TransportError::Status { status, .. } if *status == 429 || *status >= 500 => {
                RetryClass::Transient
            }
            // A truncated body can be a broken connection; reading again is cheap.
            TransportError::SizeMismatch { .. } | TransportError::StartAgain { .. } => {
                RetryClass::Transient
            }
            _ => RetryClass::Never,
        }
    }

    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            TransportError::Status {
                retry_after_secs, ..
            } => retry_after_secs.map(|s| std::time::Duration::from_secs(s.into())),
            _ => None,
        }
    }

    fn gave_up(self, attempts: u32) -> Self {
        let note = format!("gave up after {attempts} attempts");
        match self {
            TransportError::Status {
                method,
                url,
                status,
                codes,
                detail,
                retry_after_secs,
            } => TransportError::Status {
                method,
                url,
                status,
                codes,
                detail: if detail.is_empty() {
                    note
                } else {
                    format!("{detail}; {note}")
                },
                retry_after_secs,
            },
            TransportError::Network {
                context,
                detail,
                kind,
            } => TransportError::Network {
                context,
                detail: format!("{detail} ({note})"),
                kind,
            },
            TransportError::SizeMismatch {
                what,
                expected,
                actual,
            } => TransportError::SizeMismatch {
                what: format!("{what} ({note})"),
                expected,
                actual,
            },
            TransportError::StartAgain { context, detail } => TransportError::StartAgain {
                context,
                detail: format!("{detail} ({note})"),
            },
            other => other,
        }
    }
}
