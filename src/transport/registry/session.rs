//! Authentication for one repository, and the one function every request of the registry
//! layer goes through ([`Session::send`]): the registry's challenge, bearer tokens from its
//! token server, redirects, and the one rule for where credentials may go.
//!
//! The rule, enforced here and nowhere else (a test over the source tree keeps it so):
//! - A challenge counts only when the registry itself sent it: an answer from another origin
//!   (a CDN a blob GET was redirected to, say) never changes how we authenticate.
//! - `Authorization` (Basic or a token) is put only on requests to the registry's own origin
//!   (scheme, host and port as probed); a redirect or upload location elsewhere gets none, and
//!   is reached through that host's own wire (its own TLS trust and client certificate, never
//!   the registry's).
//! - Basic credentials go to a token realm only over HTTPS, unless the registry itself is plain
//!   HTTP (then nothing was protected to begin with); otherwise the request is refused with an
//!   error that says why, before anything is sent.
//! - The session's credential is the one found for its own host: the client never hands a
//!   mirror or a remapped location the credentials given for another registry.
//!
//! `GET /v2/` happens once per host per process (see `host`); tokens are asked for once per
//! repository and scope and kept until shortly before they expire; a 401 on a token that may
//! have expired gets one new token. Redirects are followed here, at most
//! [`MAX_REDIRECTS`] in a row, each hop through the wire of its own host.

use super::challenge::{BearerChallenge, Challenge};
use super::error::{shown_url, Errors, Op, MAX_ERROR_BODY};
use super::host::Host;
use super::wire::{self, Request};
use crate::config::auth::Credential;
use crate::transport::TransportError;
use reqwest::header::{HeaderValue, AUTHORIZATION, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};
use std::collections::HashMap;
use std::future::Future;
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
/// Redirects followed in a row for one request (what browsers and reqwest allow); one more is
/// an error that names this limit.
pub(super) const MAX_REDIRECTS: usize = 10;

/// What goes into a request's `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
enum Credentials {
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
struct Token {
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
    fn credentials(&self) -> Credentials {
        Credentials::Bearer(self.value.clone())
    }
}

impl Credentials {
    /// The `Authorization` header value, if any (marked sensitive, so that no log shows it).
    fn header(&self) -> Option<HeaderValue> {
        use base64::Engine as _;
        let text = match self {
            Credentials::None => return None,
            Credentials::Basic(user, password) => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
            Credentials::Bearer(token) => format!("Bearer {token}"),
        };
        // Base64 and tokens checked when they were granted are valid header text.
        let mut value = HeaderValue::from_str(&text).expect("credentials are header text");
        value.set_sensitive(true);
        Some(value)
    }
}

/// What a request needs to be allowed: pull, push, or a cross-repository mount (push here
/// and pull on the source repository, in one token, as docker and containers/image ask).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access<'a> {
    Pull,
    Push,
    Mount { from: &'a str },
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
    /// `credential` is the one found for `host` itself (never another registry's).
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

    /// With `--debug`, a line about what the transport decided.
    pub(super) fn note(&self, text: &str) {
        self.host.wire.note(text);
    }

    /// The error for a non-success answer.
    pub(super) async fn refusal(&self, response: Response, op: Op<'_>) -> TransportError {
        wire::refusal(&self.errors, response, op).await
    }

    /// Sends `request` with the credentials for `access`, following redirects (each hop through
    /// its own host's wire, with credentials only on the registry's own origin). A 401 from the
    /// registry itself is answered once: with a new token when the one sent may have expired,
    /// or with credentials when a registry that asked for none at `GET /v2/` asks for them
    /// here. Any other answer is the caller's to read.
    ///
    /// A streamed body is sent once: when a 401 to it was answered with new credentials, the
    /// error is [`TransportError::StartAgain`], so that whoever can reopen the stream sends it
    /// again (the retry policy does).
    pub(super) async fn send(
        &self,
        access: Access<'_>,
        op: Op<'_>,
        mut request: Request,
    ) -> Result<Response, TransportError> {
        let mut answered_401 = false;
        loop {
            let (credentials, granted) = self.credentials(access).await?;
            let attempt = request
                .attempt()
                .expect("a request is sent again only when its body can be");
            let authorization = credentials.header().map(|value| (value, &self.host.origin));
            let response = self.exchange(op, attempt, authorization).await?;
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
            if !request.can_repeat() {
                let refused = self.refusal(response, op).await;
                return Err(TransportError::StartAgain {
                    context: format!("{} {} ({})", op.method, shown_url(&request.url), op.what),
                    detail: format!(
                        "the registry asked for new credentials ({refused}); they are ready, \
                         and the streamed body goes again"
                    ),
                });
            }
            // Read the (small) refusal so that the connection can carry the next try.
            wire::read_some(response, MAX_ERROR_BODY, self.errors.stall).await;
        }
    }

    /// A read that is retried by the policy, and tried once more with a pull,push token when
    /// refused: the same reads check a push destination (does it have this blob yet?), and a
    /// token server may grant no pull access on a repository that does not exist yet.
    pub(super) async fn read<T, F, Fut>(&self, request: F) -> Result<T, TransportError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
    {
        // A token server's refusal is reported as such, before any request.
        self.credentials(Access::Pull).await?;
        let policy = self.host.policy;
        match policy.run(&request).await {
            Err(TransportError::Unauthorized { .. } | TransportError::Denied { .. })
                if self.gain_push_token().await =>
            {
                policy.run(&request).await
            }
            other => other,
        }
    }

    /// Sends one request and the redirects it leads to, at most [`MAX_REDIRECTS`]; each hop
    /// goes through the wire of its own host, and `authorization` only on hops to its origin.
    async fn exchange(
        &self,
        op: Op<'_>,
        mut request: Request,
        authorization: Option<(HeaderValue, &Url)>,
    ) -> Result<Response, TransportError> {
        for _ in 0..=MAX_REDIRECTS {
            let mut hop = request
                .attempt()
                .expect("a redirect is followed only when its body can be sent again");
            if let Some((value, origin)) = &authorization {
                if hop.url.origin() == origin.origin() {
                    hop.headers.insert(AUTHORIZATION, value.clone());
                }
            }
            let url = request.url.clone();
            let wire = self.host.wire_for(&url).await?;
            let response = wire
                .send(hop)
                .await
                .map_err(|e| self.errors.wire(e, op, &url))?;
            let status = response.status();
            let target = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|location| response.url().join(location).ok());
            let (true, Some(target)) =
                (request.follow_redirects && status.is_redirection(), target)
            else {
                return Ok(response);
            };
            if !matches!(target.scheme(), "http" | "https") {
                return Ok(response);
            }
            request = match request.redirected(status.as_u16(), target) {
                Some(next) => next,
                // A streamed body was sent already: the redirect is the answer.
                None => return Ok(response),
            };
        }
        Err(TransportError::Invalid(format!(
            "{} {} ({}): more than {MAX_REDIRECTS} redirects in a row (the limit)",
            op.method,
            shown_url(&request.url),
            op.what
        )))
    }

    /// Whether a request to `url` may carry this registry's credentials: only its own origin.
    pub(super) fn is_registry_origin(&self, url: &Url) -> bool {
        self.host.is_own(url)
    }

    /// How this registry wants to be authenticated.
    async fn challenge(&self) -> Result<Challenge, TransportError> {
        if let Some(learned) = self.host.learned_challenge() {
            return Ok(learned);
        }
        self.host.challenge(&self.errors).await
    }

    /// The credentials for a request with `access`, and when its token was granted.
    async fn credentials(
        &self,
        access: Access<'_>,
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
                            return Ok((token.credentials(), Some(token.granted_at)));
                        }
                    }
                }
                let mut scopes = vec![self.scope(access)];
                if let Access::Mount { from } = access {
                    scopes.push(format!("repository:{from}:pull"));
                }
                let token = self.token(&challenge, &scopes).await?;
                Ok((token.credentials(), Some(token.granted_at)))
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
    fn scope(&self, access: Access<'_>) -> String {
        let actions = match access {
            Access::Pull => "pull",
            Access::Push | Access::Mount { .. } => "pull,push",
        };
        format!("repository:{}:{actions}", self.repository)
    }

    /// A token for `scopes` (cached per scope set), asked for with the retry policy. Held while
    /// asking, so parallel requests wait for one token request.
    async fn token(
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
    /// are any and the realm may receive them; through the realm host's own wire.
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
                    shown_url(&url)
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
        let realm = url.clone();
        let basic = self.basic().header();
        let authorization = basic.map(|value| (value, &realm));
        let response = self
            .exchange(op, Request::new(Method::GET, &url), authorization)
            .await?;
        let status = response.status();
        if super::error::is_throttle_or_server_error(status) {
            return Err(self.refusal(response, op).await);
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
            // A token goes into a header: one that cannot is no token.
            .filter(|t| !t.is_empty() && HeaderValue::from_str(t).is_ok())
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

    /// After a 401 to a request sent with `credentials`: whether to try once more, having
    /// adopted the registry's new challenge or dropped an expired token.
    async fn retry_after_401(
        &self,
        response: &Response,
        credentials: &Credentials,
        granted: Option<Instant>,
    ) -> Result<bool, TransportError> {
        // Only the registry's own challenge counts (not a redirect target's).
        if !self.is_registry_origin(response.url()) {
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
    async fn gain_push_token(&self) -> bool {
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
