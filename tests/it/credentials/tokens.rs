//! Bearer tokens: asked for once per repository and operation, retried when the token server
//! fails once, renewed when the registry calls one expired (in the middle of an upload too),
//! taken up when a challenge comes after the ping; a password never sent to a plain-HTTP realm,
//! an absurd lifetime clamped, an endless answer cut off.

use crate::support::client::{
    by_tag, client, fake_repository, is_ping, plain_http_options, push_tagged, read_all, reply,
    repository, BARE_MANIFEST, DOCKER_MANIFEST,
};
use crate::support::fake_http::{Action, FakeServer, Reply};
use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::image::{write_image_layout, ImageSpec};
use crate::support::registry::{Registry, RegistryConfig};
use crate::support::token::{token_answer, TokenServer, TokenSigner};
use crate::support::{local_list, TestEnv};
use manifest::model::digest::Digest;
use manifest::model::oci;
use manifest::transport::{verified, Transport, TransportError};
use predicates::prelude::*;
use std::time::Duration;

const ALICE: (&str, &str) = ("alice", "s3cret");

fn creds() -> String {
    format!("{}:{}", ALICE.0, ALICE.1)
}

/// A minimal docker token server (the protocol of distribution's `auth: token`): checks Basic
/// credentials and returns an ES256 JWT whose `x5c` header carries a self-signed certificate
/// that the registry trusts through `rootcertbundle`. Grants every action asked for to `alice`,
/// nothing to anonymous callers, and refuses a wrong password with 401.
#[tokio::test]
async fn bearer_token_auth() {
    let (tokens, registry) = token_registry(0).await;

    let good = client(plain_http_options(), Some("alice:s3cret")).await;
    let repo = repository(&good, &registry, "team/app").await;
    let (manifest, layer) = push_tagged(&repo, 300 * 1024, "v1").await;
    let got = repo.manifest_get(&by_tag("v1")).await.unwrap();
    assert_eq!(got.bytes, manifest.bytes);
    assert!(repo.blob_exists(&layer).await.unwrap());
    let body = read_all(verified(repo.blob_get(&layer).await.unwrap(), &layer))
        .await
        .unwrap();
    assert!(layer.digest.matches(&body));

    // A fresh destination: checks, mount, then the blob is there.
    let dst = repository(&good, &registry, "team/other").await;
    assert!(!dst.blob_exists(&layer).await.unwrap());
    let mounted = dst.blob_mount(&layer, "team/app").await.unwrap();
    assert_eq!(mounted, dst.blob_exists(&layer).await.unwrap());
    assert!(
        mounted,
        "the mount token must cover pull on the source repository"
    );
    assert!(tokens.requests() > 0);

    // Wrong password: the token server's answer is reported, not a bare 401.
    let bad = client(plain_http_options(), Some("alice:wrong")).await;
    let repo = repository(&bad, &registry, "team/app").await;
    let err = repo.manifest_get(&by_tag("v1")).await.unwrap_err();
    match &err {
        TransportError::Unauthorized {
            detail, searched, ..
        } => {
            assert!(detail.contains("invalid username or password"), "{detail}");
            assert_eq!(searched, "--creds (used)");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }

    // Anonymous: a token with no access, then 401 from the registry.
    let anonymous = client(plain_http_options(), None).await;
    let repo = repository(&anonymous, &registry, "team/app").await;
    let err = repo.manifest_get(&by_tag("v1")).await.unwrap_err();
    assert!(
        matches!(err, TransportError::Unauthorized { .. }),
        "{err:?}"
    );
}

/// A registry that trusts the test token server, whose first `failures` answers are 503s.
async fn token_registry(failures: usize) -> (TokenServer, Registry) {
    let tokens = TokenServer::start("alice", "s3cret", failures);
    let registry = Registry::start(RegistryConfig {
        token: Some((&tokens.realm, tokens.root_pem())),
        ..Default::default()
    });
    (tokens, registry)
}

/// A token server that answers 503 once: the token request is retried, the push goes on.
#[tokio::test]
async fn a_token_endpoint_failing_once_is_retried() {
    let (tokens, registry) = token_registry(1).await;
    let pusher = client(plain_http_options(), Some("alice:s3cret")).await;
    let repo = repository(&pusher, &registry, "team/app").await;
    push_tagged(&repo, 16 * 1024, "v1").await;
    assert_eq!(
        tokens.requests(),
        2,
        "one failed token request, then one that worked"
    );
}

/// One token per repository and operation: a push (uploads, manifest, checks) needs one
/// pull,push token, which serves its reads too; a reader needs one pull token.
#[tokio::test]
async fn bearer_tokens_are_asked_for_once() {
    let (tokens, registry) = token_registry(0).await;

    let pusher = client(plain_http_options(), Some("alice:s3cret")).await;
    let repo = repository(&pusher, &registry, "team/app").await;
    let (_, layer) = push_tagged(&repo, 64 * 1024, "v1").await;
    assert!(repo.blob_exists(&layer).await.unwrap());
    repo.manifest_get(&by_tag("v1")).await.unwrap();
    assert_eq!(tokens.requests(), 1);

    // Another process (a fresh client) reading the image: one pull token.
    let reader = client(plain_http_options(), Some("alice:s3cret")).await;
    let repo = repository(&reader, &registry, "team/app").await;
    let got = repo.manifest_get(&by_tag("v1")).await.unwrap();
    let parsed = oci::ImageManifest::parse(&got.bytes).unwrap();
    manifest::transport::read_blob(&repo, &parsed.config, 1 << 20)
        .await
        .unwrap();
    assert!(repo.blob_exists(&layer).await.unwrap());
    assert_eq!(tokens.requests(), 2);
}

/// A token the registry calls expired (`error="invalid_token"`) is replaced once, and the
/// request sent again; a token that grants too little (`insufficient_scope`) is not.
#[tokio::test]
async fn an_expired_token_is_renewed_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let digest = Digest::sha256_of(BARE_MANIFEST).to_string();
    let tokens = Arc::new(AtomicUsize::new(0));
    let issued = tokens.clone();
    let server_addr = Arc::new(std::sync::OnceLock::<String>::new());
    let realm_addr = server_addr.clone();
    let server = FakeServer::start(move |req| {
        let realm = format!("http://{}/token", realm_addr.get().unwrap());
        let challenge = |error: &str| {
            format!(r#"Bearer realm="{realm}",service="fake",scope="repository:app:pull"{error}"#)
        };
        if is_ping(req) {
            return reply(401, &[("WWW-Authenticate", challenge(""))], b"");
        }
        if req.target.starts_with("/token?") {
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            let body = format!(r#"{{"token":"t{n}","expires_in":300}}"#);
            return reply(200, &[], body.as_bytes());
        }
        match req.authorization.as_deref().unwrap_or("") {
            "Bearer t1" => reply(
                401,
                &[("WWW-Authenticate", challenge(r#",error="invalid_token""#))],
                b"",
            ),
            "Bearer t2" if req.target == "/v2/app/manifests/v1" => reply(
                200,
                &[
                    ("Content-Type", DOCKER_MANIFEST.into()),
                    ("Docker-Content-Digest", digest.clone()),
                ],
                BARE_MANIFEST,
            ),
            _ => reply(
                401,
                &[(
                    "WWW-Authenticate",
                    challenge(r#",error="insufficient_scope""#),
                )],
                b"",
            ),
        }
    });
    server_addr.set(server.addr.clone()).unwrap();

    let repo = fake_repository(&server).await;
    let manifest = repo.manifest_get(&by_tag("v1")).await.unwrap();
    assert_eq!(manifest.bytes.as_ref(), BARE_MANIFEST);
    assert_eq!(tokens.load(Ordering::SeqCst), 2, "one token, then one more");

    // t2 grants nothing else: a 401 with insufficient_scope is final for the pull token. The
    // pull,push token (t3) is tried once for a read, as on a push destination, then it fails.
    let err = repo.manifest_get(&by_tag("other")).await.unwrap_err();
    assert!(
        matches!(err, TransportError::Unauthorized { .. }),
        "{err:?}"
    );
    assert_eq!(tokens.load(Ordering::SeqCst), 3);
    let requests = server.seen();
    let pings = requests.iter().filter(|r| is_ping(r)).count();
    assert_eq!(pings, 1, "{requests:?}");
}

/// A registry whose `GET /v2/` asks for nothing but whose repositories do: the 401's challenge
/// is taken up, and the request sent again with a token.
#[tokio::test]
async fn a_challenge_met_after_the_ping_is_answered() {
    let digest = Digest::sha256_of(BARE_MANIFEST).to_string();
    let server_addr = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let realm_addr = server_addr.clone();
    let server = FakeServer::start(move |req| {
        if is_ping(req) {
            return reply(200, &[], b"{}");
        }
        if req.target.starts_with("/token?") {
            return reply(200, &[], br#"{"access_token":"t1"}"#);
        }
        if req.authorization.as_deref() == Some("Bearer t1") {
            return reply(
                200,
                &[
                    ("Content-Type", DOCKER_MANIFEST.into()),
                    ("Docker-Content-Digest", digest.clone()),
                ],
                BARE_MANIFEST,
            );
        }
        let realm = format!("http://{}/token", realm_addr.get().unwrap());
        reply(
            401,
            &[("WWW-Authenticate", format!(r#"Bearer realm="{realm}""#))],
            b"",
        )
    });
    server_addr.set(server.addr.clone()).unwrap();
    let repo = fake_repository(&server).await;
    let manifest = repo.manifest_get(&by_tag("v1")).await.unwrap();
    assert_eq!(manifest.bytes.as_ref(), BARE_MANIFEST);
    let lines: Vec<String> = server
        .seen()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        lines,
        [
            "GET /v2/",
            "GET /v2/app/manifests/v1",
            "GET /token?scope=repository%3Aapp%3Apull",
            "GET /v2/app/manifests/v1"
        ],
        "{lines:?}"
    );
}

/// A token that expires in the middle of an upload (Docker Hub's last 300 s, GitLab's 5 min):
/// the streamed PATCH answered 401 `invalid_token` cannot be sent twice, so a new token is
/// fetched and the blob goes again; a chunk the same way, resumed where the registry stands.
/// Every request takes the session's one path, so uploads get the same 401 handling as reads.
#[test]
fn a_token_refused_in_the_middle_of_an_upload_is_renewed_and_the_upload_goes_on() {
    for (layer_size, refused_range) in [(4096usize, None), (22 << 20, Some("4194304-"))] {
        let env = TestEnv::new();
        let tokens = TokenServer::start(ALICE.0, ALICE.1, 0);
        let registry = Registry::start(RegistryConfig {
            token: Some((&tokens.realm, tokens.root_pem())),
            ..Default::default()
        });
        let proxy = FaultProxy::start(&registry);
        let layout = env.path("img");
        write_image_layout(
            &layout,
            &ImageSpec::new("linux/amd64", 1, layer_size, 62),
            "latest",
        );
        env.run(&["create", "l"]);
        env.run(&["add", "l", &format!("oci:{}", layout.display())]);
        let challenge = format!(
            r#"Bearer realm="{}",service="{}",error="invalid_token""#,
            tokens.realm,
            crate::support::token::SERVICE
        );
        proxy.add(
            Rule::new(
                "PATCH",
                "/blobs/uploads/",
                Fault::Reply {
                    status: 401,
                    headers: vec![("WWW-Authenticate".into(), challenge)],
                    body: r#"{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}"#
                        .into(),
                },
            )
            .times(1)
            .when(move |head| match refused_range {
                Some(prefix) => head
                    .header("content-range")
                    .is_some_and(|r| r.starts_with(prefix)),
                None => true,
            }),
        );
        let asked_before = tokens.requests();
        env.cmd()
            .args(["push", "--tls-verify=false", "--debug", "--creds", &creds()])
            .args(["--retry-delay", "10ms", "--upload-chunk-size", "4", "l"])
            .arg(proxy.docker_ref("dst/app:v1"))
            .assert()
            .success();
        // The registry wants tokens: read the index back with this tool.
        env.run(&[
            "inspect",
            "--tls-verify=false",
            "--creds",
            &creds(),
            &proxy.docker_ref("dst/app:v1"),
        ]);
        assert!(
            tokens.requests() > asked_before + 1,
            "{layer_size}: no new token after the 401"
        );
        assert_eq!(proxy.seen().iter().filter(|r| r.faulted).count(), 1);
    }
}

#[test]
fn no_password_goes_to_a_plain_http_token_realm_of_an_https_registry() {
    let env = TestEnv::new();
    let signer = TokenSigner::new();
    let token = FakeServer::start(|_| Action::Reply(token_answer("anonymous")));
    let realm = format!("{}/token", token.url());
    let registry = Registry::start(RegistryConfig {
        tls: true,
        token: Some((&realm, signer.root_pem())),
        ..Default::default()
    });
    let ca = registry.ca_dir.clone().unwrap();
    let ca = ca.to_str().unwrap();
    env.cmd()
        .args([
            "inspect",
            "--creds",
            "alice:s3cret",
            "--cert-dir",
            ca,
            &registry.docker_ref("app/x:v1"),
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("plain HTTP").and(predicate::str::contains("clear text")));
    assert!(token.seen().is_empty(), "{:?}", token.seen());

    // Without a password there is nothing to protect: an anonymous token may come from there.
    env.cmd()
        .args([
            "inspect",
            "--cert-dir",
            ca,
            &registry.docker_ref("app/x:v1"),
        ])
        .assert()
        .failure();
    let seen = token.seen();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|r| r.authorization.is_none()), "{seen:?}");
}

/// A token server whose `expires_in` is the largest number JSON can carry, and tokens the real
/// registry accepts: the push works (the lifetime is clamped, not overflowed).
#[test]
fn an_absurd_token_lifetime_is_clamped() {
    let env = TestEnv::new();
    let signer = std::sync::Arc::new(TokenSigner::new());
    let issuing = signer.clone();
    let token = FakeServer::start(move |req| {
        let scopes = crate::support::token::requested_scopes(&req.target);
        Action::Reply(
            Reply::new(200)
                .header("Content-Type", "application/json")
                .body(format!(
                    r#"{{"token":"{}","expires_in":18446744073709551615}}"#,
                    issuing.token("alice", &scopes)
                )),
        )
    });
    let realm = format!("{}/token", token.url());
    let registry = Registry::start(RegistryConfig {
        token: Some((&realm, signer.root_pem())),
        ..Default::default()
    });
    local_list(&env);
    env.run(&[
        "push",
        "--tls-verify=false",
        "l",
        &registry.docker_ref("app/x:v1"),
    ]);
    assert!(!token.seen().is_empty());
}

/// A registry (fake) that challenges for tokens from `token`.
fn bearer_registry(token: &FakeServer) -> FakeServer {
    let realm = format!("{}/token", token.url());
    FakeServer::start(move |_| {
        Action::Reply(Reply::new(401).header(
            "WWW-Authenticate",
            &format!(r#"Bearer realm="{realm}",service="fake""#),
        ))
    })
}

#[test]
fn endless_token_answers_are_cut_off() {
    for status in [200, 401] {
        let env = TestEnv::new();
        let token = FakeServer::start(move |_| {
            Action::Reply(Reply::new(status).endless(vec![b'x'; 64 * 1024], Duration::ZERO))
        });
        let registry = bearer_registry(&token);
        let stderr = env
            .cmd()
            .args([
                "inspect",
                "--tls-verify=false",
                &format!("docker://{}/app:v1", registry.addr),
            ])
            .assert()
            .failure()
            .get_output()
            .stderr
            .clone();
        let stderr = String::from_utf8_lossy(&stderr);
        assert!(stderr.starts_with("Error: "), "{status}: {stderr}");
        assert!(
            stderr.len() < 4096,
            "{status}: {} bytes of error",
            stderr.len()
        );
        if status == 200 {
            assert!(stderr.contains("over the limit"), "{stderr}");
        } else {
            assert!(stderr.contains("token server refused (401)"), "{stderr}");
        }
    }
}
