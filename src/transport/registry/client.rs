//! The registry client of one process, the top of the registry stack below the transports:
//! its settings, one wire per host (that host's TLS trust, client certificate and scheme), the
//! HTTPS/HTTP probe of insecure hosts, and credential lookups. It makes the [`Session`] of each
//! repository, handing it the credentials found for the session's own host only: `--creds` is
//! for the registry a reference names, so a mirror or a `location` remap on another host gets
//! the auth file's entry for its own host, or nothing.

use super::challenge::Challenge;
use super::error::{Errors, Unresolved};
use super::host::{ping, Host, Peers, Pinged};
use super::session::Session;
use super::wire::{Timeouts, Wire};
use crate::boundary::retry::RetryPolicy;
use crate::config::auth::{AuthSources, Lookup};
use crate::config::certs::CertDirs;
use crate::config::endpoints::Endpoint;
use crate::config::registries::RegistriesConf;
use crate::config::ConfigError;
use crate::error_chain;
use crate::model::reference::RegistryRef;
use crate::transport::{NetworkFailure, TransportError};
use reqwest::Url;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::OnceCell;

const USER_AGENT: &str = concat!("manifest/", env!("CARGO_PKG_VERSION"));

/// The upload chunk size unless `--upload-chunk-size` says otherwise (see bench/README.md for
/// how it was chosen).
pub const DEFAULT_CHUNK_SIZE: u64 = 128 * 1024 * 1024;

/// Registry settings shared by every command that talks to a registry (the registry flags).
#[derive(Clone, Default)]
pub struct RegistryOptions {
    /// `--creds USER[:PASS]`. Default `None`: credentials are looked up (see
    /// [`crate::config::auth`]).
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
                &self.creds.as_deref().map(crate::config::auth::redact_creds),
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

/// One per process: resolves each registry host and credentials once and makes the sessions
/// that share connections and the host's challenge. Cheap to clone.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<ClientInner>,
}

/// Something resolved once by whoever asks first.
type Cell<T> = Arc<OnceCell<T>>;

/// Cells by host name and whether the host may be reached insecurely.
type ByHost<T> = Mutex<HashMap<(String, bool), Cell<T>>>;

struct ClientInner {
    options: RegistryOptions,
    sources: AuthSources,
    cert_dirs: CertDirs,
    /// One wire per host and mode.
    wires: ByHost<Wire>,
    /// Registry hosts (wire, scheme, challenge).
    hosts: ByHost<Arc<Host>>,
    /// By registry, repository and whether `--creds` applies there.
    lookups: Mutex<HashMap<(String, String, bool), Lookup>>,
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
            crate::config::auth::parse_creds(creds)
                .map_err(|e| TransportError::Invalid(e.to_string()))?;
        }
        Ok(Self {
            inner: Arc::new(ClientInner {
                cert_dirs: CertDirs::from_env(options.cert_dir.as_deref()),
                options,
                sources,
                wires: Mutex::default(),
                hosts: Mutex::default(),
                lookups: Mutex::default(),
            }),
        })
    }

    /// Where `r` is written: the registry as named (writes never go to mirrors), with its
    /// registries.conf `insecure`; a blocked registry is refused here, before any request.
    pub(super) fn push_endpoint(&self, r: &RegistryRef) -> Result<Endpoint, TransportError> {
        self.inner
            .options
            .registries
            .push_endpoint(r)
            .map_err(|e| refused(r, e))
    }

    /// Where `r` is read from, in order: its mirrors (as their `pull-from-mirror` allows), then
    /// its primary location.
    pub(super) fn pull_endpoints(&self, r: &RegistryRef) -> Result<Vec<Endpoint>, TransportError> {
        self.inner
            .options
            .registries
            .pull_endpoints(r)
            .map_err(|e| refused(r, e))
    }

    /// Blobs larger than this go in resumable chunks.
    pub(super) fn chunk_size(&self) -> u64 {
        match self.inner.options.chunk_size {
            0 => DEFAULT_CHUNK_SIZE,
            size => size,
        }
    }

    /// The session for `requested` as found at `endpoint`: the endpoint's host (TLS trust; for
    /// an insecure host, HTTPS or HTTP, which is the host's one `GET /v2/`) and the credential
    /// for that host. `--creds` counts only where the endpoint is the registry `requested`
    /// names. Does not authenticate yet (that happens on first use).
    pub(super) async fn session(
        &self,
        requested: &RegistryRef,
        endpoint: &Endpoint,
    ) -> Result<Session, TransportError> {
        let r = endpoint.reference(requested);
        let insecure = match self.inner.options.tls_verify {
            Some(verify) => !verify,
            None => endpoint.insecure,
        };
        let host = self.host(&r.registry, insecure).await?;
        let named = same_registry(&requested.registry, &r.registry);
        let mut lookup = self.lookup(&r.registry, &r.repository, named).await?;
        if !named && self.inner.sources.creds.is_some() {
            lookup.searched = format!(
                "--creds (given for {} only), {}",
                requested.registry, lookup.searched
            );
        }
        let errors = Errors {
            registry: r.registry.clone(),
            location: format!("{}/{}", r.registry, r.repository),
            searched: lookup.searched.clone(),
            cert_dir_given: self.inner.options.cert_dir.is_some(),
            has_credential: lookup.credential.is_some(),
            stall: self.inner.options.timeouts.stall,
        };
        Ok(Session::new(
            host,
            r.repository.clone(),
            lookup.credential,
            errors,
        ))
    }

    async fn host(&self, name: &str, insecure: bool) -> Result<Arc<Host>, TransportError> {
        let cell = cell(&self.inner.hosts, (name.to_string(), insecure));
        cell.get_or_try_init(|| self.resolve_host(name, insecure))
            .await
            .cloned()
    }

    async fn resolve_host(&self, name: &str, insecure: bool) -> Result<Arc<Host>, TransportError> {
        let options = &self.inner.options;
        let wire = self.inner.wire(name, insecure).await?;
        let peers: Arc<dyn Peers> = Arc::new(PeerWires(Arc::downgrade(&self.inner)));
        let api_host = api_host(name);
        let https = origin("https", &api_host)?;
        if !insecure {
            // Verified TLS only: no probe, no fallback (not even for localhost, as in buildah).
            return Ok(Arc::new(Host::new(
                name,
                https,
                wire,
                options.retry,
                insecure,
                peers,
                None,
            )));
        }
        let http = origin("http", &api_host)?;
        let errors = Errors {
            registry: name.to_string(),
            location: name.to_string(),
            searched: String::new(),
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
        Ok(Arc::new(Host::new(
            name,
            origin,
            wire,
            options.retry,
            insecure,
            peers,
            challenge,
        )))
    }

    async fn lookup(
        &self,
        registry: &str,
        repository: &str,
        with_creds: bool,
    ) -> Result<Lookup, TransportError> {
        let key = (registry.to_string(), repository.to_string(), with_creds);
        if let Some(found) = self
            .inner
            .lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(found.clone());
        }
        let sources = match with_creds {
            true => self.inner.sources.clone(),
            false => AuthSources {
                creds: None,
                ..self.inner.sources.clone()
            },
        };
        let (reg, repo) = (registry.to_string(), repository.to_string());
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

impl ClientInner {
    /// The wire of host `name` (`host[:port]`): its certs.d CAs and client certificates, or any
    /// certificate when `insecure`. One per host and mode, made by whoever asks first.
    async fn wire(&self, name: &str, insecure: bool) -> Result<Wire, TransportError> {
        let cell = cell(&self.wires, (name.to_string(), insecure));
        cell.get_or_try_init(|| async {
            let cert_dirs = self.cert_dirs.clone();
            let owned = name.to_string();
            let tls = tokio::task::spawn_blocking(move || {
                crate::transport::tls::host_tls(&cert_dirs, &owned, !insecure)
            })
            .await
            .map_err(|e| TransportError::Invalid(format!("reading certificates: {e}")))?
            .map_err(|e| TransportError::Tls {
                registry: name.to_string(),
                detail: e.to_string(),
            })?;
            let options = &self.options;
            Ok(Wire::new(
                http_client(tls.config, options.timeouts)?,
                options.debug,
                options.timeouts,
                Arc::new(tls.certs),
            ))
        })
        .await
        .cloned()
    }
}

/// How a registry's sessions reach other hosts: through the client that made the registry,
/// each host with its own wire (made on first use).
struct PeerWires(Weak<ClientInner>);

#[async_trait::async_trait]
impl Peers for PeerWires {
    async fn wire_for(&self, url: &Url, insecure: bool) -> Result<Wire, TransportError> {
        let inner = self
            .0
            .upgrade()
            .ok_or_else(|| TransportError::Invalid("the registry client is gone".into()))?;
        let host = url.host_str().ok_or_else(|| {
            TransportError::Invalid(format!("{}: no host to connect to", url.as_str()))
        })?;
        let name = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let registries = &inner.options.registries;
        if let Some(blocker) = registries.find(&name).filter(|r| r.blocked) {
            return Err(TransportError::Refused {
                registry: name.clone(),
                detail: format!(
                    "a registry sent a request here, and {:?} is blocked in registries.conf",
                    blocker.prefix
                ),
            });
        }
        let insecure = insecure
            || match inner.options.tls_verify {
                Some(verify) => !verify,
                None => registries.find(&name).is_some_and(|r| r.insecure),
            };
        inner.wire(&name, insecure).await
    }
}

/// The cell for `key` in `map`, made empty if it is not there yet.
fn cell<T>(map: &ByHost<T>, key: (String, bool)) -> Cell<T> {
    map.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default()
        .clone()
}

/// Whether two registry names are the same registry, compared in the one canonical host form
/// ([`crate::model::reference::host::canonical`]: any case, trailing dot, port spelling, IPv6
/// spelling) with Docker Hub by any of its names: where `--creds` may go.
fn same_registry(a: &str, b: &str) -> bool {
    fn key(name: &str) -> String {
        let host =
            crate::model::reference::host::canonical(name).unwrap_or_else(|| name.to_string());
        match host.as_str() {
            "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
            _ => host,
        }
    }
    key(a) == key(b)
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
    let _ = crate::transport::tls::crypto_provider().install_default();
}

/// The one HTTP client of a host: its TLS configuration (trust, client identity), its time
/// limits, no redirects of its own (the session follows them, each hop through its own host's
/// client, so a client certificate never goes to a redirect target), and names resolved by
/// [`SystemResolver`]. No whole-request timeout (blob transfers are long); [`Wire`] sets the
/// response limit and watches for stalls.
fn http_client(
    tls: rustls::ClientConfig,
    timeouts: Timeouts,
) -> Result<reqwest::Client, TransportError> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(timeouts.connect)
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(SystemResolver))
        .build()
        .map_err(|e| TransportError::Invalid(format!("cannot set up the HTTP client: {e}")))
}

/// The system's resolver (getaddrinfo, as reqwest's default), with a failure that is an
/// [`Unresolved`] error: a name that does not resolve is told apart from a refused or broken
/// connection, and never retried.
struct SystemResolver;

impl reqwest::dns::Resolve for SystemResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let lookup = host.clone();
            let resolved = tokio::task::spawn_blocking(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&(lookup.as_str(), 0))
            })
            .await
            .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> {
                Box::new(std::io::Error::other(e))
            })?;
            match resolved {
                Ok(addresses) => {
                    let addresses: Vec<std::net::SocketAddr> = addresses.collect();
                    Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
                }
                Err(source) => Err(Box::new(Unresolved { host, source }) as _),
            }
        })
    }
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
    let answered = |pinged| match pinged {
        Pinged::Challenge(challenge) => Some(challenge),
        Pinged::Busy(_) => None,
    };
    let https_error = match ping(wire, https, errors).await {
        Ok(pinged) => return Ok((https.clone(), answered(pinged))),
        Err(e) => e,
    };
    match ping(wire, http, errors).await {
        Ok(pinged) => Ok((http.clone(), answered(pinged))),
        Err(http_error) => {
            let kind_of = |e: &TransportError| match e {
                TransportError::Network { kind, .. } => Some(*kind),
                _ => None,
            };
            let (https_kind, http_kind) = (kind_of(&https_error), kind_of(&http_error));
            // One cause said once: nothing listens there, or the name does not resolve.
            for kind in [NetworkFailure::Refused, NetworkFailure::Unresolved] {
                if https_kind == Some(kind) && http_kind == Some(kind) {
                    return Err(http_error);
                }
            }
            // Both failed; the kind that decides a retry is the plain-HTTP attempt's, the
            // message shows both.
            let kind = http_kind.unwrap_or(NetworkFailure::Dropped);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creds_go_to_the_registry_named_by_any_spelling_of_it() {
        for (a, b) in [
            ("reg.io", "REG.io"),
            ("reg.io:5000", "reg.io.:5000"),
            ("docker.io", "index.docker.io"),
            ("[::1]:5000", "[::1]:5000"),
            ("[0:0::1]:5000", "[::1]:05000"),
            ("reg.io:443", "reg.io"),
        ] {
            assert!(same_registry(a, b), "{a} {b}");
        }
        for (a, b) in [
            ("reg.io", "mirror.io"),
            ("reg.io:5000", "reg.io:5001"),
            ("reg.io:5000", "reg.io"),
            ("[::1]:5000", "[::1]:5001"),
        ] {
            assert!(!same_registry(a, b), "{a} {b}");
        }
    }
}
