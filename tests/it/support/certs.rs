//! Certificates for test registries: a server certificate signed by a fresh test CA, the
//! one-line self-signed certificate users make with `openssl req -x509` (so `CA:TRUE`, as the
//! real command marks it), and a client CA with a client certificate for registries that
//! require one (distribution's `http.tls.clientcas`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const OPENSSL_MISSING: &str =
    "openssl not found: install it with `apt-get install -y openssl` (Debian package)";

/// A server certificate and key, and a `--cert-dir` that trusts it.
pub struct ServerTls {
    /// The server certificate (PEM), for distribution's `http.tls.certificate`.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// A directory holding only `ca.crt`, usable as `--cert-dir`.
    pub ca_dir: PathBuf,
    /// `ca.crt` in PEM.
    pub ca_pem: String,
}

/// A client CA (for the registry's `clientcas`) and a certs.d directory with a client
/// certificate it signed.
pub struct ClientCa {
    /// The client CA certificate, in PEM, as a file.
    pub ca_cert: PathBuf,
    /// `client.cert`, `client.key` and `ca.crt` (the server's CA): a `--cert-dir`.
    pub cert_dir: PathBuf,
    /// `client.cert` followed by `client.key`, for the harness's own client.
    pub identity_pem: String,
}

/// A fresh CA and a server certificate signed by it for 127.0.0.1 (IP SAN) and localhost (DNS
/// SAN). Writes `certs/ca.crt` (the `--cert-dir`) and `tls/server.{crt,key}` under `dir`.
pub fn ca_signed_server(dir: &Path) -> ServerTls {
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};

    let (ca_pem, issuer) = new_ca("manifest test CA");
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();

    let tls_dir = dir.join("tls");
    fs::create_dir_all(&tls_dir).unwrap();
    let (server_cert, server_key) = (tls_dir.join("server.crt"), tls_dir.join("server.key"));
    fs::write(&server_cert, cert.pem()).unwrap();
    fs::write(&server_key, key.serialize_pem()).unwrap();
    ServerTls {
        cert: server_cert,
        key: server_key,
        ca_dir: write_ca_dir(dir, &ca_pem),
        ca_pem,
    }
}

/// The certificate of the common one-line recipe, made by the real command:
/// `openssl req -x509 -newkey rsa:2048 -nodes -keyout server.key -out server.crt -days 30
/// -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1`. Its `--cert-dir` (`certs/ca.crt`)
/// holds the certificate itself. Calling it again gives another certificate with the same name.
pub fn one_line_self_signed(dir: &Path) -> ServerTls {
    let tls_dir = dir.join("tls");
    fs::create_dir_all(&tls_dir).unwrap();
    let (cert, key) = (tls_dir.join("server.crt"), tls_dir.join("server.key"));
    let output = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-days", "30", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .output()
        .unwrap_or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => panic!("{OPENSSL_MISSING}"),
            _ => panic!("running openssl: {e}"),
        });
    assert!(
        output.status.success(),
        "openssl req -x509 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ca_pem = fs::read_to_string(&cert).unwrap();
    ServerTls {
        ca_dir: write_ca_dir(dir, &ca_pem),
        cert,
        key,
        ca_pem,
    }
}

/// A client CA and a client certificate it signed, under `dir`; the cert dir also trusts
/// `server_ca_pem`.
pub fn client_ca(dir: &Path, server_ca_pem: &str) -> ClientCa {
    let (ca_pem, issuer) = new_ca("manifest test client CA");
    let ca_cert = dir.join("client-ca.crt");
    fs::write(&ca_cert, &ca_pem).unwrap();
    let cert_dir = dir.join("client-certs");
    fs::create_dir_all(&cert_dir).unwrap();
    fs::write(cert_dir.join("ca.crt"), server_ca_pem).unwrap();
    let identity_pem = write_client_identity(&cert_dir, "client", &issuer);
    ClientCa {
        ca_cert,
        cert_dir,
        identity_pem,
    }
}

/// Writes `NAME.cert` + `NAME.key` into `dir`: a client certificate from a CA no registry
/// trusts.
pub fn write_stray_client_identity(dir: &Path, name: &str) {
    let (_, issuer) = new_ca("some other client CA");
    write_client_identity(dir, name, &issuer);
}

fn write_client_identity(
    dir: &Path,
    name: &str,
    issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
) -> String {
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("manifest test client {name}"));
    params.use_authority_key_identifier_extension = true;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    fs::write(dir.join(format!("{name}.cert")), cert.pem()).unwrap();
    fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    format!("{}{}", cert.pem(), key.serialize_pem())
}

/// A self-signed CA: its PEM and the issuer that signs with it.
fn new_ca(name: &str) -> (String, rcgen::Issuer<'static, rcgen::KeyPair>) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    (pem, Issuer::new(params, key))
}

/// `dir/certs/ca.crt` holding `pem`; returns `dir/certs`.
fn write_ca_dir(dir: &Path, pem: &str) -> PathBuf {
    let ca_dir = dir.join("certs");
    fs::create_dir_all(&ca_dir).unwrap();
    fs::write(ca_dir.join("ca.crt"), pem).unwrap();
    ca_dir
}
