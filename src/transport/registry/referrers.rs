//! The OCI 1.1 referrers API (`GET /v2/<repo>/referrers/<digest>`): the manifests whose
//! `subject` is a digest. A registry without it (distribution 2.8) answers 404 for the route;
//! the copy engine then reads the `sha256-<hex>` fallback tag instead.

use super::error::Op;
use super::session::Access;
use super::{wire, RegistryTransport};
use crate::digest::Digest;
use crate::oci::{Descriptor, Index, OCI_INDEX};
use crate::transport::{TransportError, MAX_MANIFEST_BYTES};
use reqwest::header::ACCEPT;
use reqwest::StatusCode;

impl RegistryTransport {
    /// The referrers of `subject`, or `None` when the registry has no referrers API.
    pub(super) async fn list_referrers(
        &self,
        subject: &Digest,
    ) -> Result<Option<Vec<Descriptor>>, TransportError> {
        let what = format!("the referrers of {subject}");
        let op = Op {
            method: "GET",
            what: &what,
            read: true,
        };
        let url = self.url(&format!("referrers/{subject}"));
        let wire = &self.session.host().wire;
        let build = || wire.http().get(url.clone()).header(ACCEPT, OCI_INDEX);
        let stall = wire.timeouts().stall;
        let body = self
            .pull_request(|| async {
                let response = self.session.send(Access::Pull, op, &url, &build).await?;
                match response.status() {
                    // No such route: the registry predates the API (405 from some proxies).
                    StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => return Ok(None),
                    status if !status.is_success() => {
                        return Err(self.session.errors().response(response, op).await)
                    }
                    _ => {}
                }
                wire::read_capped(response, MAX_MANIFEST_BYTES, stall)
                    .await
                    .map(Some)
                    .map_err(|e| self.session.errors().body(e, op, &url, MAX_MANIFEST_BYTES))
            })
            .await?;
        let Some(body) = body else {
            return Ok(None);
        };
        let index = Index::parse(&body).map_err(|e| {
            TransportError::Invalid(format!("{what} in {}: {e}", self.session.errors().location))
        })?;
        Ok(Some(index.manifests))
    }
}
