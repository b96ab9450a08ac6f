//! Cross-repository blob mounts: one `POST /v2/<dst>/blobs/uploads/?mount=<digest>&from=<src>`.
//!
//! On token-auth registries the token must grant `pull,push` on the destination and `pull` on
//! the source (distribution answers 401 otherwise; others silently start an upload); the
//! session asks for both scopes in one request, as docker and containers/image do. Registries
//! with Basic auth or none get the session's own credentials.
//!
//! Everything here is an optimisation: any failure means "not mounted", and the caller copies.
//! Only 201 Created means mounted; a 202 (the registry opened an upload session instead: ECR,
//! and others for blobs they cannot link) is cancelled rather than left to the registry's
//! cleanup, when its location is on the registry itself.

use super::error::{is_throttle_or_server_error, Op};
use super::session::{Access, Session};
use super::upload;
use super::wire::Request;
use crate::model::digest::Digest;
use crate::transport::TransportError;
use reqwest::header::CONTENT_LENGTH;
use reqwest::{Method, StatusCode, Url};

/// Mounts `digest` from repository `from` into the session's repository (`uploads` is its
/// `…/blobs/uploads/` URL). `true` only when the registry answered 201.
pub(super) async fn mount(session: &Session, uploads: &Url, digest: &Digest, from: &str) -> bool {
    let Ok(url) = Url::parse_with_params(
        uploads.as_str(),
        &[("mount", digest.as_str()), ("from", from)],
    ) else {
        return false;
    };
    session
        .host()
        .policy
        .run(|| post(session, &url, from))
        .await
        .unwrap_or(false)
}

async fn post(session: &Session, url: &Url, from: &str) -> Result<bool, TransportError> {
    let op = Op {
        method: "POST",
        what: "a blob mount",
        read: false,
    };
    let request = Request::new(Method::POST, url).header(CONTENT_LENGTH, 0u64);
    let response = session.send(Access::Mount { from }, op, request).await?;
    match response.status() {
        StatusCode::CREATED => Ok(true),
        StatusCode::ACCEPTED => {
            if let Ok(location) = upload::next_location(&response, op) {
                upload::cancel(session, &location).await;
            }
            Ok(false)
        }
        status if is_throttle_or_server_error(status) => Err(session.refusal(response, op).await),
        _ => Ok(false),
    }
}
