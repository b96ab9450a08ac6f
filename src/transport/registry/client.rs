//! The registry client of one process: its settings, one HTTP client per registry host (that
//! host's TLS trust and scheme), the host's `GET /v2/` answer, and credential lookups; it hands
//! out one [`RegistryTransport`] per repository.

use super::error::{error_chain, Errors, Op};
use super::mirrors::Mirrored;
use super::session::{Challenge, Session};
use super::wire::{Timeouts, Wire};
use super::RegistryTransport;
use crate::auth::{AuthSources, Lookup};
use crate::config::certs::{CertDirs, HostCerts};
use crate::config::endpoints::Endpoint;
use crate::config::registries::RegistriesConf;
use crate::config::ConfigError;
use crate::reference::RegistryRef;
use crate::retry::RetryPolicy;
use crate::transport::{NetworkFailure, Transport, TransportError};
use reqwest::Url;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

const USER_AGENT: &str = concat!("manifest/", env!("CARGO_PKG_VERSION"));

/// The upload chunk size unless `--upload-chunk-size` says otherwise (see bench/README.md for
/// how it was chosen).
pub const DEFAULT_CHUNK_SIZE: u64 = 128 * 1024 * 1024;

/// Registry settings shared by every command that talks to a registry (the registry flags).
#[derive(Clone, Default)]
pub struct RegistryOptions {
    /// `--creds USER[:PASS]`. Default `None`: credentials are looked up (see [`crate::auth`]).
    pub creds: Option<String>,
    /// `--authfile PATH`. Default `None`.
    pub authfile: Option<PathBuf>,
    /// `--cert-dir DIR`. Default `None`: the certs.d directories for the registry's
    /// `HOST[:PORT]` (`~/.config/containers/certs.d`, `/etc/containers/certs.d`,
    /// `/etc/docker/certs.d`; the first that exists).
    pub cert_dir: Option<PathBuf>,
    /// `--tls-verify`, an override for every registry of the command. Default `None`: each
    /// registry as registries.conf says (verified HTTPS unless `insecure = true`). `Some(false)`
    /// accepts any certificate and falls back to plain HTTP when the registry does not speak
    /// TLS.
    pub tls_verify: Option<bool>,
    /// registries.conf (`--registries-conf`): per-registry `insecure`, `blocked`, `location`
    /// and mirrors. Default: no configuration (every registry as it is named, verified).
    pub registries: Arc<RegistriesConf>,
    /// Retries of failed requests (`--retry`, `--retry-delay`). Default [`RetryPolicy::default`].
    pub retry: RetryPolicy,
    /// Time limits (`--connect-timeout`, `--response-timeout`, `--stall-timeout`). Default
    /// [`Timeouts::default`].
    pub timeouts: Timeouts,
    /// Blobs larger than this are uploaded in chunks of this size, so that a break costs at
    /// most one chunk again (`--upload-chunk-size`). Default [`DEFAULT_CHUNK_SIZE`]; 0 means
    /// the default.
    pub chunk_size: u64,
    /// `--debug`: print `METHOD URL -> STATUS (ms)` to stderr for every request sent. Default
    /// `false`. Never prints credentials, tokens or headers; query parameters that may carry
    /// secrets (an upload's `_state`) are shown as `…`.
    pub debug: bool,
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
            .field("retry", &self.retry)
            .field("timeouts", &self.timeouts)
            .field("chunk_size", &self.chunk_size)
            .field("debug", &self.debug)
            .finish()
    }
}

/// One registry host as this process reaches it. Shared by every repository of the host.
pub(super) struct Host {
    /// The host as references write it (`docker.io`, `127.0.0.1:5000`).
    pub(super) name: String,
    /// What certs.d holds for the host, and where it was looked for (for TLS errors).
    pub(super) certs: Arc<HostCerts>,
    /// `scheme://api-host[:port]/`: where requests go, and the only origin that gets
    /// credentials.
    pub(super) origin: Url,
    pub(super) wire: Wire,
    pub(super) policy: RetryPolicy,
    /// The answer to `GET /v2/`: filled by the probe of an insecure host, else on first use.
    challenge: OnceCell<Challenge>,
    /// A challenge from a 401 on a host whose `GET /v2/` asked for none; it wins.
    learned: Mutex<Option<Challenge>>,
    /// The host refused a chunked upload: it gets single streamed PATCHes.
    chunks_refused: std::sync::atomic::AtomicBool,
}

impl Host {
    pub(super) fn refuses_chunks(&self) -> bool {
        self.chunks_refused
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn refuse_chunks(&self) {
        self.chunks_refused
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub(super) fn learned_challenge(&self) -> Option<Challenge> {
        self.learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn learn_challenge(&self, challenge: Challenge) {
        *self.learned.lock().unwrap_or_else(|e| e.into_inner()) = Some(challenge);
    }

    /// How the host wants to be authenticated: asks `GET /v2/` the first time any repository
    /// of the process needs to know (unless the probe of an insecure host already did).
    pub(super) async fn challenge(&self, errors: &Errors) -> Result<Challenge, TransportError> {
        self.challenge
            .get_or_try_init(|| self.policy.run(|| self.ping(errors)))
            .await
            .cloned()
    }

    async fn ping(&self, errors: &Errors) -> Result<Challenge, TransportError> {
        let url = self.origin.join("v2/").expect("a host origin joins v2/");
        let op = Op {
            method: "GET",
            what: "the registry's API root",
            read: false,
        };
        let response = self
            .wire
            .send(self.wire.http().get(url.clone()))
            .await
            .map_err(|e| errors.wire(e, op, &url))?;
        // A challenge counts only when the registry itself sent it (not a redirect target).
        if response.url().origin() != self.origin.origin() {
            return Ok(Challenge::None);
        }
        match Challenge::from_response(&response) {
            Some(challenge) => Ok(challenge),
            None => Err(errors.response(response, op).await),
        }
    }
}

/// One per process: resolves each registry host and credentials once and hands out
/// [`RegistryTransport`]s that share connections and the host's challenge. Cheap to clone.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<ClientInner>,
}

/// A host, resolved once by whoever asks first.
type HostCell = Arc<OnceCell<Arc<Host>>>;

struct ClientInner {
    options: RegistryOptions,
    sources: AuthSources,
    cert_dirs: CertDirs,
    /// By host name and whether it may be reached insecurely.
    hosts: Mutex<HashMap<(String, bool), HostCell>>,
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
    pub(crate) async fn new(options: RegistryOptions) -> Result<Self, TransportError> {
        let sources = AuthSources::from_env(options.creds.clone(), options.authfile.clone());
        Self::with_auth_sources(options, sources).await
    }

    /// Like `RegistryClient::new` with explicit credential sources (tests use this so that
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
                cert_dirs: CertDirs::from_env(options.cert_dir.as_deref()),
                options,
                sources,
                hosts: Mutex::default(),
                lookups: Mutex::default(),
            }),
        })
    }

    /// A transport to write to (or read from) one repository, exactly as named: registries.conf
    /// decides only whether it is insecure or blocked (writes never go to mirrors). Resolves the
    /// host (TLS trust; for an insecure host, HTTPS or HTTP, which is the host's one `GET /v2/`)
    /// and the credentials; does not authenticate yet (that happens on first use).
    pub async fn repository(&self, r: &RegistryRef) -> Result<RegistryTransport, TransportError> {
        let endpoint = self
            .inner
            .options
            .registries
            .push_endpoint(r)
            .map_err(|e| refused(r, e))?;
        self.open(r, &endpoint).await
    }

    /// A transport to read an image from: its registries.conf mirrors first (as their
    /// `pull-from-mirror` allows), then its primary location, each tried in turn.
    pub(crate) async fn reader(
        &self,
        r: &RegistryRef,
    ) -> Result<Arc<dyn Transport>, TransportError> {
        let endpoints = self
            .inner
            .options
            .registries
            .pull_endpoints(r)
            .map_err(|e| refused(r, e))?;
        match endpoints.as_slice() {
            [only] => Ok(Arc::new(self.open(r, only).await?)),
            _ => Ok(Arc::new(Mirrored::new(self.clone(), r.clone(), endpoints))),
        }
    }

    /// A transport for `requested` as found at `endpoint`.
    pub(super) async fn open(
        &self,
        requested: &RegistryRef,
        endpoint: &Endpoint,
    ) -> Result<RegistryTransport, TransportError> {
        let r = endpoint.reference(requested);
        let insecure = match self.inner.options.tls_verify {
            Some(verify) => !verify,
            None => endpoint.insecure,
        };
        let host = self.host(&r.registry, insecure).await?;
        let lookup = self.lookup(&r.registry, &r.repository).await?;
        let errors = Errors {
            registry: r.registry.clone(),
            location: format!("{}/{}", r.registry, r.repository),
            searched: lookup.searched.clone(),
            certs: host.certs.clone(),
            cert_dir_given: self.inner.options.cert_dir.is_some(),
            has_credential: lookup.credential.is_some(),
            stall: self.inner.options.timeouts.stall,
        };
        let session = Session::new(host, r.repository.clone(), lookup.credential, errors);
        let chunk_size = match self.inner.options.chunk_size {
            0 => DEFAULT_CHUNK_SIZE,
            size => size,
        };
        Ok(RegistryTransport::new(
            session,
            r.repository.clone(),
            chunk_size,
        ))
    }

    async fn host(&self, name: &str, insecure: bool) -> Result<Arc<Host>, TransportError> {
        let cell = {
            let mut hosts = self.inner.hosts.lock().unwrap_or_else(|e| e.into_inner());
            hosts
                .entry((name.to_string(), insecure))
                .or_default()
                .clone()
        };
        cell.get_or_try_init(|| self.resolve_host(name, insecure))
            .await
            .cloned()
    }

    async fn resolve_host(&self, name: &str, insecure: bool) -> Result<Arc<Host>, TransportError> {
        let options = &self.inner.options;
        let cert_dirs = self.inner.cert_dirs.clone();
        let owned = name.to_string();
        let tls = tokio::task::spawn_blocking(move || {
            crate::config::trust::host_tls(&cert_dirs, &owned, !insecure)
        })
        .await
        .map_err(|e| TransportError::Invalid(format!("reading certificates: {e}")))?
        .map_err(|e| TransportError::Tls {
            registry: name.to_string(),
            detail: e.to_string(),
        })?;
        let certs = Arc::new(tls.certs);
        let wire = Wire::new(
            http_client(tls.config, options.timeouts)?,
            options.debug,
            options.timeouts,
        );
        let api_host = api_host(name);
        let https = origin("https", &api_host)?;
        let host = |origin: Url, challenge: OnceCell<Challenge>| {
            Arc::new(Host {
                name: name.to_string(),
                certs: certs.clone(),
                origin,
                wire: wire.clone(),
                policy: options.retry,
                challenge,
                learned: Mutex::default(),
                chunks_refused: Default::default(),
            })
        };
        if !insecure {
            // Verified TLS only: no probe, no fallback (not even for localhost, as in buildah).
            return Ok(host(https, OnceCell::new()));
        }
        let http = origin("http", &api_host)?;
        let errors = Errors {
            registry: name.to_string(),
            location: name.to_string(),
            searched: String::new(),
            certs: certs.clone(),
            cert_dir_given: options.cert_dir.is_some(),
            has_credential: false,
            stall: options.timeouts.stall,
        };
        // A host that did not answer in time is down: no second wait for the same silence.
        let probe_policy = RetryPolicy {
            timeout_retries: 0,
            ..options.retry
        };
        let (origin, challenge) = probe_policy
            .run(|| probe_scheme(&wire, &https, &http, &errors))
            .await?;
        // A probe answered with 429/5xx found the scheme but not the challenge: ask later.
        let cell = match challenge {
            Some(challenge) => OnceCell::new_with(Some(challenge)),
            None => OnceCell::new(),
        };
        Ok(host(origin, cell))
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
}

/// Where the API of a registry named `name` lives: Docker Hub's API is not at `docker.io`.
fn api_host(name: &str) -> String {
    match name {
        "docker.io" | "index.docker.io" => "registry-1.docker.io".to_string(),
        other => other.to_string(),
    }
}

fn origin(scheme: &str, api_host: &str) -> Result<Url, TransportError> {
    Url::parse(&format!("{scheme}://{api_host}/"))
        .map_err(|e| TransportError::Invalid(format!("invalid registry host {api_host:?}: {e}")))
}

/// Makes rustls use ring for every client of this process. Without it the TLS stack falls back
/// to aws-lc, whose entropy seeding cost about 20 ms of CPU per process (measured with perf by
/// bench/); ring reads the OS RNG directly.
fn install_crypto_provider() {
    // Err means a provider is already installed (a second client, or a test): keep it.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The one HTTP client of a host: its TLS configuration (trust, client identity) and time
/// limits. No whole-request timeout (blob transfers are long); [`Wire`] sets the response limit
/// and watches for stalls.
fn http_client(
    tls: rustls::ClientConfig,
    timeouts: Timeouts,
) -> Result<reqwest::Client, TransportError> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(timeouts.connect)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| TransportError::Invalid(format!("cannot set up the HTTP client: {e}")))
}

/// A registries.conf refusal (a blocked registry) as the error for `r`; nothing was sent.
fn refused(r: &RegistryRef, error: ConfigError) -> TransportError {
    TransportError::Refused {
        registry: r.registry.clone(),
        detail: error.to_string(),
    }
}

/// For an insecure host: HTTPS (any certificate) if the registry answers `GET /v2/` over it at
/// all (any status), else plain HTTP if that answers; what containers/image does. The answer
/// is also the host's authentication challenge (`None` when it was 429/5xx).
async fn probe_scheme(
    wire: &Wire,
    https: &Url,
    http: &Url,
    errors: &Errors,
) -> Result<(Url, Option<Challenge>), TransportError> {
    let op = Op {
        method: "GET",
        what: "the registry's API root",
        read: false,
    };
    let ping = |origin: &Url| {
        let url = origin.join("v2/").expect("a host origin joins v2/");
        let origin = origin.clone();
        async move {
            let response = wire
                .send(wire.http().get(url.clone()))
                .await
                .map_err(|e| errors.wire(e, op, &url))?;
            if response.url().origin() != origin.origin() {
                return Ok(Some(Challenge::None));
            }
            Ok::<_, TransportError>(Challenge::from_response(&response))
        }
    };
    let https_error = match ping(https).await {
        Ok(challenge) => return Ok((https.clone(), challenge)),
        Err(e) => e,
    };
    match ping(http).await {
        Ok(challenge) => Ok((http.clone(), challenge)),
        Err(http_error) => {
            let kind_of = |e: &TransportError| match e {
                TransportError::Network { kind, .. } => Some(*kind),
                _ => None,
            };
            let refused = Some(NetworkFailure::Refused);
            if kind_of(&https_error) == refused && kind_of(&http_error) == refused {
                return Err(TransportError::Network {
                    context: errors.registry.clone(),
                    detail: "connection refused: nothing listens there".into(),
                    kind: NetworkFailure::Refused,
                });
            }
            // Both failed; the kind that decides a retry is the plain-HTTP attempt's, the
            // message shows both.
            let kind = kind_of(&http_error).unwrap_or(NetworkFailure::Dropped);
            Err(TransportError::Network {
                context: format!("{}: no answer over HTTPS or HTTP", errors.registry),
                detail: format!(
                    "{}; {}",
                    error_chain(&https_error),
                    error_chain(&http_error)
                ),
                kind,
            })
        }
    }
}
