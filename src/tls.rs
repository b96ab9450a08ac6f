//! TLS trust per registry host: CA certificates from `--cert-dir` or the certs.d directories.
//!
//! The certs.d layout (containers-certs.d(5)): `*.crt` files are CA certificates added to the
//! system roots; `*.cert` + `*.key` pairs are client certificates. oci-client 0.18's
//! `ClientConfig` has no way to pass a client identity to its HTTP client, so a directory with
//! client certificates is refused with an error that says so, rather than silently connecting
//! without the certificate and failing later with an obscure handshake error.

use oci_client::client::{Certificate, CertificateEncoding};
use std::path::{Path, PathBuf};

/// Where CA certificates for `HOST[:PORT]` are looked for when `--cert-dir` is not given.
pub const DEFAULT_CERT_DIRS: &[&str] = &["/etc/containers/certs.d", "/etc/docker/certs.d"];

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read certificate directory {path}: {source}")]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read certificate {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a PEM CA certificate: {detail}")]
    BadCertificate { path: PathBuf, detail: String },
    #[error(
        "{path} is a client certificate or key; client certificates (*.cert/*.key) are not \
         supported yet, remove them from the directory or use a registry that does not require them"
    )]
    ClientCertUnsupported { path: PathBuf },
}

/// The CA certificates to trust for one registry host, on top of the system roots.
#[derive(Debug, Clone, Default)]
pub struct HostTls {
    /// One entry per certificate (a `.crt` file may hold several).
    pub ca_certs: Vec<Certificate>,
    /// The directories that were read, for messages.
    pub dirs: Vec<PathBuf>,
}

/// The directories to read for `host` (`HOST[:PORT]` as written in the reference): `cert_dir`
/// alone when given (as `--cert-dir` replaces the defaults in containers/image), else
/// `<default>/HOST[:PORT]` for each of `defaults`.
pub fn cert_dirs_for(cert_dir: Option<&Path>, defaults: &[&str], host: &str) -> Vec<PathBuf> {
    match cert_dir {
        Some(dir) => vec![dir.to_path_buf()],
        None => defaults.iter().map(|d| Path::new(d).join(host)).collect(),
    }
}

/// Loads the CA certificates for `host`. Missing default directories are skipped; a missing
/// `--cert-dir` is an error, since the user named it.
pub fn host_tls(cert_dir: Option<&Path>, host: &str) -> Result<HostTls, TlsError> {
    // A host containing a path separator or `..` must not make us read elsewhere.
    let safe_host = !host.is_empty() && !host.contains('/') && host != "." && host != "..";
    let dirs = if cert_dir.is_none() && !safe_host {
        Vec::new()
    } else {
        cert_dirs_for(cert_dir, DEFAULT_CERT_DIRS, host)
    };
    load_dirs(&dirs, cert_dir.is_some())
}

/// Reads every `*.crt` in `dirs` (sorted by name, for a stable order).
pub fn load_dirs(dirs: &[PathBuf], must_exist: bool) -> Result<HostTls, TlsError> {
    let mut out = HostTls::default();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => continue,
            Err(source) => {
                return Err(TlsError::ReadDir {
                    path: dir.clone(),
                    source,
                })
            }
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| TlsError::ReadDir {
                path: dir.clone(),
                source,
            })?;
            files.push(entry.path());
        }
        files.sort();
        for path in files {
            match path.extension().and_then(|e| e.to_str()) {
                Some("crt") => {
                    let data = std::fs::read(&path).map_err(|source| TlsError::Read {
                        path: path.clone(),
                        source,
                    })?;
                    out.ca_certs.extend(split_pem(&path, &data)?);
                }
                Some("cert") | Some("key") => {
                    return Err(TlsError::ClientCertUnsupported { path });
                }
                _ => {}
            }
        }
        out.dirs.push(dir.clone());
    }
    Ok(out)
}

/// Splits a PEM file into its certificates: reqwest's `Certificate::from_pem` keeps only the
/// first one of a bundle, and CA files with an intermediate are common.
fn split_pem(path: &Path, data: &[u8]) -> Result<Vec<Certificate>, TlsError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let bad = |detail: &str| TlsError::BadCertificate {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    };
    let text = std::str::from_utf8(data).map_err(|_| bad("not UTF-8 text (DER is not read)"))?;
    let mut certs = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        let end = after
            .find(END)
            .ok_or_else(|| bad("unterminated certificate block"))?;
        let block = &after[..end + END.len()];
        let cert = Certificate {
            encoding: CertificateEncoding::Pem,
            data: format!("{block}\n").into_bytes(),
        };
        // Parse now, so a broken file is reported with its name instead of as a client error.
        reqwest::Certificate::try_from(&cert).map_err(|e| bad(&e.to_string()))?;
        certs.push(cert);
        rest = &after[end + END.len()..];
    }
    if certs.is_empty() {
        return Err(bad("no \"BEGIN CERTIFICATE\" block"));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["test-ca".to_string()]).unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn reads_crt_files_and_bundles() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.crt"), ca_pem()).unwrap();
        std::fs::write(dir.path().join("b.crt"), ca_pem() + &ca_pem()).unwrap();
        std::fs::write(dir.path().join("README"), "ignored").unwrap();
        let tls = host_tls(Some(dir.path()), "reg.io:5000").unwrap();
        assert_eq!(tls.ca_certs.len(), 3);
        assert_eq!(tls.dirs, vec![dir.path().to_path_buf()]);
    }

    #[test]
    fn default_dirs_are_per_host() {
        let dirs = cert_dirs_for(None, DEFAULT_CERT_DIRS, "reg.io:5000");
        assert_eq!(
            dirs,
            vec![
                PathBuf::from("/etc/containers/certs.d/reg.io:5000"),
                PathBuf::from("/etc/docker/certs.d/reg.io:5000"),
            ]
        );
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        assert!(load_dirs(std::slice::from_ref(&missing), false)
            .unwrap()
            .ca_certs
            .is_empty());
        assert!(matches!(
            load_dirs(&[missing], true),
            Err(TlsError::ReadDir { .. })
        ));
    }

    #[test]
    fn refuses_client_certs_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("client.cert"), ca_pem()).unwrap();
        let err = host_tls(Some(dir.path()), "reg.io").unwrap_err();
        assert!(
            matches!(err, TlsError::ClientCertUnsupported { .. }),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), "hello").unwrap();
        let err = host_tls(Some(dir.path()), "reg.io").unwrap_err();
        assert!(matches!(err, TlsError::BadCertificate { .. }), "{err}");
    }
}
