//! How a registry asks to be authenticated: its `WWW-Authenticate` challenge (Basic, or Bearer
//! with a token realm), read from an answer. Pure parsing; nothing here sends a request.

use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode};

/// How a registry wants to be authenticated, from its answer to `GET /v2/` or a 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Challenge {
    /// It answered without asking for credentials: requests go out without any.
    None,
    /// `WWW-Authenticate: Basic …` (or a 401 with a challenge we cannot use otherwise).
    Basic,
    /// `WWW-Authenticate: Bearer realm=…,service=…`: tokens from the realm.
    Bearer(BearerChallenge),
}

/// A `WWW-Authenticate: Bearer realm=…,service=…` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BearerChallenge {
    pub(super) realm: String,
    pub(super) service: Option<String>,
    /// RFC 6750's `error`: `invalid_token` (expired, say) or `insufficient_scope` on a 401.
    pub(super) error: Option<String>,
}

impl Challenge {
    /// Reads an answer to `GET /v2/` (or a 401 to any request). `None` for a status that says
    /// nothing about authentication (5xx, 429): ask again later.
    pub(super) fn from_response(response: &Response) -> Option<Challenge> {
        let status = response.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return None;
        }
        let values = challenges(response.headers());
        if let Some(bearer) = values.iter().find_map(|v| parse_bearer(v)) {
            return Some(Challenge::Bearer(bearer));
        }
        if !values.is_empty() || status == StatusCode::UNAUTHORIZED {
            return Some(Challenge::Basic);
        }
        Some(Challenge::None)
    }
}

/// Every `WWW-Authenticate` value of an answer that is text.
pub(super) fn challenges(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// Whether a 401's Bearer challenge says `error="insufficient_scope"` (RFC 6750).
pub(super) fn says_insufficient_scope(headers: &HeaderMap) -> bool {
    challenges(headers)
        .into_iter()
        .filter_map(parse_bearer)
        .any(|c| c.error.as_deref() == Some("insufficient_scope"))
}

/// The Bearer challenge of a `WWW-Authenticate` value, if it has one with a realm. The scheme
/// is matched case-insensitively (Nexus sends `BASIC`, others `bearer`).
pub(super) fn parse_bearer(header: &str) -> Option<BearerChallenge> {
    let challenges = http_auth::parse_challenges(header).ok()?;
    let bearer = challenges
        .iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))?;
    let param = |name: &str| {
        bearer
            .params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_unescaped())
    };
    Some(BearerChallenge {
        realm: param("realm").filter(|r| !r.is_empty())?,
        service: param("service"),
        error: param("error"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        assert_eq!(
            parse_bearer(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#
            ),
            Some(BearerChallenge {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                error: None,
            })
        );
        assert_eq!(
            parse_bearer(r#"bearer realm="http://t/token", service=reg"#),
            Some(BearerChallenge {
                realm: "http://t/token".into(),
                service: Some("reg".into()),
                error: None,
            })
        );
        // RFC 7235: a URL is not a token, so unquoted it is no challenge at all.
        assert_eq!(parse_bearer("Bearer realm=http://t/token"), None);
        assert_eq!(
            parse_bearer(r#"Basic realm="x", Bearer realm="https://t/x""#)
                .unwrap()
                .realm,
            "https://t/x"
        );
        assert_eq!(parse_bearer(r#"Basic realm="x""#), None);
        assert_eq!(parse_bearer(r#"Bearer service="x""#), None);
        assert_eq!(parse_bearer("Bearer realm=\"unterminated"), None);
        let expired =
            parse_bearer(r#"Bearer realm="https://t/token",service="s",error="invalid_token""#)
                .unwrap();
        assert_eq!(expired.error.as_deref(), Some("invalid_token"));
        let escaped = parse_bearer(r#"Bearer realm="https://t/a\"b""#).unwrap();
        assert_eq!(escaped.realm, "https://t/a\"b");
    }

    #[test]
    fn insufficient_scope_is_read_from_the_challenge() {
        let mut headers = HeaderMap::new();
        assert!(!says_insufficient_scope(&headers));
        headers.insert(
            WWW_AUTHENTICATE,
            r#"Bearer realm="https://t/token",error="insufficient_scope""#
                .parse()
                .unwrap(),
        );
        assert!(says_insufficient_scope(&headers));
    }
}
