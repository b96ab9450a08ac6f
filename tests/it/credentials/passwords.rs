//! Passwords (Basic credentials) from `--creds`, `--authfile` and docker's config.json, through
//! the library and the binary, over TLS: a wrong or missing one is named with where it was
//! looked for, and a password never shows in output, the debug log or the process title.

use crate::support::client::{
    by_tag, client, fast_options, generated_stream, push_tagged, read_all, repository,
};
use crate::support::image::{five_platforms, ImageSpec};
use crate::support::push::{blob_status, seed_images, verify_pushed_index};
use crate::support::registry::{Registry, RegistryConfig};
use crate::support::TestEnv;
use manifest::transport::registry::RegistryOptions;
use manifest::transport::{verified, Transport, TransportError};
use predicates::prelude::*;

const USER: (&str, &str) = ("ci-user", "s3cret-pass");

/// Seeds `registry` with one image per spec as `src/app:<arch><variant>`; returns the references.
fn seed(env: &TestEnv, registry: &Registry, specs: &[ImageSpec]) -> Vec<(String, String)> {
    seed_images(env.tmp.path(), registry, "src/app", specs)
}

#[tokio::test]
async fn tls_and_basic_auth() {
    let registry = Registry::start(RegistryConfig {
        tls: true,
        htpasswd: Some(("alice", "s3cret")),
        ..Default::default()
    });
    let with_ca = RegistryOptions {
        cert_dir: registry.ca_dir.clone(),
        ..fast_options()
    };

    // Right CA and right password: a full round trip.
    let good = client(with_ca.clone(), Some("alice:s3cret")).await;
    let repo = repository(&good, &registry, "secure/app").await;
    assert_eq!(repo.credential_sources(), "--creds (used)");
    let (manifest, layer) = push_tagged(&repo, 512 * 1024, "v1").await;
    let got = repo.manifest_get(&by_tag("v1")).await.unwrap();
    assert_eq!(got.bytes, manifest.bytes);
    let body = read_all(verified(repo.blob_get(&layer).await.unwrap(), &layer))
        .await
        .unwrap();
    assert!(layer.digest.matches(&body));
    let other = repository(&good, &registry, "secure/other").await;
    assert!(other.blob_mount(&layer, "secure/app").await.unwrap());

    // Wrong password.
    let bad = client(with_ca.clone(), Some("alice:wrong")).await;
    let repo = repository(&bad, &registry, "secure/app").await;
    match repo.manifest_get(&by_tag("v1")).await {
        Err(TransportError::Unauthorized {
            registry: r,
            searched,
            ..
        }) => {
            assert_eq!(r, registry.addr);
            assert_eq!(searched, "--creds (used)");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    let err = repo.blob_exists(&layer).await.unwrap_err();
    assert!(
        matches!(err, TransportError::Unauthorized { .. }),
        "{err:?}"
    );
    let err = repo
        .blob_put(&layer, verified(generated_stream(512 * 1024, 42), &layer))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Unauthorized { .. }),
        "{err:?}"
    );

    // No credentials at all: the message lists where they were looked for.
    let anonymous = client(with_ca, None).await;
    let repo = repository(&anonymous, &registry, "secure/app").await;
    let err = repo.manifest_get(&by_tag("v1")).await.unwrap_err();
    assert!(
        matches!(err, TransportError::Unauthorized { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("--creds"), "{err}");

    // The CA is not trusted without --cert-dir.
    let no_ca = client(fast_options(), Some("alice:s3cret")).await;
    let repo = repository(&no_ca, &registry, "secure/app").await;
    let err = repo.manifest_get(&by_tag("v1")).await.unwrap_err();
    match &err {
        TransportError::Tls { detail, .. } => {
            assert!(detail.contains("--cert-dir"), "{detail}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }

    // --tls-verify=false talks HTTPS without verifying, and still authenticates.
    let insecure = client(
        RegistryOptions {
            tls_verify: Some(false),
            ..fast_options()
        },
        Some("alice:s3cret"),
    )
    .await;
    let repo = repository(&insecure, &registry, "secure/app").await;
    let got = repo.manifest_get(&by_tag("v1")).await.unwrap();
    assert_eq!(got.bytes, manifest.bytes);
}

#[test]
fn tls_and_htpasswd_registry() {
    let env = TestEnv::new();
    let registry = Registry::start(RegistryConfig {
        tls: true,
        htpasswd: Some(USER),
        ..Default::default()
    });
    let sources = seed(&env, &registry, &five_platforms()[..2]);
    let cert_dir = registry.ca_dir.clone().unwrap();
    let cert_dir = cert_dir.to_str().unwrap();
    env.run(&["create", "secure"]);
    for (reference, _) in &sources {
        env.run(&[
            "add",
            "--cert-dir",
            cert_dir,
            "--creds",
            &registry.creds(),
            "secure",
            reference,
        ]);
    }
    // --creds
    env.cmd()
        .args([
            "push",
            "--cert-dir",
            cert_dir,
            "--creds",
            &registry.creds(),
            "secure",
            &registry.docker_ref("a/app:v1"),
        ])
        .assert()
        .success();
    verify_pushed_index(&registry, "a/app", "v1");
    // --authfile
    let authfile = env.path("auth.json");
    registry.write_auth_json(&authfile);
    env.cmd()
        .args([
            "push",
            "--cert-dir",
            cert_dir,
            "--authfile",
            authfile.to_str().unwrap(),
            "secure",
            &registry.docker_ref("b/app:v1"),
        ])
        .assert()
        .success();
    // docker config.json in $DOCKER_CONFIG
    registry.write_auth_json(&env.home().join(".docker/config.json"));
    env.cmd()
        .args([
            "push",
            "--cert-dir",
            cert_dir,
            "secure",
            &registry.docker_ref("c/app:v1"),
        ])
        .assert()
        .success();
    std::fs::remove_file(env.home().join(".docker/config.json")).unwrap();

    // Wrong password: exit 1, a clear message, the password never printed, nothing pushed.
    let wrong = format!("{}:not-the-password", USER.0);
    env.cmd()
        .args([
            "push",
            "--cert-dir",
            cert_dir,
            "--creds",
            &wrong,
            "secure",
            &registry.docker_ref("d/app:v1"),
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(&registry.addr)
                .and(predicate::str::contains("not-the-password").not())
                .and(predicate::str::is_match("(?i)auth|unauthorized|credentials").unwrap()),
        );
    assert_eq!(
        crate::support::push::manifest_status(&registry, "d/app", "v1"),
        404
    );
    assert_eq!(blob_status(&registry, "d/app", &sources[0].1), 404);

    // No CA: a TLS error that says how to fix it.
    env.cmd()
        .args([
            "push",
            "--creds",
            &registry.creds(),
            "secure",
            &registry.docker_ref("e/app:v1"),
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("--cert-dir")
                .and(predicate::str::contains("--tls-verify=false")),
        );
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
