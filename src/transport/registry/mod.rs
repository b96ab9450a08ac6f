//! Registries as a transport: the [`Transport`] trait over the OCI distribution API.
//!
//! A one-way stack; each module uses only those below it (a test over the source tree keeps
//! it so):
//!
//! | module | job |
//! |---|---|
//! | this one | [`RegistryClient::repository`] and `reader`: which endpoints, which transport |
//! | `mirrors` | reads through registries.conf mirrors, then the primary |
//! | `repository` | [`RegistryTransport`]: manifests, blobs, mounts, referrers of one repository |
//! | `referrers`, `mount`, `chunked` | the referrers API; cross-repository mounts; resumable uploads |
//! | `upload` | POST, streamed PATCH, PUT `?digest=`, and a lost commit |
//! | `exists` | `HEAD` with the fallbacks registries need |
//! | `client` | settings, one wire per host (TLS, client certificate), the probe, credential lookups |
//! | `session` | challenges, tokens, redirects, and which credentials go to which origin: the one function every request goes through |
//! | `host` | one host's state: origin, wire, retry policy, its `GET /v2/` answer |
//! | `wire` | sending one request, time limits, body caps, the `--debug` log |
//! | `error` | answers and failures as typed errors |
//! | `challenge` | `WWW-Authenticate`, parsed |
//!
//! Every retry goes through [`crate::boundary::retry::RetryPolicy`].

mod challenge;
mod chunked;
mod client;
mod error;
mod exists;
mod host;
mod mirrors;
mod mount;
mod referrers;
mod repository;
mod session;
mod upload;
mod wire;

pub use client::{RegistryClient, RegistryOptions, DEFAULT_CHUNK_SIZE};
pub use repository::RegistryTransport;
pub use wire::Timeouts;

use crate::model::reference::RegistryRef;
use crate::transport::{Transport, TransportError};
use mirrors::Mirrored;
use std::sync::Arc;

impl RegistryClient {
    /// A transport to write to (or read from) one repository, exactly as named: registries.conf
    /// decides only whether it is insecure or blocked (writes never go to mirrors). Resolves the
    /// host (TLS trust; for an insecure host, HTTPS or HTTP, which is the host's one `GET /v2/`)
    /// and the credentials; does not authenticate yet (that happens on first use).
    pub async fn repository(&self, r: &RegistryRef) -> Result<RegistryTransport, TransportError> {
        let endpoint = self.push_endpoint(r)?;
        RegistryTransport::open(self, r, &endpoint).await
    }

    /// A transport to read an image from: its registries.conf mirrors first (as their
    /// `pull-from-mirror` allows), then its primary location, each tried in turn.
    pub(crate) async fn reader(
        &self,
        r: &RegistryRef,
    ) -> Result<Arc<dyn Transport>, TransportError> {
        let endpoints = self.pull_endpoints(r)?;
        match endpoints.as_slice() {
            [only] => Ok(Arc::new(RegistryTransport::open(self, r, only).await?)),
            _ => Ok(Arc::new(Mirrored::new(self.clone(), r.clone(), endpoints))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_debug_redacts_password() {
        let options = RegistryOptions {
            creds: Some("alice:hunter2".into()),
            ..Default::default()
        };
        let shown = format!("{options:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("alice"),
            "{shown}"
        );
        assert_eq!(options.tls_verify, None);
        assert!(!options.debug);
    }

    #[tokio::test]
    async fn creds_without_password_are_refused_up_front() {
        let options = RegistryOptions {
            creds: Some("alice".into()),
            ..Default::default()
        };
        let err = RegistryClient::new(options).await.unwrap_err().to_string();
        assert!(
            err.contains("interactive password prompt is not supported"),
            "{err}"
        );
    }
}
