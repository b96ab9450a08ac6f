//! The configuration podman and buildah users already have, read by the binary: registries.conf
//! (insecure per registry, blocked, mirrors, short names) and certs.d CA certificates, against
//! real registries on 127.0.0.1. Every spelling of a blocked registry is blocked (hosts are
//! compared in one canonical form) and a push to each is refused before any request, the same
//! registry unblocked takes a push under an odd spelling; a TOML error on a 400 kB line is
//! quoted short.

use crate::support::expect::{refused, succeeds};
use crate::support::hostile::{image_layout, oci};
use crate::support::image::{write_image_layout, ImageSpec};
use crate::support::push::{manifest_status, push_layout_image};
use crate::support::registry::{Registry, RegistryConfig};
use crate::support::{registries_conf, TestEnv};
use predicates::prelude::*;
use std::fs;
use std::path::Path;

const USER: (&str, &str) = ("ci-user", "s3cret-pass");

fn configure(env: &TestEnv, text: &str) {
    std::fs::write(registries_conf(&env.home()), text).unwrap();
}

/// Pushes one small image to `registry` as `repo:tag`; returns its digest.
fn seed(env: &TestEnv, registry: &Registry, repo: &str, tag: &str, seed: u64) -> String {
    let layout = env.path(&format!("seed-{seed}"));
    write_image_layout(
        &layout,
        &ImageSpec::new("linux/amd64", 2, 8192, seed),
        "latest",
    );
    push_layout_image(&layout, "latest", registry, repo, tag)
}

/// Puts `ca_dir`'s `ca.crt` where containers look for `host`'s CA certificates:
/// `~/.config/containers/certs.d/HOST/`.
fn trust_in_certs_d(env: &TestEnv, host: &str, ca_dir: &Path) {
    let dir = env.home().join(".config/containers/certs.d").join(host);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(ca_dir.join("ca.crt"), dir.join("ca.crt")).unwrap();
}

fn request_count(registry: &Registry) -> usize {
    registry.access_log().len()
}

#[test]
fn one_push_from_a_plain_http_source_to_a_verified_tls_destination() {
    let env = TestEnv::new();
    let source = Registry::plain();
    let dest = Registry::start(RegistryConfig {
        tls: true,
        htpasswd: Some(USER),
        ..Default::default()
    });
    seed(&env, &source, "src/app", "v1", 11);
    env.run(&["create", "l"]);

    // Without configuration the plain-HTTP source is refused, in plain words.
    env.cmd()
        .args(["add", "l", &source.docker_ref("src/app:v1")])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("answered in plain HTTP")
                .and(predicate::str::contains("insecure = true")),
        );

    configure(
        &env,
        &format!(
            "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            source.addr
        ),
    );
    env.run(&["add", "l", &source.docker_ref("src/app:v1")]);
    trust_in_certs_d(&env, &dest.addr, dest.ca_dir.as_ref().unwrap());
    let creds = format!("{}:{}", USER.0, USER.1);
    env.run(&[
        "push",
        "--creds",
        &creds,
        "l",
        &dest.docker_ref("dst/app:v1"),
    ]);
    assert_eq!(manifest_status(&dest, "dst/app", "v1"), 200);

    // The destination is still verified: a CA that did not sign its certificate fails.
    let other = Registry::start(RegistryConfig {
        tls: true,
        ..Default::default()
    });
    trust_in_certs_d(&env, &dest.addr, other.ca_dir.as_ref().unwrap());
    env.cmd()
        .args([
            "push",
            "--creds",
            &creds,
            "l",
            &dest.docker_ref("dst/app:v2"),
        ])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("x509: certificate signed by unknown authority")
                .and(predicate::str::contains("certs.d")),
        );
    assert_eq!(manifest_status(&dest, "dst/app", "v2"), 404);
}

#[test]
fn source_images_come_from_the_mirror_and_from_the_primary_when_it_is_down() {
    let env = TestEnv::new();
    let primary = Registry::plain();
    let mirror = Registry::plain();
    let dest = Registry::plain();
    let digest = seed(&env, &primary, "src/app", "v1", 21);
    assert_eq!(seed(&env, &mirror, "src/app", "v1", 21), digest);
    configure(
        &env,
        &format!(
            "[[registry]]\nlocation = \"{p}\"\ninsecure = true\n\
             [[registry.mirror]]\nlocation = \"{m}\"\ninsecure = true\n\
             [[registry]]\nlocation = \"{d}\"\ninsecure = true\n",
            p = primary.addr,
            m = mirror.addr,
            d = dest.addr
        ),
    );
    let primary_before = request_count(&primary);
    env.run(&["create", "l"]);
    env.run(&["add", "l", &primary.docker_ref("src/app:v1")]);
    env.run(&["push", "l", &dest.docker_ref("dst/app:v1")]);
    assert_eq!(manifest_status(&dest, "dst/app", "v1"), 200);
    let reads = |r: &Registry| {
        r.access_log()
            .iter()
            .filter(|e| e.method == "GET" && e.uri.contains("/src/app/"))
            .count()
    };
    assert!(reads(&mirror) > 0, "nothing was read from the mirror");
    assert_eq!(
        request_count(&primary),
        primary_before,
        "the primary was asked while the mirror had everything"
    );

    // The mirror goes away: the list is pushed to a fresh destination from the primary.
    drop(mirror);
    let fresh = Registry::plain();
    env.run(&[
        "push",
        "--tls-verify=false",
        "l",
        &fresh.docker_ref("dst/app:v1"),
    ]);
    assert_eq!(manifest_status(&fresh, "dst/app", "v1"), 200);
    assert!(reads(&primary) > 0, "{:?}", primary.access_log());
}

#[test]
fn a_blocked_registry_gets_no_request_at_all() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    seed(&env, &registry, "src/app", "v1", 31);
    configure(
        &env,
        &format!(
            "[[registry]]\nlocation = \"{}\"\nblocked = true\n",
            registry.addr
        ),
    );
    let before = request_count(&registry);
    env.run(&["create", "l"]);
    let image = env.path("img");
    write_image_layout(&image, &ImageSpec::new("linux/amd64", 1, 4096, 7), "latest");
    env.run(&["add", "l", &format!("oci:{}", image.display())]);
    for args in [
        vec![
            "add",
            "--tls-verify=false",
            "l",
            &registry.docker_ref("src/app:v1"),
        ],
        vec![
            "inspect",
            "--tls-verify=false",
            &registry.docker_ref("src/app:v1"),
        ],
        vec![
            "push",
            "--tls-verify=false",
            "l",
            &registry.docker_ref("dst/app:v1"),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(|s| s.as_ref()).collect();
        env.cmd()
            .args(&args)
            .assert()
            .failure()
            .stderr(predicate::str::contains("is blocked"));
    }
    assert_eq!(
        request_count(&registry),
        before,
        "{:?}",
        registry.access_log()
    );
}

#[test]
fn short_names_with_a_search_list_an_alias_and_an_ambiguity() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let other = Registry::plain();
    let digest = seed(&env, &registry, "team/app", "v1", 41);
    let insecure =
        |r: &Registry| format!("[[registry]]\nlocation = \"{}\"\ninsecure = true\n", r.addr);
    configure(
        &env,
        &format!(
            "unqualified-search-registries = [\"{}\"]\n{}",
            registry.addr,
            insecure(&registry)
        ),
    );
    let id = env.run(&["create", "l"]);
    let printed = env.run(&["add", "l", "team/app:v1"]);
    assert_eq!(printed, format!("{}: {digest}\n", id.trim()));

    // An alias wins over the search list.
    configure(
        &env,
        &format!(
            "unqualified-search-registries = [\"{o}\"]\n[aliases]\n\"myapp\" = \"{r}/team/app\"\n{}{}",
            insecure(&registry),
            insecure(&other),
            o = other.addr,
            r = registry.addr
        ),
    );
    env.run(&["create", "aliased"]);
    let printed = env.run(&["add", "aliased", "myapp:v1"]);
    assert!(printed.ends_with(&format!("{digest}\n")), "{printed}");

    // Two search registries and no alias: an error that lists both, and no request.
    configure(
        &env,
        &format!(
            "unqualified-search-registries = [\"{}\", \"{}\"]\n",
            registry.addr, other.addr
        ),
    );
    let before = (request_count(&registry), request_count(&other));
    env.cmd()
        .args(["add", "l", "team/app:v1"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("ambiguous")
                .and(predicate::str::contains(format!(
                    "{}/team/app:v1",
                    registry.addr
                )))
                .and(predicate::str::contains(format!(
                    "{}/team/app:v1",
                    other.addr
                ))),
        );
    assert_eq!((request_count(&registry), request_count(&other)), before);
}

#[test]
fn every_spelling_of_a_blocked_host_is_refused_and_an_odd_spelling_reaches_the_registry() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let port = registry.addr.rsplit(':').next().unwrap().to_string();
    let (layout, _) = image_layout(&env, "img", 42);
    succeeds(&env, &["create", "l", &oci(&layout)]);

    // Unblocked, an odd spelling of the registry's own host works (the same origin).
    let odd = format!("docker://127.0.0.01:0{port}/odd/app:v1");
    succeeds(&env, &["push", "-q", "--tls-verify=false", "l", &odd]);
    assert_eq!(manifest_status(&registry, "odd/app", "v1"), 200);

    let conf = registries_conf(&env.home());
    fs::write(
        &conf,
        format!(
            "[[registry]]\nlocation = 'localhost:{port}'\nblocked = true\n\
             [[registry]]\nlocation = '127.0.0.1:{port}'\nblocked = true\n\
             [[registry]]\nlocation = '[::1]:{port}'\nblocked = true\n"
        ),
    )
    .unwrap();
    let spellings = [
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        format!("Localhost:{port}"),
        format!("localhost.:{port}"),
        format!("localhost:0{port}"),
        format!("127.0.0.1:{port}"),
        format!("127.0.0.1:0{port}"),
        format!("127.000.000.001:{port}"),
        format!("127.1:{port}"),
        format!("[::1]:{port}"),
        format!("[0:0::1]:{port}"),
        format!("[0000:0000:0000:0000:0000:0000:0000:0001]:{port}"),
    ];
    let before = registry.access_log().len();
    for host in &spellings {
        let dest = format!("docker://{host}/blocked/app:v1");
        refused(
            &env,
            &["push", "-q", "--tls-verify=false", "l", &dest],
            &["is blocked (blocked = true in"],
        );
        refused(
            &env,
            &["inspect", "--tls-verify=false", &dest],
            &["is blocked"],
        );
    }
    assert_eq!(
        registry.access_log().len(),
        before,
        "no request reached the registry"
    );
    assert_eq!(manifest_status(&registry, "blocked/app", "v1"), 404);
}

#[test]
fn a_toml_error_on_a_400_kb_line_is_quoted_short() {
    let env = TestEnv::new();
    let conf = registries_conf(&env.home());
    fs::write(
        &conf,
        format!(
            "unqualified-search-registries = ['{}'\n",
            "a".repeat(400_000)
        ),
    )
    .unwrap();
    let stderr = refused(
        &env,
        &["inspect", "docker://reg.io/app:v1"],
        &["characters cut]", "registries.conf"],
    );
    assert!(stderr.len() < 5000, "{} bytes of error", stderr.len());
    // Over the cap of a configuration file: refused unread.
    fs::File::create(&conf).unwrap().set_len(5 << 20).unwrap();
    refused(
        &env,
        &["inspect", "docker://reg.io/app:v1"],
        &["5242880 bytes, over the limit of 4194304 bytes for a configuration file"],
    );
}
