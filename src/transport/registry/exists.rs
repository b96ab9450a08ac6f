//! Whether a manifest or blob is in a repository: `HEAD`, with the fallbacks registries that
//! break the spec here need. Used by the transport's existence checks and by an upload whose
//! commit answer was lost.

use super::error::Op;
use super::session::{Access, Session};
use super::wire::Request;
use crate::transport::TransportError;
use reqwest::header::ACCEPT;
use reqwest::{Method, StatusCode, Url};

/// `HEAD url`: 2xx → present, 404 → absent, anything else an error; with two fallbacks for
/// registries that break the spec here:
/// - 403 means absent: Artifactory's virtual repositories answer a HEAD of a missing manifest
///   with 403 (go-containerregistry does the same). A real refusal shows on the write that
///   follows.
/// - 405 (HEAD not allowed) is asked again with a GET whose body is not read (containerd does
///   the same).
///
/// Retried as every read is (see [`Session::read`]).
pub(super) async fn exists(
    session: &Session,
    url: &Url,
    what: &str,
    accept: Option<&str>,
) -> Result<bool, TransportError> {
    let op = Op {
        method: "HEAD",
        what,
        read: false,
    };
    let request = |method: Method| {
        let request = Request::new(method, url);
        match accept {
            Some(types) => request.text_header(ACCEPT, types),
            None => request,
        }
    };
    session
        .read(|| async {
            let response = session
                .send(Access::Pull, op, request(Method::HEAD))
                .await?;
            let response = if response.status() == StatusCode::METHOD_NOT_ALLOWED {
                let op = Op {
                    method: "GET",
                    ..op
                };
                session.send(Access::Pull, op, request(Method::GET)).await?
            } else {
                response
            };
            match response.status() {
                s if s.is_success() => Ok(true),
                StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => Ok(false),
                _ => Err(session.refusal(response, op).await),
            }
        })
        .await
}
