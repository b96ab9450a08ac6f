//! Authentication for one repository: the registry's challenge, bearer tokens from its token
//! server, and the one rule for where credentials may go.
//!
//! The rule, enforced here and nowhere else:
//! - A challenge counts only when the registry itself sent it: an answer whose URL is not the
//!   registry's origin (a CDN a blob GET was redirected to, say) never changes how we
//!   authenticate.
//! - `Authorization` (Basic or a token) is put only on requests to the registry's own origin
//!   (scheme, host and port as probed); an upload location or redirect elsewhere gets none.
//! - Basic credentials go to a token realm only over HTTPS, unless the registry itself is plain
//!   HTTP (then nothing was protected to begin with); otherwise the request is refused with an
//!   error that says why, before anything is sent.
//!
//! `GET /v2/` happens once per host per process (shared with the HTTPS/HTTP probe of
//! `--tls-verify=false`); tokens are asked for once per repository and scope and kept until
//! shortly before they expire; a 401 on a token that may have expired gets one new token.

use super::client::Host;
use super::error::{Errors, Op, MAX_ERROR_BODY};
use super::wire;
use crate::auth::Credential;
use crate::transport::TransportError;
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A token answer larger than this is refused (real ones are a few KiB).
const MAX_TOKEN_ANSWER: u64 = 1024 * 1024;
/// Tokens are used for at most this long, whatever the server says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// The docker token spec's lifetime when the server does not say.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// A 401 on a bearer token at least this old may mean it expired (when the registry does not
/// say): get a new one and try again. A younger one was just granted, and a 401 means it does
/// not grant enough.
const REAUTH_MIN_TOKEN_AGE: Duration = Duration::from_secs(1);

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
        let values: Vec<&str> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if let Some(bearer) = values.iter().find_map(|v| parse_bearer(v)) {
            return Some(Challenge::Bearer(bearer));
        }
        if !values.is_empty() || status == StatusCode::UNAUTHORIZED {
            return Some(Challenge::Basic);
        }
        Some(Challenge::None)
    }
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

/// A bearer token and when to stop using it.
#[derive(Clone)]
pub(super) struct Token {
    value: String,
    granted_at: Instant,
    usable_until: Instant,
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
    fn is_fresh(&self) -> bool {
        Instant::now() < self.usable_until
    }

    /// The `Authorization` this token makes.
    pub(super) fn credentials(&self) -> Credentials {
        Credentials::Bearer(self.value.clone())
    }
}

/// Pull access (`pull`) or push access (`pull,push`) to the session's repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Pull,
    Push,
}

/// Authentication state for one repository of one host.
pub(super) struct Session {
    host: Arc<Host>,
    repository: String,
    credential: Option<Credential>,
    errors: Errors,
    /// Tokens by the scopes they were asked for (`repository:a:pull,push repository:b:pull`).
    tokens: tokio::sync::Mutex<HashMap<String, Token>>,
}

impl Session {
    pub(super) fn new(
        host: Arc<Host>,
        repository: String,
        credential: Option<Credential>,
        errors: Errors,
    ) -> Self {
        Self {
            host,
            repository,
            credential,
            errors,
            tokens: tokio::sync::Mutex::default(),
        }
    }

    pub(super) fn host(&self) -> &Host {
        &self.host
    }

    pub(super) fn errors(&self) -> &Errors {
        &self.errors
    }

    pub(super) fn has_credential(&self) -> bool {
        self.credential.is_some()
    }

    /// Whether a request to `url` may carry this registry's credentials: only its own origin.
    fn may_authenticate(&self, url: &Url) -> bool {
        url.origin() == self.host.origin.origin()
    }

    /// Adds `credentials` to a request for `url`, if the rule allows it there.
    pub(super) fn authorize(
        &self,
        request: RequestBuilder,
        url: &Url,
        credentials: &Credentials,
    ) -> RequestBuilder {
        if !self.may_authenticate(url) {
            return request;
        }
        match credentials {
            Credentials::None => request,
            Credentials::Basic(user, password) => request.basic_auth(user, Some(password)),
            Credentials::Bearer(token) => request.bearer_auth(token),
        }
    }

    /// How this registry wants to be authenticated.
    pub(super) async fn challenge(&self) -> Result<Challenge, TransportError> {
        if let Some(learned) = self.host.learned_challenge() {
            return Ok(learned);
        }
        self.host.challenge(&self.errors).await
    }

    /// The credentials for a request with `access`, and when its token was granted.
    pub(super) async fn credentials(
        &self,
        access: Access,
    ) -> Result<(Credentials, Option<Instant>), TransportError> {
        match self.challenge().await? {
            Challenge::None => Ok((Credentials::None, None)),
            Challenge::Basic => Ok((self.basic(), None)),
            Challenge::Bearer(challenge) => {
                if access == Access::Pull {
                    // A pull,push token covers pulls; a pull-only token may grant less on a
                    // destination repository that does not exist yet.
                    let push = self.scope(Access::Push);
                    if let Some(token) = self.tokens.lock().await.get(&push) {
                        if token.is_fresh() {
                            return Ok((
                                Credentials::Bearer(token.value.clone()),
                                Some(token.granted_at),
                            ));
                        }
                    }
                }
                let token = self.token(&challenge, &[self.scope(access)]).await?;
                Ok((Credentials::Bearer(token.value), Some(token.granted_at)))
            }
        }
    }

    fn basic(&self) -> Credentials {
        match &self.credential {
            Some(c) => Credentials::Basic(c.username().to_string(), c.password().to_string()),
            None => Credentials::None,
        }
    }

    /// `repository:<repo>:pull` or `…:pull,push`.
    pub(super) fn scope(&self, access: Access) -> String {
        let actions = match access {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        };
        format!("repository:{}:{actions}", self.repository)
    }

    /// A token for `scopes` (cached per scope set), asked for with the retry policy. Held while
    /// asking, so parallel requests wait for one token request.
    pub(super) async fn token(
        &self,
        challenge: &BearerChallenge,
        scopes: &[String],
    ) -> Result<Token, TransportError> {
        let key = scopes.join(" ");
        let mut tokens = self.tokens.lock().await;
        if let Some(token) = tokens.get(&key) {
            if token.is_fresh() {
                return Ok(token.clone());
            }
        }
        let token = self
            .host
            .policy
            .run(|| self.fetch_token(challenge, scopes))
            .await?;
        tokens.insert(key, token.clone());
        Ok(token)
    }

    async fn forget_tokens(&self) {
        self.tokens.lock().await.clear();
    }

    /// `GET realm?service=…&scope=…` (one `scope` per entry), with Basic credentials when there
    /// are any and the realm may receive them.
    async fn fetch_token(
        &self,
        challenge: &BearerChallenge,
        scopes: &[String],
    ) -> Result<Token, TransportError> {
        let mut url = Url::parse(&challenge.realm)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http"))
            .ok_or_else(|| {
                self.errors.token_refused(
                    0,
                    &format!(
                        "the registry's token realm {:?} is not an http(s) URL",
                        challenge.realm
                    ),
                )
            })?;
        if self.credential.is_some()
            && url.scheme() == "http"
            && self.host.origin.scheme() == "https"
        {
            return Err(TransportError::Refused {
                registry: self.host.name.clone(),
                detail: format!(
                    "the registry is reached over HTTPS but names a token server over plain HTTP \
                     ({}); refusing to send the password there in clear text",
                    wire::shown_url(&url)
                ),
            });
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &challenge.service {
                query.append_pair("service", service);
            }
            for scope in scopes {
                query.append_pair("scope", scope);
            }
        }
        let op = Op {
            method: "GET",
            what: "a token",
            read: false,
        };
        let mut request = self.host.wire.http().get(url.clone());
        if let Some(c) = &self.credential {
            request = request.basic_auth(c.username(), Some(c.password()));
        }
        let response = self
            .host
            .wire
            .send(request)
            .await
            .map_err(|e| self.errors.wire(e, op, &url))?;
        let status = response.status();
        if super::error::is_throttle_or_server_error(status) {
            return Err(self.errors.response(response, op).await);
        }
        if !status.is_success() {
            let body = wire::read_some(response, MAX_ERROR_BODY, self.errors.stall).await;
            return Err(self
                .errors
                .token_refused(status.as_u16(), &String::from_utf8_lossy(&body)));
        }
        let body = wire::read_capped(response, MAX_TOKEN_ANSWER, self.errors.stall)
            .await
            .map_err(|e| self.errors.body(e, op, &url, MAX_TOKEN_ANSWER))?;
        let refused = |why: &str| self.errors.token_refused(status.as_u16(), why);
        let json: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| refused("the answer is not JSON"))?;
        let value = json
            .get("token")
            .or_else(|| json.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| refused("the answer holds no token"))?
            .to_string();
        let lifetime = json
            .get("expires_in")
            .and_then(|v| v.as_u64())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME)
            .clamp(Duration::from_secs(1), MAX_TOKEN_LIFETIME);
        let now = Instant::now();
        // Stop using tokens a little early so that none expires on its way.
        Ok(Token {
            value,
            granted_at: now,
            usable_until: now + lifetime.mul_f64(0.8),
        })
    }

    /// Sends a request built by `build` (for `url`) with the credentials for `access`. A 401
    /// from the registry itself is answered once: with a new token when the one sent may have
    /// expired, or with credentials when a registry that asked for none at `GET /v2/` asks for
    /// them here. Any other answer is the caller's to read.
    pub(super) async fn send(
        &self,
        access: Access,
        op: Op<'_>,
        url: &Url,
        build: &(dyn Fn() -> RequestBuilder + Send + Sync),
    ) -> Result<Response, TransportError> {
        let mut answered_401 = false;
        loop {
            let (credentials, granted) = self.credentials(access).await?;
            let request = self.authorize(build(), url, &credentials);
            let response = self
                .host
                .wire
                .send(request)
                .await
                .map_err(|e| self.errors.wire(e, op, url))?;
            if response.status() != StatusCode::UNAUTHORIZED || answered_401 {
                return Ok(response);
            }
            answered_401 = true;
            if !self
                .retry_after_401(&response, &credentials, granted)
                .await?
            {
                return Ok(response);
            }
            // Read the (small) refusal so that the connection can carry the next try.
            wire::read_some(response, MAX_ERROR_BODY, self.errors.stall).await;
        }
    }

    /// After a 401 to a request sent with `credentials`: whether to try once more, having
    /// adopted the registry's new challenge or dropped an expired token.
    pub(super) async fn retry_after_401(
        &self,
        response: &Response,
        credentials: &Credentials,
        granted: Option<Instant>,
    ) -> Result<bool, TransportError> {
        // Only the registry's own challenge counts (not a redirect target's).
        if !self.may_authenticate(response.url()) {
            return Ok(false);
        }
        let asked = Challenge::from_response(response);
        match (credentials, &asked) {
            (Credentials::Bearer(_), _) => {
                // RFC 6750: `invalid_token` (expired, revoked) is worth a new token;
                // `insufficient_scope` is not. Registries that say neither get a new token when
                // the one sent was not just granted.
                let said = match &asked {
                    Some(Challenge::Bearer(c)) => c.error.as_deref(),
                    _ => None,
                };
                let renew = match said {
                    Some("invalid_token") => true,
                    Some(_) => false,
                    None => granted.is_some_and(|at| at.elapsed() >= REAUTH_MIN_TOKEN_AGE),
                };
                if renew {
                    self.forget_tokens().await;
                }
                Ok(renew)
            }
            (Credentials::None, Some(asked)) if self.challenge().await? == Challenge::None => {
                let usable = match asked {
                    Challenge::Bearer(_) => true,
                    Challenge::Basic => self.credential.is_some(),
                    Challenge::None => false,
                };
                if usable {
                    self.host.learn_challenge(asked.clone());
                }
                Ok(usable)
            }
            _ => Ok(false),
        }
    }

    /// Whether a pull,push token could be had now, on a bearer registry where there was none:
    /// reads of a push destination may need it (a token server may grant no pull access on a
    /// repository that does not exist yet).
    pub(super) async fn gain_push_token(&self) -> bool {
        let Ok(Challenge::Bearer(_)) = self.challenge().await else {
            return false;
        };
        if self
            .tokens
            .lock()
            .await
            .contains_key(&self.scope(Access::Push))
        {
            return false;
        }
        self.credentials(Access::Push).await.is_ok()
    }
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
    fn credentials_never_show_in_debug_output() {
        let shown = format!(
            "{:?} {:?}",
            Credentials::Basic("alice".into(), "hunter2".into()),
            Credentials::Bearer("tok3n".into())
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok3n"),
            "{shown}"
        );
    }
}
