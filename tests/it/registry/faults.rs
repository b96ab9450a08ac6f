//! Faults on purpose: each test injects one failure between `manifest` and a real registry and
//! checks what the tool did, its exit code, and what the destination holds afterwards; and
//! `Retry-After` through the library against a scripted registry (a real registry will not
//! answer 429 on demand).

use crate::support::client::{
    by_tag, fake_repository_with, is_ping, reply, BARE_MANIFEST, DOCKER_MANIFEST,
};
use crate::support::fake_http::FakeServer;
use crate::support::faults::{list_through_proxy, Fault, FaultProxy, Rule};
use crate::support::image::{five_platforms, sha256_digest, write_image_layout, ImageSpec};
use crate::support::push::{complete, get_manifest, manifest_status, push_layout_image};
use crate::support::registry::Registry;
use crate::support::{wait, TestEnv};
use manifest::model::digest::Digest;
use manifest::transport::registry::RegistryOptions;
use manifest::transport::Transport;
use predicates::prelude::*;
use std::time::Duration;

/// A source registry with `specs` pushed as src/app:N, a proxy in front of it, and a list
/// `faulty` whose entries were added through the proxy. Returns the layer digests too.
struct Setup {
    env: TestEnv,
    /// Kept alive for the proxy in front of it.
    _source: Registry,
    proxy: FaultProxy,
    dest: Registry,
    layers: Vec<String>,
}

fn setup(specs: &[ImageSpec]) -> Setup {
    let env = TestEnv::new();
    let source = Registry::plain();
    let dest = Registry::plain();
    let proxy = FaultProxy::start(&source);
    env.run(&["create", "faulty"]);
    let mut layers = Vec::new();
    for (n, spec) in specs.iter().enumerate() {
        let layout = env.path(&format!("img-{n}"));
        let built = write_image_layout(&layout, spec, "latest");
        layers.extend(built.layer_digests.clone());
        push_layout_image(&layout, "latest", &source, "src/app", &n.to_string());
        env.run(&[
            "add",
            "--tls-verify=false",
            "faulty",
            &proxy.docker_ref(&format!("src/app:{n}")),
        ]);
    }
    Setup {
        env,
        _source: source,
        proxy,
        dest,
        layers,
    }
}

fn push(setup: &Setup, extra: &[&str], tag: &str) -> assert_cmd::assert::Assert {
    let dest = setup.dest.docker_ref(&format!("dst/app:{tag}"));
    setup
        .env
        .cmd()
        .args(["push", "--tls-verify=false", "--retry-delay", "10ms"])
        .args(extra)
        .args(["faulty", &dest])
        .assert()
}

/// How many requests for `path` the proxy has seen.
fn hits(proxy: &FaultProxy, path: &str) -> usize {
    proxy
        .seen()
        .iter()
        .filter(|r| r.path.contains(path))
        .count()
}

fn small() -> Vec<ImageSpec> {
    five_platforms().into_iter().take(2).collect()
}

#[test]
fn a_500_once_on_a_blob_read_is_retried() {
    let s = setup(&small());
    // Manifests were cached at `add`; the blob reads at push time always go to the source.
    s.proxy
        .add(Rule::new("GET", "/blobs/sha256:", Fault::status(500)).times(1));
    push(&s, &[], "v1").success();
    complete(&s.dest, "v1");
    assert_eq!(s.proxy.seen().iter().filter(|r| r.faulted).count(), 1);
}

#[test]
fn a_503_three_times_then_success() {
    let s = setup(&small());
    let layer = s.layers[0].clone();
    s.proxy
        .add(Rule::new("GET", layer.clone(), Fault::status(503)).times(3));
    push(&s, &["--retry", "3"], "v1").success();
    complete(&s.dest, "v1");
    let tries = s
        .proxy
        .seen()
        .iter()
        .filter(|r| r.path.contains(&layer))
        .count();
    assert_eq!(tries, 4, "three 503s then one success");
}

#[test]
fn persistent_5xx_gives_up_with_a_clear_error_and_no_index() {
    let s = setup(&small());
    let layer = s.layers[1].clone();
    s.proxy
        .add(Rule::new("GET", layer.clone(), Fault::status(502)).times(100));
    push(&s, &["--retry", "2"], "v1").code(1).stderr(
        predicate::str::contains(layer.as_str())
            .and(predicate::str::contains("502"))
            .and(predicate::str::contains(s.proxy.addr.as_str()))
            .and(predicate::str::contains("3 attempts")),
    );
    assert_eq!(manifest_status(&s.dest, "dst/app", "v1"), 404);
    assert_eq!(hits(&s.proxy, &layer), 3);
}

#[test]
fn a_429_with_retry_after_is_honoured() {
    let s = setup(&small());
    let layer = s.layers[0].clone();
    s.proxy.add(
        Rule::new(
            "GET",
            layer.clone(),
            Fault::Status {
                status: 429,
                retry_after: Some(1),
            },
        )
        .times(1),
    );
    push(&s, &[], "v1").success();
    complete(&s.dest, "v1");
    let hits: Vec<_> = s
        .proxy
        .seen()
        .into_iter()
        .filter(|r| r.path.contains(&layer))
        .collect();
    assert_eq!(hits.len(), 2);
    let waited = hits[1].at - hits[0].at;
    assert!(
        waited >= std::time::Duration::from_millis(950),
        "retried after {waited:?}, before Retry-After: 1"
    );
}

#[test]
fn a_connection_dropped_in_the_middle_of_a_64_mib_blob_restarts_it() {
    let specs = vec![ImageSpec {
        layers: 1,
        layer_size: 64 << 20,
        seed: 4242,
        ..five_platforms()[0].clone()
    }];
    let s = setup(&specs);
    let layer = s.layers[0].clone();
    s.proxy
        .add(Rule::new("GET", layer.clone(), Fault::DropAfter(20 << 20)).times(1));
    push(&s, &[], "v1").success();
    complete(&s.dest, "v1");
    assert_eq!(hits(&s.proxy, &layer), 2);
}

#[test]
fn a_truncated_body_is_detected_and_read_again() {
    let s = setup(&small());
    let layer = s.layers[1].clone();
    s.proxy
        .add(Rule::new("GET", layer.clone(), Fault::DropAfter(100)).times(1));
    push(&s, &[], "v1").success();
    complete(&s.dest, "v1");
}

#[test]
fn a_source_serving_wrong_bytes_fails_naming_the_digest_and_writes_no_index() {
    let s = setup(&small());
    let layer = s.layers[0].clone();
    s.proxy
        .add(Rule::new("GET", layer.clone(), Fault::Corrupt).times(100));
    push(&s, &[], "v1").code(1).stderr(
        predicate::str::contains(layer.as_str()).and(predicate::str::contains("does not match")),
    );
    assert_eq!(manifest_status(&s.dest, "dst/app", "v1"), 404);
    assert_eq!(
        crate::support::push::blob_status(&s.dest, "dst/app", &layer),
        404
    );
}

#[test]
fn sigkill_during_push_leaves_the_tag_untouched_and_a_rerun_completes() {
    let s = setup(&five_platforms());
    let dest = s.dest.docker_ref("dst/app:v1");
    push(&s, &["-q"], "probe").success();
    // How many requests a push makes once the blobs are there, as in every round below (reads
    // at the source, through the proxy, and everything at the destination), to spread the
    // kills over all of it.
    let requests = || s.proxy.seen().len() + s.dest.access_log().len();
    let before = requests();
    push(&s, &["-q"], "probe-again").success();
    let whole = requests() - before;
    for round in 0..20usize {
        let mut cmd = crate::support::manifest_std_cmd(&s.env.store);
        cmd.args(["push", "-q", "--tls-verify=false", "faulty", &dest])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap();
        // From "not started yet" to "done": after a different share of its requests each
        // round (or once it is over).
        let enough = requests() + whole * round / 19;
        wait::until(
            &format!("round {round}: {enough} requests or the push's end"),
            || requests() >= enough || child.try_wait().unwrap().is_some(),
        );
        let _ = child.kill();
        let _ = child.wait();
        let status = manifest_status(&s.dest, "dst/app", "v1");
        if status == 200 {
            complete(&s.dest, "v1");
        } else {
            assert_eq!(status, 404, "round {round}");
        }
        // Start from an empty destination tag again for the next round.
        if status == 200 {
            let (bytes, _, _) = get_manifest(&s.dest, "dst/app", "v1");
            crate::support::push::delete_manifest(&s.dest, "dst/app", &sha256_digest(&bytes));
        }
    }
    push(&s, &[], "v1").success();
    complete(&s.dest, "v1");
}

/// A destination registry restarting in the middle of a push (its port refuses connections
/// for a moment) is waited for by `--retry`: a refused connection to a registry that answered
/// earlier in the command is retried. (Refused on first contact is one error at once:
/// `registry::transport::a_refused_connection_is_one_fast_error`.)
#[test]
fn a_registry_restarting_in_the_middle_of_a_push_is_waited_for() {
    use crate::support::faults::Gate;
    use std::io::BufRead;
    let env = TestEnv::new();
    let source = Registry::plain();
    let mut dest = Registry::plain();
    let proxy = list_through_proxy(
        &env,
        &source,
        &ImageSpec::new("linux/amd64", 2, 64 * 1024, 71),
    );
    // The first blob read waits at the proxy until the destination is down.
    let gate = Gate::default();
    proxy.add(Rule::new(
        "GET",
        "/blobs/sha256:",
        Fault::Hold(gate.clone()),
    ));
    let mut push = crate::support::manifest_std_cmd(&env.store)
        .args(["push", "--tls-verify=false", "--debug", "--jobs", "1"])
        .args(["--retry", "10", "--retry-delay", "200ms", "l"])
        .arg(dest.docker_ref("dst/app:v1"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // (Reads of `add` went through the proxy before the rule: only a held read counts.)
    wait::until("the push reading a blob", || {
        proxy.seen().iter().any(|r| r.faulted)
    });
    dest.stop();
    gate.open();
    // Up again once the push has met the closed port.
    let mut lines = std::io::BufReader::new(push.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let refused = line.contains(&dest.addr) && line.to_lowercase().contains("refused");
        log.push(line);
        if refused {
            break;
        }
    }
    dest.start_again();
    log.extend(lines.map(Result::unwrap));
    let status = push.wait().unwrap();
    let log = log.join("\n");
    assert!(status.success(), "{log}");
    assert!(log.to_lowercase().contains("refused"), "{log}");
    crate::support::push::verify_pushed_index(&dest, "dst/app", "v1");
}

/// A registry host name that does not resolve is one error at once, naming the host: no
/// retries, whatever `--retry` says. (A label over 63 characters fails in the resolver itself,
/// without a question on the network.)
#[test]
fn a_host_name_that_does_not_resolve_fails_at_once_naming_it() {
    let env = TestEnv::new();
    let host = format!("{}.invalid", "n".repeat(70));
    for tls in ["--tls-verify=true", "--tls-verify=false"] {
        env.cmd()
            .args(["inspect", tls, "--retry", "5", "--retry-delay", "5s"])
            .arg(format!("docker://{host}/app:v1"))
            .assert()
            .failure()
            .stderr(
                predicate::str::contains(format!("cannot resolve the host name \"{host}\""))
                    .and(predicate::str::contains("gave up").not()),
            );
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let digest = Digest::sha256_of(BARE_MANIFEST).to_string();
    let server = FakeServer::start(move |req| {
        if is_ping(req) {
            return reply(200, &[], b"{}");
        }
        static MANIFEST_REQUESTS: std::sync::atomic::AtomicUsize =
            std::sync::atomic::AtomicUsize::new(0);
        if MANIFEST_REQUESTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            let body = br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#;
            return reply(
                429,
                &[
                    ("Retry-After", "1".into()),
                    ("Content-Type", "application/json".into()),
                ],
                body,
            );
        }
        reply(
            200,
            &[
                ("Content-Type", DOCKER_MANIFEST.into()),
                ("Docker-Content-Digest", digest.clone()),
            ],
            BARE_MANIFEST,
        )
    });

    // Backoff alone would wait ~10 ms; only Retry-After makes it a second.
    let options = RegistryOptions {
        tls_verify: Some(false),
        retry: manifest::boundary::retry::RetryPolicy {
            retries: 2,
            base: Duration::from_millis(10),
            ..Default::default()
        },
        ..Default::default()
    };
    let repo = fake_repository_with(&server, options).await;
    let manifest = repo.manifest_get(&by_tag("v1")).await.unwrap();
    assert_eq!(manifest.bytes.as_ref(), BARE_MANIFEST);
    assert_eq!(
        manifest.media_type, DOCKER_MANIFEST,
        "from the Content-Type"
    );

    let requests = server.seen();
    let manifest_requests: Vec<_> = requests
        .iter()
        .filter(|r| r.target == "/v2/app/manifests/v1")
        .collect();
    assert_eq!(manifest_requests.len(), 2, "{requests:?}");
    let waited = manifest_requests[1].at - manifest_requests[0].at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    assert_eq!(
        requests.iter().filter(|r| is_ping(r)).count(),
        1,
        "{requests:?}"
    );
}
