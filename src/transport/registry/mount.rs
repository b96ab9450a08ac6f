//! Cross-repository blob mounts: one `POST /v2/<dst>/blobs/uploads/?mount=<digest>&from=<src>`.
//!
//! On token-auth registries the token must grant `pull,push` on the destination and `pull` on
//! the source (distribution answers 401 otherwise; others silently start an upload); it is
//! asked for with both scopes in one request, as docker and containers/image do, and kept per
//! source repository. Registries with Basic auth or none get the session's own credentials.
//!
//! Everything here is an optimisation: any failure means "not mounted", and the caller copies.
//! Only 201 Created means mounted; a 202 (the registry opened an upload session instead: ECR,
//! and others for blobs they cannot link) is cancelled rather than left to the registry's
//! cleanup, when its location is on the registry itself.

use super::error::{is_throttle_or_server_error, Op};
use super::session::{Access, Challenge, Credentials, Session};
use crate::digest::Digest;
use crate::transport::TransportError;
use reqwest::header::{CONTENT_LENGTH, LOCATION};
use reqwest::{StatusCode, Url};

/// Mounts `digest` from repository `from` into the session's repository (`uploads` is its
/// `…/blobs/uploads/` URL). `true` only when the registry answered 201.
pub(super) async fn mount(session: &Session, uploads: &Url, digest: &Digest, from: &str) -> bool {
    let credentials = match session.challenge().await {
        Ok(Challenge::Bearer(challenge)) => {
            let scopes = [
                session.scope(Access::Push),
                format!("repository:{from}:pull"),
            ];
            match session.token(&challenge, &scopes).await {
                Ok(token) => token.credentials(),
                Err(_) => return false,
            }
        }
        Ok(_) => match session.credentials(Access::Push).await {
            Ok((credentials, _)) => credentials,
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    let Ok(url) = Url::parse_with_params(
        uploads.as_str(),
        &[("mount", digest.as_str()), ("from", from)],
    ) else {
        return false;
    };
    session
        .host()
        .policy
        .run(|| post(session, &url, &credentials))
        .await
        .unwrap_or(false)
}

async fn post(
    session: &Session,
    url: &Url,
    credentials: &Credentials,
) -> Result<bool, TransportError> {
    let op = Op {
        method: "POST",
        what: "a blob mount",
        read: false,
    };
    let wire = &session.host().wire;
    let request = session.authorize(
        wire.http().post(url.clone()).header(CONTENT_LENGTH, 0),
        url,
        credentials,
    );
    let response = wire
        .send(request)
        .await
        .map_err(|e| session.errors().wire(e, op, url))?;
    match response.status() {
        StatusCode::CREATED => Ok(true),
        StatusCode::ACCEPTED => {
            cancel_upload(session, &response, credentials).await;
            Ok(false)
        }
        status if is_throttle_or_server_error(status) => {
            Err(session.errors().response(response, op).await)
        }
        _ => Ok(false),
    }
}

async fn cancel_upload(session: &Session, response: &reqwest::Response, credentials: &Credentials) {
    let Some(location) = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let Ok(target) = response.url().join(location) else {
        return;
    };
    // Only on the registry itself: a DELETE elsewhere is not ours to send.
    if target.origin() != session.host().origin.origin() {
        return;
    }
    let wire = &session.host().wire;
    let request = session.authorize(wire.http().delete(target.clone()), &target, credentials);
    let _ = wire.send(request).await;
}
