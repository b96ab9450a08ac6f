//! The OCI 1.1 referrers API (`GET /v2/<repo>/referrers/<digest>`): the manifests whose
//! `subject` is a digest, over every page of the answer (`Link: <…>; rel="next"`, distribution
//! spec 1.1), merged.
//!
//! The API counts only when the registry's own origin answers it with an index. Registries
//! without it answer in many ways, each taken as "no API" (the copy engine then reads the
//! `sha256-<hex>` fallback tag), with a `--debug` note:
//! - 404 or 405 (distribution 2.8, and proxies in front of it);
//! - a redirect (GHCR answers 303 to a rate-limited web page, artifacthub/hub#4785; Google
//!   Artifact Registry 302 to a sign-in page, awslabs/soci-snapshotter#512): not followed;
//! - 401 or 403 without a challenge (Harbor up to 2.7, goharbor/harbor#18305);
//! - an answer that is not an index (an HTML page with 200).
//!
//! A later page is held to the same rules, and to the registry's own origin; a page that breaks
//! them, more than [`MAX_PAGES`] pages, or more than [`MAX_REFERRERS_PER_SUBJECT`] referrers
//! is an error naming what went wrong, never a silently short list (go-containerregistry#2446
//! read only the first page).

use super::challenge::challenges;
use super::error::{shown_url, Op};
use super::session::{Access, Session};
use super::wire::{self, Request};
use crate::model::digest::Digest;
use crate::model::oci::{Descriptor, Index, OCI_INDEX};
use crate::transport::{TransportError, MAX_MANIFEST_BYTES, MAX_REFERRERS_PER_SUBJECT};
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, LINK, LOCATION};
use reqwest::{Method, StatusCode, Url};
use std::collections::HashSet;

/// Pages of one subject's referrers read at most; one more is an error naming this limit.
pub(super) const MAX_PAGES: usize = 64;

/// What one page said.
enum Page {
    /// The registry has no referrers API, as far as this answer tells (why, for the note).
    NoApi(String),
    /// Entries, and where the next page is.
    Listed {
        manifests: Vec<Descriptor>,
        next: Option<Url>,
    },
}

/// The referrers of `subject` in the repository at `base` (`…/v2/<repository>/`), or `None`
/// when the registry has no referrers API.
pub(super) async fn list(
    session: &Session,
    base: &Url,
    subject: &Digest,
) -> Result<Option<Vec<Descriptor>>, TransportError> {
    let what = format!("the referrers of {subject}");
    let first = base
        .join(&format!("referrers/{subject}"))
        .expect("a digest joins the repository URL");
    let (mut manifests, mut next) = match page(session, &first, &what).await? {
        Page::NoApi(why) => {
            session.note(&format!(
                "{} {why}: taken as no referrers API",
                shown_url(&first)
            ));
            return Ok(None);
        }
        Page::Listed { manifests, next } => (manifests, next),
    };
    let mut seen: HashSet<Digest> = HashSet::new();
    manifests.retain(|d| seen.insert(d.digest.clone()));
    let mut pages = 1;
    while let Some(url) = next.take() {
        let location = &session.errors().location;
        if !session.is_registry_origin(&url) {
            return Err(TransportError::Invalid(format!(
                "{what} in {location}: the next page is on another host ({}); only the \
                 registry's own pages are read",
                shown_url(&url)
            )));
        }
        pages += 1;
        if pages > MAX_PAGES {
            return Err(TransportError::Invalid(format!(
                "{what} in {location}: more than {MAX_PAGES} pages (the limit of pages per image)"
            )));
        }
        match page(session, &url, &what).await? {
            Page::NoApi(why) => {
                return Err(TransportError::Invalid(format!(
                    "{what} in {location}: page {pages} ({}) {why}",
                    shown_url(&url)
                )))
            }
            Page::Listed {
                manifests: more,
                next: after,
            } => {
                manifests.extend(more.into_iter().filter(|d| seen.insert(d.digest.clone())));
                next = after;
            }
        }
        if manifests.len() > MAX_REFERRERS_PER_SUBJECT {
            break;
        }
    }
    if manifests.len() > MAX_REFERRERS_PER_SUBJECT {
        return Err(TransportError::Invalid(format!(
            "{what} in {}: more than {MAX_REFERRERS_PER_SUBJECT} referrers (the limit per image)",
            session.errors().location
        )));
    }
    Ok(Some(manifests))
}

/// One page: `GET url`, its redirect not followed.
async fn page(session: &Session, url: &Url, what: &str) -> Result<Page, TransportError> {
    let op = Op {
        method: "GET",
        what,
        read: true,
    };
    let stall = session.errors().stall;
    session
        .read(|| async {
            let request = Request::new(Method::GET, url)
                .text_header(ACCEPT, OCI_INDEX)
                .without_redirects();
            let response = session.send(Access::Pull, op, request).await?;
            let status = response.status();
            if status.is_redirection() {
                let to = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("nowhere");
                return Ok(Page::NoApi(format!(
                    "answered {} with a redirect to {}",
                    status.as_u16(),
                    crate::boundary::terminal::escape_controls(to)
                )));
            }
            match status {
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {
                    return Ok(Page::NoApi(format!("answered {}", status.as_u16())))
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                    if challenges(response.headers()).is_empty() =>
                {
                    return Ok(Page::NoApi(format!(
                        "answered {} without a challenge",
                        status.as_u16()
                    )))
                }
                s if !s.is_success() => return Err(session.refusal(response, op).await),
                _ => {}
            }
            if let Some(other) = not_an_index_type(response.headers()) {
                return Ok(Page::NoApi(format!(
                    "answered with {other:?}, not an index"
                )));
            }
            let next = next_page(response.headers(), response.url());
            let body = wire::read_capped(response, MAX_MANIFEST_BYTES, stall)
                .await
                .map_err(|e| session.errors().body(e, op, url, MAX_MANIFEST_BYTES))?;
            match Index::parse(&body) {
                Ok(index) => Ok(Page::Listed {
                    manifests: index.manifests,
                    next,
                }),
                Err(e) => Ok(Page::NoApi(format!(
                    "answered with something not an index ({e})"
                ))),
            }
        })
        .await
}

/// The Content-Type of an answer, when it says the body is something other than an index (an
/// HTML page); none, the OCI index type or plain JSON are read as an index.
fn not_an_index_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?;
    let text = String::from_utf8_lossy(value.as_bytes());
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        OCI_INDEX | "application/json" | "" => None,
        _ => Some(super::error::clip(&essence, 80)),
    }
}

/// The `rel="next"` target of a `Link` header (RFC 8288), resolved against the answer's URL.
fn next_page(headers: &HeaderMap, answered: &Url) -> Option<Url> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(links)
        .find(|(_, rels)| {
            rels.split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("next"))
        })
        .and_then(|(target, _)| answered.join(target).ok())
}

/// The links of one `Link` value: `<target>; rel="a b"; …, <…>` → (target, rel).
fn links(value: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let target = &rest[open + 1..open + close];
        let after = &rest[open + close + 1..];
        // The parameters run to the next link (a `,` outside quotes) or the end.
        let mut end = after.len();
        let mut quoted = false;
        for (i, c) in after.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let rel = after[..end]
            .split(';')
            .filter_map(|param| param.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("rel"))
            .map(|(_, value)| value.trim().trim_matches('"'))
            .unwrap_or("");
        found.push((target, rel));
        rest = &after[end..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn link(value: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(LINK, HeaderValue::from_str(value).unwrap());
        let answered = Url::parse("https://reg.io/v2/app/referrers/sha256:ab").unwrap();
        next_page(&headers, &answered).map(|u| u.to_string())
    }

    #[test]
    fn the_next_page_is_read_from_the_link_header() {
        assert_eq!(
            link(r#"</v2/app/referrers/sha256:ab?n=10&last=x>; rel="next""#).as_deref(),
            Some("https://reg.io/v2/app/referrers/sha256:ab?n=10&last=x")
        );
        assert_eq!(
            link(r#"<https://reg.io/p1>; rel="prev", <p2>; title="a, b"; rel=next"#).as_deref(),
            Some("https://reg.io/v2/app/referrers/p2")
        );
        assert_eq!(
            link(r#"<https://reg.io/p1>; rel="prev last""#),
            None,
            "no next page"
        );
        assert_eq!(link(r#"<unterminated; rel="next""#), None);
        assert_eq!(link("garbage"), None);
    }

    #[test]
    fn only_an_index_type_counts() {
        let typed = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            not_an_index_type(&headers)
        };
        assert_eq!(typed(OCI_INDEX), None);
        assert_eq!(typed("application/json; charset=utf-8"), None);
        assert_eq!(
            typed("text/html; charset=utf-8").as_deref(),
            Some("text/html")
        );
        assert_eq!(not_an_index_type(&HeaderMap::new()), None);
    }
}
