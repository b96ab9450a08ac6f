//! Faults on purpose: each test injects one failure between `manifest` and a real registry and
//! checks what the tool did, its exit code, and what the destination holds afterwards.

use crate::support::image::{five_platforms, sha256_digest, write_image_layout, ImageSpec};

use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::push::{get_blob, get_manifest, manifest_status, push_layout_image};
use crate::support::registry::Registry;
use crate::support::TestEnv;
use predicates::prelude::*;

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

/// The destination tag holds a complete, verified index.
fn complete(dest: &Registry, tag: &str) {
    let (index, _, digest) = get_manifest(dest, "dst/app", tag);
    assert_eq!(digest.unwrap(), sha256_digest(&index));
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
    for child in index["manifests"].as_array().unwrap() {
        let (bytes, _, _) = get_manifest(dest, "dst/app", child["digest"].as_str().unwrap());
        let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        for layer in manifest["layers"].as_array().unwrap() {
            let digest = layer["digest"].as_str().unwrap();
            assert_eq!(sha256_digest(&get_blob(dest, "dst/app", digest)), digest);
        }
    }
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
    s.proxy.add(Rule {
        method: "GET",
        path_contains: "/blobs/sha256:".into(),
        fault: Fault::Status {
            status: 500,
            retry_after: None,
        },
        times: 1,
        ..Rule::default()
    });
    push(&s, &[], "v1").success();
    complete(&s.dest, "v1");
    assert_eq!(s.proxy.seen().iter().filter(|r| r.faulted).count(), 1);
}

#[test]
fn a_503_three_times_then_success() {
    let s = setup(&small());
    let layer = s.layers[0].clone();
    s.proxy.add(Rule {
        method: "GET",
        path_contains: layer.clone(),
        fault: Fault::Status {
            status: 503,
            retry_after: None,
        },
        times: 3,
        ..Rule::default()
    });
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
    s.proxy.add(Rule {
        method: "GET",
        path_contains: layer.clone(),
        fault: Fault::Status {
            status: 502,
            retry_after: None,
        },
        times: 100,
        ..Rule::default()
    });
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
    s.proxy.add(Rule {
        method: "GET",
        path_contains: layer.clone(),
        fault: Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
        times: 1,
        ..Rule::default()
    });
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
    s.proxy.add(Rule {
        method: "GET",
        path_contains: layer.clone(),
        fault: Fault::DropAfter(20 << 20),
        times: 1,
        ..Rule::default()
    });
    push(&s, &[], "v1").success();
    complete(&s.dest, "v1");
    assert_eq!(hits(&s.proxy, &layer), 2);
}

#[test]
fn a_truncated_body_is_detected_and_read_again() {
    let s = setup(&small());
    let layer = s.layers[1].clone();
    s.proxy.add(Rule {
        method: "GET",
        path_contains: layer.clone(),
        fault: Fault::DropAfter(100),
        times: 1,
        ..Rule::default()
    });
    push(&s, &[], "v1").success();
    complete(&s.dest, "v1");
}

#[test]
fn a_source_serving_wrong_bytes_fails_naming_the_digest_and_writes_no_index() {
    let s = setup(&small());
    let layer = s.layers[0].clone();
    s.proxy.add(Rule {
        method: "GET",
        path_contains: layer.clone(),
        fault: Fault::Corrupt,
        times: 100,
        ..Rule::default()
    });
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
fn a_redirect_to_another_host_gets_no_credentials() {
    let env = TestEnv::new();
    // The registry needs credentials; its blobs are served by a "storage host" that does not.
    let source = Registry::start(crate::support::registry::RegistryConfig {
        tls: false,
        htpasswd: Some(("u", "p4ss")),
        ..Default::default()
    });
    let mirror = Registry::plain();
    let layout = env.path("img");
    let built = write_image_layout(&layout, &five_platforms()[0], "latest");
    push_layout_image(&layout, "latest", &source, "src/app", "v1");
    push_layout_image(&layout, "latest", &mirror, "src/app", "v1");
    let storage = FaultProxy::start_to(mirror.url());
    // "localhost" is another host than "127.0.0.1" for credential purposes.
    let storage_base = format!(
        "http://localhost:{}",
        storage.addr.rsplit(':').next().unwrap()
    );
    let front = FaultProxy::start_to(source.url());
    let layer = built.layer_digests[0].clone();
    front.add(Rule {
        method: "GET",
        path_contains: layer.clone(),
        fault: Fault::RedirectTo(storage_base),
        times: 100,
        ..Rule::default()
    });
    let dest = Registry::plain();
    env.run(&["create", "redir"]);
    env.run(&[
        "add",
        "--tls-verify=false",
        "--creds",
        "u:p4ss",
        "redir",
        &front.docker_ref("src/app:v1"),
    ]);
    env.cmd()
        .args([
            "push",
            "--tls-verify=false",
            "--creds",
            "u:p4ss",
            "redir",
            &dest.docker_ref("dst/app:v1"),
        ])
        .assert()
        .success();
    complete(&dest, "v1");
    assert!(
        front.seen().iter().any(|r| r.had_authorization),
        "the registry itself received credentials"
    );
    let at_storage = storage.seen();
    assert!(
        at_storage.iter().any(|r| r.path.contains(&layer)),
        "the redirect was followed"
    );
    let leaked: Vec<_> = at_storage
        .into_iter()
        .filter(|r| r.had_authorization)
        .collect();
    assert!(
        leaked.is_empty(),
        "credentials were sent to the redirect target: {leaked:?}"
    );
}

#[test]
fn sigkill_during_push_leaves_the_tag_untouched_and_a_rerun_completes() {
    let s = setup(&five_platforms());
    let dest = s.dest.docker_ref("dst/app:v1");
    // How long a whole push takes here, to spread the kills over all of it.
    let started = std::time::Instant::now();
    push(&s, &["-q"], "probe").success();
    let whole = started.elapsed();
    for round in 0..20u32 {
        let mut cmd = crate::support::manifest_std_cmd(&s.env.store);
        cmd.args(["push", "-q", "--tls-verify=false", "faulty", &dest])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap();
        // From "not started yet" to "nearly done", a different moment each round.
        std::thread::sleep(whole * round / 20);
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

#[test]
fn credentials_never_show_in_the_process_title_output_or_debug_log() {
    // A "registry" that accepts connections and never answers keeps the process alive.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let env = TestEnv::new();
    let mut cmd = crate::support::manifest_std_cmd(&env.store);
    cmd.args([
        "--debug",
        "inspect",
        "--retry",
        "0",
        "--tls-verify=false",
        "--creds",
        "bob:hunter2-secret",
    ])
    .arg(format!("docker://{addr}/x/y:z"))
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Once it connects, the arguments have been parsed (and the password hidden).
    let (_held, _) = listener.accept().unwrap();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert!(cmdline.contains("--creds bob:"), "{cmdline}");
    assert!(
        !cmdline.contains("hunter2"),
        "the password is visible to ps: {cmdline}"
    );
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!printed.contains("hunter2"), "{printed}");
}

#[test]
fn a_wrong_password_error_and_debug_log_do_not_show_it() {
    let env = TestEnv::new();
    let registry = Registry::start(crate::support::registry::RegistryConfig {
        tls: false,
        htpasswd: Some(("u", "right-pass")),
        ..Default::default()
    });
    let out = env
        .cmd()
        .args([
            "--debug",
            "inspect",
            "--tls-verify=false",
            "--creds",
            "u:wrong-pass-123",
        ])
        .arg(registry.docker_ref("x/y:z"))
        .assert()
        .code(1)
        .get_output()
        .clone();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains("->"),
        "the debug log shows requests: {printed}"
    );
    assert!(
        !printed.contains("wrong-pass-123") && !printed.contains("right-pass"),
        "{printed}"
    );
    assert!(
        !printed.to_lowercase().contains("authorization:"),
        "{printed}"
    );
}

/// A destination registry restarting in the middle of a push (its port refuses connections
/// for a moment) is waited for by `--retry`: a refused connection to a registry that answered
/// earlier in the command is retried. (Refused on first contact is one error at once:
/// `registry_transport::a_refused_connection_is_one_fast_error`.)
#[test]
fn a_registry_restarting_in_the_middle_of_a_push_is_waited_for() {
    use crate::support::faults::Gate;
    use std::io::BufRead;
    let env = TestEnv::new();
    let source = Registry::plain();
    let mut dest = Registry::plain();
    let layout = env.path("img");
    write_image_layout(
        &layout,
        &ImageSpec::new("linux/amd64", 2, 64 * 1024, 71),
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
    // The first blob read waits at the proxy until the destination is down.
    let gate = Gate::default();
    proxy.add(Rule {
        method: "GET",
        path_contains: "/blobs/sha256:".into(),
        fault: Fault::Hold(gate.clone()),
        ..Rule::default()
    });
    let mut push = crate::support::manifest_std_cmd(&env.store)
        .args(["push", "--tls-verify=false", "--debug", "--jobs", "1"])
        .args(["--retry", "10", "--retry-delay", "200ms", "l"])
        .arg(dest.docker_ref("dst/app:v1"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // (Reads of `add` went through the proxy before the rule: only a held read counts.)
    while !proxy.seen().iter().any(|r| r.faulted) {
        assert!(
            std::time::Instant::now() < deadline,
            "the push never read a blob"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
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
