//! Registries as a transport: the [`Transport`] trait over the OCI distribution API, built on
//! `oci-client`, with credential lookup ([`crate::auth`]), TLS trust ([`crate::tls`]), the
//! HTTPS→HTTP fallback of `--tls-verify=false`, retries, and typed errors.
//!
//! What oci-client does for us, and what we rely on (checked in oci-client 0.18.0's source):
//! - `pull_manifest_raw` checks `Docker-Content-Digest` (and the digest asked for) against the
//!   body; we check again in [`check_manifest`] and keep the bytes as read.
//! - `push_manifest_raw` sends our bytes unchanged with our `Content-Type`.
//! - `pull_blob_stream` hashes while streaming and fails at the end on a mismatch; the caller
//!   wraps the stream in [`crate::transport::verified`] as well.
//! - Credentials never go to another host: oci-client's `apply_auth` leaves requests to an
//!   upload `Location` on another host (or an https→http downgrade) unauthenticated (the
//!   CVE-2020-15157 rule), and reqwest's redirect policy drops `Authorization` when a redirect
//!   crosses host, port or scheme (`remove_sensitive_headers` in reqwest 0.13's redirect.rs),
//!   which covers blob downloads redirected to a CDN or object store.
//!
//! What it does not do, and how this module copes:
//! - No retries: [`retry`] wraps every non-streaming request. oci-client drops response headers
//!   from its errors, so `Retry-After` cannot be honoured; 429 and 5xx back off exponentially.
//! - It swallows token errors inside each request (a failed token fetch becomes an anonymous
//!   request and a bare 401), so the transport calls `Client::auth` once per repository and
//!   operation first, and reports what the token server said.
//! - Its tokens are scoped to one repository (`repository:NAME:pull,push`), and a
//!   cross-repository mount needs `pull` on the source as well. On token-auth registries the
//!   mount is therefore done here with raw reqwest ([`mount`]): one token for both scopes, one
//!   POST. Registries with Basic auth or none use oci-client's `mount_blob`.
//! - Its error for a 4xx with an error body keeps the spec error codes but not the status; the
//!   status is restored from the code (distribution-spec's table).
//! - It reads a manifest body whole before we can check its size, so
//!   [`crate::transport::MAX_MANIFEST_BYTES`] is enforced after the read, not during it.
//! - It does not return the manifest's `Content-Type`; the media type comes from the body's
//!   `mediaType` ([`RawManifest::from_bytes`]), empty when the document has none.
//! - On a registry that needs no authentication at all, oci-client repeats `GET /v2/` before
//!   each request (it only caches tokens it got); harmless, one extra round trip.

use crate::auth::{AuthSources, Credential, Lookup};
use crate::digest::Digest;
use crate::oci::{Descriptor, ACCEPTED_MANIFEST_TYPES};
use crate::reference::RegistryRef;
use crate::tls::HostTls;
use crate::transport::{
    check_manifest, BlobStream, ManifestRef, RawManifest, Transport, TransportError,
};
use async_trait::async_trait;
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciEnvelope, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::token_cache::{RegistryToken, RegistryTokenType};
use oci_client::{Reference, RegistryOperation};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

mod mount;

const USER_AGENT: &str = concat!("manifest/", env!("CARGO_PKG_VERSION"));
/// Connecting should be quick; a registry that does not answer in this time is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence on an open connection (not a whole-transfer limit, so big blobs are fine).
const READ_TIMEOUT: Duration = Duration::from_secs(300);
/// No single backoff sleeps longer than this, whatever the attempt number.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const TLS_HINT: &str =
    "use --cert-dir DIR with the registry's CA certificate, or --tls-verify=false";

/// Registry settings shared by every command that talks to a registry (the registry flags).
#[derive(Clone)]
pub struct RegistryOptions {
    /// `--creds USER[:PASS]`. Default `None`: credentials are looked up (see [`crate::auth`]).
    pub creds: Option<String>,
    /// `--authfile PATH`. Default `None`.
    pub authfile: Option<PathBuf>,
    /// `--cert-dir DIR` with `*.crt` CA certificates. Default `None`: the certs.d directories
    /// in [`crate::tls::DEFAULT_CERT_DIRS`] for the registry's `HOST[:PORT]`.
    pub cert_dir: Option<PathBuf>,
    /// `--tls-verify`. Default `true`. `false` accepts any certificate and falls back to plain
    /// HTTP when the registry does not speak TLS.
    pub tls_verify: bool,
    /// Extra attempts for a request that failed in a way that may pass (connection errors,
    /// 429, 5xx). Default `3`. Blob streams are not retried here: the copy engine restarts them.
    pub retries: u32,
    /// The first backoff delay; it doubles with each attempt, with ±50% jitter, capped at 30s.
    /// Default 200 ms (buildah starts near 1 s; shorter keeps tests and small pushes quick,
    /// and three doublings still wait ~1.4 s in total).
    pub retry_delay: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            creds: None,
            authfile: None,
            cert_dir: None,
            tls_verify: true,
            retries: 3,
            retry_delay: Duration::from_millis(200),
        }
    }
}

impl fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryOptions")
            .field(
                "creds",
                &self.creds.as_deref().map(crate::auth::redact_creds),
            )
            .field("authfile", &self.authfile)
            .field("cert_dir", &self.cert_dir)
            .field("tls_verify", &self.tls_verify)
            .field("retries", &self.retries)
            .field("retry_delay", &self.retry_delay)
            .finish()
    }
}

/// How many times and how patiently to retry.
#[derive(Debug, Clone, Copy)]
struct RetryPolicy {
    retries: u32,
    delay: Duration,
}

/// Runs `op` until it succeeds, fails in a way that will not pass, or `policy.retries` extra
/// attempts are used up. The last error says how many attempts were made.
async fn retry<T, F, Fut>(policy: RetryPolicy, mut op: F) -> Result<T, TransportError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TransportError>>,
{
    let mut attempt: u32 = 0;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(e) if e.is_retryable() && attempt < policy.retries => {
                tokio::time::sleep(backoff(policy.delay, attempt, e.retry_after())).await;
                attempt += 1;
            }
            Err(e) if attempt > 0 => return Err(gave_up(e, attempt + 1)),
            Err(e) => return Err(e),
        }
    }
}

/// `base · 2^attempt`, times a random factor in [0.5, 1.5) so that parallel transfers that
/// failed together do not retry in lockstep; at least what the server asked for.
/// The wait before retry number `attempt + 1`: exponential from `base`, ±50% jitter, capped;
/// at least what the server asked for in `Retry-After`.
pub fn backoff(base: Duration, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let exponential = base.saturating_mul(1u32 << attempt.min(16));
    let jittered = exponential
        .mul_f64(rand::random_range(0.5..1.5))
        .min(MAX_BACKOFF);
    match retry_after {
        Some(asked) => jittered.max(asked.min(MAX_BACKOFF * 2)),
        None => jittered,
    }
}

fn gave_up(error: TransportError, attempts: u32) -> TransportError {
    let note = format!("gave up after {attempts} attempts");
    match error {
        TransportError::Status {
            method,
            url,
            status,
            detail,
            retry_after,
        } => TransportError::Status {
            method,
            url,
            status,
            detail: if detail.is_empty() {
                note
            } else {
                format!("{detail}; {note}")
            },
            retry_after,
        },
        TransportError::Network { context, detail } => TransportError::Network {
            context,
            detail: format!("{detail} ({note})"),
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
        other => other,
    }
}

/// Whether a registry is reached over HTTPS or, with `--tls-verify=false` only, plain HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Https,
    Http,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// What is known about one registry host: how to reach it and whom to trust.
#[derive(Debug, Clone)]
struct Endpoint {
    scheme: Scheme,
    tls: HostTls,
    /// Same trust settings as the oci-client for this host.
    http: reqwest::Client,
}

/// One per process: resolves each registry's endpoint and credentials once and hands out
/// [`RegistryTransport`]s that share HTTP connections and tokens. Cheap to clone.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    options: RegistryOptions,
    sources: AuthSources,
    /// Keyed by the host as the reference wrote it.
    endpoints: Mutex<HashMap<String, Arc<OnceCell<Endpoint>>>>,
    /// One oci-client per host and credential: oci-client keeps one credential per registry.
    clients: Mutex<HashMap<(String, Option<Credential>), oci_client::Client>>,
    lookups: Mutex<HashMap<(String, String), Lookup>>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Checks the options (a `--creds` without a password is refused here, before any network
    /// traffic) and reads the credential sources from the environment.
    pub async fn new(options: RegistryOptions) -> Result<Self, TransportError> {
        let sources = AuthSources::from_env(options.creds.clone(), options.authfile.clone());
        Self::with_auth_sources(options, sources).await
    }

    /// Like [`RegistryClient::new`] with explicit credential sources (tests use this so that
    /// they never read the real home directory). `options.creds`/`authfile` are not consulted.
    pub async fn with_auth_sources(
        options: RegistryOptions,
        sources: AuthSources,
    ) -> Result<Self, TransportError> {
        if let Some(creds) = &sources.creds {
            crate::auth::parse_creds(creds).map_err(|e| TransportError::Invalid(e.to_string()))?;
        }
        Ok(Self {
            inner: Arc::new(ClientInner {
                options,
                sources,
                endpoints: Mutex::default(),
                clients: Mutex::default(),
                lookups: Mutex::default(),
            }),
        })
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.inner.options
    }

    fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            retries: self.inner.options.retries,
            delay: self.inner.options.retry_delay,
        }
    }

    /// A transport for one repository. Resolves the endpoint (TLS trust, HTTPS or HTTP) and the
    /// credentials; does not authenticate yet (that happens on first use, per operation).
    pub async fn repository(&self, r: &RegistryRef) -> Result<RegistryTransport, TransportError> {
        let endpoint = self.endpoint(&r.registry).await?;
        let lookup = self.lookup(&r.registry, &r.repository).await?;
        let client = self.oci_client(&r.registry, &endpoint, lookup.credential.as_ref())?;
        let auth = match &lookup.credential {
            Some(c) => RegistryAuth::Basic(c.username().to_string(), c.password().to_string()),
            None => RegistryAuth::Anonymous,
        };
        let base = Reference::with_tag(r.registry.clone(), r.repository.clone(), "latest".into());
        let url_base = format!(
            "{}://{}/v2/{}",
            endpoint.scheme.as_str(),
            base.resolve_registry(),
            r.repository
        );
        let api_root = format!("{}://{}", endpoint.scheme.as_str(), base.resolve_registry());
        let mounter = mount::Mounter::new(
            endpoint.http.clone(),
            api_root,
            r.repository.clone(),
            lookup
                .credential
                .as_ref()
                .map(|c| (c.username().to_string(), c.password().to_string())),
            self.policy(),
        );
        Ok(RegistryTransport {
            client,
            auth,
            base,
            mounter,
            errors: ErrorMapper {
                registry: r.registry.clone(),
                location: format!("{}/{}", r.registry, r.repository),
                searched: lookup.searched,
                url_base,
            },
            policy: self.policy(),
            pull_ready: OnceCell::new(),
            push_ready: OnceCell::new(),
        })
    }

    async fn endpoint(&self, host: &str) -> Result<Endpoint, TransportError> {
        let cell = {
            let mut map = self
                .inner
                .endpoints
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            map.entry(host.to_string()).or_default().clone()
        };
        cell.get_or_try_init(|| self.resolve_endpoint(host))
            .await
            .cloned()
    }

    async fn resolve_endpoint(&self, host: &str) -> Result<Endpoint, TransportError> {
        let options = &self.inner.options;
        let cert_dir = options.cert_dir.clone();
        let host_owned = host.to_string();
        let tls = tokio::task::spawn_blocking(move || {
            crate::tls::host_tls(cert_dir.as_deref(), &host_owned)
        })
        .await
        .map_err(|e| TransportError::Invalid(format!("reading certificates: {e}")))?
        .map_err(|e| TransportError::Tls {
            registry: host.to_string(),
            detail: e.to_string(),
        })?;
        let http = http_client(&tls, !options.tls_verify)?;
        if options.tls_verify {
            // Verified TLS only: no probe, no fallback (not even for localhost, as in buildah).
            return Ok(Endpoint {
                scheme: Scheme::Https,
                tls,
                http,
            });
        }
        let api_host = Reference::with_tag(host.into(), "x".into(), "latest".into())
            .resolve_registry()
            .to_string();
        let scheme = retry(self.policy(), || probe_scheme(&http, host, &api_host)).await?;
        Ok(Endpoint { scheme, tls, http })
    }

    async fn lookup(&self, registry: &str, repository: &str) -> Result<Lookup, TransportError> {
        let key = (registry.to_string(), repository.to_string());
        if let Some(found) = self
            .inner
            .lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(found.clone());
        }
        let sources = self.inner.sources.clone();
        let (reg, repo) = key.clone();
        // A credential helper is a child process: keep it off the async worker threads.
        let lookup = tokio::task::spawn_blocking(move || sources.lookup(&reg, &repo))
            .await
            .map_err(|e| TransportError::Invalid(format!("credential lookup: {e}")))?
            .map_err(|e| TransportError::Invalid(format!("{registry}: {e}")))?;
        self.inner
            .lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, lookup.clone());
        Ok(lookup)
    }

    fn oci_client(
        &self,
        host: &str,
        endpoint: &Endpoint,
        credential: Option<&Credential>,
    ) -> Result<oci_client::Client, TransportError> {
        let key = (host.to_string(), credential.cloned());
        let mut clients = self.inner.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let config = ClientConfig {
            // Each oci-client talks to one host, so the scheme can be set for the whole client.
            protocol: match endpoint.scheme {
                Scheme::Https => ClientProtocol::Https,
                Scheme::Http => ClientProtocol::Http,
            },
            accept_invalid_certificates: !self.inner.options.tls_verify,
            // Streams a blob in one PUT with Content-Length: memory stays flat and every
            // registry accepts it (chunked PATCH uploads are where registries differ most).
            use_monolithic_push: true,
            extra_root_certificates: endpoint.tls.ca_certs.clone(),
            // We never let oci-client pick a platform; index handling is ours.
            platform_resolver: None,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            user_agent: USER_AGENT,
            ..ClientConfig::default()
        };
        // `Client::new` would hide a bad configuration behind a default client; try_from does not.
        let client = oci_client::Client::try_from(config).map_err(|e| TransportError::Tls {
            registry: host.to_string(),
            detail: format!("cannot set up the HTTP client: {}", error_chain(&e)),
        })?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

/// A plain reqwest client with the same trust settings as the host's oci-client, for what
/// oci-client cannot do: the HTTPS/HTTP probe and cross-repository mounts ([`mount`]).
fn http_client(tls: &HostTls, accept_invalid: bool) -> Result<reqwest::Client, TransportError> {
    let certs = tls
        .ca_certs
        .iter()
        .map(reqwest::Certificate::try_from)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TransportError::Invalid(format!("CA certificate: {e}")))?;
    reqwest::Client::builder()
        .danger_accept_invalid_certs(accept_invalid)
        .tls_certs_merge(certs)
        .connect_timeout(CONNECT_TIMEOUT)
        // Only small requests go through this client.
        .timeout(Duration::from_secs(60))
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| TransportError::Invalid(format!("cannot set up the HTTP client: {e}")))
}

/// With `--tls-verify=false`: HTTPS (any certificate) if the registry answers `GET /v2/` over
/// it at all (any status), else plain HTTP if that answers; what containers/image does.
async fn probe_scheme(
    probe: &reqwest::Client,
    host: &str,
    api_host: &str,
) -> Result<Scheme, TransportError> {
    let https = format!("https://{api_host}/v2/");
    let https_error = match probe.get(&https).send().await {
        Ok(_) => return Ok(Scheme::Https),
        Err(e) => error_chain(&e),
    };
    let http = format!("http://{api_host}/v2/");
    match probe.get(&http).send().await {
        Ok(_) => Ok(Scheme::Http),
        Err(e) => Err(TransportError::Network {
            context: format!("{host}: GET {https} and GET {http}"),
            detail: format!("{https_error}; {}", error_chain(&e)),
        }),
    }
}

/// An error and all its causes on one line: reqwest's own message hides the cause.
fn error_chain(error: &dyn std::error::Error) -> String {
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

/// Whether a connection failure happened in the TLS layer (rustls's messages), so the user
/// gets the `--cert-dir` / `--tls-verify` hint instead of "connection failed".
fn looks_like_tls(chain: &str) -> bool {
    let lower = chain.to_ascii_lowercase();
    [
        "certificate",
        "tls",
        "handshake",
        "invalidcontenttype",
        "corrupt message",
        "peer is incompatible",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// Keeps registry error bodies (sometimes whole HTML pages) to a readable length.
fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut clipped: String = text.chars().take(max).collect();
        clipped.push('…');
        clipped
    }
}

/// The HTTP status distribution-spec assigns to an error code; oci-client keeps the code of a
/// 4xx error body but drops the status.
fn status_for_code(code: &OciErrorCode) -> u16 {
    match code {
        OciErrorCode::BlobUnknown
        | OciErrorCode::BlobUploadUnknown
        | OciErrorCode::ManifestUnknown
        | OciErrorCode::NameUnknown
        | OciErrorCode::NotFound => 404,
        OciErrorCode::Unauthorized => 401,
        OciErrorCode::Denied => 403,
        OciErrorCode::Unsupported => 405,
        OciErrorCode::Toomanyrequests => 429,
        _ => 400,
    }
}

fn code_name(code: &OciErrorCode) -> String {
    match code {
        OciErrorCode::Other(other) => other.clone(),
        known => serde_json::to_value(known)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("{known:?}")),
    }
}

/// `CODE: message; CODE: message`, from a registry's error body.
fn envelope_detail(envelope: &OciEnvelope) -> String {
    envelope
        .errors
        .iter()
        .map(|e| {
            let code = code_name(&e.code);
            if e.message.is_empty() {
                code
            } else {
                format!("{code}: {}", clip(&e.message, 200))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a failed request was doing, for the error message.
#[derive(Clone, Copy)]
struct Op<'a> {
    method: &'static str,
    /// `manifest v1`, `blob sha256:…`.
    what: &'a str,
    /// A 404 on a read means "not there"; on a write it is an error of the write.
    read: bool,
}

/// Turns oci-client and reqwest errors into [`TransportError`]s that name the registry, the
/// repository and, for 401/403, where credentials were looked for. Owned (and cloned into
/// blob streams) so that errors found mid-stream are mapped the same way.
#[derive(Debug, Clone)]
struct ErrorMapper {
    registry: String,
    /// `host/repository`, for messages.
    location: String,
    searched: String,
    /// `scheme://api-host/v2/repository`, when the error carries no URL.
    url_base: String,
}

impl ErrorMapper {
    fn map(&self, error: OciDistributionError, op: Op<'_>) -> TransportError {
        match error {
            OciDistributionError::UnauthorizedError { url } => {
                self.status(401, &url, "authentication required", op)
            }
            OciDistributionError::AuthenticationFailure(reason) => TransportError::Unauthorized {
                registry: self.registry.clone(),
                detail: format!("the token server refused: {}", clip(&reason, 300)),
                searched: self.searched.clone(),
            },
            OciDistributionError::ServerError { code, url, message } => {
                // Upload errors reach us with the raw body; show its error codes when it has them.
                let detail = match serde_json::from_str::<OciEnvelope>(&message) {
                    Ok(envelope) if !envelope.errors.is_empty() => envelope_detail(&envelope),
                    _ => clip(&message, 300),
                };
                self.status(code, &url, &detail, op)
            }
            OciDistributionError::RegistryError { envelope, url } => {
                let status = envelope
                    .errors
                    .first()
                    .map(|e| status_for_code(&e.code))
                    .unwrap_or(400);
                self.status(status, &url, &envelope_detail(&envelope), op)
            }
            OciDistributionError::RequestError(e) => self.request(&e, op),
            OciDistributionError::DigestError(
                oci_client::errors::DigestError::VerificationError { expected, actual },
            ) => self.mismatch(&expected, &actual, op),
            OciDistributionError::IoError(e) => self.io(e, op),
            OciDistributionError::SpecViolationError(detail) => TransportError::Invalid(format!(
                "{} {}: {}: the registry does not follow the distribution spec: {detail}",
                op.method, self.location, op.what
            )),
            other => TransportError::Invalid(format!(
                "{} {}: {}: {}",
                op.method,
                self.location,
                op.what,
                error_chain(&other)
            )),
        }
    }

    fn status(&self, status: u16, url: &str, detail: &str, op: Op<'_>) -> TransportError {
        let url = if url.is_empty() {
            self.url_base.clone()
        } else {
            url.to_string()
        };
        match status {
            401 | 403 => TransportError::Unauthorized {
                registry: self.registry.clone(),
                detail: if detail.is_empty() {
                    format!("{status} from {} {url}", op.method)
                } else {
                    format!("{status} from {} {url}: {detail}", op.method)
                },
                searched: self.searched.clone(),
            },
            404 if op.read => TransportError::NotFound {
                what: op.what.to_string(),
                location: self.location.clone(),
            },
            _ => TransportError::Status {
                method: op.method.to_string(),
                url,
                status,
                detail: detail.to_string(),
                // oci-client does not pass response headers on; see the module comment.
                retry_after: None,
            },
        }
    }

    fn request(&self, error: &reqwest::Error, op: Op<'_>) -> TransportError {
        let url = error
            .url()
            .map(|u| u.to_string())
            .unwrap_or_else(|| self.url_base.clone());
        if let Some(status) = error.status() {
            return self.status(status.as_u16(), &url, "", op);
        }
        let chain = error_chain(error);
        if looks_like_tls(&chain) {
            return TransportError::Tls {
                registry: self.registry.clone(),
                detail: format!("{chain}; {TLS_HINT}"),
            };
        }
        TransportError::Network {
            context: format!("{} {url} ({})", op.method, op.what),
            detail: chain,
        }
    }

    fn mismatch(&self, expected: &str, actual: &str, op: Op<'_>) -> TransportError {
        match (Digest::parse(expected), Digest::parse(actual)) {
            (Ok(expected), Ok(actual)) => TransportError::DigestMismatch {
                what: format!("{} in {}", op.what, self.location),
                expected,
                actual,
            },
            _ => TransportError::Invalid(format!(
                "{} in {}: content does not match its digest {expected} (got {actual})",
                op.what, self.location
            )),
        }
    }

    /// oci-client's blob streams report failures as `io::Error`s wrapping the real error.
    fn io(&self, error: std::io::Error, op: Op<'_>) -> TransportError {
        if let Some(inner) = error.get_ref() {
            if let Some(oci_client::errors::DigestError::VerificationError { expected, actual }) =
                inner.downcast_ref::<oci_client::errors::DigestError>()
            {
                return self.mismatch(expected, actual, op);
            }
            if let Some(e) = inner.downcast_ref::<reqwest::Error>() {
                return self.request(e, op);
            }
        }
        TransportError::Network {
            context: format!("{} {} ({})", op.method, self.url_base, op.what),
            detail: error_chain(&error),
        }
    }
}

/// One repository of one registry. Made by [`RegistryClient::repository`].
pub struct RegistryTransport {
    client: oci_client::Client,
    auth: RegistryAuth,
    /// `registry/repository:latest`; only its registry and repository matter to oci-client.
    base: Reference,
    errors: ErrorMapper,
    policy: RetryPolicy,
    /// Mounts on token-auth registries, which need a token oci-client cannot ask for.
    mounter: mount::Mounter,
    pull_ready: OnceCell<()>,
    push_ready: OnceCell<()>,
}

impl fmt::Debug for RegistryTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryTransport")
            .field("location", &self.errors.location)
            .field("auth", &self.auth) // oci-client's Debug redacts the password
            .finish_non_exhaustive()
    }
}

impl RegistryTransport {
    /// Where credentials were looked for (and which one was used), as in 401 errors.
    pub fn credential_sources(&self) -> &str {
        &self.errors.searched
    }

    fn reference(&self, r: &ManifestRef) -> Reference {
        let registry = self.base.registry().to_string();
        let repository = self.base.repository().to_string();
        match r {
            ManifestRef::Tag(tag) => Reference::with_tag(registry, repository, tag.clone()),
            ManifestRef::Digest(d) => Reference::with_digest(registry, repository, d.to_string()),
            ManifestRef::Default => Reference::with_tag(registry, repository, "latest".into()),
        }
    }

    /// Authenticates once per operation kind, before the first request of that kind, so that a
    /// token server's refusal is reported as such (oci-client would otherwise go on
    /// anonymously and fail with a bare 401).
    async fn ready(&self, op: RegistryOperation) -> Result<(), TransportError> {
        if op == RegistryOperation::Pull && self.push_ready.initialized() {
            // The push token is cached for pull too (below); a new pull-only token would
            // replace it with one that may grant less on a destination repository.
            return Ok(());
        }
        let cell = match op {
            RegistryOperation::Pull => &self.pull_ready,
            RegistryOperation::Push => &self.push_ready,
        };
        cell.get_or_try_init(|| async {
            let what = match op {
                RegistryOperation::Pull => "authentication for pull",
                RegistryOperation::Push => "authentication for push",
            };
            let token = retry(self.policy, || async {
                self.client
                    .auth(&self.base, &self.auth, op)
                    .await
                    .map_err(|e| {
                        self.errors.map(
                            e,
                            Op {
                                method: "GET",
                                what,
                                read: false,
                            },
                        )
                    })
            })
            .await?;
            if let (RegistryOperation::Push, Some(token)) = (op, token) {
                // A pull,push token also covers the HEAD and GET requests oci-client makes
                // with the pull operation; caching it for pull keeps a destination that grants
                // no separate pull token (a repository that does not exist yet) usable.
                self.client
                    .tokens
                    .insert(
                        &self.base,
                        RegistryOperation::Pull,
                        RegistryTokenType::Bearer(RegistryToken::Token { token }),
                    )
                    .await;
            }
            Ok::<(), TransportError>(())
        })
        .await
        .map(|_| ())
    }
    /// A retried read (manifest GET, blob HEAD) with pull authentication. The same calls check
    /// a push destination (does it have this blob or manifest yet?), and a token server may
    /// grant no pull access on a repository that does not exist yet; so a 401/403 is tried once
    /// more with the pull,push token, before it is reported.
    async fn pull_request<T, F, Fut>(&self, request: F) -> Result<T, TransportError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
    {
        self.ready(RegistryOperation::Pull).await?;
        match retry(self.policy, &request).await {
            Err(TransportError::Unauthorized { .. })
                if !self.push_ready.initialized()
                    && self.ready(RegistryOperation::Push).await.is_ok() =>
            {
                retry(self.policy, &request).await
            }
            other => other,
        }
    }
}

#[async_trait]
impl Transport for RegistryTransport {
    fn describe(&self) -> String {
        self.errors.location.clone()
    }

    fn registry_repository(&self) -> Option<(String, String)> {
        Some((
            self.errors.registry.clone(),
            self.base.repository().to_string(),
        ))
    }

    async fn manifest_get(&self, reference: &ManifestRef) -> Result<RawManifest, TransportError> {
        let what = format!("manifest {}", manifest_name(reference));
        let op = Op {
            method: "GET",
            what: &what,
            read: true,
        };
        let oci_ref = self.reference(reference);
        let (bytes, _digest) = self
            .pull_request(|| async {
                self.client
                    .pull_manifest_raw(&oci_ref, &self.auth, ACCEPTED_MANIFEST_TYPES)
                    .await
                    .map_err(|e| self.errors.map(e, op))
            })
            .await?;
        check_manifest(
            bytes,
            reference,
            &format!("{what} in {}", self.errors.location),
        )
    }

    async fn manifest_put(
        &self,
        reference: &ManifestRef,
        manifest: &RawManifest,
    ) -> Result<(), TransportError> {
        if manifest.media_type.is_empty() {
            return Err(TransportError::Invalid(format!(
                "manifest {} has no mediaType; the registry needs one as its Content-Type",
                manifest.digest
            )));
        }
        if let ManifestRef::Digest(d) = reference {
            if !d.matches(&manifest.bytes) {
                return Err(TransportError::Invalid(format!(
                    "refusing to store manifest {} under the different digest {d}",
                    manifest.digest
                )));
            }
        }
        let content_type =
            reqwest::header::HeaderValue::from_str(&manifest.media_type).map_err(|_| {
                TransportError::Invalid(format!(
                    "manifest {} has a mediaType that is not a valid header value",
                    manifest.digest
                ))
            })?;
        self.ready(RegistryOperation::Push).await?;
        let registry = self.base.registry().to_string();
        let repository = self.base.repository().to_string();
        // By digest, the digest goes in the tag slot: the URL is the same
        // (`/manifests/sha256:…`), and oci-client's workaround for registries that answer
        // without a Location header (AWS ECR) strips the tag from the URL and panics when a
        // digest reference has none.
        let oci_ref = match reference {
            ManifestRef::Tag(tag) => Reference::with_tag(registry, repository, tag.clone()),
            ManifestRef::Digest(d) => Reference::with_tag(registry, repository, d.to_string()),
            ManifestRef::Default => Reference::with_tag(registry, repository, "latest".into()),
        };
        let what = format!("manifest {}", manifest_name(reference));
        let op = Op {
            method: "PUT",
            what: &what,
            read: false,
        };
        retry(self.policy, || async {
            self.client
                .push_manifest_raw(&oci_ref, manifest.bytes.clone(), content_type.clone())
                .await
                .map_err(|e| self.errors.map(e, op))
        })
        .await
        .map(|_url| ())
    }

    async fn blob_exists(&self, descriptor: &Descriptor) -> Result<bool, TransportError> {
        let what = format!("blob {}", descriptor.digest);
        let op = Op {
            method: "HEAD",
            what: &what,
            read: false,
        };
        self.pull_request(|| async {
            self.client
                .blob_exists(&self.base, descriptor.digest.as_str())
                .await
                .map_err(|e| self.errors.map(e, op))
        })
        .await
    }

    async fn blob_get(&self, descriptor: &Descriptor) -> Result<BlobStream, TransportError> {
        self.ready(RegistryOperation::Pull).await?;
        let what = format!("blob {}", descriptor.digest);
        let op = Op {
            method: "GET",
            what: &what,
            read: true,
        };
        // Only the digest, never the descriptor's `urls`: oci-client would fetch foreign URLs.
        let sized = self
            .client
            .pull_blob_stream(&self.base, descriptor.digest.as_str())
            .await
            .map_err(|e| self.errors.map(e, op))?;
        let errors = self.errors.clone();
        let stream = sized.stream.map(move |item| {
            item.map_err(|e| {
                errors.io(
                    e,
                    Op {
                        method: "GET",
                        what: &what,
                        read: true,
                    },
                )
            })
        });
        Ok(Box::pin(stream))
    }

    async fn blob_put(
        &self,
        descriptor: &Descriptor,
        data: BlobStream,
    ) -> Result<(), TransportError> {
        self.ready(RegistryOperation::Push).await?;
        // The source stream's own error (a digest mismatch, a read failure) is what the user
        // must see, not reqwest's "error sending request" that it turns into; keep it aside.
        let source_error: Arc<Mutex<Option<TransportError>>> = Arc::default();
        let body = hold_back_last_chunk(data, source_error.clone());
        let result = self
            .client
            .push_blob_stream(
                &self.base,
                body,
                descriptor.digest.as_str(),
                Some(descriptor.size),
            )
            .await;
        match result {
            Ok(_location) => Ok(()),
            Err(e) => {
                if let Some(source) = source_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
                {
                    return Err(source);
                }
                let what = format!("blob {}", descriptor.digest);
                Err(self.errors.map(
                    e,
                    Op {
                        method: "PUT",
                        what: &what,
                        read: false,
                    },
                ))
            }
        }
    }

    async fn blob_mount(
        &self,
        descriptor: &Descriptor,
        from_repository: &str,
    ) -> Result<bool, TransportError> {
        if from_repository == self.base.repository() {
            return Ok(false);
        }
        self.ready(RegistryOperation::Push).await?;
        match self
            .mounter
            .mount(&descriptor.digest, from_repository)
            .await
        {
            mount::MountOutcome::Mounted => return Ok(true),
            mount::MountOutcome::NotMounted => return Ok(false),
            mount::MountOutcome::NotTokenAuth => {}
        }
        let source = Reference::with_tag(
            self.base.registry().to_string(),
            from_repository.to_string(),
            "latest".into(),
        );
        let what = format!("blob {} from {from_repository}", descriptor.digest);
        let op = Op {
            method: "POST",
            what: &what,
            read: false,
        };
        let mounted = retry(self.policy, || async {
            self.client
                .mount_blob(&self.base, &source, descriptor.digest.as_str())
                .await
                .map_err(|e| self.errors.map(e, op))
        })
        .await;
        // Only 201 Created means mounted. Anything else, including the legal 202 (the registry
        // opened an upload session instead, which oci-client reports as a spec violation), means
        // "copy it": the copy engine then streams the blob, which is always correct.
        Ok(mounted.is_ok())
    }
}

/// Adapts a blob stream for oci-client's upload, delaying each chunk until the next item is
/// known. The upload has a Content-Length, and hyper stops polling the body once that many bytes
/// went out; a [`crate::transport::verified`] stream reports a bad digest only after its last
/// chunk, so without the delay that error would never be seen (the registry would still refuse
/// the blob, but with a less precise DIGEST_INVALID). The stream's error is also kept in `slot`,
/// since reqwest turns it into "error sending request".
fn hold_back_last_chunk(
    data: BlobStream,
    slot: Arc<Mutex<Option<TransportError>>>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, OciDistributionError>> + Send + 'static {
    struct State {
        inner: BlobStream,
        pending: Option<bytes::Bytes>,
        done: bool,
        slot: Arc<Mutex<Option<TransportError>>>,
    }
    let state = State {
        inner: data,
        pending: None,
        done: false,
        slot,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if s.done {
                return s.pending.take().map(|chunk| (Ok(chunk), s));
            }
            match s.inner.next().await {
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => match s.pending.replace(chunk) {
                    Some(previous) => return Some((Ok(previous), s)),
                    None => continue,
                },
                Some(Err(e)) => {
                    let message = e.to_string();
                    *s.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    s.pending = None;
                    s.done = true;
                    let error = OciDistributionError::IoError(std::io::Error::other(message));
                    return Some((Err(error), s));
                }
                None => s.done = true,
            }
        }
    })
}

/// `v1`, `sha256:…`, or `latest` for the default, in messages.
fn manifest_name(reference: &ManifestRef) -> String {
    match reference {
        ManifestRef::Default => "latest".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let base = Duration::from_millis(100);
        for attempt in 0..4 {
            let d = backoff(base, attempt, None);
            let nominal = base * (1 << attempt);
            assert!(d >= nominal / 2 && d < nominal * 3 / 2, "{attempt}: {d:?}");
        }
        assert!(backoff(base, 40, None) <= MAX_BACKOFF);
        assert!(backoff(base, 0, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
    }

    #[tokio::test]
    async fn retry_counts_attempts() {
        let policy = RetryPolicy {
            retries: 2,
            delay: Duration::from_millis(1),
        };
        let mut calls = 0;
        let err = retry(policy, || {
            calls += 1;
            async {
                Err::<(), _>(TransportError::Status {
                    method: "GET".into(),
                    url: "http://x/v2/".into(),
                    status: 503,
                    detail: String::new(),
                    retry_after: None,
                })
            }
        })
        .await
        .unwrap_err();
        assert_eq!(calls, 3);
        assert!(
            err.to_string().contains("gave up after 3 attempts"),
            "{err}"
        );

        let mut calls = 0;
        let err = retry(policy, || {
            calls += 1;
            async { Err::<(), _>(TransportError::Invalid("no".into())) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls, 1, "a non-retryable error is not retried");
        assert_eq!(err.to_string(), "no");

        let mut calls = 0;
        let ok = retry(policy, || {
            calls += 1;
            let n = calls;
            async move {
                if n < 2 {
                    Err(TransportError::Network {
                        context: "c".into(),
                        detail: "reset".into(),
                    })
                } else {
                    Ok(n)
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(ok, 2);
    }

    fn mapper() -> ErrorMapper {
        ErrorMapper {
            registry: "reg.io".into(),
            location: "reg.io/app".into(),
            searched: "--creds, /a.json".into(),
            url_base: "https://reg.io/v2/app".into(),
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

    #[test]
    fn maps_registry_errors() {
        let m = mapper();
        let envelope = |code: &str| {
            serde_json::from_str::<oci_client::errors::OciEnvelope>(&format!(
                r#"{{"errors":[{{"code":"{code}","message":"msg"}}]}}"#
            ))
            .unwrap()
        };
        let registry_error = |code: &str| OciDistributionError::RegistryError {
            envelope: envelope(code),
            url: "https://reg.io/v2/app/manifests/v1".into(),
        };

        assert!(matches!(
            m.map(registry_error("MANIFEST_UNKNOWN"), READ),
            TransportError::NotFound { .. }
        ));
        match m.map(registry_error("MANIFEST_BLOB_UNKNOWN"), WRITE) {
            TransportError::Status { status, detail, .. } => {
                assert_eq!(status, 400);
                assert_eq!(detail, "MANIFEST_BLOB_UNKNOWN: msg");
            }
            other => panic!("{other:?}"),
        }
        match m.map(registry_error("DENIED"), WRITE) {
            TransportError::Unauthorized {
                searched, detail, ..
            } => {
                assert_eq!(searched, "--creds, /a.json");
                assert!(
                    detail.contains("403") && detail.contains("DENIED"),
                    "{detail}"
                );
            }
            other => panic!("{other:?}"),
        }
        let e = m.map(registry_error("TOOMANYREQUESTS"), READ);
        assert!(e.is_retryable(), "{e:?}");

        let e = m.map(
            OciDistributionError::ServerError {
                code: 502,
                url: "u".into(),
                message: "bad gateway".into(),
            },
            READ,
        );
        assert!(e.is_retryable());
        assert!(e.to_string().contains("502"), "{e}");

        let e = m.map(
            OciDistributionError::UnauthorizedError { url: "u".into() },
            READ,
        );
        assert!(matches!(e, TransportError::Unauthorized { .. }));
        let e = m.map(
            OciDistributionError::AuthenticationFailure("invalid password".into()),
            READ,
        );
        assert!(e.to_string().contains("invalid password"), "{e}");
        assert!(e.to_string().contains("/a.json"), "{e}");
    }

    #[test]
    fn upload_error_bodies_show_their_codes() {
        let e = mapper().map(
            OciDistributionError::ServerError {
                code: 400,
                url: "http://reg.io/v2/app/blobs/uploads/x".into(),
                message: r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#.into(),
            },
            WRITE,
        );
        match e {
            TransportError::Status { status, detail, .. } => {
                assert_eq!(status, 400);
                assert_eq!(
                    detail,
                    "DIGEST_INVALID: provided digest did not match uploaded content"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn upload_body_holds_the_last_chunk_until_the_end_is_known() {
        use futures_util::stream;
        let chunks = |items: Vec<Result<&'static str, &'static str>>| -> BlobStream {
            Box::pin(stream::iter(items.into_iter().map(|item| {
                item.map(|s| bytes::Bytes::from_static(s.as_bytes()))
                    .map_err(|e| TransportError::Invalid(e.to_string()))
            })))
        };
        let slot: Arc<Mutex<Option<TransportError>>> = Arc::default();
        let out: Vec<_> =
            hold_back_last_chunk(chunks(vec![Ok("a"), Ok(""), Ok("b")]), slot.clone())
                .collect()
                .await;
        let out: Vec<_> = out.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(out, vec![bytes::Bytes::from("a"), bytes::Bytes::from("b")]);
        assert!(slot.lock().unwrap().is_none());

        // The error replaces the held-back chunk: the body never reaches its full length.
        let out: Vec<_> = hold_back_last_chunk(
            chunks(vec![Ok("a"), Ok("b"), Err("bad digest")]),
            slot.clone(),
        )
        .collect()
        .await;
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].as_ref().unwrap(), &bytes::Bytes::from("a"));
        assert!(out[1].is_err());
        assert_eq!(
            slot.lock().unwrap().take().unwrap().to_string(),
            "bad digest"
        );
    }

    #[test]
    fn tls_failures_are_recognised() {
        assert!(looks_like_tls(
            "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer"
        ));
        assert!(looks_like_tls(
            "received corrupt message of type InvalidContentType"
        ));
        assert!(!looks_like_tls(
            "tcp connect error: Connection refused (os error 111)"
        ));
    }

    #[test]
    fn options_debug_redacts_password() {
        let options = RegistryOptions {
            creds: Some("alice:hunter2".into()),
            ..Default::default()
        };
        let shown = format!("{options:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("alice"),
            "{shown}"
        );
        assert!(options.tls_verify);
        assert_eq!(options.retries, 3);
    }

    #[tokio::test]
    async fn creds_without_password_are_refused_up_front() {
        let options = RegistryOptions {
            creds: Some("alice".into()),
            ..Default::default()
        };
        let err = RegistryClient::new(options).await.unwrap_err().to_string();
        assert!(
            err.contains("interactive password prompt is not supported"),
            "{err}"
        );
    }
}
