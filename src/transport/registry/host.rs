//! One registry host as this process reaches it, shared by every repository of the host: where
//! its API lives (the origin, the only one that gets its credentials), its wire, its retry
//! policy, its answer to `GET /v2/` (asked once per process), and what it has shown it refuses.
//! Other hosts (redirect targets, token realms, upload locations elsewhere) are reached through
//! [`Peers`], each with its own wire.

use super::challenge::Challenge;
use super::error::{Errors, Op};
use super::wire::{self, Request, Wire};
use crate::boundary::retry::RetryPolicy;
use crate::transport::TransportError;
use reqwest::{Method, Url};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Wires for hosts other than a registry's own (a redirect target, a token realm, an upload
/// location elsewhere): each is reached with its own TLS configuration, so a client
/// certificate goes only to the host whose certs.d directory holds it.
#[async_trait::async_trait]
pub(super) trait Peers: Send + Sync {
    /// The wire for `url`'s host, made the first time it is asked for; `insecure` when the
    /// registry that sent the request there may itself be reached without verification (its
    /// redirects and token realm are as trusted as it is, as in containers/image).
    async fn wire_for(&self, url: &Url, insecure: bool) -> Result<Wire, TransportError>;
}

/// One registry host. Made by the client; shared by the sessions of its repositories.
pub(super) struct Host {
    /// The host as references write it (`docker.io`, `127.0.0.1:5000`).
    pub(super) name: String,
    /// `scheme://api-host[:port]/`: where requests go, and the only origin that gets
    /// credentials.
    pub(super) origin: Url,
    pub(super) wire: Wire,
    pub(super) policy: RetryPolicy,
    /// Reached without verifying its certificate (`insecure = true`, `--tls-verify=false`).
    insecure: bool,
    peers: Arc<dyn Peers>,
    /// The answer to `GET /v2/`: filled by the probe of an insecure host, else on first use.
    challenge: OnceCell<Challenge>,
    /// A challenge from a 401 on a host whose `GET /v2/` asked for none; it wins.
    learned: Mutex<Option<Challenge>>,
    /// The host refused a chunk: it gets single streamed PATCHes.
    chunks_refused: AtomicBool,
}

impl Host {
    /// A host reached at `origin` through `wire`; `challenge` is its answer to `GET /v2/` when
    /// that is known already (the probe of an insecure host asked).
    pub(super) fn new(
        name: &str,
        origin: Url,
        wire: Wire,
        policy: RetryPolicy,
        insecure: bool,
        peers: Arc<dyn Peers>,
        challenge: Option<Challenge>,
    ) -> Host {
        Host {
            name: name.to_string(),
            origin,
            wire,
            policy,
            insecure,
            peers,
            challenge: OnceCell::new_with(challenge),
            learned: Mutex::default(),
            chunks_refused: AtomicBool::default(),
        }
    }

    /// Whether `url` is on this registry's own origin (scheme, host and port).
    pub(super) fn is_own(&self, url: &Url) -> bool {
        url.origin() == self.origin.origin()
    }

    /// The wire that reaches `url`: the host's own for its origin, the other host's own for
    /// anything else.
    pub(super) async fn wire_for(&self, url: &Url) -> Result<Wire, TransportError> {
        if self.is_own(url) {
            return Ok(self.wire.clone());
        }
        self.peers.wire_for(url, self.insecure).await
    }

    pub(super) fn refuses_chunks(&self) -> bool {
        self.chunks_refused.load(Ordering::Relaxed)
    }

    pub(super) fn refuse_chunks(&self) {
        self.chunks_refused.store(true, Ordering::Relaxed);
    }

    pub(super) fn learned_challenge(&self) -> Option<Challenge> {
        self.learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn learn_challenge(&self, challenge: Challenge) {
        *self.learned.lock().unwrap_or_else(|e| e.into_inner()) = Some(challenge);
    }

    /// How the host wants to be authenticated: asks `GET /v2/` the first time any repository
    /// of the process needs to know (unless the probe of an insecure host already did).
    pub(super) async fn challenge(&self, errors: &Errors) -> Result<Challenge, TransportError> {
        self.challenge
            .get_or_try_init(|| {
                self.policy.run(|| async {
                    match ping(&self.wire, &self.origin, errors).await? {
                        Pinged::Challenge(challenge) => Ok(challenge),
                        Pinged::Busy(error) => Err(error),
                    }
                })
            })
            .await
            .cloned()
    }
}

/// What `GET /v2/` said.
pub(super) enum Pinged {
    /// How the registry wants to be authenticated.
    Challenge(Challenge),
    /// 429 or 5xx: the registry is there, and says nothing about authentication yet.
    Busy(TransportError),
}

/// `GET /v2/` on `origin` (without credentials, redirects not followed): the one place the API
/// root is asked, for a host's challenge and for the HTTPS/HTTP probe of an insecure host.
pub(super) async fn ping(
    wire: &Wire,
    origin: &Url,
    errors: &Errors,
) -> Result<Pinged, TransportError> {
    let url = origin.join("v2/").expect("a host origin joins v2/");
    let op = Op {
        method: "GET",
        what: "the registry's API root",
        read: false,
    };
    let response = wire
        .send(Request::new(Method::GET, &url))
        .await
        .map_err(|e| errors.wire(e, op, &url))?;
    // A redirect elsewhere is no challenge of the registry's own.
    if response.status().is_redirection() {
        return Ok(Pinged::Challenge(Challenge::None));
    }
    match Challenge::from_response(&response) {
        Some(challenge) => Ok(Pinged::Challenge(challenge)),
        None => Ok(Pinged::Busy(wire::refusal(errors, response, op).await)),
    }
}
