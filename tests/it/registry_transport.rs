//! The registry transport against a real distribution registry (`docker-registry serve`): over
//! plain HTTP, over TLS with htpasswd (Basic) authentication, and with token (Bearer)
//! authentication from a small token server in this file.
//!
//! The registry helper below is deliberately local and minimal; the shared harness lives elsewhere.

use bytes::Bytes;
use futures_util::StreamExt;
use manifest::auth::AuthSources;
use manifest::digest::{Digest, Verifier};
use manifest::oci::{self, Descriptor};
use manifest::reference::RegistryRef;
use manifest::transport::registry::{RegistryClient, RegistryOptions, RegistryTransport};
use manifest::transport::{
    verified, BlobStream, ManifestRef, RawManifest, Transport, TransportError,
};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A registry process on a free loopback port, with its storage in a temp dir; killed on drop.
struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

#[derive(Default)]
struct RegistrySetup {
    /// (certificate PEM, key PEM) to serve HTTPS.
    tls: Option<(String, String)>,
    /// (user, password) for htpasswd Basic auth.
    user: Option<(String, String)>,
    /// (realm URL, PEM of the token signer's certificate) for token (Bearer) auth.
    token: Option<(String, String)>,
}

impl Registry {
    fn start(setup: RegistrySetup) -> Registry {
        if !Path::new(REGISTRY_BIN).exists() {
            panic!("{REGISTRY_BIN} is missing: install it with apt-get install -y docker-registry");
        }
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let storage = dir.path().join("storage");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
             delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test-secret\n",
            storage.display()
        );
        if let Some((cert, key)) = &setup.tls {
            let cert_path = dir.path().join("server.crt");
            let key_path = dir.path().join("server.key");
            std::fs::write(&cert_path, cert).unwrap();
            std::fs::write(&key_path, key).unwrap();
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert_path.display(),
                key_path.display()
            ));
        }
        if let Some((user, password)) = &setup.user {
            let htpasswd = dir.path().join("htpasswd");
            let hash = bcrypt::hash(password, 5).unwrap();
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                htpasswd.display()
            ));
        }
        if let Some((realm, root_pem)) = &setup.token {
            let bundle = dir.path().join("token-root.crt");
            std::fs::write(&bundle, root_pem).unwrap();
            config.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: test-registry\n    \
                 issuer: test-issuer\n    rootcertbundle: {}\n",
                bundle.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let mut registry = Registry { child, port, dir };
        registry.wait_ready();
        registry
    }

    /// Waits until the port accepts connections (the registry listens once it is ready).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("docker-registry exited early: {status}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn reference(&self, repository: &str) -> RegistryRef {
        RegistryRef {
            registry: self.host(),
            repository: repository.to_string(),
            tag: None,
            digest: None,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

/// Deterministic, incompressible-looking bytes: `size` bytes in 64 KiB chunks.
fn generated_chunks(size: usize, seed: u64) -> impl Iterator<Item = Bytes> {
    let mut state = seed | 1;
    let mut left = size;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let n = left.min(64 * 1024);
        left -= n;
        let mut chunk = Vec::with_capacity(n);
        while chunk.len() < n {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.extend_from_slice(&state.to_le_bytes());
        }
        chunk.truncate(n);
        Some(Bytes::from(chunk))
    })
}

fn generated_descriptor(size: usize, seed: u64, media_type: &str) -> Descriptor {
    let sha = Digest::sha256_of(b"");
    let mut verifier = Verifier::new(&sha);
    for chunk in generated_chunks(size, seed) {
        verifier.update(&chunk);
    }
    Descriptor::new(media_type, verifier.finish(), size as u64)
}

fn generated_stream(size: usize, seed: u64) -> BlobStream {
    Box::pin(futures_util::stream::iter(
        generated_chunks(size, seed).map(Ok::<_, TransportError>),
    ))
}

fn bytes_stream(bytes: Bytes) -> BlobStream {
    Box::pin(futures_util::stream::iter([Ok::<_, TransportError>(bytes)]))
}

async fn client(options: RegistryOptions, creds: Option<&str>) -> RegistryClient {
    // Explicit sources: the test never reads the real ~/.docker or auth.json files.
    let sources = AuthSources {
        creds: creds.map(str::to_string),
        ..Default::default()
    };
    RegistryClient::with_auth_sources(options, sources)
        .await
        .unwrap()
}

fn fast_options() -> RegistryOptions {
    RegistryOptions {
        retry: manifest::retry::RetryPolicy {
            retries: 1,
            base: Duration::from_millis(10),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn plain_http_options() -> RegistryOptions {
    RegistryOptions {
        tls_verify: Some(false),
        ..fast_options()
    }
}

/// Pushes a config and a layer and an OCI manifest for them; returns the manifest.
async fn push_image(repo: &RegistryTransport, layer_size: usize) -> (RawManifest, Descriptor) {
    let layer = generated_descriptor(layer_size, 42, oci::OCI_LAYER_GZIP);
    repo.blob_put(&layer, verified(generated_stream(layer_size, 42), &layer))
        .await
        .unwrap();
    let config_bytes = Bytes::from_static(
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let config = Descriptor::new(
        oci::OCI_CONFIG,
        Digest::sha256_of(&config_bytes),
        config_bytes.len() as u64,
    );
    repo.blob_put(&config, bytes_stream(config_bytes))
        .await
        .unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":{}}},"layers":[{{"mediaType":"{}","digest":"{}","size":{}}}]}}"#,
        oci::OCI_MANIFEST,
        oci::OCI_CONFIG,
        config.digest,
        config.size,
        oci::OCI_LAYER_GZIP,
        layer.digest,
        layer.size
    );
    let raw = RawManifest::from_bytes(Bytes::from(manifest));
    repo.manifest_put(&ManifestRef::Digest(raw.digest.clone()), &raw)
        .await
        .unwrap();
    (raw, layer)
}

async fn read_all(stream: BlobStream) -> Result<Vec<u8>, TransportError> {
    let mut stream = stream;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

#[tokio::test]
async fn plain_http_round_trip() {
    let registry = Registry::start(RegistrySetup::default());
    let client = client(plain_http_options(), None).await;
    let repo = client
        .repository(&registry.reference("src/app"))
        .await
        .unwrap();
    assert_eq!(repo.describe(), format!("{}/src/app", registry.host()));
    assert_eq!(
        repo.registry_repository(),
        Some((registry.host(), "src/app".to_string()))
    );

    // A few MiB, streamed in and out.
    let size = 3 * 1024 * 1024 + 123;
    let (manifest, layer) = push_image(&repo, size).await;
    assert!(repo.blob_exists(&layer).await.unwrap());
    let body = read_all(verified(repo.blob_get(&layer).await.unwrap(), &layer))
        .await
        .unwrap();
    assert_eq!(body.len(), size);
    assert!(layer.digest.matches(&body));

    // Unknown blobs.
    let unknown = Descriptor::new(oci::OCI_LAYER_GZIP, Digest::sha256_of(b"nope"), 4);
    assert!(!repo.blob_exists(&unknown).await.unwrap());
    match repo.blob_get(&unknown).await {
        Err(TransportError::NotFound { .. }) => {}
        Err(other) => panic!("expected NotFound, got {other:?}"),
        Ok(_) => panic!("expected NotFound, got a stream"),
    }

    // By tag too, and both read back byte-identical.
    repo.manifest_put(&ManifestRef::Tag("v1".into()), &manifest)
        .await
        .unwrap();
    for reference in [
        ManifestRef::Tag("v1".into()),
        ManifestRef::Digest(manifest.digest.clone()),
    ] {
        let got = repo.manifest_get(&reference).await.unwrap();
        assert_eq!(got.bytes, manifest.bytes, "{reference}");
        assert_eq!(got.digest, manifest.digest);
        assert_eq!(got.media_type, oci::OCI_MANIFEST);
    }

    // Missing tag and missing digest.
    match repo.manifest_get(&ManifestRef::Tag("missing".into())).await {
        Err(TransportError::NotFound { what, location }) => {
            assert!(what.contains("missing"), "{what}");
            assert!(location.ends_with("/src/app"), "{location}");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    let absent = ManifestRef::Digest(Digest::sha256_of(b"absent"));
    assert!(matches!(
        repo.manifest_get(&absent).await,
        Err(TransportError::NotFound { .. })
    ));

    // A digest reference must match the bytes.
    let err = repo.manifest_put(&absent, &manifest).await.unwrap_err();
    assert!(matches!(err, TransportError::Invalid(_)), "{err:?}");

    // Mount into another repository of the same registry.
    let dst = client
        .repository(&registry.reference("dst/app"))
        .await
        .unwrap();
    assert!(!dst.blob_exists(&layer).await.unwrap());
    assert!(dst.blob_mount(&layer, "src/app").await.unwrap());
    assert!(dst.blob_exists(&layer).await.unwrap());
    // A blob the source does not have is not mounted; the caller copies instead.
    assert!(!dst.blob_mount(&unknown, "src/app").await.unwrap());
    assert!(!dst.blob_exists(&unknown).await.unwrap());
}

#[tokio::test]
async fn a_corrupt_stream_is_not_committed() {
    let registry = Registry::start(RegistrySetup::default());
    let client = client(plain_http_options(), None).await;
    let repo = client
        .repository(&registry.reference("corrupt"))
        .await
        .unwrap();
    let size = 256 * 1024;
    let mut layer = generated_descriptor(size, 7, oci::OCI_LAYER_GZIP);
    // Claim a different digest for the same bytes: the verified stream fails at its end.
    layer.digest = Digest::sha256_of(b"something else");
    let err = repo
        .blob_put(&layer, verified(generated_stream(size, 7), &layer))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::DigestMismatch { .. }),
        "the source stream's error comes back: {err:?}"
    );
    assert!(!repo.blob_exists(&layer).await.unwrap());
}

#[tokio::test]
async fn verified_tls_refuses_a_plain_http_registry() {
    let registry = Registry::start(RegistrySetup::default());
    // tls_verify defaults to true: no fallback to HTTP, not even on 127.0.0.1.
    let client = client(fast_options(), None).await;
    let repo = client.repository(&registry.reference("app")).await.unwrap();
    let err = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap_err();
    match &err {
        TransportError::Tls {
            registry: r,
            detail,
        } => {
            assert_eq!(r, &registry.host());
            assert!(detail.contains("--tls-verify=false"), "{detail}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

/// A refused connection is one error, at once: nothing listens there, and asking again will
/// not change that (no retries, whatever `--retry` says).
#[tokio::test]
async fn a_refused_connection_is_one_fast_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = RegistryOptions {
        retry: manifest::retry::RetryPolicy {
            retries: 5,
            base: Duration::from_secs(2),
            ..Default::default()
        },
        ..plain_http_options()
    };
    let client = client(options, None).await;
    let reference = RegistryRef {
        registry: format!("127.0.0.1:{port}"),
        repository: "app".into(),
        tag: None,
        digest: None,
    };
    let err = client.repository(&reference).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Network {
                kind: manifest::transport::NetworkFailure::Refused,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("connection refused"), "{text}");
    assert!(!text.contains("gave up"), "no retries: {text}");
    assert_eq!(
        text.matches("refused").count(),
        1,
        "one cause, said once: {text}"
    );
}

/// A CA, and a server certificate for 127.0.0.1 signed by it.
fn certificates() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "manifest test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = params.signed_by(&server_key, &issuer).unwrap();
    (ca_cert.pem(), server_cert.pem(), server_key.serialize_pem())
}

#[tokio::test]
async fn tls_and_basic_auth() {
    let (ca, cert, key) = certificates();
    let registry = Registry::start(RegistrySetup {
        tls: Some((cert, key)),
        user: Some(("alice".into(), "s3cret".into())),
        ..Default::default()
    });
    let certs = tempfile::tempdir().unwrap();
    std::fs::write(certs.path().join("ca.crt"), &ca).unwrap();
    let with_ca = RegistryOptions {
        cert_dir: Some(certs.path().to_path_buf()),
        ..fast_options()
    };

    // Right CA and right password: a full round trip.
    let good = client(with_ca.clone(), Some("alice:s3cret")).await;
    let repo = good
        .repository(&registry.reference("secure/app"))
        .await
        .unwrap();
    assert_eq!(repo.credential_sources(), "--creds (used)");
    let (manifest, layer) = push_image(&repo, 512 * 1024).await;
    repo.manifest_put(&ManifestRef::Tag("v1".into()), &manifest)
        .await
        .unwrap();
    let got = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap();
    assert_eq!(got.bytes, manifest.bytes);
    let body = read_all(verified(repo.blob_get(&layer).await.unwrap(), &layer))
        .await
        .unwrap();
    assert!(layer.digest.matches(&body));
    let other = good
        .repository(&registry.reference("secure/other"))
        .await
        .unwrap();
    assert!(other.blob_mount(&layer, "secure/app").await.unwrap());

    // Wrong password.
    let bad = client(with_ca.clone(), Some("alice:wrong")).await;
    let repo = bad
        .repository(&registry.reference("secure/app"))
        .await
        .unwrap();
    match repo.manifest_get(&ManifestRef::Tag("v1".into())).await {
        Err(TransportError::Unauthorized {
            registry: r,
            searched,
            ..
        }) => {
            assert_eq!(r, registry.host());
            assert_eq!(searched, "--creds (used)");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    let err = repo.blob_exists(&layer).await.unwrap_err();
    assert!(
        matches!(err, TransportError::Unauthorized { .. }),
        "{err:?}"
    );
    let err = repo
        .blob_put(&layer, verified(generated_stream(512 * 1024, 42), &layer))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Unauthorized { .. }),
        "{err:?}"
    );

    // No credentials at all: the message lists where they were looked for.
    let anonymous = client(with_ca, None).await;
    let repo = anonymous
        .repository(&registry.reference("secure/app"))
        .await
        .unwrap();
    let err = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Unauthorized { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("--creds"), "{err}");

    // The CA is not trusted without --cert-dir.
    let no_ca = client(fast_options(), Some("alice:s3cret")).await;
    let repo = no_ca
        .repository(&registry.reference("secure/app"))
        .await
        .unwrap();
    let err = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap_err();
    match &err {
        TransportError::Tls { detail, .. } => {
            assert!(detail.contains("--cert-dir"), "{detail}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }

    // --tls-verify=false talks HTTPS without verifying, and still authenticates.
    let insecure = client(
        RegistryOptions {
            tls_verify: Some(false),
            ..fast_options()
        },
        Some("alice:s3cret"),
    )
    .await;
    let repo = insecure
        .repository(&registry.reference("secure/app"))
        .await
        .unwrap();
    let got = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap();
    assert_eq!(got.bytes, manifest.bytes);
}

#[tokio::test]
/// Client certificates are used (see tls_config); a pair that is not PEM is an error that names
/// the file, before any connection.
async fn a_broken_client_certificate_is_named() {
    let certs = tempfile::tempdir().unwrap();
    std::fs::write(certs.path().join("client.cert"), "x").unwrap();
    std::fs::write(certs.path().join("client.key"), "x").unwrap();
    let client = client(
        RegistryOptions {
            cert_dir: Some(PathBuf::from(certs.path())),
            ..fast_options()
        },
        None,
    )
    .await;
    let reference = RegistryRef {
        registry: "127.0.0.1:1".into(),
        repository: "app".into(),
        tag: None,
        digest: None,
    };
    let err = client.repository(&reference).await.unwrap_err();
    assert!(matches!(err, TransportError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("client.cert"), "{err}");
}

/// A minimal docker token server (the protocol of distribution's `auth: token`): checks Basic
/// credentials and returns an ES256 JWT whose `x5c` header carries a self-signed certificate
/// that the registry trusts through `rootcertbundle`. Grants every action asked for to `alice`,
/// nothing to anonymous callers, and refuses a wrong password with 401.
mod token_server {
    use base64::Engine as _;
    use rcgen::{CertificateParams, DnType, KeyPair, SigningKey as _};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub struct TokenServer {
        pub realm: String,
        pub root_pem: String,
        pub requests: Arc<AtomicUsize>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for TokenServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    fn b64url(data: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
    }

    /// ring signs ECDSA as DER `SEQUENCE { r, s }`; JWS wants the fixed 64-byte `r || s`.
    fn der_to_jws(der: &[u8]) -> Vec<u8> {
        fn int(bytes: &[u8]) -> (&[u8], &[u8]) {
            assert_eq!(bytes[0], 0x02);
            let len = bytes[1] as usize;
            (&bytes[2..2 + len], &bytes[2 + len..])
        }
        let body = &der[2..];
        let (r, rest) = int(body);
        let (s, _) = int(rest);
        let mut out = Vec::new();
        for n in [r, s] {
            let n = &n[n.len().saturating_sub(32)..];
            out.extend(std::iter::repeat_n(0u8, 32 - n.len()));
            out.extend_from_slice(n);
        }
        out
    }

    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }

    /// Starts the token server; the first `failures` token requests get a 503.
    pub async fn start_failing(
        user: &'static str,
        password: &'static str,
        failures: usize,
    ) -> TokenServer {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "token signer");
        let cert = params.self_signed(&key).unwrap();
        let x5c = base64::engine::general_purpose::STANDARD.encode(cert.der());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let key = Arc::new(key);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let nth = counter.fetch_add(1, Ordering::SeqCst);
                let key = key.clone();
                let x5c = x5c.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        let n = socket.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        head.extend_from_slice(&buf[..n]);
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
                    let mut scopes = Vec::new();
                    for pair in query.split('&') {
                        if let Some(("scope", v)) = pair.split_once('=') {
                            scopes.extend(percent_decode(v).split(' ').map(str::to_string));
                        }
                    }
                    let basic = head.lines().find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        if !name.eq_ignore_ascii_case("authorization") {
                            return None;
                        }
                        let encoded = value.trim().strip_prefix("Basic ")?;
                        let decoded = base64::engine::general_purpose::STANDARD
                            .decode(encoded)
                            .ok()?;
                        String::from_utf8(decoded).ok()
                    });
                    let (status, body) = match basic.as_deref() {
                        _ if nth < failures => (
                            "503 Service Unavailable",
                            r#"{"details":"injected token failure"}"#.to_string(),
                        ),
                        Some(creds) if creds != format!("{user}:{password}") => (
                            "401 Unauthorized",
                            r#"{"details":"invalid username or password"}"#.to_string(),
                        ),
                        granted => {
                            let access: Vec<_> = if granted.is_some() {
                                scopes
                                    .iter()
                                    .filter_map(|s| {
                                        let mut parts = s.splitn(3, ':');
                                        let (kind, name, actions) =
                                            (parts.next()?, parts.next()?, parts.next()?);
                                        Some(serde_json::json!({
                                            "type": kind, "name": name,
                                            "actions": actions.split(',').collect::<Vec<_>>(),
                                        }))
                                    })
                                    .collect()
                            } else {
                                Vec::new()
                            };
                            let now = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap()
                                .as_secs();
                            let header =
                                serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
                            let claims = serde_json::json!({
                                "iss": "test-issuer", "sub": granted.map(|_| user).unwrap_or(""),
                                "aud": "test-registry", "exp": now + 300, "nbf": now - 10,
                                "iat": now - 10, "jti": format!("{now}-{}", rand_id()), "access": access,
                            });
                            let signing_input = format!(
                                "{}.{}",
                                b64url(header.to_string().as_bytes()),
                                b64url(claims.to_string().as_bytes())
                            );
                            let signature =
                                der_to_jws(&key.sign(signing_input.as_bytes()).unwrap());
                            let token = format!("{signing_input}.{}", b64url(&signature));
                            ("200 OK", serde_json::json!({ "token": token }).to_string())
                        }
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        TokenServer {
            realm,
            root_pem: cert.pem(),
            requests,
            task,
        }
    }

    fn rand_id() -> u64 {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::SeqCst) as u64
    }
}

#[tokio::test]
async fn bearer_token_auth() {
    let (tokens, registry) = token_registry(0).await;

    let good = client(plain_http_options(), Some("alice:s3cret")).await;
    let repo = good
        .repository(&registry.reference("team/app"))
        .await
        .unwrap();
    let (manifest, layer) = push_image(&repo, 300 * 1024).await;
    repo.manifest_put(&ManifestRef::Tag("v1".into()), &manifest)
        .await
        .unwrap();
    let got = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap();
    assert_eq!(got.bytes, manifest.bytes);
    assert!(repo.blob_exists(&layer).await.unwrap());
    let body = read_all(verified(repo.blob_get(&layer).await.unwrap(), &layer))
        .await
        .unwrap();
    assert!(layer.digest.matches(&body));

    // A fresh destination: checks, mount, then the blob is there.
    let dst = good
        .repository(&registry.reference("team/other"))
        .await
        .unwrap();
    assert!(!dst.blob_exists(&layer).await.unwrap());
    let mounted = dst.blob_mount(&layer, "team/app").await.unwrap();
    assert_eq!(mounted, dst.blob_exists(&layer).await.unwrap());
    assert!(
        mounted,
        "the mount token must cover pull on the source repository"
    );
    assert!(tokens.requests.load(std::sync::atomic::Ordering::SeqCst) > 0);

    // Wrong password: the token server's answer is reported, not a bare 401.
    let bad = client(plain_http_options(), Some("alice:wrong")).await;
    let repo = bad
        .repository(&registry.reference("team/app"))
        .await
        .unwrap();
    let err = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap_err();
    match &err {
        TransportError::Unauthorized {
            detail, searched, ..
        } => {
            assert!(detail.contains("invalid username or password"), "{detail}");
            assert_eq!(searched, "--creds (used)");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }

    // Anonymous: a token with no access, then 401 from the registry.
    let anonymous = client(plain_http_options(), None).await;
    let repo = anonymous
        .repository(&registry.reference("team/app"))
        .await
        .unwrap();
    let err = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Unauthorized { .. }),
        "{err:?}"
    );
}

/// A registry that trusts the test token server, whose first `failures` answers are 503s.
async fn token_registry(failures: usize) -> (token_server::TokenServer, Registry) {
    let tokens = token_server::start_failing("alice", "s3cret", failures).await;
    let registry = Registry::start(RegistrySetup {
        token: Some((tokens.realm.clone(), tokens.root_pem.clone())),
        ..Default::default()
    });
    (tokens, registry)
}

/// A token server that answers 503 once: the token request is retried, the push goes on.
#[tokio::test]
async fn a_token_endpoint_failing_once_is_retried() {
    use std::sync::atomic::Ordering;
    let (tokens, registry) = token_registry(1).await;
    let pusher = client(plain_http_options(), Some("alice:s3cret")).await;
    let repo = pusher
        .repository(&registry.reference("team/app"))
        .await
        .unwrap();
    let (manifest, _) = push_image(&repo, 16 * 1024).await;
    repo.manifest_put(&ManifestRef::Tag("v1".into()), &manifest)
        .await
        .unwrap();
    assert_eq!(
        tokens.requests.load(Ordering::SeqCst),
        2,
        "one failed token request, then one that worked"
    );
}

/// One token per repository and operation: a push (uploads, manifest, checks) needs one
/// pull,push token, which serves its reads too; a reader needs one pull token.
#[tokio::test]
async fn bearer_tokens_are_asked_for_once() {
    use std::sync::atomic::Ordering;
    let (tokens, registry) = token_registry(0).await;

    let pusher = client(plain_http_options(), Some("alice:s3cret")).await;
    let repo = pusher
        .repository(&registry.reference("team/app"))
        .await
        .unwrap();
    let (manifest, layer) = push_image(&repo, 64 * 1024).await;
    repo.manifest_put(&ManifestRef::Tag("v1".into()), &manifest)
        .await
        .unwrap();
    assert!(repo.blob_exists(&layer).await.unwrap());
    repo.manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap();
    assert_eq!(tokens.requests.load(Ordering::SeqCst), 1);

    // Another process (a fresh client) reading the image: one pull token.
    let reader = client(plain_http_options(), Some("alice:s3cret")).await;
    let repo = reader
        .repository(&registry.reference("team/app"))
        .await
        .unwrap();
    let got = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap();
    let parsed = oci::ImageManifest::parse(&got.bytes).unwrap();
    manifest::transport::read_blob(&repo, &parsed.config, 1 << 20)
        .await
        .unwrap();
    assert!(repo.blob_exists(&layer).await.unwrap());
    assert_eq!(tokens.requests.load(Ordering::SeqCst), 2);
}
