//! Registries as a transport: the [`Transport`] trait over the OCI distribution API, with
//! credential lookup ([`crate::auth`]), TLS trust ([`crate::tls`]), the HTTPS→HTTP fallback of
//! `--tls-verify=false`, authentication, retries, typed errors and `--debug` request logging.
//!
//! Who sends what:
//! - `GET /v2/` once per registry host per process (`auth::Challenge`): with
//!   `--tls-verify=false` the HTTPS/HTTP probe is that request; otherwise it is sent before the
//!   first request that needs to know how to authenticate. It tells "no auth", Basic, or Bearer
//!   with the token realm.
//! - Tokens (`auth::fetch_token`) once per repository and operation (`pull`, `pull,push`), kept
//!   until shortly before they expire; a 401 on a token that may have expired gets one new
//!   token and one more try.
//! - Manifest GET and PUT, blob HEAD and GET, and mounts (`mount`) are sent here with reqwest
//!   (`wire`), so that `Retry-After`, `Content-Type` and `Docker-Content-Digest` are seen and
//!   every request can be logged.
//! - Blob uploads (POST + monolithic PUT, streamed) go through `oci-client`, which gets the
//!   credentials from us: for Basic, the credentials as a never-expiring cache entry; for
//!   Bearer, our token. On a registry that needs no auth, oci-client is never given any
//!   (given credentials, it would ping `GET /v2/` before every request it sends, since it only
//!   caches what it got back and an auth-less registry gives nothing).
//!
//! Rules:
//! - Manifests are kept as the bytes read, checked against the digest asked for
//!   ([`check_manifest`]) and against `Docker-Content-Digest`; their size is capped while they
//!   are read. The media type is the body's `mediaType`, else the response's Content-Type,
//!   else what the document's shape says.
//! - Credentials never go to another host: reqwest's redirect policy drops `Authorization` when
//!   a redirect crosses host, port or scheme (`remove_sensitive_headers` in reqwest 0.13's
//!   redirect.rs), which covers blob downloads redirected to a CDN; oci-client's `apply_auth`
//!   leaves upload `Location`s on another host (or an https→http downgrade) unauthenticated
//!   (the CVE-2020-15157 rule); an upload cancelled after a refused mount is only deleted when
//!   its location is on the registry itself.
//! - Retries (`retry`) wrap every request except blob streams (the copy engine restarts
//!   those); 429 and 5xx back off exponentially and at least as long as `Retry-After` says.
//! - oci-client's upload errors keep their status; errors with a spec error body show its codes.

use crate::auth::{AuthSources, Credential, Lookup};
use crate::digest::{Digest, Verifier};
use crate::oci::{Descriptor, ACCEPTED_MANIFEST_TYPES};
use crate::reference::RegistryRef;
use crate::tls::HostTls;
use crate::transport::{
    check_manifest, BlobStream, ManifestRef, RawManifest, Transport, TransportError,
    MAX_MANIFEST_BYTES,
};
use async_trait::async_trait;
use auth::{fetch_token, BearerChallenge, Challenge, Credentials, Token, TokenError};
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciEnvelope, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::token_cache::{RegistryToken, RegistryTokenType};
use oci_client::{Reference, RegistryOperation};
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use reqwest::{Response, StatusCode};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use wire::Wire;

mod auth;
mod mount;
mod wire;

const USER_AGENT: &str = concat!("manifest/", env!("CARGO_PKG_VERSION"));
/// Connecting should be quick; a registry that does not answer in this time is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence on an open connection (not a whole-transfer limit, so big blobs are fine).
const READ_TIMEOUT: Duration = Duration::from_secs(300);
/// The whole of a small request (ping, token, manifest, HEAD, mount), answer included.
const SMALL_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// A 401 on a bearer token at least this old may mean it expired (when the registry does not
/// say): get a new one and try again. A younger one was just granted, and a 401 means it does
/// not grant enough.
const REAUTH_MIN_TOKEN_AGE: Duration = Duration::from_secs(1);
/// How long oci-client keeps a token we hand it when the token is not a JWT with `exp`. Ours
/// are refreshed before each upload ([`RegistryTransport::credentials`]), so oci-client must not
/// drop them earlier and go and ask for its own (a ping and a token request).
const OCI_CLIENT_TOKEN_SECS: usize = 24 * 60 * 60;
/// Of an error body, at most this much is read (for its error codes).
const MAX_ERROR_BODY: usize = 64 * 1024;
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
    /// `--debug`: print `METHOD URL -> STATUS (ms)` to stderr for every request sent. Default
    /// `false`. Never prints credentials, tokens or headers; query parameters that may carry
    /// secrets (an upload's `_state`) are shown as `…`.
    pub debug: bool,
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
            debug: false,
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
            .field("debug", &self.debug)
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

/// What is known about one registry host: how to reach it, whom to trust, and how it wants to
/// be authenticated. Clones share the challenge, so the host is pinged once.
#[derive(Debug, Clone)]
struct Endpoint {
    scheme: Scheme,
    tls: HostTls,
    /// Same trust settings as the oci-client for this host.
    wire: Wire,
    /// The answer to `GET /v2/`: filled by the probe of `--tls-verify=false`, else on first use.
    challenge: Arc<OnceCell<Challenge>>,
    /// A challenge from a 401 on a host whose `GET /v2/` asked for none; it wins.
    learned_challenge: Arc<Mutex<Option<Challenge>>>,
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
        install_crypto_provider();
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

    /// A transport for one repository. Resolves the endpoint (TLS trust; with
    /// `--tls-verify=false`, HTTPS or HTTP, which is the host's one `GET /v2/`) and the
    /// credentials; does not authenticate yet (that happens on first use, per operation).
    pub async fn repository(&self, r: &RegistryRef) -> Result<RegistryTransport, TransportError> {
        let endpoint = self.endpoint(&r.registry).await?;
        let lookup = self.lookup(&r.registry, &r.repository).await?;
        let client = self.oci_client(&r.registry, &endpoint, lookup.credential.as_ref())?;
        let basic = lookup
            .credential
            .as_ref()
            .map(|c| (c.username().to_string(), c.password().to_string()));
        let auth = match &basic {
            Some((user, password)) => RegistryAuth::Basic(user.clone(), password.clone()),
            None => RegistryAuth::Anonymous,
        };
        let base = Reference::with_tag(r.registry.clone(), r.repository.clone(), "latest".into());
        let api_root = format!("{}://{}", endpoint.scheme.as_str(), base.resolve_registry());
        let url_base = format!("{api_root}/v2/{}", r.repository);
        let mounter = mount::Mounter::new(
            endpoint.wire.clone(),
            api_root.clone(),
            r.repository.clone(),
            basic.clone(),
            self.policy(),
        );
        Ok(RegistryTransport {
            client,
            auth,
            basic,
            base,
            wire: endpoint.wire.clone(),
            api_root,
            host_challenge: endpoint.challenge.clone(),
            learned_challenge: endpoint.learned_challenge.clone(),
            pull_token: tokio::sync::Mutex::new(None),
            push_token: tokio::sync::Mutex::new(None),
            oci_client_has_basic: OnceCell::new(),
            mounter,
            errors: ErrorMapper {
                registry: r.registry.clone(),
                location: format!("{}/{}", r.registry, r.repository),
                searched: lookup.searched,
                url_base,
            },
            policy: self.policy(),
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
        let wire = Wire::new(http_client(&tls, !options.tls_verify)?, options.debug);
        if options.tls_verify {
            // Verified TLS only: no probe, no fallback (not even for localhost, as in buildah).
            // The host is pinged when a request first needs to know how to authenticate.
            return Ok(Endpoint {
                scheme: Scheme::Https,
                tls,
                wire,
                challenge: Arc::default(),
                learned_challenge: Arc::default(),
            });
        }
        let api_host = Reference::with_tag(host.into(), "x".into(), "latest".into())
            .resolve_registry()
            .to_string();
        let (scheme, challenge) =
            retry(self.policy(), || probe_scheme(&wire, host, &api_host)).await?;
        Ok(Endpoint {
            scheme,
            tls,
            wire,
            // A probe answered with 429/5xx found the scheme but not the challenge: ask later.
            challenge: Arc::new(OnceCell::new_with(challenge)),
            learned_challenge: Arc::default(),
        })
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
            default_token_expiration_secs: OCI_CLIENT_TOKEN_SECS,
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

/// Makes rustls use ring for every client of this process (reqwest and oci-client take the
/// process default). Without it reqwest falls back to aws-lc, whose entropy seeding cost about
/// 20 ms of CPU per process (measured with perf by bench/); ring reads the OS RNG directly.
fn install_crypto_provider() {
    // Err means a provider is already installed (a second client, or a test): keep it.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A plain reqwest client with the same trust settings as the host's oci-client, for every
/// request not sent through oci-client. No whole-request timeout (blob downloads are long);
/// small requests set their own ([`SMALL_REQUEST_TIMEOUT`]).
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
        .read_timeout(READ_TIMEOUT)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| TransportError::Invalid(format!("cannot set up the HTTP client: {e}")))
}

/// With `--tls-verify=false`: HTTPS (any certificate) if the registry answers `GET /v2/` over
/// it at all (any status), else plain HTTP if that answers; what containers/image does. The
/// answer is also the host's authentication challenge (`None` when it was 429/5xx).
async fn probe_scheme(
    wire: &Wire,
    host: &str,
    api_host: &str,
) -> Result<(Scheme, Option<Challenge>), TransportError> {
    let ping = |url: String| async move {
        wire.send(wire.http().get(&url).timeout(SMALL_REQUEST_TIMEOUT))
            .await
            .map(|r| Challenge::from_response(r.status(), r.headers()))
    };
    let https = format!("https://{api_host}/v2/");
    let https_error = match ping(https.clone()).await {
        Ok(challenge) => return Ok((Scheme::Https, challenge)),
        Err(e) => error_chain(&e),
    };
    let http = format!("http://{api_host}/v2/");
    match ping(http.clone()).await {
        Ok(challenge) => Ok((Scheme::Http, challenge)),
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

/// Turns oci-client and reqwest errors, and refusals from the registry, into [`TransportError`]s that name the registry, the
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
                self.status(401, &url, "authentication required", op, None)
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
                self.status(code, &url, &detail, op, None)
            }
            OciDistributionError::RegistryError { envelope, url } => {
                let status = envelope
                    .errors
                    .first()
                    .map(|e| status_for_code(&e.code))
                    .unwrap_or(400);
                self.status(status, &url, &envelope_detail(&envelope), op, None)
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

    /// An answer that is not a success, read into an error: its status, its spec error codes
    /// (or the start of its body), and its `Retry-After`.
    async fn response(&self, response: Response, op: Op<'_>) -> TransportError {
        let status = response.status().as_u16();
        let url = wire::shown_url(response.url());
        let retry_after = wire::retry_after(response.headers());
        let body = read_limited(response, MAX_ERROR_BODY).await;
        let detail = match serde_json::from_slice::<OciEnvelope>(&body) {
            Ok(envelope) if !envelope.errors.is_empty() => envelope_detail(&envelope),
            _ => clip(&String::from_utf8_lossy(&body), 300),
        };
        self.status(status, &url, &detail, op, retry_after)
    }

    fn status(
        &self,
        status: u16,
        url: &str,
        detail: &str,
        op: Op<'_>,
        retry_after: Option<Duration>,
    ) -> TransportError {
        let url = if url.is_empty() {
            self.url_base.clone()
        } else {
            // Upload URLs carry the registry's `_state`: not for messages.
            reqwest::Url::parse(url)
                .map(|u| wire::shown_url(&u))
                .unwrap_or_else(|_| url.to_string())
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
                // oci-client does not pass response headers on: `None` for its errors.
                retry_after,
            },
        }
    }

    fn request(&self, error: &reqwest::Error, op: Op<'_>) -> TransportError {
        let url = error
            .url()
            .map(wire::shown_url)
            .unwrap_or_else(|| self.url_base.clone());
        if let Some(status) = error.status() {
            return self.status(status.as_u16(), &url, "", op, None);
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

    /// The refusal of a token server, with where credentials were looked for.
    fn token_refused(&self, status: u16, body: &str) -> TransportError {
        TransportError::Unauthorized {
            registry: self.registry.clone(),
            detail: if status == 0 {
                clip(body, 300)
            } else {
                format!("the token server refused ({status}): {}", clip(body, 300))
            },
            searched: self.searched.clone(),
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

/// At most `limit` bytes of a response body; what was read when the connection fails.
async fn read_limited(mut response: Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())])
            }
            _ => break,
        }
    }
    body
}
/// One repository of one registry. Made by [`RegistryClient::repository`].
pub struct RegistryTransport {
    /// For blob uploads only; it gets its credentials from us ([`Self::credentials`]).
    client: oci_client::Client,
    /// What oci-client is told to authenticate with, on registries that want authentication.
    auth: RegistryAuth,
    basic: Option<(String, String)>,
    /// `registry/repository:latest`; only its registry and repository matter to oci-client.
    base: Reference,
    wire: Wire,
    /// `scheme://api-host`.
    api_root: String,
    /// The host's answer to `GET /v2/`, shared by every transport of the host.
    host_challenge: Arc<OnceCell<Challenge>>,
    /// A challenge from a 401 on a host whose `GET /v2/` asked for none; it wins. Shared by
    /// the host's transports, like `host_challenge`.
    learned_challenge: Arc<Mutex<Option<Challenge>>>,
    /// Bearer tokens for `pull` and for `pull,push`; a push token serves pulls too.
    pull_token: tokio::sync::Mutex<Option<Token>>,
    push_token: tokio::sync::Mutex<Option<Token>>,
    oci_client_has_basic: OnceCell<()>,
    errors: ErrorMapper,
    policy: RetryPolicy,
    /// Cross-repository mounts, which on token registries need a token for two repositories.
    mounter: mount::Mounter,
}

impl fmt::Debug for RegistryTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryTransport")
            .field("location", &self.errors.location)
            .field("auth", &self.auth) // oci-client's Debug redacts the password
            .finish_non_exhaustive()
    }
}

/// A response's `Docker-Content-Digest`, when it is a digest we can check.
fn content_digest(headers: &HeaderMap) -> Option<Digest> {
    let value = headers.get("docker-content-digest")?.to_str().ok()?;
    Digest::parse(value.trim()).ok()
}

/// A manifest media type from a `Content-Type` header, without parameters; only the types we
/// asked for count (a registry may answer `application/json` or `text/plain`).
fn manifest_content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    ACCEPTED_MANIFEST_TYPES
        .contains(&essence.as_str())
        .then_some(essence)
}

impl RegistryTransport {
    /// Where credentials were looked for (and which one was used), as in 401 errors.
    pub fn credential_sources(&self) -> &str {
        &self.errors.searched
    }

    /// How this registry wants to be authenticated: pings the host the first time any
    /// transport of the process needs to know (unless the `--tls-verify=false` probe did).
    async fn challenge(&self) -> Result<Challenge, TransportError> {
        if let Some(learned) = self
            .learned_challenge
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(learned);
        }
        self.host_challenge
            .get_or_try_init(|| retry(self.policy, || self.ping()))
            .await
            .cloned()
    }

    async fn ping(&self) -> Result<Challenge, TransportError> {
        let url = format!("{}/v2/", self.api_root);
        let op = Op {
            method: "GET",
            what: "the registry's API root",
            read: false,
        };
        let response = self
            .wire
            .send(self.wire.http().get(&url).timeout(SMALL_REQUEST_TIMEOUT))
            .await
            .map_err(|e| self.errors.request(&e, op))?;
        match Challenge::from_response(response.status(), response.headers()) {
            Some(challenge) => Ok(challenge),
            None => Err(self.errors.response(response, op).await),
        }
    }

    /// The credentials for a request of `op`, and when its token was granted (for bearer
    /// tokens). On Basic and Bearer registries, oci-client gets the same credentials for the
    /// uploads it makes; on registries without auth it gets none, so that it never pings.
    async fn credentials(
        &self,
        op: RegistryOperation,
    ) -> Result<(Credentials, Option<Instant>), TransportError> {
        match self.challenge().await? {
            Challenge::None => Ok((Credentials::None, None)),
            Challenge::Basic => {
                let Some((user, password)) = &self.basic else {
                    return Ok((Credentials::None, None));
                };
                self.oci_client_has_basic
                    .get_or_init(|| async {
                        self.client
                            .store_auth_if_needed(self.base.resolve_registry(), &self.auth)
                            .await;
                        // Cached Basic credentials never expire in oci-client, so it never
                        // pings to learn how to authenticate.
                        for op in [RegistryOperation::Pull, RegistryOperation::Push] {
                            let basic = RegistryTokenType::Basic(user.clone(), password.clone());
                            self.client.tokens.insert(&self.base, op, basic).await;
                        }
                    })
                    .await;
                Ok((Credentials::Basic(user.clone(), password.clone()), None))
            }
            Challenge::Bearer(challenge) => self.bearer(op, &challenge).await,
        }
    }

    async fn bearer(
        &self,
        op: RegistryOperation,
        challenge: &BearerChallenge,
    ) -> Result<(Credentials, Option<Instant>), TransportError> {
        if op == RegistryOperation::Pull {
            // A pull,push token covers pulls; a pull-only token may grant less on a
            // destination repository (one that does not exist yet).
            if let Some(token) = self.push_token.lock().await.as_ref() {
                if token.is_fresh() {
                    return Ok((
                        Credentials::Bearer(token.value.clone()),
                        Some(token.fetched_at),
                    ));
                }
            }
        }
        let (slot, scope) = match op {
            RegistryOperation::Pull => (&self.pull_token, "pull"),
            RegistryOperation::Push => (&self.push_token, "pull,push"),
        };
        // Held while asking, so that parallel requests wait for one token request.
        let mut slot = slot.lock().await;
        if let Some(token) = slot.as_ref() {
            if token.is_fresh() {
                return Ok((
                    Credentials::Bearer(token.value.clone()),
                    Some(token.fetched_at),
                ));
            }
        }
        let scopes = [format!("repository:{}:{scope}", self.base.repository())];
        let token = retry(self.policy, || async {
            match fetch_token(&self.wire, challenge, &scopes, self.basic.as_ref()).await {
                Ok(token) => Ok(Ok(token)),
                Err(TokenError::Transport(e)) => Err(e),
                Err(TokenError::Refused { status, body }) => Ok(Err((status, body))),
            }
        })
        .await?
        .map_err(|(status, body)| self.errors.token_refused(status, &body))?;
        // oci-client uploads with the same token; a pull,push one serves its pulls as well.
        self.client
            .store_auth_if_needed(self.base.resolve_registry(), &self.auth)
            .await;
        let ops: &[RegistryOperation] = match op {
            RegistryOperation::Pull => &[RegistryOperation::Pull],
            RegistryOperation::Push => &[RegistryOperation::Push, RegistryOperation::Pull],
        };
        for op in ops {
            let cached = RegistryTokenType::Bearer(RegistryToken::Token {
                token: token.value.clone(),
            });
            self.client.tokens.insert(&self.base, *op, cached).await;
        }
        let answer = (
            Credentials::Bearer(token.value.clone()),
            Some(token.fetched_at),
        );
        *slot = Some(token);
        Ok(answer)
    }

    async fn forget_tokens(&self) {
        *self.pull_token.lock().await = None;
        *self.push_token.lock().await = None;
    }

    /// Sends a request built by `build` with the credentials for `op`. A 401 is answered once:
    /// with a new token when the one sent may have expired, or with credentials when a
    /// registry that asked for none at `GET /v2/` asks for them here. Any other answer is the
    /// caller's to read.
    async fn send(
        &self,
        op: RegistryOperation,
        what: Op<'_>,
        build: &(dyn Fn() -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<Response, TransportError> {
        let mut answered_401 = false;
        loop {
            let (credentials, granted) = self.credentials(op).await?;
            let response = self
                .wire
                .send(credentials.apply(build()))
                .await
                .map_err(|e| self.errors.request(&e, what))?;
            if response.status() != StatusCode::UNAUTHORIZED || answered_401 {
                return Ok(response);
            }
            answered_401 = true;
            let asked = Challenge::from_response(response.status(), response.headers());
            let asked_for_none =
                credentials == Credentials::None && self.challenge().await? == Challenge::None;
            let again = match (&credentials, &asked) {
                (Credentials::Bearer(_), _) => {
                    // RFC 6750: `invalid_token` (expired, revoked) is worth a new token;
                    // `insufficient_scope` is not. Registries that say neither get a new
                    // token when the one sent was not just granted.
                    let said = match &asked {
                        Some(Challenge::Bearer(c)) => c.error.as_deref(),
                        _ => None,
                    };
                    let renew = match said {
                        Some("invalid_token") => true,
                        Some(_) => false,
                        None => granted.is_some_and(|at| at.elapsed() >= REAUTH_MIN_TOKEN_AGE),
                    };
                    if renew {
                        self.forget_tokens().await;
                    }
                    renew
                }
                (Credentials::None, Some(asked)) if asked_for_none => {
                    let usable = match asked {
                        Challenge::Bearer(_) => true,
                        Challenge::Basic => self.basic.is_some(),
                        Challenge::None => false,
                    };
                    if usable {
                        *self
                            .learned_challenge
                            .lock()
                            .unwrap_or_else(|e| e.into_inner()) = Some(asked.clone());
                    }
                    usable
                }
                _ => false,
            };
            if !again {
                return Ok(response);
            }
            // Read the (small) refusal so that the connection can carry the next try.
            read_limited(response, MAX_ERROR_BODY).await;
        }
    }

    /// `HEAD url`: 2xx → present, 404 → absent, anything else an error. Retried, with pull
    /// authentication (see [`Self::pull_request`]).
    async fn head_exists(
        &self,
        url: &str,
        what: &str,
        accept: Option<&str>,
    ) -> Result<bool, TransportError> {
        let op = Op {
            method: "HEAD",
            what,
            read: false,
        };
        let build = || {
            let request = self.wire.http().head(url).timeout(SMALL_REQUEST_TIMEOUT);
            match accept {
                Some(types) => request.header(ACCEPT, types),
                None => request,
            }
        };
        self.pull_request(|| async {
            let response = self.send(RegistryOperation::Pull, op, &build).await?;
            match response.status() {
                s if s.is_success() => Ok(true),
                StatusCode::NOT_FOUND => Ok(false),
                _ => Err(self.errors.response(response, op).await),
            }
        })
        .await
    }

    /// A retried read (manifest GET, blob HEAD). The same calls check a push destination (does
    /// it have this blob or manifest yet?), and a token server may grant no pull access on a
    /// repository that does not exist yet; so a 401/403 is tried once more with the pull,push
    /// token, before it is reported.
    async fn pull_request<T, F, Fut>(&self, request: F) -> Result<T, TransportError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
    {
        // A token server's refusal is reported as such, before any request.
        self.credentials(RegistryOperation::Pull).await?;
        match retry(self.policy, &request).await {
            Err(TransportError::Unauthorized { .. }) if self.push_token_is_new().await => {
                retry(self.policy, &request).await
            }
            other => other,
        }
    }

    /// Whether a pull,push token could be had now, on a bearer registry where there was none.
    async fn push_token_is_new(&self) -> bool {
        if !matches!(self.challenge().await, Ok(Challenge::Bearer(_)))
            || self.push_token.lock().await.is_some()
        {
            return false;
        }
        self.credentials(RegistryOperation::Push).await.is_ok()
    }

    fn manifest_url(&self, reference: &ManifestRef) -> String {
        format!(
            "{}/manifests/{}",
            self.errors.url_base,
            manifest_name(reference)
        )
    }

    fn blob_url(&self, digest: &Digest) -> String {
        format!("{}/blobs/{digest}", self.errors.url_base)
    }

    /// Reads a manifest body, refusing more than [`MAX_MANIFEST_BYTES`] as soon as it is seen.
    async fn manifest_body(
        &self,
        mut response: Response,
        what: &str,
        op: Op<'_>,
    ) -> Result<bytes::Bytes, TransportError> {
        let too_large = |size: u64| TransportError::TooLarge {
            what: format!("{what} in {}", self.errors.location),
            size,
            limit: MAX_MANIFEST_BYTES,
        };
        if let Some(size) = response.content_length() {
            if size > MAX_MANIFEST_BYTES {
                return Err(too_large(size));
            }
        }
        let mut body = Vec::with_capacity(response.content_length().unwrap_or(4096) as usize);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.errors.request(&e, op))?
        {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > MAX_MANIFEST_BYTES {
                return Err(too_large(body.len() as u64));
            }
        }
        Ok(body.into())
    }
}

#[async_trait]
impl Transport for RegistryTransport {
    fn describe(&self) -> String {
        self.errors.location.clone()
    }

    fn checks_uploaded_digests(&self) -> bool {
        true
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
        let url = self.manifest_url(reference);
        let accept = ACCEPTED_MANIFEST_TYPES.join(", ");
        let build = || {
            self.wire
                .http()
                .get(&url)
                .header(ACCEPT, &accept)
                .timeout(SMALL_REQUEST_TIMEOUT)
        };
        let (bytes, content_type, header_digest) = self
            .pull_request(|| async {
                let response = self.send(RegistryOperation::Pull, op, &build).await?;
                if !response.status().is_success() {
                    return Err(self.errors.response(response, op).await);
                }
                let content_type = manifest_content_type(response.headers());
                let header_digest = content_digest(response.headers());
                let bytes = self.manifest_body(response, &what, op).await?;
                Ok((bytes, content_type, header_digest))
            })
            .await?;
        let located = format!("{what} in {}", self.errors.location);
        if let Some(expected) = header_digest {
            let mut verifier = Verifier::new(&expected);
            verifier.update(&bytes);
            let actual = verifier.finish();
            if actual != expected {
                return Err(TransportError::DigestMismatch {
                    what: format!("{located} (its Docker-Content-Digest)"),
                    expected,
                    actual,
                });
            }
        }
        check_manifest(bytes, reference, content_type.as_deref(), &located)
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
        let what = format!("manifest {}", manifest_name(reference));
        let op = Op {
            method: "PUT",
            what: &what,
            read: false,
        };
        let url = self.manifest_url(reference);
        let build = || {
            self.wire
                .http()
                .put(&url)
                .header(CONTENT_TYPE, content_type.clone())
                .body(manifest.bytes.clone())
                .timeout(SMALL_REQUEST_TIMEOUT)
        };
        let stored = retry(self.policy, || async {
            let response = self.send(RegistryOperation::Push, op, &build).await?;
            if !response.status().is_success() {
                return Err(self.errors.response(response, op).await);
            }
            Ok(content_digest(response.headers()))
        })
        .await?;
        // The registry names what it stored; with the same algorithm it must be our digest.
        match stored {
            Some(stored)
                if stored.algorithm() == manifest.digest.algorithm()
                    && stored != manifest.digest =>
            {
                Err(TransportError::DigestMismatch {
                    what: format!("{what} as stored in {}", self.errors.location),
                    expected: manifest.digest.clone(),
                    actual: stored,
                })
            }
            _ => Ok(()),
        }
    }

    async fn blob_exists(&self, descriptor: &Descriptor) -> Result<bool, TransportError> {
        let what = format!("blob {}", descriptor.digest);
        self.head_exists(&self.blob_url(&descriptor.digest), &what, None)
            .await
    }

    async fn manifest_exists(&self, digest: &Digest) -> Result<bool, TransportError> {
        let what = format!("manifest {digest}");
        let url = self.manifest_url(&ManifestRef::Digest(digest.clone()));
        let accept = ACCEPTED_MANIFEST_TYPES.join(", ");
        self.head_exists(&url, &what, Some(&accept)).await
    }

    async fn blob_get(&self, descriptor: &Descriptor) -> Result<BlobStream, TransportError> {
        let what = format!("blob {}", descriptor.digest);
        let op = Op {
            method: "GET",
            what: &what,
            read: true,
        };
        // Only the digest, never the descriptor's `urls`: no fetching from foreign URLs. Not
        // retried here: the copy engine restarts a failed transfer, stream and all.
        let url = self.blob_url(&descriptor.digest);
        let build = || self.wire.http().get(&url);
        let response = self.send(RegistryOperation::Pull, op, &build).await?;
        if !response.status().is_success() {
            return Err(self.errors.response(response, op).await);
        }
        let errors = self.errors.clone();
        let stream = response.bytes_stream().map(move |item| {
            item.map_err(|e| {
                errors.request(
                    &e,
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
        // Fresh credentials in oci-client's cache, so that it never asks for its own.
        self.credentials(RegistryOperation::Push).await?;
        // The source stream's own error (a digest mismatch, a read failure) is what the user
        // must see, not reqwest's "error sending request" that it turns into; keep it aside.
        let source_error: Arc<Mutex<Option<TransportError>>> = Arc::default();
        let body = hold_back_last_chunk(data, source_error.clone());
        let started = Instant::now();
        let result = self
            .client
            .push_blob_stream(
                &self.base,
                body,
                descriptor.digest.as_str(),
                Some(descriptor.size),
            )
            .await;
        if self.wire.debug() {
            let outcome = match &result {
                Ok(_) => "201".to_string(),
                Err(e) => format!("error: {}", clip(&error_chain(e), 200)),
            };
            let upload = format!("{}/blobs/uploads/", self.errors.url_base);
            if let Ok(mut url) = reqwest::Url::parse(&upload) {
                url.query_pairs_mut()
                    .append_pair("digest", descriptor.digest.as_str());
                self.wire.log_foreign(
                    "POST+PUT",
                    &url,
                    &outcome,
                    started.elapsed(),
                    &format!("{} bytes, sent by oci-client", descriptor.size),
                );
            }
        }
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
                let mapped = self.errors.map(
                    e,
                    Op {
                        method: "PUT",
                        what: &what,
                        read: false,
                    },
                );
                // The registry hashed what we sent (we only checked its size on the way).
                Err(match mapped {
                    TransportError::Status { detail, .. } if detail.contains("DIGEST_INVALID") => {
                        TransportError::RejectedDigest { what, detail }
                    }
                    other => other,
                })
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
        let credentials = match self.challenge().await? {
            Challenge::Bearer(challenge) => {
                match self
                    .mounter
                    .token_credentials(&challenge, from_repository)
                    .await
                {
                    Some(credentials) => credentials,
                    None => return Ok(false),
                }
            }
            _ => self.credentials(RegistryOperation::Push).await?.0,
        };
        // Only 201 Created means mounted. Anything else, including the legal 202 (the registry
        // opened an upload session instead, which the mounter cancels), means "copy it": the
        // copy engine then streams the blob, which is always correct.
        let outcome = self
            .mounter
            .mount(&descriptor.digest, from_repository, &credentials)
            .await;
        Ok(outcome == mount::MountOutcome::Mounted)
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
    fn upload_throttling_and_server_errors_are_retryable() {
        // oci-client keeps the status of upload errors; a 429 stays retryable whatever its body.
        for (code, body) in [
            (
                429,
                r#"{"errors":[{"code":"DENIED","message":"slow down"}]}"#,
            ),
            (429, ""),
            (503, "<html>busy</html>"),
        ] {
            let e = mapper().map(
                OciDistributionError::ServerError {
                    code,
                    url: "http://reg.io/v2/app/blobs/uploads/x?_state=SECRET&digest=sha256%3A00"
                        .into(),
                    message: body.into(),
                },
                WRITE,
            );
            assert!(e.is_retryable(), "{code}: {e:?}");
            assert!(!e.to_string().contains("SECRET"), "{e}");
        }
    }

    #[test]
    fn manifest_types_from_headers_and_bodies() {
        use reqwest::header::HeaderValue;
        let headers = |content_type: &str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
            h
        };
        assert_eq!(
            manifest_content_type(&headers(
                "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"
            ))
            .as_deref(),
            Some(crate::oci::DOCKER_MANIFEST)
        );
        assert_eq!(manifest_content_type(&headers("application/json")), None);
        assert_eq!(manifest_content_type(&HeaderMap::new()), None);

        let digest = Digest::sha256_of(b"x");
        let mut h = HeaderMap::new();
        h.insert(
            "Docker-Content-Digest",
            HeaderValue::from_str(digest.as_str()).unwrap(),
        );
        assert_eq!(content_digest(&h), Some(digest));
        h.insert("Docker-Content-Digest", HeaderValue::from_static("md5:abc"));
        assert_eq!(content_digest(&h), None);
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let shown = format!(
            "{:?} {:?}",
            Credentials::Basic("alice".into(), "hunter2".into()),
            Credentials::Bearer("tok3n".into())
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok3n"),
            "{shown}"
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
        assert!(!options.debug);
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
