//! Cross-repository blob mounts on token-auth registries, which oci-client cannot do: its
//! tokens cover one repository, and the registry checks `pull` on the mount's source too
//! (distribution answers 401; others silently start an upload). Here the token is asked for
//! both scopes in one request, as docker and containers/image do, and the mount is one POST.
//!
//! Everything here is an optimisation: any failure means "not mounted", and the caller copies.

use super::{retry, RetryPolicy, TransportError};
use crate::digest::Digest;
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_LENGTH, LOCATION, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// What a mount attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MountOutcome {
    /// 201 Created: the blob is now in the destination.
    Mounted,
    /// The registry (or its token server) said no; copy the blob.
    NotMounted,
    /// The registry does not use bearer tokens; oci-client's own mount request will do.
    NotTokenAuth,
}

/// A `WWW-Authenticate: Bearer realm=…,service=…` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Challenge {
    realm: String,
    service: Option<String>,
}

/// Mounts into one destination repository.
pub(super) struct Mounter {
    http: reqwest::Client,
    /// `scheme://host[:port]` of the registry API.
    api_root: String,
    repository: String,
    basic: Option<(String, String)>,
    policy: RetryPolicy,
    challenge: OnceCell<Option<Challenge>>,
    /// Tokens by source repository, with when to stop using them.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl Mounter {
    pub(super) fn new(
        http: reqwest::Client,
        api_root: String,
        repository: String,
        basic: Option<(String, String)>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            http,
            api_root,
            repository,
            basic,
            policy,
            challenge: OnceCell::new(),
            tokens: Mutex::default(),
        }
    }

    pub(super) async fn mount(&self, digest: &Digest, from: &str) -> MountOutcome {
        let challenge = match self
            .challenge
            .get_or_try_init(|| async { retry(self.policy, || self.discover()).await })
            .await
        {
            Ok(Some(challenge)) => challenge.clone(),
            Ok(None) => return MountOutcome::NotTokenAuth,
            Err(_) => return MountOutcome::NotMounted,
        };
        let Some(token) = self.token(&challenge, from).await else {
            return MountOutcome::NotMounted;
        };
        retry(self.policy, || self.post(digest, from, &token))
            .await
            .unwrap_or(MountOutcome::NotMounted)
    }

    /// `GET /v2/` without credentials: a 401 with a Bearer challenge means token auth.
    async fn discover(&self) -> Result<Option<Challenge>, TransportError> {
        let url = format!("{}/v2/", self.api_root);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| network(&url, e))?;
        if response.status().is_server_error() {
            return Err(status_error("GET", &url, response.status()));
        }
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(None);
        }
        Ok(response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(parse_bearer_challenge))
    }

    /// A token for `pull,push` on the destination and `pull` on `from`, cached until shortly
    /// before it expires. `None` when the token server refuses or cannot be reached.
    async fn token(&self, challenge: &Challenge, from: &str) -> Option<String> {
        if let Some((token, until)) = self.lock_tokens().get(from) {
            if Instant::now() < *until {
                return Some(token.clone());
            }
        }
        let mut url = Url::parse(&challenge.realm).ok()?;
        // Basic credentials go to the realm only over HTTPS, or when the registry itself is
        // plain HTTP (then nothing was protected to begin with).
        if self.basic.is_some() && url.scheme() != "https" && self.api_root.starts_with("https:") {
            return None;
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &challenge.service {
                query.append_pair("service", service);
            }
            query.append_pair(
                "scope",
                &format!("repository:{}:pull,push", self.repository),
            );
            query.append_pair("scope", &format!("repository:{from}:pull"));
        }
        let fetch = || async {
            let mut request = self.http.get(url.clone());
            if let Some((user, password)) = &self.basic {
                request = request.basic_auth(user, Some(password));
            }
            let response = request.send().await.map_err(|e| network(url.as_str(), e))?;
            let status = response.status();
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                return Err(status_error("GET", url.as_str(), status));
            }
            if !status.is_success() {
                return Ok(None);
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| network(url.as_str(), e))?;
            // A body that is not a token is a refusal too; nothing to retry.
            Ok(serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        };
        let body = retry(self.policy, fetch).await.ok()??;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())?
            .to_string();
        // Tokens last 60 s unless the server says otherwise (the docker token spec).
        let lifetime = body
            .get("expires_in")
            .and_then(|v| v.as_u64())
            .unwrap_or(60)
            .max(1);
        let usable = Duration::from_secs(lifetime).mul_f64(0.8);
        self.lock_tokens()
            .insert(from.to_string(), (token.clone(), Instant::now() + usable));
        Some(token)
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `POST /v2/<dst>/blobs/uploads/?mount=<digest>&from=<src>`.
    async fn post(
        &self,
        digest: &Digest,
        from: &str,
        token: &str,
    ) -> Result<MountOutcome, TransportError> {
        let base = format!("{}/v2/{}/blobs/uploads/", self.api_root, self.repository);
        let url = Url::parse_with_params(&base, &[("mount", digest.as_str()), ("from", from)])
            .map_err(|e| TransportError::Invalid(format!("mount URL {base}: {e}")))?;
        let response = self
            .http
            .post(url.clone())
            .bearer_auth(token)
            .header(CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(|e| network(url.as_str(), e))?;
        match response.status() {
            StatusCode::CREATED => Ok(MountOutcome::Mounted),
            StatusCode::ACCEPTED => {
                // The registry opened an upload session instead; close it rather than leave it
                // to the registry's cleanup.
                self.cancel_upload(response.headers(), token).await;
                Ok(MountOutcome::NotMounted)
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                Err(status_error("POST", url.as_str(), s))
            }
            _ => Ok(MountOutcome::NotMounted),
        }
    }

    async fn cancel_upload(&self, headers: &HeaderMap, token: &str) {
        let Some(location) = headers.get(LOCATION).and_then(|v| v.to_str().ok()) else {
            return;
        };
        let Ok(root) = Url::parse(&self.api_root) else {
            return;
        };
        let Ok(target) = root.join(location) else {
            return;
        };
        // The token is only for the registry itself.
        if target.origin() != root.origin() {
            return;
        }
        let _ = self
            .http
            .delete(target)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await;
    }
}

fn network(url: &str, error: reqwest::Error) -> TransportError {
    TransportError::Network {
        context: url.to_string(),
        detail: super::error_chain(&error),
    }
}

fn status_error(method: &str, url: &str, status: StatusCode) -> TransportError {
    TransportError::Status {
        method: method.to_string(),
        url: url.to_string(),
        status: status.as_u16(),
        detail: String::new(),
        retry_after: None,
    }
}

/// Parses `Bearer realm="…",service="…",scope="…"` (RFC 7235 auth-params, quoted or not).
/// `None` for other schemes or a Bearer challenge without a realm.
pub(super) fn parse_bearer_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
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
            _ => {}
        }
    }
    Some(Challenge {
        realm: realm.filter(|r| !r.is_empty())?,
        service,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_bearer_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
            })
        );
        assert_eq!(
            parse_bearer_challenge("bearer realm=http://t/token, service=reg"),
            Some(Challenge {
                realm: "http://t/token".into(),
                service: Some("reg".into()),
            })
        );
        assert_eq!(parse_bearer_challenge(r#"Basic realm="x""#), None);
        assert_eq!(parse_bearer_challenge(r#"Bearer service="x""#), None);
    }
}
