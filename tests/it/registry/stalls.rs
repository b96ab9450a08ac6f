//! Hostile and broken network peers: where credentials may go, how much of an answer is read,
//! and how long a silent or trickling peer may hold a command. Real registries where they can
//! play the part; scripted fakes (support::fake_http) for what a real registry will not do.

use crate::support::fake_http::{Action, FakeServer, Reply};
use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::image::{write_image_layout, ImageSpec};
use crate::support::push::{manifest_status, push_layout_image};
use crate::support::registry::{Registry, RegistryConfig};
use crate::support::token::TokenSigner;
use crate::support::TestEnv;
use predicates::prelude::*;
use std::time::Duration;

fn small_image(env: &TestEnv, name: &str, seed: u64) -> String {
    let layout = env.path(name);
    write_image_layout(
        &layout,
        &ImageSpec::new("linux/amd64", 1, 4096, seed),
        "latest",
    );
    format!("oci:{}", layout.display())
}

/// A list `l` holding one small image from a local layout.
fn local_list(env: &TestEnv) {
    env.run(&["create", "l"]);
    env.run(&["add", "l", &small_image(env, "img", 1)]);
}

fn token_answer(token: &str) -> Reply {
    Reply::new(200)
        .header("Content-Type", "application/json")
        .body(serde_json::json!({ "token": token }).to_string())
}

#[test]
fn a_challenge_from_a_redirect_target_is_not_adopted() {
    let env = TestEnv::new();
    let source = Registry::plain();
    let layout = env.path("src");
    write_image_layout(
        &layout,
        &ImageSpec::new("linux/amd64", 1, 4096, 3),
        "latest",
    );
    push_layout_image(&layout, "latest", &source, "src/app", "v1");
    let token = FakeServer::start(|_| Action::Reply(token_answer("stolen")));
    let realm = format!("{}/token", token.url());
    // The CDN blob reads are redirected to asks for a token of its own.
    let cdn = FakeServer::start(move |_| {
        Action::Reply(Reply::new(401).header(
            "WWW-Authenticate",
            &format!(r#"Bearer realm="{realm}",service="cdn""#),
        ))
    });
    let proxy = FaultProxy::start(&source);
    for method in ["GET", "HEAD"] {
        proxy.add(Rule {
            method,
            path_contains: "/blobs/sha256:".into(),
            fault: Fault::RedirectTo(cdn.url()),
            times: usize::MAX,
            ..Rule::default()
        });
    }
    env.run(&["create", "l"]);
    env.cmd()
        .args([
            "add",
            "--creds",
            "alice:s3cret",
            "--tls-verify=false",
            "l",
            &proxy.docker_ref("src/app:v1"),
        ])
        .assert()
        .failure();
    assert!(token.seen().is_empty(), "the token server was asked");
    let cdn_seen = cdn.seen();
    assert!(!cdn_seen.is_empty(), "the blob read reached the CDN");
    assert!(
        cdn_seen.iter().all(|r| r.authorization.is_none()),
        "{cdn_seen:?}"
    );
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

#[test]
fn a_blob_served_at_a_trickle_is_abandoned() {
    let env = TestEnv::new();
    let source = Registry::plain();
    let dest = Registry::plain();
    let layout = env.path("src");
    write_image_layout(
        &layout,
        &ImageSpec::new("linux/amd64", 1, 64 * 1024, 4),
        "latest",
    );
    push_layout_image(&layout, "latest", &source, "src/app", "v1");
    let proxy = FaultProxy::start(&source);
    env.run(&["create", "l"]);
    env.run(&[
        "add",
        "--tls-verify=false",
        "l",
        &proxy.docker_ref("src/app:v1"),
    ]);
    // 16 bytes every 100 ms: 160 bytes/s, under the 1 KiB/s floor.
    proxy.add(Rule {
        method: "GET",
        path_contains: "/blobs/sha256:".into(),
        fault: Fault::Trickle {
            bytes: 16,
            every: Duration::from_millis(100),
        },
        times: usize::MAX,
        ..Rule::default()
    });
    env.cmd()
        .args([
            "push",
            "--tls-verify=false",
            "--stall-timeout",
            "1s",
            "--retry-delay",
            "10ms",
            "l",
            &dest.docker_ref("dst/app:v1"),
        ])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("stalled").and(predicate::str::contains("--stall-timeout")),
        );
    assert_eq!(manifest_status(&dest, "dst/app", "v1"), 404);
}

#[test]
fn a_manifest_served_at_a_trickle_is_abandoned() {
    let env = TestEnv::new();
    let registry = FakeServer::start(|req| {
        if req.target == "/v2/" {
            return Action::Reply(Reply::new(200));
        }
        Action::Reply(
            Reply::new(200)
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                .trickle(b"{".to_vec(), Duration::from_millis(100), 10_000),
        )
    });
    env.cmd()
        .args([
            "inspect",
            "--tls-verify=false",
            "--stall-timeout",
            "1s",
            "--retry-delay",
            "10ms",
            &format!("docker://{}/app:v1", registry.addr),
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("stalled"));
}

#[test]
fn a_registry_that_never_answers_is_given_up_on() {
    let env = TestEnv::new();
    let silent = FakeServer::silent();
    let image = format!("docker://{}/app:v1", silent.addr);
    // Verified TLS: the handshake never completes.
    env.cmd()
        .args(["inspect", "--connect-timeout", "1s", &image])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--connect-timeout"));
    // Insecure: neither HTTPS nor plain HTTP gets an answer; a host found silent on first
    // contact is not asked again.
    env.cmd()
        .args([
            "inspect",
            "--tls-verify=false",
            "--connect-timeout",
            "1s",
            "--response-timeout",
            "1s",
            &image,
        ])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("no answer over HTTPS or HTTP")
                .and(predicate::str::contains("--response-timeout"))
                .and(predicate::str::contains("gave up").not()),
        );
}

/// A registry (fake) that accepts an upload session and then never reads the upload.
#[test]
fn an_upload_nobody_reads_is_given_up_on() {
    let env = TestEnv::new();
    let registry = FakeServer::start(|req| match (req.method.as_str(), req.target.as_str()) {
        ("GET", "/v2/") => Action::Reply(Reply::new(200)),
        ("HEAD", _) => Action::Reply(Reply::new(404)),
        ("POST", _) => {
            Action::Reply(Reply::new(202).header("Location", "/v2/app/blobs/uploads/1?_state=s"))
        }
        _ => Action::Hang,
    });
    local_list(&env);
    env.cmd()
        .args([
            "push",
            "--tls-verify=false",
            "--stall-timeout",
            "1s",
            "--response-timeout",
            "1s",
            "--retry-delay",
            "10ms",
            "l",
            &format!("docker://{}/app:v1", registry.addr),
        ])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("--response-timeout")
                .or(predicate::str::contains("--stall-timeout")),
        );
    assert!(
        !registry.seen().iter().any(|r| r.method == "PUT"),
        "nothing was committed"
    );
}

/// Upload locations on another host (a storage front end, or a hostile registry) get the data
/// but never the registry's credentials.
#[test]
fn an_upload_location_on_another_host_gets_no_credentials() {
    let env = TestEnv::new();
    let storage = FakeServer::start(|req| match req.method.as_str() {
        "PATCH" => Action::Reply(Reply::new(202).header("Location", "/upload/1?step=2")),
        _ => Action::Reply(Reply::new(201)),
    });
    let storage_url = storage.url();
    let registry = FakeServer::start(move |req| {
        if req.authorization.is_none() {
            return Action::Reply(
                Reply::new(401).header("WWW-Authenticate", r#"Basic realm="fake""#),
            );
        }
        match req.method.as_str() {
            "GET" => Action::Reply(Reply::new(200)),
            "HEAD" => Action::Reply(Reply::new(404)),
            "POST" => Action::Reply(
                Reply::new(202).header("Location", &format!("{storage_url}/upload/1?step=1")),
            ),
            _ => Action::Reply(Reply::new(201)),
        }
    });
    local_list(&env);
    env.run(&[
        "push",
        "--creds",
        "alice:s3cret",
        "--tls-verify=false",
        "l",
        &format!("docker://{}/app:v1", registry.addr),
    ]);
    let seen = storage.seen();
    let patch = seen.iter().find(|r| r.method == "PATCH").expect("a PATCH");
    // A blob smaller than a chunk goes in one PATCH with its length and no Content-Range (with
    // one, registries take it for a chunk; GHCR refuses chunks over 4 MiB).
    assert!(patch.header("Content-Range").is_none(), "{patch:?}");
    assert!(patch.header("Content-Length").is_some(), "{patch:?}");
    assert!(seen.iter().any(|r| r.method == "PUT"), "{seen:?}");
    assert!(seen.iter().all(|r| r.authorization.is_none()), "{seen:?}");
    // The manifests went to the registry itself, with credentials.
    assert!(registry.seen().iter().any(|r| r.method == "PUT"
        && r.target.contains("/manifests/")
        && r.authorization.is_some()));
}
