//! Peers that stall: blobs and manifests served at a trickle, a registry that never answers, an
//! upload nobody reads; each is given up on at the time limit it names. A real registry behind
//! the proxy where it can play the part; scripted fakes (support::fake_http) for what a real
//! registry will not do.

use crate::support::fake_http::{Action, FakeServer, Reply};
use crate::support::faults::{list_through_proxy, Fault, Rule};
use crate::support::image::ImageSpec;
use crate::support::push::manifest_status;
use crate::support::registry::Registry;
use crate::support::{local_list, TestEnv};
use predicates::prelude::*;
use std::time::Duration;

#[test]
fn a_blob_served_at_a_trickle_is_abandoned() {
    let env = TestEnv::new();
    let source = Registry::plain();
    let dest = Registry::plain();
    let proxy = list_through_proxy(
        &env,
        &source,
        &ImageSpec::new("linux/amd64", 1, 64 * 1024, 4),
    );
    // 16 bytes every 100 ms: 160 bytes/s, under the 1 KiB/s floor.
    proxy.add(Rule::new(
        "GET",
        "/blobs/sha256:",
        Fault::Trickle {
            bytes: 16,
            every: Duration::from_millis(100),
        },
    ));
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
