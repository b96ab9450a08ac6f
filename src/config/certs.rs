//! certs.d directories (containers-certs.d(5)) for one registry host: `*.crt` CA bundles and
//! `*.cert` + `*.key` client identities, found where containers/image looks.
//!
//! `--cert-dir DIR` is used alone and as it is (not `DIR/HOST`); a missing one is an error,
//! since the user named it. Otherwise the first existing one of
//! `$HOME/.config/containers/certs.d/HOST[:PORT]`, `/etc/containers/certs.d/HOST[:PORT]` and
//! `/etc/docker/certs.d/HOST[:PORT]` is read (only that one, as containers/image does); a
//! directory that cannot be read for lack of permission is skipped. Files are read in name
//! order. A `.cert` without its `.key`, or the reverse, is an error naming the file.

use crate::boundary::fsutil::{self, caps, FileError};
use crate::model::reference::host;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Why a certs.d directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// The directory exists (or was named) but cannot be listed.
    // The cause is in the message, not the chain: the registry layer shows messages only.
    #[error("cannot read certificate directory: {}", crate::error_chain(cause))]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// Why: not a directory, too many entries, or the operating system's error.
        cause: FileError,
    },
    /// A certificate or key file cannot be read (not a regular file, over its cap, or the
    /// operating system's error).
    #[error("cannot read a certificate file: {}", crate::error_chain(cause))]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (the message names the file).
        cause: FileError,
    },
    /// A `.crt` or `.cert` file holds no usable PEM certificate.
    #[error("{} is not a PEM certificate file: {detail}", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with its contents.
        detail: String,
    },
    /// A `.key` file holds no usable PEM private key.
    #[error("{} is not a PEM private key: {detail}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with its contents.
        detail: String,
    },
    /// A client certificate without its key.
    #[error(
        "client certificate {} has no key {} beside it (CA certificates must use the extension .crt)",
        cert.display(), key.display()
    )]
    MissingKey {
        /// The client certificate (`.cert`).
        cert: PathBuf,
        /// The key file it needs (`.key` of the same name).
        key: PathBuf,
    },
    /// A client key without its certificate.
    #[error("client key {} has no certificate {} beside it", key.display(), cert.display())]
    MissingCert {
        /// The client key (`.key`).
        key: PathBuf,
        /// The certificate file it needs (`.cert` of the same name).
        cert: PathBuf,
    },
}

/// Where certs.d directories are looked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertDirs {
    /// `--cert-dir DIR`: replaces the per-host lookup. Default `None`.
    pub explicit: Option<PathBuf>,
    /// Roots holding one directory per `HOST[:PORT]`, in lookup order.
    pub roots: Vec<PathBuf>,
}

/// One CA certificate and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaCert {
    /// The `.crt` file.
    pub path: PathBuf,
    /// The certificate.
    pub der: CertificateDer<'static>,
}

/// A client certificate chain and its private key (`NAME.cert` + `NAME.key`).
pub struct ClientIdentity {
    /// The `.cert` file.
    pub cert_path: PathBuf,
    /// The `.key` file.
    pub key_path: PathBuf,
    /// The end-entity certificate first, then any intermediates of the file.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PrivateKeyDer<'static>,
}

impl fmt::Debug for ClientIdentity {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// What certs.d holds for one host.
#[derive(Debug, Default)]
pub struct HostCerts {
    /// `HOST[:PORT]` as in the image reference.
    pub host: String,
    /// Every directory looked at, in order (for messages).
    pub searched: Vec<PathBuf>,
    /// The directory that was read, if one exists.
    pub dir: Option<PathBuf>,
    /// Every certificate of every `*.crt` bundle.
    pub ca_certs: Vec<CaCert>,
    /// Every `*.cert` + `*.key` pair.
    pub identities: Vec<ClientIdentity>,
}

impl CertDirs {
    /// `--cert-dir` if given, and the per-host roots containers/image uses.
    pub(crate) fn from_env(cert_dir: Option<&Path>) -> CertDirs {
        let mut roots = Vec::new();
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            roots.push(PathBuf::from(home).join(".config/containers/certs.d"));
        }
        roots.push(PathBuf::from("/etc/containers/certs.d"));
        roots.push(PathBuf::from("/etc/docker/certs.d"));
        CertDirs {
            explicit: cert_dir.map(Path::to_path_buf),
            roots,
        }
    }

    /// The directories that may hold `host`'s certificates, in lookup order.
    pub(crate) fn candidates(&self, host: &str) -> Vec<PathBuf> {
        if let Some(dir) = &self.explicit {
            return vec![dir.clone()];
        }
        // A host that is not one path component must not make us read elsewhere.
        let safe = !host.is_empty() && !host.contains(['/', '\\']) && host != "." && host != "..";
        if !safe {
            return Vec::new();
        }
        self.roots.iter().map(|root| root.join(host)).collect()
    }

    /// Reads `host`'s certificates from the first candidate directory that exists.
    pub fn load(&self, host: &str) -> Result<HostCerts, CertsError> {
        let searched = self.candidates(host);
        let named = self.explicit.is_some();
        let mut certs = HostCerts {
            host: host.to_string(),
            ..HostCerts::default()
        };
        for candidate in &searched {
            let dir = if named {
                candidate.clone()
            } else {
                spelled_otherwise(candidate, host).unwrap_or_else(|| candidate.clone())
            };
            let Some(files) = list_dir(&dir, named)? else {
                continue;
            };
            read_files(&dir, &files, &mut certs)?;
            certs.dir = Some(dir);
            break;
        }
        certs.searched = searched;
        Ok(certs)
    }
}

/// When `candidate` (`ROOT/HOST`, `HOST` in canonical form) does not exist, the directory of
/// `ROOT` whose name is another spelling of the same host (`REG.IO:05000` for `reg.io:5000`,
/// `reg.io:443` for `reg.io`), the first in name order.
fn spelled_otherwise(candidate: &Path, host: &str) -> Option<PathBuf> {
    if candidate.exists() {
        return None;
    }
    let root = candidate.parent()?;
    let entries = fsutil::list_dir(root, caps::DIR_ENTRIES).ok()??;
    entries
        .iter()
        .find(|e| {
            e.name
                .to_str()
                .and_then(host::canonical)
                .is_some_and(|canonical| canonical == host)
        })
        .map(|e| root.join(&e.name))
}

/// The directory's file names, sorted; `None` when it is missing or (unless the user named
/// it) not readable.
fn list_dir(dir: &Path, named: bool) -> Result<Option<Vec<String>>, CertsError> {
    match fsutil::list_dir(dir, caps::DIR_ENTRIES) {
        Ok(None) if named => Err(CertsError::ReadDir {
            path: dir.to_path_buf(),
            cause: FileError::Io {
                context: "opening",
                path: dir.display().to_string(),
                source: std::io::Error::from(ErrorKind::NotFound),
            },
        }),
        Ok(entries) => Ok(entries.map(|entries| {
            entries
                .into_iter()
                .map(|e| e.name.to_string_lossy().into_owned())
                .collect()
        })),
        Err(FileError::Io { source, .. })
            if !named && source.kind() == ErrorKind::PermissionDenied =>
        {
            Ok(None)
        }
        Err(cause) => Err(CertsError::ReadDir {
            path: dir.to_path_buf(),
            cause,
        }),
    }
}

fn read_files(dir: &Path, names: &[String], certs: &mut HostCerts) -> Result<(), CertsError> {
    for name in names {
        let path = dir.join(name);
        if name.ends_with(".crt") {
            let Some(data) = read(&path)? else { continue };
            for der in parse_certificates(&path, &data)? {
                certs.ca_certs.push(CaCert {
                    path: path.clone(),
                    der,
                });
            }
        } else if let Some(base) = name.strip_suffix(".cert") {
            let key_name = format!("{base}.key");
            let key_path = dir.join(&key_name);
            if !names.contains(&key_name) {
                return Err(CertsError::MissingKey {
                    cert: path,
                    key: key_path,
                });
            }
            let (Some(cert_data), Some(key_data)) = (read(&path)?, read(&key_path)?) else {
                continue;
            };
            let chain = parse_certificates(&path, &cert_data)?;
            let key = PrivateKeyDer::from_pem_slice(&key_data).map_err(|e| CertsError::BadKey {
                path: key_path.clone(),
                detail: pem_detail(e, "PRIVATE KEY"),
            })?;
            certs.identities.push(ClientIdentity {
                cert_path: path,
                key_path,
                chain,
                key,
            });
        } else if let Some(base) = name.strip_suffix(".key") {
            let cert_name = format!("{base}.cert");
            if !names.contains(&cert_name) {
                return Err(CertsError::MissingCert {
                    key: path,
                    cert: dir.join(cert_name),
                });
            }
        }
    }
    Ok(())
}

/// The file's bytes; `None` if it vanished since the listing (a race, not an error). A
/// symlink is followed (certs.d often links to the system's CA files), but what it reaches must
/// be a regular file within [`caps::CERTIFICATE`].
fn read(path: &Path) -> Result<Option<Vec<u8>>, CertsError> {
    fsutil::read_regular(path, caps::CERTIFICATE).map_err(|cause| CertsError::Read {
        path: path.to_path_buf(),
        cause,
    })
}

/// Every `CERTIFICATE` block of a PEM file (other blocks are skipped); none is an error.
fn parse_certificates(
    path: &Path,
    data: &[u8],
) -> Result<Vec<CertificateDer<'static>>, CertsError> {
    let bad = |detail: String| CertsError::BadCertificate {
        path: path.to_path_buf(),
        detail,
    };
    let certs = CertificateDer::pem_slice_iter(data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(pem_detail(e, "CERTIFICATE")))?;
    if certs.is_empty() {
        return Err(bad("no \"BEGIN CERTIFICATE\" block".into()));
    }
    Ok(certs)
}

fn pem_detail(error: rustls::pki_types::pem::Error, what: &str) -> String {
    match error {
        rustls::pki_types::pem::Error::NoItemsFound => format!("no \"BEGIN {what}\" block"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn cert_pem(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    fn dirs_in(tmp: &Path) -> CertDirs {
        CertDirs {
            explicit: None,
            roots: vec![
                tmp.join("home"),
                tmp.join("etc-containers"),
                tmp.join("etc-docker"),
            ],
        }
    }

    #[test]
    fn bundles_and_identities_are_read_in_name_order() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("certs");
        fs::create_dir_all(&dir).unwrap();
        let (a, _) = cert_pem("a");
        let (b, _) = cert_pem("b");
        let (c, _) = cert_pem("c");
        let (client, client_key) = cert_pem("client");
        fs::write(dir.join("b.crt"), format!("{b}{c}")).unwrap();
        fs::write(dir.join("a.crt"), &a).unwrap();
        fs::write(dir.join("client.cert"), &client).unwrap();
        fs::write(dir.join("client.key"), &client_key).unwrap();
        fs::write(dir.join("README"), "not read").unwrap();
        let dirs = CertDirs {
            explicit: Some(dir.clone()),
            roots: vec![],
        };
        let certs = dirs.load("reg.io:5000").unwrap();
        let files: Vec<_> = certs
            .ca_certs
            .iter()
            .map(|c| c.path.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            files,
            ["a.crt", "b.crt", "b.crt"],
            "every certificate of a bundle"
        );
        assert_eq!(certs.identities.len(), 1);
        assert_eq!(certs.identities[0].key_path, dir.join("client.key"));
        assert_eq!(certs.dir.as_deref(), Some(dir.as_path()));
        assert_eq!(certs.searched, [dir]);
        assert!(!format!("{:?}", certs.identities[0]).contains("PRIVATE"));
    }

    #[test]
    fn only_the_first_existing_default_directory_is_read() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs_in(tmp.path());
        let host = "reg.io:5000";
        let (a, _) = cert_pem("a");
        for root in ["etc-containers", "etc-docker"] {
            fs::create_dir_all(tmp.path().join(root).join(host)).unwrap();
            fs::write(tmp.path().join(root).join(host).join("ca.crt"), &a).unwrap();
        }
        let certs = dirs.load(host).unwrap();
        assert_eq!(
            certs.dir,
            Some(tmp.path().join("etc-containers").join(host))
        );
        assert_eq!(certs.ca_certs.len(), 1);
        assert_eq!(certs.searched.len(), 3);

        // An empty directory in the user's home hides the system ones, as in containers/image.
        fs::create_dir_all(tmp.path().join("home").join(host)).unwrap();
        let certs = dirs.load(host).unwrap();
        assert!(certs.ca_certs.is_empty());
        assert_eq!(certs.dir, Some(tmp.path().join("home").join(host)));

        let nothing = dirs.load("other.io").unwrap();
        assert!(nothing.dir.is_none() && nothing.ca_certs.is_empty());
        assert_eq!(nothing.searched.len(), 3);
    }

    #[test]
    fn a_directory_spelling_the_host_otherwise_is_found() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs_in(tmp.path());
        let (a, _) = cert_pem("a");
        for (spelled, host) in [
            ("REG.io:05000", "reg.io:5000"),
            ("other.io:443", "other.io"),
        ] {
            let dir = tmp.path().join("etc-docker").join(spelled);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("ca.crt"), &a).unwrap();
            let certs = dirs.load(host).unwrap();
            assert_eq!(certs.dir, Some(dir), "{host}");
            assert_eq!(certs.ca_certs.len(), 1);
        }
    }

    #[test]
    fn certificate_files_that_are_not_regular_files_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("certs");
        fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.join("ca.crt")).unwrap();
        let dirs = CertDirs {
            explicit: Some(dir.clone()),
            roots: vec![],
        };
        let err = crate::error_chain(&dirs.load("reg.io").unwrap_err());
        assert!(
            err.contains("ca.crt is a character device, not a regular file"),
            "{err}"
        );
        fs::remove_file(dir.join("ca.crt")).unwrap();
        fs::File::create(dir.join("ca.crt"))
            .unwrap()
            .set_len(1 << 33)
            .unwrap();
        let err = crate::error_chain(&dirs.load("reg.io").unwrap_err());
        assert!(
            err.contains("over the limit of 4194304 bytes for a certificate"),
            "{err}"
        );
    }

    #[test]
    fn hosts_that_are_not_one_component_read_nothing() {
        let dirs = CertDirs::from_env(None);
        for host in ["", ".", "..", "a/../b", "a\\b"] {
            assert!(dirs.candidates(host).is_empty(), "{host:?}");
        }
        let roots = CertDirs::from_env(None).candidates("reg.io");
        assert!(roots.contains(&PathBuf::from("/etc/containers/certs.d/reg.io")));
        assert!(roots.contains(&PathBuf::from("/etc/docker/certs.d/reg.io")));
    }

    #[test]
    fn a_named_directory_must_exist() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = CertDirs {
            explicit: Some(tmp.path().join("missing")),
            roots: vec![],
        };
        assert!(matches!(
            dirs.load("reg.io"),
            Err(CertsError::ReadDir { .. })
        ));
    }

    #[test]
    fn broken_files_are_errors_naming_the_file() {
        let (cert, key) = cert_pem("x");
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("ca.crt", "hello")],
                "ca.crt is not a PEM certificate file: no \"BEGIN CERTIFICATE\"",
            ),
            (&[("ca.crt", &key)], "ca.crt is not a PEM certificate file"),
            (&[("client.cert", &cert)], "client certificate"),
            (&[("client.key", &key)], "client key"),
            (
                &[("client.cert", "junk"), ("client.key", &key)],
                "client.cert is not a PEM certificate",
            ),
            (
                &[("client.cert", &cert), ("client.key", &cert)],
                "client.key is not a PEM private key",
            ),
        ];
        for (files, needle) in cases {
            let tmp = tempfile::tempdir().unwrap();
            for (name, text) in *files {
                fs::write(tmp.path().join(name), text).unwrap();
            }
            let dirs = CertDirs {
                explicit: Some(tmp.path().to_path_buf()),
                roots: vec![],
            };
            let err = dirs.load("reg.io").unwrap_err().to_string();
            assert!(err.contains(needle), "{files:?}: {err}");
        }
        // The missing partner is named too.
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("me.cert"), &cert).unwrap();
        let dirs = CertDirs {
            explicit: Some(tmp.path().to_path_buf()),
            roots: vec![],
        };
        let err = dirs.load("reg.io").unwrap_err();
        assert!(
            matches!(&err, CertsError::MissingKey { key, .. } if key.ends_with("me.key")),
            "{err}"
        );
    }
}
