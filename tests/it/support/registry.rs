//! A real registry (Debian's `docker-registry`, distribution 2.8) on 127.0.0.1 for one test.
//!
//! ```ignore
//! let reg = Registry::plain();                       // http://127.0.0.1:PORT, no auth
//! let reg = Registry::start(RegistryConfig {
//!     tls: true,
//!     htpasswd: Some(("alice", "s3cret")),
//!     ..Default::default()
//! });
//! // reg.ca_dir is a --cert-dir holding ca.crt; reg.user is Some(("alice", "s3cret"))
//! let reg = Registry::start(RegistryConfig { tls: true, client_ca: true, ..Default::default() });
//! // reg.client_cert_dir holds client.cert, client.key and ca.crt
//! ```
//! The process is killed (and reaped) when the `Registry` is dropped; its storage, config and log
//! live in a temp dir removed at the same time. When the test is panicking, the registry's log is
//! printed to stderr on drop.

use super::certs;
use std::fs;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const REGISTRY_BIN: &str = "docker-registry";
/// The start of the harness's marker requests ([`Registry::settled_access_log`]).
const SETTLED: &str = "/v2/?settled=";
const MISSING: &str =
    "docker-registry not found: install it with `apt-get install -y docker-registry` (Debian package)";

/// How to start a [`Registry`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RegistryConfig<'a> {
    /// Serve HTTPS (with the certificate `server_cert` says).
    pub tls: bool,
    /// Require HTTP Basic auth (htpasswd, bcrypt) for this one user.
    pub htpasswd: Option<(&'a str, &'a str)>,
    /// Answer with relative `Location` headers (distribution's `http.relativeurls`), as GHCR
    /// and ACR do.
    pub relative_urls: bool,
    /// Require bearer tokens from this realm, signed by this certificate (PEM); see
    /// [`super::token::TokenSigner`] (issuer and service are its constants).
    pub token: Option<(&'a str, &'a str)>,
    /// With TLS: require a client certificate signed by a fresh client CA (distribution's
    /// `http.tls.clientcas`); [`Registry::client_cert_dir`] holds one.
    pub client_ca: bool,
    /// With TLS: which server certificate.
    pub server_cert: ServerCert,
}

/// The server certificate of a TLS [`Registry`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServerCert {
    /// For 127.0.0.1 and localhost, signed by a fresh test CA (`ca.crt` of `ca_dir`).
    #[default]
    SignedByTestCa,
    /// `openssl req -x509 … -addext subjectAltName=IP:127.0.0.1`: self-signed, `CA:TRUE`;
    /// `ca_dir` holds the certificate itself.
    OneLineSelfSigned,
}

/// A running registry. Dropping it stops it and deletes its storage.
pub struct Registry {
    /// `127.0.0.1:PORT`: the registry host part of references (`127.0.0.1:PORT/repo:tag`).
    pub addr: String,
    /// With TLS: a directory holding only `ca.crt` (the test CA), usable as `--cert-dir`.
    pub ca_dir: Option<PathBuf>,
    /// With htpasswd: the user and password it accepts.
    pub user: Option<(String, String)>,
    /// With TLS: the CA certificate in PEM.
    pub ca_pem: Option<String>,
    /// With `client_ca`: a `--cert-dir` holding `client.cert`, `client.key` and `ca.crt`.
    pub client_cert_dir: Option<PathBuf>,
    /// With `client_ca`: `client.cert` and `client.key` in PEM, for the harness's own client.
    client_identity_pem: Option<String>,
    /// The certificate is the one-line self-signed kind, which webpki refuses as a server
    /// certificate; the harness's own client then accepts any certificate.
    self_signed: bool,
    child: Child,
    config_path: PathBuf,
    log_path: PathBuf,
    _tmp: tempfile::TempDir,
}

/// One line of the registry's access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessLogEntry {
    pub method: String,
    /// The request URI (path and query).
    pub uri: String,
    pub status: u16,
}

impl Registry {
    /// Plain HTTP, no auth.
    pub fn plain() -> Registry {
        Self::start(RegistryConfig::default())
    }

    /// Starts a registry and waits (at most 10 s) until `GET /v2/` answers 200 or 401.
    /// Panics if `docker-registry` is not installed or does not come up.
    pub fn start(config: RegistryConfig<'_>) -> Registry {
        if !binary_exists() {
            panic!("{MISSING}");
        }
        // The free port we pick can be taken by someone else before the registry binds it:
        // try again with another port when that happens.
        let mut last_err = String::new();
        for _ in 0..5 {
            match Self::try_start(&config) {
                Ok(r) => return r,
                Err((retry, msg)) => {
                    if !retry {
                        panic!("{msg}");
                    }
                    last_err = msg;
                }
            }
        }
        panic!("could not start docker-registry: {last_err}");
    }

    fn try_start(config: &RegistryConfig<'_>) -> Result<Registry, (bool, String)> {
        let tmp = tempfile::Builder::new()
            .prefix("manifest-registry-")
            .tempdir()
            .expect("creating registry temp dir");
        let dir = tmp.path().to_path_buf();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let data = dir.join("data");
        fs::create_dir_all(&data).unwrap();

        let mut yaml = format!(
            "version: 0.1\n\
             log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n\
             \x20 maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: {addr}\n  secret: manifest-test-secret-{port}\n  relativeurls: {relative}\n",
            relative = config.relative_urls,
            data = yaml_str(&data),
        );

        assert!(
            config.tls || (!config.client_ca && config.server_cert == ServerCert::default()),
            "client_ca and server_cert need tls: true"
        );
        let (mut ca_dir, mut ca_pem, mut client_cert_dir, mut client_identity_pem) =
            (None, None, None, None);
        if config.tls {
            let server = match config.server_cert {
                ServerCert::SignedByTestCa => certs::ca_signed_server(&dir),
                ServerCert::OneLineSelfSigned => certs::one_line_self_signed(&dir),
            };
            yaml.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                yaml_str(&server.cert),
                yaml_str(&server.key),
            ));
            if config.client_ca {
                let client = certs::client_ca(&dir, &server.ca_pem);
                yaml.push_str(&format!(
                    "    clientcas:\n      - {}\n",
                    yaml_str(&client.ca_cert)
                ));
                client_cert_dir = Some(client.cert_dir);
                client_identity_pem = Some(client.identity_pem);
            }
            ca_dir = Some(server.ca_dir);
            ca_pem = Some(server.ca_pem);
        }

        let mut user = None;
        if let Some((u, p)) = config.htpasswd {
            assert!(!u.contains(':'), "htpasswd user may not contain ':'");
            let path = dir.join("htpasswd");
            fs::write(&path, format!("{u}:{}\n", bcrypt_entry(p))).unwrap();
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: manifest-test\n    path: {}\n",
                yaml_str(&path)
            ));
            user = Some((u.to_string(), p.to_string()));
        }

        if let Some((realm, root_pem)) = config.token {
            let bundle = dir.join("token-root.crt");
            fs::write(&bundle, root_pem).unwrap();
            yaml.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {}\n    issuer: {}\n    \
                 rootcertbundle: {}\n",
                super::token::SERVICE,
                super::token::ISSUER,
                yaml_str(&bundle)
            ));
        }

        let config_path = dir.join("config.yml");
        fs::write(&config_path, &yaml).unwrap();
        let log_path = dir.join("registry.log");
        let child = spawn(&config_path, &log_path)?;

        let mut reg = Registry {
            addr,
            ca_dir,
            user,
            ca_pem,
            client_cert_dir,
            client_identity_pem,
            self_signed: config.server_cert == ServerCert::OneLineSelfSigned,
            child,
            config_path,
            log_path,
            _tmp: tmp,
        };
        reg.wait_ready()?;
        Ok(reg)
    }

    fn wait_ready(&mut self) -> Result<(), (bool, String)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let url = format!("{}/v2/", self.url());
        let client = super::push::client_with(self.harness_tls());
        let mut last;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = self.log();
                let retry = log.contains("address already in use");
                return Err((
                    retry,
                    format!("docker-registry exited ({status}) before answering; its log:\n{log}"),
                ));
            }
            match super::push::status_of(&client, &url, None) {
                Ok(200) | Ok(401) => return Ok(()),
                Ok(s) => last = format!("GET /v2/ answered {s}"),
                Err(e) => last = e,
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err((
                    false,
                    format!(
                        "docker-registry did not answer {url} within 10 s ({last}); its log:\n{}",
                        self.log()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Stops the registry: its port refuses connections from now on; its storage stays.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the registry again on the same port, with the same storage and configuration
    /// (a registry restarting); waits until it answers.
    pub fn start_again(&mut self) {
        self.stop();
        self.child = spawn(&self.config_path, &self.log_path)
            .unwrap_or_else(|(_, msg)| panic!("restarting the registry: {msg}"));
        if let Err((_, msg)) = self.wait_ready() {
            panic!("restarting the registry: {msg}");
        }
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// How the harness's own client ([`super::push::client`]) reaches this registry.
    pub fn harness_tls(&self) -> super::push::ClientTls<'_> {
        super::push::ClientTls {
            ca_pem: self.ca_pem.as_deref(),
            accept_any_certificate: self.self_signed,
            identity_pem: self.client_identity_pem.as_deref(),
        }
    }

    /// `127.0.0.1:PORT/<path>`, e.g. `reg.image("lib/app:v1")`.
    pub fn image(&self, path: &str) -> String {
        format!("{}/{}", self.addr, path)
    }

    /// `docker://127.0.0.1:PORT/<path>`.
    /// `repository` of this registry, as the library names it.
    pub fn reference(&self, repository: &str) -> manifest::model::reference::RegistryRef {
        manifest::model::reference::RegistryRef {
            registry: self.addr.clone(),
            repository: repository.to_string(),
            tag: None,
            digest: None,
        }
    }

    pub fn docker_ref(&self, path: &str) -> String {
        format!("docker://{}/{}", self.addr, path)
    }

    /// `USER:PASS` for `--creds` (panics without htpasswd).
    pub fn creds(&self) -> String {
        let (u, p) = self.user.as_ref().expect("registry has no htpasswd user");
        format!("{u}:{p}")
    }

    /// Writes a containers-auth.json / docker config.json style file with this registry's
    /// credentials (`{"auths":{"127.0.0.1:PORT":{"auth":"base64(user:pass)"}}}`).
    pub fn write_auth_json(&self, path: &Path) {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(self.creds());
        let doc = serde_json::json!({ "auths": { self.addr.clone(): { "auth": auth } } });
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    }

    /// Everything the registry has logged so far (application log and access log).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    /// The access-log lines so far, in order (`"GET /v2/ HTTP/1.1" 200`), parsed.
    pub fn access_log(&self) -> Vec<AccessLogEntry> {
        self.log().lines().filter_map(parse_access_line).collect()
    }

    /// [`Registry::access_log`] once every request answered so far is in it. The registry
    /// writes a request's line when it has answered, so the last ones can lag behind a client
    /// that is done: the harness sends a request of its own, a marker, and waits until the log
    /// shows it. Markers are left out.
    pub fn settled_access_log(&self) -> Vec<AccessLogEntry> {
        static MARKERS: AtomicUsize = AtomicUsize::new(0);
        let marker = format!("{SETTLED}{}", MARKERS.fetch_add(1, Ordering::SeqCst));
        let client = super::push::client_with(self.harness_tls());
        let url = format!("{}{marker}", self.url());
        super::push::status_of(&client, &url, None).unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let log = super::wait::until_some(&format!("the access log's line for {marker}"), || {
            let log = self.access_log();
            log.iter().any(|e| e.uri == marker).then_some(log)
        });
        log.into_iter()
            .filter(|e| !e.uri.starts_with(SETTLED))
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "---- docker-registry {} log (last {} lines) ----",
                self.addr,
                tail.len()
            );
            for line in tail.iter().rev() {
                let _ = writeln!(err, "{line}");
            }
        }
    }
}

/// `docker-registry serve CONFIG`, logging to `log_path` (appended to).
fn spawn(config_path: &Path, log_path: &Path) -> Result<Child, (bool, String)> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .unwrap();
    let mut cmd = Command::new(REGISTRY_BIN);
    cmd.arg("serve")
        .arg(config_path)
        .current_dir(config_path.parent().unwrap())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    // distribution maps every REGISTRY_* variable onto its configuration (REGISTRY_AUTH_FILE,
    // which podman users often set, makes it fail with "cannot unmarshal !!str").
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            cmd.env_remove(&k);
        }
    }
    match cmd.spawn() {
        Ok(c) => Ok(c),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{MISSING}"),
        Err(e) => Err((false, format!("spawning {REGISTRY_BIN}: {e}"))),
    }
}

fn binary_exists() -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return Path::new("/usr/bin").join(REGISTRY_BIN).exists();
    };
    std::env::split_paths(&path).any(|d| d.join(REGISTRY_BIN).is_file())
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

fn yaml_str(p: &Path) -> String {
    // A double-quoted YAML scalar; temp paths have no quotes or backslashes, but be safe.
    let s = p.to_str().expect("non-UTF-8 temp path");
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A bcrypt htpasswd hash for `password` (cost 4, the minimum: quick, and tests need no more).
/// distribution's htpasswd reader only accepts bcrypt; it takes `$2y$`, the form `htpasswd -B`
/// writes, and `$2b$` equally (golang.org/x/crypto/bcrypt ignores the minor letter).
pub fn bcrypt_entry(password: &str) -> String {
    bcrypt::hash_with_result(password, 4)
        .expect("bcrypt")
        .format_for_version(bcrypt::Version::TwoY)
}

/// The requests that change something at a registry.
pub fn writes(log: &[AccessLogEntry]) -> Vec<&AccessLogEntry> {
    log.iter()
        .filter(|e| matches!(e.method.as_str(), "PUT" | "POST" | "PATCH" | "DELETE"))
        .collect()
}

/// `127.0.0.1 - - [27/Nov/2026:23:29:08 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"`
fn parse_access_line(line: &str) -> Option<AccessLogEntry> {
    if line.starts_with("time=") {
        return None;
    }
    let start = line.find("] \"")? + 3;
    let rest = &line[start..];
    let end = rest.find('"')?;
    let mut req = rest[..end].split(' ');
    let method = req.next()?.to_string();
    let uri = req.next()?.to_string();
    let status = rest[end + 1..].split_whitespace().next()?.parse().ok()?;
    Some(AccessLogEntry {
        method,
        uri,
        status,
    })
}
