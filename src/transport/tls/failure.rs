//! A failed TLS connection explained in the words buildah users know (`x509: certificate
//! signed by unknown authority`), with the certs.d directories that were searched, and rustls'
//! own reason kept for callers that need it.

use crate::config::certs::HostCerts;
use rustls::{AlertDescription, CertificateError};
use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;

/// What went wrong, in the terms a user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailureKind {
    /// No trusted CA signed the server's certificate.
    UnknownAuthority,
    /// The server's certificate has expired or is not valid yet.
    OutsideValidity,
    /// The server's certificate is for another name.
    WrongName,
    /// The server's certificate is not for TLS servers (extended key usage).
    WrongPurpose,
    /// The server wants a client certificate and none was offered.
    ClientCertificateRequired,
    /// The server refused the client certificate that was offered, or wanted one and none was
    /// issued by a CA it names (then none is offered).
    ClientCertificateRefused,
    /// Anything else rustls reports (protocol versions, broken certificates …).
    Other,
}

/// A TLS failure for one host: the kind, the directories searched, and rustls' reason.
#[derive(Debug, Clone)]
pub struct TlsFailure {
    /// `HOST[:PORT]`.
    pub host: String,
    /// The certs.d directories that were looked at.
    pub searched: Vec<PathBuf>,
    /// The client certificates that were offered, if any.
    pub client_certs: Vec<PathBuf>,
    /// What went wrong.
    pub kind: TlsFailureKind,
    /// rustls' own error.
    pub reason: rustls::Error,
}

impl TlsFailure {
    /// Finds the rustls error in `error`'s chain (through reqwest, hyper and `io::Error`) and
    /// explains it for the host whose certificates are `certs`; `None` if it is not a TLS error.
    pub fn explain(error: &(dyn StdError + 'static), certs: &HostCerts) -> Option<TlsFailure> {
        let reason = find_rustls_error(error)?.clone();
        let client_certs: Vec<PathBuf> = certs
            .identities
            .iter()
            .map(|i| i.cert_path.clone())
            .collect();
        Some(TlsFailure {
            host: certs.host.clone(),
            searched: certs.searched.clone(),
            kind: kind_of(&reason, !client_certs.is_empty()),
            client_certs,
            reason,
        })
    }

    fn dirs(&self) -> String {
        if self.searched.is_empty() {
            return "no certs.d directory".into();
        }
        self.searched
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (host, dirs) = (&self.host, self.dirs());
        match self.kind {
            TlsFailureKind::UnknownAuthority => write!(
                f,
                "x509: certificate signed by unknown authority ({host}; CA certificates were \
                 looked for in the system store and {dirs})"
            ),
            TlsFailureKind::OutsideValidity => write!(
                f,
                "x509: certificate has expired or is not yet valid ({host}: {})",
                self.reason
            ),
            TlsFailureKind::WrongName => write!(
                f,
                "x509: certificate is not valid for {host} ({})",
                self.reason
            ),
            TlsFailureKind::WrongPurpose => write!(
                f,
                "x509: certificate specifies an incompatible key usage ({host}: it is not for \
                 TLS servers)"
            ),
            TlsFailureKind::ClientCertificateRequired => write!(
                f,
                "{host} requires a client certificate and none was found (looked for \
                 NAME.cert + NAME.key in {dirs})"
            ),
            TlsFailureKind::ClientCertificateRefused => {
                let offered: Vec<String> = self
                    .client_certs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                write!(
                    f,
                    "{host} refused the client certificate ({}; one is offered only when its \
                     issuer is among the CAs the server names): {}",
                    offered.join(", "),
                    self.reason
                )
            }
            TlsFailureKind::Other => write!(
                f,
                "TLS with {host} failed: {} (certificates were looked for in {dirs})",
                self.reason
            ),
        }
    }
}

impl StdError for TlsFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.reason)
    }
}

/// `offered`: whether a client certificate could have been sent, which decides what a
/// certificate alert from the server means.
fn kind_of(reason: &rustls::Error, offered: bool) -> TlsFailureKind {
    use CertificateError as C;
    match reason {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer | C::BadSignature => TlsFailureKind::UnknownAuthority,
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => TlsFailureKind::OutsideValidity,
            C::NotValidForName | C::NotValidForNameContext { .. } => TlsFailureKind::WrongName,
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => TlsFailureKind::WrongPurpose,
            _ => TlsFailureKind::Other,
        },
        rustls::Error::AlertReceived(alert) if is_client_certificate_alert(alert) => {
            if offered {
                TlsFailureKind::ClientCertificateRefused
            } else {
                TlsFailureKind::ClientCertificateRequired
            }
        }
        _ => TlsFailureKind::Other,
    }
}

/// What a server says about the client's certificate. Go before 1.21 (distribution 2.8)
/// answers a missing one with `bad_certificate`, newer TLS 1.3 servers with
/// `certificate_required`.
fn is_client_certificate_alert(alert: &AlertDescription) -> bool {
    matches!(
        alert,
        AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied
    )
}

/// The first `rustls::Error` in the chain. `io::Error` hides its payload from `source()`, so
/// it is looked into with `get_ref`.
fn find_rustls_error<'a>(mut error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(found) = error.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(inner) = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            error = inner;
            continue;
        }
        error = error.source()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certs() -> HostCerts {
        HostCerts {
            host: "127.0.0.1:5000".into(),
            searched: vec![PathBuf::from("/certs/127.0.0.1:5000")],
            ..HostCerts::default()
        }
    }

    /// An error wrapped as reqwest wraps it: an `io::Error` around rustls' error, inside
    /// another error whose `source()` is the `io::Error`.
    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("error sending request")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    fn wrapped(reason: rustls::Error) -> Outer {
        Outer(std::io::Error::new(std::io::ErrorKind::InvalidData, reason))
    }

    #[test]
    fn finds_rustls_errors_through_io_errors_and_classifies_them() {
        for (reason, kind, needle) in [
            (
                CertificateError::UnknownIssuer.into(),
                TlsFailureKind::UnknownAuthority,
                "x509: certificate signed by unknown authority",
            ),
            (
                CertificateError::Expired.into(),
                TlsFailureKind::OutsideValidity,
                "expired or is not yet valid",
            ),
            (
                CertificateError::NotValidForName.into(),
                TlsFailureKind::WrongName,
                "not valid for 127.0.0.1:5000",
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::CertificateRequired),
                TlsFailureKind::ClientCertificateRequired,
                "requires a client certificate and none was found",
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::BadCertificate),
                TlsFailureKind::ClientCertificateRequired,
                "requires a client certificate and none was found",
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::ProtocolVersion),
                TlsFailureKind::Other,
                "TLS with 127.0.0.1:5000 failed",
            ),
        ] {
            let failure = TlsFailure::explain(&wrapped(reason), &certs()).unwrap();
            assert_eq!(failure.kind, kind);
            let text = failure.to_string();
            assert!(text.contains(needle), "{text}");
            let names_dirs = matches!(
                kind,
                TlsFailureKind::UnknownAuthority
                    | TlsFailureKind::ClientCertificateRequired
                    | TlsFailureKind::Other
            );
            if names_dirs {
                assert!(text.contains("/certs/127.0.0.1:5000"), "{text}");
            }
        }
    }

    #[test]
    fn a_certificate_alert_after_offering_one_is_a_refusal() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["client".to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap().der().clone();
        let mut offered = certs();
        offered
            .identities
            .push(crate::config::certs::ClientIdentity {
                cert_path: PathBuf::from("/certs/127.0.0.1:5000/me.cert"),
                key_path: PathBuf::from("/certs/127.0.0.1:5000/me.key"),
                chain: vec![cert],
                key: rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            });
        for alert in [
            AlertDescription::BadCertificate,
            AlertDescription::UnknownCA,
        ] {
            let reason = rustls::Error::AlertReceived(alert);
            let failure = TlsFailure::explain(&wrapped(reason), &offered).unwrap();
            assert_eq!(failure.kind, TlsFailureKind::ClientCertificateRefused);
            let text = failure.to_string();
            assert!(text.contains("refused the client certificate"), "{text}");
            assert!(text.contains("me.cert"), "{text}");
        }
    }

    #[test]
    fn other_errors_are_not_tls_failures() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(TlsFailure::explain(&Outer(io), &certs()).is_none());
    }
}
