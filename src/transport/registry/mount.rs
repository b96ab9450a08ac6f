//! Cross-repository blob mounts, one `POST /v2/<dst>/blobs/uploads/?mount=<digest>&from=<src>`.
//!
//! On token-auth registries the token must grant `pull,push` on the destination and `pull` on
//! the source (distribution answers 401 otherwise; others silently start an upload), which
//! oci-client's one-repository tokens cannot; here it is asked for with both scopes in one
//! request, as docker and containers/image do, and kept per source repository. Registries with
//! Basic auth or none get the transport's own credentials.
//!
//! Everything here is an optimisation: any failure means "not mounted", and the caller copies.

use super::auth::{fetch_token, BearerChallenge, Credentials, Token};
use super::wire::{self, Wire};
use super::{retry, RetryPolicy, TransportError};
use crate::digest::Digest;
use reqwest::header::{HeaderMap, CONTENT_LENGTH, LOCATION};
use reqwest::{StatusCode, Url};
use std::collections::HashMap;
use std::sync::Mutex;

/// What a mount attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MountOutcome {
    /// 201 Created: the blob is now in the destination.
    Mounted,
    /// The registry (or its token server) said no; copy the blob.
    NotMounted,
}

/// Mounts into one destination repository.
pub(super) struct Mounter {
    wire: Wire,
    /// `scheme://host[:port]` of the registry API.
    api_root: String,
    repository: String,
    basic: Option<(String, String)>,
    policy: RetryPolicy,
    /// Two-scope tokens by source repository.
    tokens: Mutex<HashMap<String, Token>>,
}

impl Mounter {
    pub(super) fn new(
        wire: Wire,
        api_root: String,
        repository: String,
        basic: Option<(String, String)>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            wire,
            api_root,
            repository,
            basic,
            policy,
            tokens: Mutex::default(),
        }
    }

    /// Credentials for mounting from `from` on a token-auth registry: a token for `pull,push`
    /// on the destination and `pull` on `from`, cached until shortly before it expires. `None`
    /// when the token server refuses or cannot be reached.
    pub(super) async fn token_credentials(
        &self,
        challenge: &BearerChallenge,
        from: &str,
    ) -> Option<Credentials> {
        if let Some(token) = self.lock_tokens().get(from) {
            if token.is_fresh() {
                return Some(Credentials::Bearer(token.value.clone()));
            }
        }
        // Basic credentials go to the realm only over HTTPS, or when the registry itself is
        // plain HTTP (then nothing was protected to begin with).
        if self.basic.is_some()
            && !challenge.realm.starts_with("https:")
            && self.api_root.starts_with("https:")
        {
            return None;
        }
        let scopes = [
            format!("repository:{}:pull,push", self.repository),
            format!("repository:{from}:pull"),
        ];
        let token = retry(self.policy, || async {
            match fetch_token(&self.wire, challenge, &scopes, self.basic.as_ref()).await {
                Ok(token) => Ok(Some(token)),
                Err(super::auth::TokenError::Transport(e)) => Err(e),
                Err(super::auth::TokenError::Refused { .. }) => Ok(None),
            }
        })
        .await
        .ok()??;
        let credentials = Credentials::Bearer(token.value.clone());
        self.lock_tokens().insert(from.to_string(), token);
        Some(credentials)
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, Token>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The mount request, retried on 429/5xx and dropped connections.
    pub(super) async fn mount(
        &self,
        digest: &Digest,
        from: &str,
        credentials: &Credentials,
    ) -> MountOutcome {
        retry(self.policy, || self.post(digest, from, credentials))
            .await
            .unwrap_or(MountOutcome::NotMounted)
    }

    async fn post(
        &self,
        digest: &Digest,
        from: &str,
        credentials: &Credentials,
    ) -> Result<MountOutcome, TransportError> {
        let base = format!("{}/v2/{}/blobs/uploads/", self.api_root, self.repository);
        let url = Url::parse_with_params(&base, &[("mount", digest.as_str()), ("from", from)])
            .map_err(|e| TransportError::Invalid(format!("mount URL {base}: {e}")))?;
        let request = self
            .wire
            .http()
            .post(url.clone())
            .header(CONTENT_LENGTH, 0)
            .timeout(super::SMALL_REQUEST_TIMEOUT);
        let response = self
            .wire
            .send(credentials.apply(request))
            .await
            .map_err(|e| network(&url, e))?;
        match response.status() {
            StatusCode::CREATED => Ok(MountOutcome::Mounted),
            StatusCode::ACCEPTED => {
                // The registry opened an upload session instead; close it rather than leave it
                // to the registry's cleanup.
                self.cancel_upload(response.headers(), credentials).await;
                Ok(MountOutcome::NotMounted)
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                Err(TransportError::Status {
                    method: "POST".into(),
                    url: wire::shown_url(&url),
                    status: s.as_u16(),
                    detail: String::new(),
                    retry_after: wire::retry_after(response.headers()),
                })
            }
            _ => Ok(MountOutcome::NotMounted),
        }
    }

    async fn cancel_upload(&self, headers: &HeaderMap, credentials: &Credentials) {
        let Some(location) = headers.get(LOCATION).and_then(|v| v.to_str().ok()) else {
            return;
        };
        let Ok(root) = Url::parse(&self.api_root) else {
            return;
        };
        let Ok(target) = root.join(location) else {
            return;
        };
        // The credentials are only for the registry itself.
        if target.origin() != root.origin() {
            return;
        }
        let request = self
            .wire
            .http()
            .delete(target)
            .timeout(super::SMALL_REQUEST_TIMEOUT);
        let _ = self.wire.send(credentials.apply(request)).await;
    }
}

fn network(url: &Url, error: reqwest::Error) -> TransportError {
    TransportError::Network {
        context: wire::shown_url(url),
        detail: super::error_chain(&error),
    }
}
