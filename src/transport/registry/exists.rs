//! Whether a manifest or blob is in a repository: `HEAD`, with the fallbacks registries that
//! break the spec here need. Used by the transport's existence checks and by an upload whose
//! commit answer was lost.

use super::error::Op;
use super::session::{Access, Session};
use super::wire::Request;
use crate::transport::TransportError;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_LENGTH};
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
    Ok(stat(session, url, what, accept).await?.is_some())
}

/// Like [`exists`], with the size the answer states (`Content-Length`, read from the header:
/// a HEAD has no body to measure): `None` when absent, `Some(None)` when present without a
/// readable size.
pub(super) async fn stat(
    session: &Session,
    url: &Url,
    what: &str,
    accept: Option<&str>,
) -> Result<Option<Option<u64>>, TransportError> {
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
                s if s.is_success() => Ok(Some(stated_length(response.headers()))),
                StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => Ok(None),
                _ => Err(session.refusal(response, op).await),
            }
        })
        .await
}

/// The `Content-Length` header as a number, when it is one (digits only: a registry's number
/// is checked before it is used).
pub(super) fn stated_length(headers: &HeaderMap) -> Option<u64> {
    let text = headers.get(CONTENT_LENGTH)?.to_str().ok()?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}
