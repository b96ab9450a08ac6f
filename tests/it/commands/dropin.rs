//! Drop-in for sealos and buildah scripts: the command lines their documentation prints, flag
//! for flag, with their outputs, messages and exit codes.

use crate::support::buildah;
use crate::support::faults::FaultProxy;
use crate::support::image::{
    read_blob, read_index_json, write_image_layout, write_index_layout, BuiltImage, ImageSpec,
};
use crate::support::push::{get_manifest, manifest_status, push_layout_image, verify_pushed_index};
use crate::support::registry::{Registry, RegistryConfig};
use crate::support::{five_platforms, store_snapshot, TestEnv};
use predicates::prelude::*;

/// Pushes one image per spec to `registry` as `src/app:<n>`; returns the built images.
fn seed(env: &TestEnv, registry: &Registry, specs: &[ImageSpec]) -> Vec<BuiltImage> {
    specs
        .iter()
        .enumerate()
        .map(|(n, spec)| {
            let layout = env.path(&format!("seed-{n}"));
            let built = write_image_layout(&layout, spec, "latest");
            push_layout_image(&layout, "latest", registry, "src/app", &n.to_string());
            built
        })
        .collect()
}

/// A list `l` holding the first two of [`five_platforms`], added from `registry`.
fn list_from_registry(env: &TestEnv, registry: &Registry) -> Vec<BuiltImage> {
    let images = seed(env, registry, &five_platforms()[..2]);
    env.run(&["create", "l"]);
    for n in 0..images.len() {
        let reference = registry.docker_ref(&format!("src/app:{n}"));
        env.run(&["add", "--tls-verify=false", "l", &reference]);
    }
    images
}

/// The lines of `--debug` output that log a request (`GET https://… -> 200 (3 ms)`).
fn logged_requests(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|line| {
            ["GET ", "HEAD ", "PUT ", "POST ", "PATCH ", "DELETE "]
                .iter()
                .any(|method| line.starts_with(method))
        })
        .map(str::to_string)
        .collect()
}

/// sealos' multi-arch guide: `manifest push --all mylist docker://reg/app:v1`.
#[test]
fn push_all_takes_no_value_and_all_false_pushes_the_index_only() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    list_from_registry(&env, &registry);

    let dest = registry.docker_ref("dst/app:v1");
    env.cmd()
        .args(["push", "--all", "l", &dest, "--tls-verify=false"])
        .assert()
        .success()
        .stdout("");
    let index = verify_pushed_index(&registry, "dst/app", "v1");

    // The children are there now: --all=false writes the index alone, byte for byte.
    let again = registry.docker_ref("dst/app:v2");
    env.cmd()
        .args(["push", "--all=false", "--tls-verify=false", "l", &again])
        .assert()
        .success();
    assert_eq!(get_manifest(&registry, "dst/app", "v2").0, index);

    let elsewhere = registry.docker_ref("empty/app:v1");
    env.cmd()
        .args(["push", "--all=false", "--tls-verify=false", "l", &elsewhere])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--all"));
    assert_eq!(manifest_status(&registry, "empty/app", "v1"), 404);
}

/// `--insecure` is `--tls-verify=false`; both together are refused as sealos does, before any
/// request.
#[test]
fn push_insecure_talks_plain_http_and_refuses_tls_verify_beside_it() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    seed(&env, &registry, &five_platforms()[..1]);
    env.run(&["create", "l"]);
    env.run(&["add", "--insecure", "l", &registry.docker_ref("src/app:0")]);
    env.cmd()
        .args([
            "push",
            "--insecure",
            "l",
            &registry.docker_ref("dst/app:v1"),
        ])
        .assert()
        .success();
    verify_pushed_index(&registry, "dst/app", "v1");

    let before = registry.access_log().len();
    for both in [
        ["--insecure", "--tls-verify"],
        ["--insecure=false", "--tls-verify=false"],
    ] {
        env.cmd()
            .arg("push")
            .args(both)
            .args(["l", &registry.docker_ref("dst/app:v2")])
            .assert()
            .code(1)
            .stderr("Error: --insecure may not be used with --tls-verify\n");
    }
    assert_eq!(registry.access_log().len(), before, "no request was made");
    assert_eq!(manifest_status(&registry, "dst/app", "v2"), 404);
}

/// buildah's hidden `--purge` (podman's `-p`) is `--rm`: the list goes after a successful push,
/// and stays when the push fails; a registry that cannot be reached is reported in buildah's
/// and podman's words (`pinging container registry HOST: …`).
#[test]
fn push_purge_deletes_the_list_after_a_successful_push() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    list_from_registry(&env, &registry);
    for purge in ["--purge", "-p"] {
        env.cmd()
            .args(["push", purge, "--retry=0", "--tls-verify=false"])
            .args(["l", "docker://127.0.0.1:1/nowhere:v1"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "pinging container registry 127.0.0.1:1: ",
            ));
        env.cmd().args(["exists", "l"]).assert().code(0);
    }
    for (n, purge) in ["--purge", "-p"].into_iter().enumerate() {
        if n > 0 {
            list_from_registry(&env, &registry);
        }
        env.cmd()
            .args(["push", purge, "--tls-verify=false", "l"])
            .arg(registry.docker_ref("dst/app:v1"))
            .assert()
            .success();
        verify_pushed_index(&registry, "dst/app", "v1");
        env.cmd().args(["exists", "l"]).assert().code(1);
    }
    // Remote reads say the same, before what they were reading.
    env.cmd()
        .args(["inspect", "--retry=0", "docker://127.0.0.1:1/nowhere:v1"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "Error: reading image \"docker://127.0.0.1:1/nowhere:v1\": pinging container \
             registry 127.0.0.1:1: ",
        ));
}

/// `inspect --tls-verify docker://…` (a bare `--tls-verify` before the reference) against a
/// TLS registry whose CA comes from `--cert-dir`.
#[test]
fn inspect_tls_verify_against_a_tls_registry() {
    let env = TestEnv::new();
    let registry = Registry::start(RegistryConfig {
        tls: true,
        htpasswd: None,
        ..Default::default()
    });
    let layout = env.path("img");
    write_image_layout(&layout, &five_platforms()[0], "latest");
    push_layout_image(&layout, "latest", &registry, "app", "v1");
    let (served, _, _) = get_manifest(&registry, "app", "v1");
    let reference = registry.docker_ref("app:v1");
    let ca = registry.ca_dir.clone().unwrap();

    let printed = env
        .cmd()
        .args(["inspect", "--raw", "--cert-dir"])
        .arg(&ca)
        .args(["--tls-verify", &reference])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(printed, served);
    // Without the CA the certificate is not trusted; --tls-verify=false skips the check.
    env.cmd()
        .args(["inspect", "--retry=0", "--tls-verify", &reference])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "reading image \"{reference}\""
        )));
    let unverified = env.run(&["inspect", "--raw", "--tls-verify=false", &reference]);
    assert_eq!(unverified.as_bytes(), served);
}

/// `annotate LIST 0907f27d` and `remove LIST sha256:0907f…`: a digest prefix is resolved
/// against the list's own entries, with no request at all (`--debug` logs every request, and a
/// counting proxy sits in front of the registry the entries came from).
#[test]
fn short_digests_resolve_in_the_list_without_any_request() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    // Images until two of them share their first hex digit, for an ambiguous prefix.
    let mut specs = Vec::new();
    let mut images: Vec<BuiltImage> = Vec::new();
    for seed in 0.. {
        let spec = ImageSpec::new("linux/amd64", 1, 512, 7000 + seed);
        let built = write_image_layout(&env.path(&format!("probe-{seed}")), &spec, "latest");
        let shared = images
            .iter()
            .any(|i| i.manifest_digest[7..8] == built.manifest_digest[7..8]);
        specs.push(spec);
        images.push(built);
        if shared && images.len() >= 3 {
            break;
        }
    }
    seed(&env, &registry, &specs);
    let id = env.run(&["create", "l"]);
    let id = id.trim();
    for n in 0..images.len() {
        let reference = proxy.docker_ref(&format!("src/app:{n}"));
        env.run(&["add", "--tls-verify=false", "l", &reference]);
    }
    let seen = proxy.seen().len();
    let digest = |n: usize| images[n].manifest_digest.as_str();
    let (twin, other) = (0..images.len())
        .flat_map(|a| (a + 1..images.len()).map(move |b| (a, b)))
        .find(|&(a, b)| digest(a)[7..8] == digest(b)[7..8])
        .unwrap();
    let lonely = (0..images.len())
        .find(|&n| n != twin && n != other)
        .unwrap();

    let quiet_success = |args: &[&str], printed: &str| {
        let out = env
            .cmd()
            .arg("--debug")
            .args(args)
            .assert()
            .success()
            .stdout(format!("{id}: {printed}\n"))
            .get_output()
            .clone();
        assert_eq!(
            logged_requests(&out.stderr),
            Vec::<String>::new(),
            "{args:?}"
        );
    };
    quiet_success(
        &["annotate", "--arch", "arm64", "l", &digest(lonely)[7..15]],
        digest(lonely),
    );
    quiet_success(
        &["annotate", "--os", "plan9", "l", &digest(twin)[..17]],
        digest(twin),
    );
    quiet_success(
        &["annotate", "--variant", "v9", "l", digest(other)],
        digest(other),
    );
    let inspected = env.run(&["inspect", "l"]);
    for text in [
        "\"architecture\": \"arm64\"",
        "\"os\": \"plan9\"",
        "\"variant\": \"v9\"",
    ] {
        assert!(inspected.contains(text), "{text} missing from {inspected}");
    }

    let before = store_snapshot(&env.store);
    let refused = |args: &[&str], message: &str| {
        let out = env
            .cmd()
            .arg("--debug")
            .args(args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(message))
            .get_output()
            .clone();
        assert_eq!(
            logged_requests(&out.stderr),
            Vec::<String>::new(),
            "{args:?}"
        );
    };
    let ambiguous = format!("sha256:{}", &digest(twin)[7..8]);
    refused(
        &["annotate", "--arch", "x", "l", &ambiguous],
        "matches several entries",
    );
    refused(&["annotate", "--arch", "x", "l", &ambiguous], digest(other));
    refused(&["remove", "l", &ambiguous], digest(twin));
    let absent = (0..16u8)
        .map(|n| format!("{n:x}000000"))
        .find(|p| {
            images
                .iter()
                .all(|i| !i.manifest_digest[7..].starts_with(p.as_str()))
        })
        .unwrap();
    refused(
        &["annotate", "--arch", "x", "l", &absent],
        &format!("Error: {absent}: image not known"),
    );
    refused(
        &["remove", "l", &absent],
        &format!("Error: {absent}: image not known"),
    );
    // A short name that is neither a digest nor a registry reference is not sent to Docker Hub.
    refused(
        &["annotate", "--arch", "x", "l", "busybox"],
        "Error: busybox: image not known",
    );
    assert_eq!(store_snapshot(&env.store), before);

    quiet_success(&["remove", "l", &digest(lonely)[7..15]], digest(lonely));
    assert_eq!(proxy.seen().len(), seen, "no request reached the registry");

    // Only a reference that names a registry is read from the network.
    env.cmd()
        .args(["annotate", "--tls-verify=false", "--arch", "riscv64", "l"])
        .arg(proxy.docker_ref(&format!("src/app:{twin}")))
        .assert()
        .success()
        .stdout(format!("{id}: {}\n", digest(twin)));
    assert!(proxy.seen().len() > seen);
}

/// sealos prints the first instance `add --all` added (not the index), the picked instance for
/// an index without `--all`, and the list ID for `create`.
#[test]
fn add_and_create_print_what_sealos_prints() {
    let env = TestEnv::new();
    let layout = env.path("multi");
    let (index_digest, images) = write_index_layout(&layout, &five_platforms(), "v1");
    let source = format!("oci:{}:v1", layout.display());
    let id = env.run(&["create", "l"]);
    let id = id.trim();
    assert_eq!(
        env.run(&["add", "--all", "l", &source]),
        format!("{id}: {}\n", images[0].manifest_digest)
    );
    assert_eq!(
        env.run(&["add", "--arch=s390x", "l", &source]),
        format!("{id}: {}\n", images[4].manifest_digest)
    );
    let single = env.path("single");
    let built = write_image_layout(&single, &ImageSpec::new("linux/mips64", 1, 64, 3), "x");
    assert_eq!(
        env.run(&["add", "l", &format!("oci:{}:x", single.display())]),
        format!("{id}: {}\n", built.manifest_digest)
    );
    let created = env.run(&["create", "--all", "other", &source]);
    assert!(
        created.len() == 65 && created.ends_with('\n') && !created.contains(&index_digest[7..]),
        "{created}"
    );
}

/// `--authfile /no/such/file` (or `$REGISTRY_AUTH_FILE`) stops every command that has the flag,
/// in sealos' words, before it touches the store or the network.
#[test]
fn a_missing_authfile_stops_every_command_first() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    seed(&env, &registry, &five_platforms()[..1]);
    let image = registry.docker_ref("src/app:0");
    env.run(&["create", "l"]);
    env.run(&["add", "--tls-verify=false", "l", &image]);
    let digest = env.run(&["inspect", "l"]);
    let digest = digest
        .split('"')
        .find(|part| part.starts_with("sha256:"))
        .unwrap()
        .to_string();
    let dest = registry.docker_ref("dst/app:v1");
    let commands: Vec<Vec<&str>> = vec![
        vec!["create", "c", &image],
        vec!["add", "l", &image],
        vec!["annotate", "--arch", "arm", "l", &digest],
        vec!["annotate", "--index", "--annotation", "a=b", "l"],
        vec!["inspect", "l"],
        vec!["inspect", &image],
        vec!["push", "l", &dest],
    ];
    let before = store_snapshot(&env.store);
    let requests = registry.access_log().len();
    for args in &commands {
        env.cmd()
            .args(args)
            .args(["--tls-verify=false", "--authfile", "/no/such/file"])
            .assert()
            .code(1)
            .stdout("")
            .stderr("Error: checking authfile: stat /no/such/file: no such file or directory\n");
        env.cmd()
            .args(args)
            .arg("--tls-verify=false")
            .env("REGISTRY_AUTH_FILE", "/no/such/file")
            .assert()
            .code(1)
            .stderr(
                predicate::str::starts_with(
                    "Error: checking authfile: stat /no/such/file: no such file or directory",
                )
                .and(predicate::str::contains("$REGISTRY_AUTH_FILE")),
            );
    }
    assert_eq!(store_snapshot(&env.store), before, "the store changed");
    assert_eq!(registry.access_log().len(), requests, "a request was made");

    let authfile = env.path("auth.json");
    std::fs::write(&authfile, "{}").unwrap();
    env.cmd()
        .args(["push", "--tls-verify=false", "--authfile"])
        .arg(&authfile)
        .args(["l", &dest])
        .assert()
        .success();
}

/// buildah writes empty `org.opencontainers.image.base.*` annotations into every image it
/// commits; `--format v2s2` refuses to drop them silently, names them, and drops them (saying
/// so) only with `--allow-lossy`.
#[test]
fn buildah_images_push_as_v2s2_with_allow_lossy() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let work = env.path("buildah");
    std::fs::create_dir_all(&work).unwrap();
    env.run(&["create", "l"]);
    for (name, platform) in [("amd", "linux/amd64"), ("arm", "linux/arm64/v8")] {
        let layout = buildah::build_layout(&work, name, platform);
        let index = read_index_json(&layout);
        let manifest = read_blob(&layout, index["manifests"][0]["digest"].as_str().unwrap());
        let manifest = String::from_utf8(manifest).unwrap();
        assert!(
            manifest.contains("\"org.opencontainers.image.base.name\":\"\""),
            "buildah no longer writes the annotation: {manifest}"
        );
        env.run(&["add", "l", &format!("oci:{}", layout.display())]);
    }
    let dest = registry.docker_ref("v2/app:v1");
    let before = store_snapshot(&env.store);
    env.cmd()
        .args(["push", "--format", "v2s2", "--tls-verify=false", "l", &dest])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("annotation \"org.opencontainers.image.base.digest\"")
                .and(predicate::str::contains(
                    "annotation \"org.opencontainers.image.base.name\"",
                ))
                .and(predicate::str::contains("--allow-lossy")),
        );
    assert_eq!(manifest_status(&registry, "v2/app", "v1"), 404);
    assert_eq!(store_snapshot(&env.store), before);

    env.cmd()
        .args(["push", "-f", "v2s2", "--allow-lossy", "--tls-verify=false", "l", &dest])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "Dropping annotation \"org.opencontainers.image.base.digest\", annotation \"org.opencontainers.image.base.name\" from sha256:",
        ));
    let index = verify_pushed_index(&registry, "v2/app", "v1");
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    for child in index["manifests"].as_array().unwrap() {
        let (bytes, _, _) = get_manifest(&registry, "v2/app", child["digest"].as_str().unwrap());
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("application/vnd.docker.distribution.manifest.v2+json"));
        assert!(!text.contains("annotations"), "{text}");
    }
    // The opt-in only makes sense with a conversion.
    env.cmd()
        .args(["push", "--allow-lossy", "l", &dest])
        .assert()
        .code(2);
}

/// The words scripts grep for, and the exit codes they test.
#[test]
fn messages_and_exit_codes_scripts_match() {
    let env = TestEnv::new();
    env.run(&["create", "foo"]);
    env.cmd()
        .args(["create", "foo"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("that name is already in use"));
    for args in [
        vec!["rm", "foo1"],
        vec!["inspect", "foo1"],
        vec!["add", "foo1", "oci:/nonexistent"],
        vec!["annotate", "--index", "--annotation", "a=b", "foo1"],
        vec!["remove", "foo1", "sha256:0907f27d"],
        vec!["push", "foo1", "oci:/nonexistent"],
    ] {
        env.cmd()
            .args(&args)
            .assert()
            .code(1)
            .stderr(predicate::str::starts_with("Error: foo1: image not known"));
    }
    env.cmd()
        .args(["rm", "foo1", "foo2"])
        .assert()
        .code(1)
        .stderr("Error: foo1: image not known; foo2: image not known\n");
    env.cmd()
        .args(["exists", "foo"])
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
    env.cmd()
        .args(["exists", "foo1"])
        .assert()
        .code(1)
        .stdout("")
        .stderr("");
    let not_a_dir = env.path("file");
    std::fs::write(&not_a_dir, "x").unwrap();
    env.cmd()
        .arg("--store")
        .arg(&not_a_dir)
        .args(["exists", "foo"])
        .assert()
        .code(125);
    env.cmd()
        .args(["push", "--no-such-flag", "foo"])
        .assert()
        .code(2);
}

/// With `MANIFEST_STORE` set (the harness always sets it), no usage line shows `--store` as if
/// it were required.
#[test]
fn usage_lines_do_not_show_store_as_required() {
    let env = TestEnv::new();
    for args in [vec!["push"], vec!["add", "l"], vec!["rm"], vec!["create"]] {
        let out = env.cmd().args(&args).assert().code(2).get_output().clone();
        let stderr = String::from_utf8(out.stderr).unwrap();
        let usage = stderr.lines().find(|l| l.starts_with("Usage:")).unwrap();
        assert!(!usage.contains("--store"), "{args:?}: {usage}");
    }
    let help = env.run(&["push", "--help"]);
    let usage = help.lines().find(|l| l.starts_with("Usage:")).unwrap();
    assert_eq!(usage, "Usage: manifest push [OPTIONS] <LIST> [DESTINATION]");
    assert!(help.contains("MANIFEST_STORE"));
}

/// Signing is refused, never silently skipped; `--remove-signatures` is accepted (nothing is
/// signed, so there is nothing to copy).
#[test]
fn signing_is_refused_and_remove_signatures_is_accepted() {
    let env = TestEnv::new();
    let layout = env.path("img");
    write_image_layout(&layout, &five_platforms()[0], "latest");
    env.run(&["create", "l"]);
    env.run(&["add", "l", &format!("oci:{}", layout.display())]);
    let out = env.path("out");
    let dest = format!("oci:{}:v1", out.display());
    let before = store_snapshot(&env.store);
    for flag in [
        "--sign-by=ABCDEF",
        "--signature-policy=/etc/containers/policy.json",
    ] {
        env.cmd()
            .args(["push", flag, "--rm", "l", &dest])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "signing and signature policies are not supported",
            ));
    }
    assert!(!out.exists());
    assert_eq!(store_snapshot(&env.store), before);
    env.cmd()
        .args(["push", "--remove-signatures", "-q", "l", &dest])
        .assert()
        .success();
    assert!(out.join("index.json").exists());
}
