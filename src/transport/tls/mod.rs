//! TLS trust for one registry host as a rustls `ClientConfig` (ring provider), ready for
//! reqwest's `ClientBuilder::use_preconfigured_tls` (reqwest feature `rustls-no-provider`).
//!
//! - Verification on: the system roots (rustls-native-certs, which honours `SSL_CERT_FILE` and
//!   `SSL_CERT_DIR`) plus the host's certs.d CA certificates. A certificate the user put in the
//!   host's certs.d directory that the server presents as its own is accepted even when it says
//!   `CA:TRUE` (what `openssl req -x509 … -addext subjectAltName=…` makes), as Go's TLS and so
//!   skopeo and buildah accept it; its validity dates, host name and purpose are still
//!   checked, and the handshake signature still proves the server holds its key.
//! - Verification off (`insecure = true`, `--tls-verify=false`): any certificate is accepted.
//! - Either way the host's client certificates are offered when the server asks for one.
//!
//! The certs.d files it is built from are read by `crate::config::certs`; [`failure`] words a
//! handshake that failed.

mod client_identity;
pub mod failure;

use crate::config::certs::{CertDirs, CertsError, HostCerts};
use client_identity::ClientIdentities;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore,
    SignatureScheme,
};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use x509_cert::der::oid::db::rfc5280::ID_KP_SERVER_AUTH;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::Certificate;

/// Why a host's TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The certs.d directory could not be read.
    #[error(transparent)]
    Certs(#[from] CertsError),
    /// A `.crt` certificate is not usable as a trust anchor.
    #[error("{} cannot be used as a CA certificate: {reason}", path.display())]
    BadCa {
        /// The certificate file.
        path: PathBuf,
        /// Why rustls refused it.
        #[source]
        reason: rustls::Error,
    },
    /// A client certificate and key that do not belong together, or a key rustls cannot use.
    #[error("client certificate {} with key {}: {reason}", cert.display(), key.display())]
    ClientIdentity {
        /// The client certificate file.
        cert: PathBuf,
        /// Its key file.
        key: PathBuf,
        /// Why rustls refused the pair.
        #[source]
        reason: rustls::Error,
    },
    /// No system root and no certs.d CA: nothing could ever be verified.
    #[error(
        "no CA certificates to verify {host} with: none in the system store ({system}) and none in {}",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoRoots {
        /// The registry host (`host[:port]`).
        host: String,
        /// The certs.d directories that were looked in.
        searched: Vec<PathBuf>,
        /// What the system store gave (empty, or why it failed to load).
        system: String,
    },
    /// rustls refused the configuration (should not happen with the ring provider).
    #[error("cannot configure TLS for {host}: {reason}")]
    Rustls {
        /// The registry host (`host[:port]`).
        host: String,
        /// What rustls reported.
        #[source]
        reason: rustls::Error,
    },
}

/// A host's TLS configuration and the certificates it was built from (for messages).
#[derive(Debug)]
pub struct HostTls {
    /// Pass to `reqwest::ClientBuilder::use_preconfigured_tls`.
    pub config: ClientConfig,
    /// What certs.d held for the host, and where it was looked for.
    pub certs: HostCerts,
    /// Whether the server's certificate is verified.
    pub verify: bool,
}

/// Loads `host`'s certs.d directory and builds its TLS configuration.
pub fn host_tls(dirs: &CertDirs, host: &str, verify: bool) -> Result<HostTls, TrustError> {
    let certs = dirs.load(host)?;
    let config = client_config(&certs, verify)?;
    Ok(HostTls {
        config,
        certs,
        verify,
    })
}

/// The crypto provider of every TLS configuration: ring, the only place that builds it.
///
/// Chosen on purpose: ring reads the OS random source directly, where aws-lc's entropy
/// seeding cost about 20 ms of CPU in every process that opened a connection. rustls 0.23.48
/// deprecates ring's provider because ring has no post-quantum key exchange; registries
/// negotiate X25519 or the NIST curves, which it has.
#[allow(deprecated, clippy::disallowed_methods)]
pub fn crypto_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The rustls configuration for a host whose certs.d content is `certs`.
pub(crate) fn client_config(certs: &HostCerts, verify: bool) -> Result<ClientConfig, TrustError> {
    let provider = Arc::new(crypto_provider());
    let rustls_error = |reason| TrustError::Rustls {
        host: certs.host.clone(),
        reason,
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(rustls_error)?;
    let verifier: Arc<dyn ServerCertVerifier> = if verify {
        Arc::new(HostVerifier::new(certs, &provider)?)
    } else {
        Arc::new(AcceptAnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        })
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    if certs.identities.is_empty() {
        return Ok(builder.with_no_client_auth());
    }
    let identities = ClientIdentities::new(&certs.identities, &provider)?;
    Ok(builder.with_client_cert_resolver(Arc::new(identities)))
}

/// The system roots, loaded once per process, and what went wrong loading them.
fn system_roots() -> &'static (Vec<CertificateDer<'static>>, String) {
    static ROOTS: OnceLock<(Vec<CertificateDer<'static>>, String)> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        let errors = found
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        (found.certs, errors)
    })
}

/// rustls' usual verification, plus acceptance of a certs.d certificate presented as itself.
#[derive(Debug)]
struct HostVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    /// The certificates of the host's certs.d directory: the ones the user trusts by name.
    explicitly_trusted: Vec<CertificateDer<'static>>,
}

impl HostVerifier {
    fn new(certs: &HostCerts, provider: &Arc<CryptoProvider>) -> Result<HostVerifier, TrustError> {
        let (system, system_errors) = system_roots();
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(system.iter().cloned());
        for ca in &certs.ca_certs {
            roots
                .add(ca.der.clone())
                .map_err(|reason| TrustError::BadCa {
                    path: ca.path.clone(),
                    reason,
                })?;
        }
        if roots.is_empty() {
            return Err(TrustError::NoRoots {
                host: certs.host.clone(),
                searched: certs.searched.clone(),
                system: if system_errors.is_empty() {
                    "it is empty".into()
                } else {
                    system_errors.clone()
                },
            });
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| TrustError::Rustls {
                host: certs.host.clone(),
                reason: rustls::Error::General(e.to_string()),
            })?;
        Ok(HostVerifier {
            webpki,
            explicitly_trusted: certs.ca_certs.iter().map(|c| c.der.clone()).collect(),
        })
    }

    /// The checks webpki would still have made after the CA flag, for a certificate the user
    /// trusts by its exact bytes: validity dates, host name, and the server purpose.
    fn accept_trusted_self(
        &self,
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let bad_encoding = || rustls::Error::InvalidCertificate(CertificateError::BadEncoding);
        let cert = Certificate::from_der(end_entity).map_err(|_| bad_encoding())?;
        let tbs = cert.tbs_certificate();
        let validity = tbs.validity();
        let (not_before, not_after) = (
            validity.not_before.to_unix_duration().as_secs(),
            validity.not_after.to_unix_duration().as_secs(),
        );
        let time = now.as_secs();
        let unix = |secs: u64| UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs));
        if time < not_before {
            return Err(CertificateError::NotValidYetContext {
                time: now,
                not_before: unix(not_before),
            }
            .into());
        }
        if time > not_after {
            return Err(CertificateError::ExpiredContext {
                time: now,
                not_after: unix(not_after),
            }
            .into());
        }
        let usage = tbs
            .get_extension::<ExtendedKeyUsage>()
            .map_err(|_| bad_encoding())?;
        if let Some((_, ExtendedKeyUsage(purposes))) = usage {
            if !purposes.contains(&ID_KP_SERVER_AUTH) {
                return Err(CertificateError::InvalidPurpose.into());
            }
        }
        rustls::client::verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
        Ok(ServerCertVerified::assertion())
    }
}

/// webpki refuses an end-entity certificate whose basic constraints say `CA:TRUE`.
fn is_ca_used_as_end_entity(error: &rustls::Error) -> bool {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => matches!(
            inner.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

/// Whether the certificate names itself as its issuer (a self-signed certificate).
fn is_self_issued(der: &CertificateDer<'_>) -> bool {
    Certificate::from_der(der).is_ok_and(|cert| {
        let tbs = cert.tbs_certificate();
        tbs.subject() == tbs.issuer()
    })
}

impl ServerCertVerifier for HostVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let error = match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(error) if is_ca_used_as_end_entity(&error) => error,
            Err(error) => return Err(error),
        };
        let trusted = self
            .explicitly_trusted
            .iter()
            .any(|t| t.as_ref() == end_entity.as_ref());
        if trusted {
            return self.accept_trusted_self(end_entity, server_name, now);
        }
        // webpki stops at the CA flag before looking for an issuer; for a self-signed
        // certificate nobody trusts, the real reason is the unknown issuer (Go's wording).
        if is_self_issued(end_entity) {
            return Err(CertificateError::UnknownIssuer.into());
        }
        Err(error)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Verification off: any certificate. The handshake signature is still checked against the
/// presented certificate, as Go does with `InsecureSkipVerify`.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::certs::{CaCert, ClientIdentity};
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };

    /// A self-signed certificate for 127.0.0.1, `CA:TRUE` as `openssl req -x509` makes it.
    fn self_signed_ca(
        edit: impl FnOnce(&mut CertificateParams),
    ) -> (CertificateDer<'static>, KeyPair) {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "x");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        edit(&mut params);
        let key = KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().clone();
        (der, key)
    }

    fn trusting(certs: &[&CertificateDer<'static>]) -> HostCerts {
        HostCerts {
            host: "127.0.0.1:5000".into(),
            searched: vec![PathBuf::from("/certs")],
            ca_certs: certs
                .iter()
                .map(|der| CaCert {
                    path: PathBuf::from("/certs/ca.crt"),
                    der: (*der).clone(),
                })
                .collect(),
            ..HostCerts::default()
        }
    }

    fn verify(
        certs: &HostCerts,
        presented: &CertificateDer<'_>,
        name: &str,
    ) -> Result<(), rustls::Error> {
        let provider = Arc::new(crypto_provider());
        let verifier = HostVerifier::new(certs, &provider).unwrap();
        let name = ServerName::try_from(name.to_string()).unwrap();
        verifier
            .verify_server_cert(presented, &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    fn certificate_error(result: Result<(), rustls::Error>) -> CertificateError {
        match result {
            Err(rustls::Error::InvalidCertificate(e)) => e,
            other => panic!("expected a certificate error, got {other:?}"),
        }
    }

    #[test]
    fn a_trusted_self_signed_ca_certificate_is_accepted_as_its_own_server_certificate() {
        let (cert, _) = self_signed_ca(|_| {});
        assert_eq!(verify(&trusting(&[&cert]), &cert, "127.0.0.1"), Ok(()));
    }

    #[test]
    fn the_host_name_is_still_checked() {
        let (cert, _) = self_signed_ca(|_| {});
        let err = certificate_error(verify(&trusting(&[&cert]), &cert, "localhost"));
        assert!(
            matches!(err, CertificateError::NotValidForNameContext { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn validity_dates_are_still_checked() {
        let (expired, _) = self_signed_ca(|p| {
            p.not_before = rcgen::date_time_ymd(2000, 1, 1);
            p.not_after = rcgen::date_time_ymd(2001, 1, 1);
        });
        let err = certificate_error(verify(&trusting(&[&expired]), &expired, "127.0.0.1"));
        assert!(
            matches!(err, CertificateError::ExpiredContext { .. }),
            "{err:?}"
        );

        // The verifier's own date check, for the time webpki's is not what stops it.
        let (cert, _) = self_signed_ca(|p| {
            p.not_before = rcgen::date_time_ymd(2030, 1, 1);
            p.not_after = rcgen::date_time_ymd(2031, 1, 1);
        });
        let provider = Arc::new(crypto_provider());
        let verifier = HostVerifier::new(&trusting(&[&cert]), &provider).unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let early = verifier.accept_trusted_self(&cert, &name, UnixTime::now());
        assert!(
            matches!(
                early,
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidYetContext { .. }
                ))
            ),
            "{early:?}"
        );
        // July 2030, then 2036.
        let late = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_910_000_000));
        assert!(verifier.accept_trusted_self(&cert, &name, late).is_ok());
        let later = UnixTime::since_unix_epoch(std::time::Duration::from_secs(2_100_000_000));
        assert!(verifier.accept_trusted_self(&cert, &name, later).is_err());
    }

    #[test]
    fn a_client_only_certificate_is_not_accepted_for_a_server() {
        let (cert, _) = self_signed_ca(|p| {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        });
        let err = certificate_error(verify(&trusting(&[&cert]), &cert, "127.0.0.1"));
        assert_eq!(err, CertificateError::InvalidPurpose);
    }

    #[test]
    fn another_self_signed_certificate_with_the_same_name_is_refused() {
        let (trusted, _) = self_signed_ca(|_| {});
        let (impostor, _) = self_signed_ca(|_| {});
        let err = certificate_error(verify(&trusting(&[&trusted]), &impostor, "127.0.0.1"));
        assert_eq!(err, CertificateError::UnknownIssuer);
        // Trusting nothing explicitly refuses it the same way.
        let err = certificate_error(verify(&trusting(&[]), &trusted, "127.0.0.1"));
        assert_eq!(err, CertificateError::UnknownIssuer);
    }

    #[test]
    fn a_ca_certificate_signed_by_a_trusted_ca_is_still_not_a_server_certificate() {
        let (ca_der, ca_key) = self_signed_ca(|p| p.subject_alt_names.clear());
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name.push(DnType::CommonName, "x");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = Issuer::new(ca_params, ca_key);
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "sub-ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let leaf_key = KeyPair::generate().unwrap();
        let sub_ca = params.signed_by(&leaf_key, &issuer).unwrap();
        let result = verify(&trusting(&[&ca_der]), sub_ca.der(), "127.0.0.1");
        assert!(
            matches!(&result, Err(e) if is_ca_used_as_end_entity(e)),
            "{result:?}"
        );
    }

    #[test]
    fn an_ordinary_chain_verifies() {
        let (ca_der, ca_key) = self_signed_ca(|p| p.subject_alt_names.clear());
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name.push(DnType::CommonName, "x");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = Issuer::new(ca_params, ca_key);
        let params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let leaf = params
            .signed_by(&KeyPair::generate().unwrap(), &issuer)
            .unwrap();
        assert_eq!(
            verify(&trusting(&[&ca_der]), leaf.der(), "localhost"),
            Ok(())
        );
    }

    #[test]
    fn verification_off_builds_without_any_root() {
        let certs = trusting(&[]);
        client_config(&certs, false).unwrap();
    }

    #[test]
    fn a_client_key_that_does_not_match_its_certificate_is_an_error() {
        let (cert, _) = self_signed_ca(|_| {});
        let other_key = KeyPair::generate().unwrap();
        let certs = HostCerts {
            identities: vec![ClientIdentity {
                cert_path: PathBuf::from("/certs/client.cert"),
                key_path: PathBuf::from("/certs/client.key"),
                chain: vec![cert],
                key: rustls::pki_types::PrivateKeyDer::try_from(other_key.serialize_der()).unwrap(),
            }],
            ..trusting(&[])
        };
        let err = client_config(&certs, false).unwrap_err();
        assert!(matches!(err, TrustError::ClientIdentity { .. }), "{err}");
        assert!(err.to_string().contains("/certs/client.cert"), "{err}");
    }
}
