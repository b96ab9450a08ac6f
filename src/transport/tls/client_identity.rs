//! Which client certificate (`NAME.cert` + `NAME.key` of certs.d) to offer when a registry
//! asks for one.

use super::TrustError;
use crate::config::certs::ClientIdentity;
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, SignatureScheme};
use std::sync::Arc;
use x509_cert::der::{Decode, Encode};
use x509_cert::Certificate;

/// The host's client certificates; the server's request picks one.
#[derive(Debug)]
pub(super) struct ClientIdentities {
    /// Each key with the DER of its certificate's issuer name.
    keys: Vec<(Arc<CertifiedKey>, Vec<u8>)>,
}

impl ClientIdentities {
    pub(super) fn new(
        identities: &[ClientIdentity],
        provider: &CryptoProvider,
    ) -> Result<ClientIdentities, TrustError> {
        let mut keys = Vec::new();
        for identity in identities {
            let error = |reason| TrustError::ClientIdentity {
                cert: identity.cert_path.clone(),
                key: identity.key_path.clone(),
                reason,
            };
            let key =
                CertifiedKey::from_der(identity.chain.clone(), identity.key.clone_key(), provider)
                    .map_err(error)?;
            // The issuer's DER encoding, as a server names the CAs it trusts.
            let issuer = Certificate::from_der(&identity.chain[0])
                .and_then(|cert| cert.tbs_certificate().issuer().to_der())
                .map_err(|_| error(CertificateError::BadEncoding.into()))?;
            keys.push((Arc::new(key), issuer));
        }
        Ok(ClientIdentities { keys })
    }
}

impl ResolvesClientCert for ClientIdentities {
    /// As Go does (`tls.CertificateRequestInfo.SupportsCertificate`): the first certificate
    /// whose key can sign with a scheme the server accepts and, when the server names the CAs
    /// it trusts, that one of them issued. None fits: none is offered (a certificate is never
    /// shown to a server that did not ask for its issuer).
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.keys
            .iter()
            .filter(|(key, _)| key.key.choose_scheme(sigschemes).is_some())
            .find(|(_, issuer)| {
                root_hint_subjects.is_empty() || root_hint_subjects.contains(&issuer.as_slice())
            })
            .map(|(key, _)| key.clone())
    }

    fn has_certs(&self) -> bool {
        !self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};
    use std::path::PathBuf;

    #[test]
    fn only_a_client_certificate_issued_by_a_ca_the_server_names_is_offered() {
        let provider = crate::transport::tls::crypto_provider();
        let identity = |name: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap().der().clone();
            ClientIdentity {
                cert_path: PathBuf::from(format!("/certs/{name}.cert")),
                key_path: PathBuf::from(format!("/certs/{name}.key")),
                chain: vec![cert],
                key: rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            }
        };
        let identities = ClientIdentities::new(&[identity("a"), identity("b")], &provider).unwrap();
        let schemes = [SignatureScheme::ECDSA_NISTP256_SHA256];
        let b_issuer = identities.keys[1].1.clone();
        let chosen = identities
            .resolve(&[b_issuer.as_slice()], &schemes)
            .unwrap();
        assert!(Arc::ptr_eq(&chosen, &identities.keys[1].0));
        // No certificate from a CA the server names: none is offered.
        assert!(identities
            .resolve(&[b"unrelated".as_slice()], &schemes)
            .is_none());
        // A server that names no CA gets the first one it can verify.
        let unnarrowed = identities.resolve(&[], &schemes).unwrap();
        assert!(Arc::ptr_eq(&unnarrowed, &identities.keys[0].0));
        assert!(identities.resolve(&[], &[SignatureScheme::ED448]).is_none());
    }
}
