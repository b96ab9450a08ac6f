//! What a registry's `GET /v2/` said about authentication, and bearer tokens from its token
//! server. The ping happens once per registry host per process (shared with the HTTPS/HTTP
//! probe of `--tls-verify=false`); tokens are asked for once per repository and operation and
//! kept until shortly before they expire.

use super::wire::{self, Wire};
use super::TransportError;
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};
use std::time::{Duration, Instant};

/// How a registry wants to be authenticated, from its answer to `GET /v2/`.
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
    /// Reads a response to `GET /v2/` (or a 401 to any request). `None` for a status that says
    /// nothing about authentication (5xx, 429): ask again later.
    pub(super) fn from_response(status: StatusCode, headers: &HeaderMap) -> Option<Challenge> {
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return None;
        }
        let values: Vec<&str> = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if let Some(bearer) = values.iter().find_map(|v| parse_bearer_challenge(v)) {
            return Some(Challenge::Bearer(bearer));
        }
        if !values.is_empty() || status == StatusCode::UNAUTHORIZED {
            return Some(Challenge::Basic);
        }
        Some(Challenge::None)
    }
}

/// What goes into a request's `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Credentials {
    None,
    Basic(String, String),
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::None => "None",
            Credentials::Basic(..) => "Basic(<redacted>)",
            Credentials::Bearer(_) => "Bearer(<redacted>)",
        })
    }
}

impl Credentials {
    /// Adds the header. Only for requests to the registry's own origin: redirects elsewhere
    /// lose it (reqwest's redirect policy), and upload locations on another host are not ours.
    pub(super) fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credentials::None => request,
            Credentials::Basic(user, password) => request.basic_auth(user, Some(password)),
            Credentials::Bearer(token) => request.bearer_auth(token),
        }
    }
}

/// A bearer token and when to stop using it.
#[derive(Clone)]
pub(super) struct Token {
    pub(super) value: String,
    pub(super) fetched_at: Instant,
    pub(super) usable_until: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("value", &"<redacted>")
            .field("usable_until", &self.usable_until)
            .finish()
    }
}

impl Token {
    pub(super) fn is_fresh(&self) -> bool {
        Instant::now() < self.usable_until
    }
}

/// Why no token came back.
#[derive(Debug)]
pub(super) enum TokenError {
    /// The token server answered, and not with a token (wrong password, no such account): its
    /// status and body, for the message.
    Refused { status: u16, body: String },
    /// Worth asking again: the connection failed, or 429/5xx.
    Transport(TransportError),
}

/// `GET realm?service=…&scope=…` (one `scope` per entry), with Basic credentials when given.
pub(super) async fn fetch_token(
    wire: &Wire,
    challenge: &BearerChallenge,
    scopes: &[String],
    basic: Option<&(String, String)>,
) -> Result<Token, TokenError> {
    let mut url = Url::parse(&challenge.realm).map_err(|e| TokenError::Refused {
        status: 0,
        body: format!(
            "the registry's token realm {:?} is not a URL: {e}",
            challenge.realm
        ),
    })?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = &challenge.service {
            query.append_pair("service", service);
        }
        for scope in scopes {
            query.append_pair("scope", scope);
        }
    }
    let mut request = wire
        .http()
        .get(url.clone())
        .timeout(super::SMALL_REQUEST_TIMEOUT);
    if let Some((user, password)) = basic {
        request = request.basic_auth(user, Some(password));
    }
    let shown = wire::shown_url(&url);
    let response = wire.send(request).await.map_err(|e| {
        TokenError::Transport(TransportError::Network {
            context: format!("GET {shown}"),
            detail: super::error_chain(&e),
        })
    })?;
    let status = response.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(TokenError::Transport(TransportError::Status {
            method: "GET".into(),
            url: shown,
            status: status.as_u16(),
            detail: String::new(),
            retry_after: wire::retry_after(response.headers()),
        }));
    }
    let body = response.bytes().await.map_err(|e| {
        TokenError::Transport(TransportError::Network {
            context: format!("GET {shown}"),
            detail: super::error_chain(&e),
        })
    })?;
    if !status.is_success() {
        return Err(TokenError::Refused {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    let refused = |why: &str| TokenError::Refused {
        status: status.as_u16(),
        body: why.to_string(),
    };
    let json: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| refused("the answer is not JSON"))?;
    let value = json
        .get("token")
        .or_else(|| json.get("access_token"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| refused("the answer holds no token"))?
        .to_string();
    // Tokens last 60 s unless the server says otherwise (the docker token spec); stop using
    // them a little early so that none expires on its way.
    let lifetime = json
        .get("expires_in")
        .and_then(|v| v.as_u64())
        .unwrap_or(60)
        .max(1);
    let now = Instant::now();
    Ok(Token {
        value,
        fetched_at: now,
        usable_until: now + Duration::from_secs(lifetime).mul_f64(0.8),
    })
}

/// Parses `Bearer realm="…",service="…",scope="…"` (RFC 7235 auth-params, quoted or not).
/// `None` for other schemes or a Bearer challenge without a realm.
pub(super) fn parse_bearer_challenge(header: &str) -> Option<BearerChallenge> {
    let header = header.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut error = None;
    let mut chars = params.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
            value = value.trim().to_string();
        }
        match key.trim().to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            "error" => error = Some(value),
            _ => {}
        }
    }
    Some(BearerChallenge {
        realm: realm.filter(|r| !r.is_empty())?,
        service,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_bearer_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#
            ),
            Some(BearerChallenge {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                error: None,
            })
        );
        assert_eq!(
            parse_bearer_challenge("bearer realm=http://t/token, service=reg"),
            Some(BearerChallenge {
                realm: "http://t/token".into(),
                service: Some("reg".into()),
                error: None,
            })
        );
        assert_eq!(parse_bearer_challenge(r#"Basic realm="x""#), None);
        assert_eq!(parse_bearer_challenge(r#"Bearer service="x""#), None);
        let expired = parse_bearer_challenge(
            r#"Bearer realm="https://t/token",service="s",error="invalid_token""#,
        )
        .unwrap();
        assert_eq!(expired.error.as_deref(), Some("invalid_token"));
    }

    #[test]
    fn reads_ping_answers() {
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(WWW_AUTHENTICATE, HeaderValue::from_str(value).unwrap());
            h
        };
        let none = HeaderMap::new();
        assert_eq!(
            Challenge::from_response(StatusCode::OK, &none),
            Some(Challenge::None)
        );
        assert_eq!(
            Challenge::from_response(StatusCode::NOT_FOUND, &none),
            Some(Challenge::None)
        );
        assert_eq!(
            Challenge::from_response(StatusCode::UNAUTHORIZED, &with(r#"Basic realm="r""#)),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::from_response(StatusCode::UNAUTHORIZED, &none),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::from_response(
                StatusCode::UNAUTHORIZED,
                &with(r#"Bearer realm="https://t/token",service="s""#)
            ),
            Some(Challenge::Bearer(BearerChallenge {
                realm: "https://t/token".into(),
                service: Some("s".into()),
                error: None,
            }))
        );
        assert_eq!(
            Challenge::from_response(StatusCode::SERVICE_UNAVAILABLE, &none),
            None
        );
        assert_eq!(
            Challenge::from_response(StatusCode::TOO_MANY_REQUESTS, &none),
            None
        );
    }
}
