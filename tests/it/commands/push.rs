//! The main job against the real distribution registry: add from a registry, push --all to the
//! same registry (mounts), to another registry (copies with flat memory), `add --all` with a
//! platform choice, and v2s2 round trips.

use crate::support::image::{five_platforms, sha256_digest, write_index_layout, ImageSpec};

use crate::support::push::{get_manifest, push_layout_image, seed_images, verify_pushed_index};
use crate::support::registry::Registry;
use crate::support::TestEnv;
use predicates::prelude::*;

/// Seeds `registry` with one image per spec as `src/app:<arch><variant>`; returns the references.
fn seed(env: &TestEnv, registry: &Registry, specs: &[ImageSpec]) -> Vec<(String, String)> {
    seed_images(env.tmp.path(), registry, "src/app", specs)
}

fn uploads(registry: &Registry) -> usize {
    registry
        .access_log()
        .iter()
        .filter(|e| (e.method == "PUT" || e.method == "PATCH") && e.uri.contains("/blobs/uploads/"))
        .count()
}

#[test]
fn full_flow_add_annotate_push_all_and_mounts_within_one_registry() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let sources = seed(&env, &registry, &five_platforms());

    let id = env.run(&["create", "mylist"]);
    let id = id.trim();
    for (reference, digest) in &sources {
        let printed = env.run(&["add", "--tls-verify=false", "mylist", reference]);
        assert_eq!(printed, format!("{id}: {digest}\n"));
    }
    env.run(&[
        "annotate",
        "mylist",
        &sources[1].1,
        "--variant",
        "v8",
        "--annotation",
        "org.example.flavor=arm64-v8",
    ]);
    let inspected = env.run(&["inspect", "mylist"]);
    assert!(inspected.contains("\"mediaType\": \"application/vnd.oci.image.index.v1+json\""));

    // Same registry, new repository: every blob is mounted, none uploaded.
    let uploads_before = uploads(&registry);
    let digestfile = env.path("digest");
    let started = std::time::Instant::now();
    env.cmd()
        .args(["push", "--tls-verify=false", "--digestfile"])
        .arg(&digestfile)
        .args(["mylist", &registry.docker_ref("dst/app:v1")])
        .assert()
        .success()
        .stdout("")
        .stderr(
            predicate::str::contains("0 blobs copied").and(predicate::str::contains("10 mounted")),
        );
    let mount_time = started.elapsed();
    assert_eq!(
        uploads(&registry),
        uploads_before,
        "a same-registry push uploaded blob bytes"
    );
    let index = verify_pushed_index(&registry, "dst/app", "v1");
    assert_eq!(
        std::fs::read_to_string(&digestfile).unwrap(),
        sha256_digest(&index)
    );
    assert_eq!(index, env.run(&["inspect", "--raw", "mylist"]).into_bytes());
    eprintln!("same-registry push: {mount_time:?}");

    // Pushing again moves nothing either (mounting a blob the repository has is a no-op).
    env.cmd()
        .args([
            "push",
            "--tls-verify=false",
            "mylist",
            &registry.docker_ref("dst/app:v1"),
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("0 blobs copied"));
    assert_eq!(uploads(&registry), uploads_before);

    // --all=false pushes only the index: fine where the children are, refused where they are not.
    env.cmd()
        .args([
            "push",
            "--all=false",
            "--tls-verify=false",
            "mylist",
            &registry.docker_ref("dst/app:v2"),
        ])
        .assert()
        .success();
    assert_eq!(get_manifest(&registry, "dst/app", "v2").0, index);
    env.cmd()
        .args([
            "push",
            "--all=false",
            "--tls-verify=false",
            "mylist",
            &registry.docker_ref("bare/app:v1"),
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--all"));
    assert_eq!(
        crate::support::push::manifest_status(&registry, "bare/app", "v1"),
        404
    );

    // inspect of the remote index, pretty and raw.
    let remote = env.run(&[
        "inspect",
        "--tls-verify=false",
        &registry.docker_ref("dst/app:v1"),
    ]);
    assert_eq!(remote, inspected);
    let raw = env.run(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &registry.image("dst/app:v1"),
    ]);
    assert_eq!(raw.as_bytes(), index.as_slice());
}

#[test]
fn push_to_another_registry_copies_every_blob_with_flat_memory() {
    let env = TestEnv::new();
    let source = Registry::plain();
    let target = Registry::plain();
    // 3 images × 1 layer × ~21 MiB ≈ 64 MiB of layers.
    let specs: Vec<ImageSpec> = five_platforms()
        .into_iter()
        .take(3)
        .enumerate()
        .map(|(n, spec)| ImageSpec {
            layers: 1,
            layer_size: 22 << 20,
            seed: 77 + n as u64,
            ..spec
        })
        .collect();
    let sources = seed(&env, &source, &specs);
    env.run(&["create", "big"]);
    for (reference, _) in &sources {
        env.run(&["add", "--tls-verify=false", "big", reference]);
    }
    let mut cmd = crate::support::manifest_std_cmd(&env.store);
    cmd.args([
        "push",
        "--tls-verify=false",
        "big",
        &target.docker_ref("copy/app:v1"),
    ]);
    let (status, stderr, peak_rss_kib, elapsed) = run_measured(cmd, &env);
    assert!(status, "push failed: {stderr}");
    assert!(stderr.contains("6 blobs copied"), "{stderr}");
    verify_pushed_index(&target, "copy/app", "v1");
    eprintln!("cross-registry push of 64 MiB: {elapsed:?}, peak RSS {peak_rss_kib} KiB");
    assert!(
        peak_rss_kib < 50 * 1024,
        "peak RSS {peak_rss_kib} KiB is over 50 MB"
    );
    // A second push finds every image there and sends nothing but the index.
    env.cmd()
        .args([
            "push",
            "--tls-verify=false",
            "big",
            &target.docker_ref("copy/app:v1"),
        ])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("0 blobs copied")
                .and(predicate::str::contains("3 images already there")),
        );
}

/// Runs `cmd` through `bench/ptime.py` and returns (success, stderr, peak RSS KiB, wall time).
/// Measured by a small launcher process, not by this test binary: on Linux a child started
/// from a process inherits that process's peak RSS at exec, and this binary is big while
/// other tests run.
fn run_measured(
    cmd: std::process::Command,
    env: &TestEnv,
) -> (bool, String, i64, std::time::Duration) {
    let stderr_path = env.path("measured.stderr");
    let time_path = env.path("measured.time");
    let mut launcher = std::process::Command::new("python3");
    launcher
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/ptime.py"))
        .arg(&time_path)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => launcher.env(key, value),
            None => launcher.env_remove(key),
        };
    }
    launcher
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    let status = launcher
        .status()
        .expect("python3 runs bench/ptime.py: install it with `apt-get install -y python3`");
    let times = std::fs::read_to_string(&time_path).unwrap();
    let fields: Vec<&str> = times.split_whitespace().collect();
    let wall = std::time::Duration::from_secs_f64(fields[0].parse().unwrap());
    (
        status.success(),
        std::fs::read_to_string(stderr_path).unwrap(),
        fields[3].parse().unwrap(),
        wall,
    )
}

#[test]
fn add_all_platform_choice_and_v2s2_round_trip() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let layout = env.path("multi");
    let (_, images) = write_index_layout(&layout, &five_platforms(), "v1");
    push_layout_image(&layout, "v1", &registry, "multi/app", "v1");
    let src = registry.docker_ref("multi/app:v1");

    let id = env.run(&["create", "all"]);
    let printed = env.run(&["add", "--all", "--tls-verify=false", "all", &src]);
    assert_eq!(
        printed,
        format!("{}: {}\n", id.trim(), images[0].manifest_digest)
    );
    let (served, _, _) = get_manifest(&registry, "multi/app", "v1");
    assert_eq!(
        env.run(&["inspect", "--raw", "all"]).into_bytes(),
        served,
        "add --all keeps the index's entries"
    );

    env.run(&["create", "pick"]);
    let printed = env.run(&[
        "add",
        "--tls-verify=false",
        "--arch",
        "ppc64le",
        "pick",
        &src,
    ]);
    assert!(
        printed.ends_with(&format!("{}\n", images[3].manifest_digest)),
        "{printed}"
    );
    env.cmd()
        .args([
            "add",
            "--tls-verify=false",
            "--arch",
            "riscv64",
            "pick",
            &src,
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("linux/riscv64").and(predicate::str::contains("linux/s390x")),
        );

    // --format v2s2: list and children converted; blobs unchanged; then back to OCI.
    env.cmd()
        .args([
            "push",
            "--tls-verify=false",
            "--format",
            "v2s2",
            "all",
            &registry.docker_ref("v2/app:v1"),
        ])
        .assert()
        .success();
    let docker = verify_pushed_index(&registry, "v2/app", "v1");
    let text = String::from_utf8(docker.clone()).unwrap();
    assert!(text.contains("application/vnd.docker.distribution.manifest.list.v2+json"));
    assert!(text.contains("application/vnd.docker.distribution.manifest.v2+json"));
    assert!(!text.contains("application/vnd.oci.image.manifest.v1+json"));
    env.run(&[
        "create",
        "back",
        "--all",
        "--tls-verify=false",
        &registry.docker_ref("v2/app:v1"),
    ]);
    env.cmd()
        .args([
            "push",
            "--tls-verify=false",
            "--format",
            "oci",
            "back",
            &registry.docker_ref("oci/app:v1"),
        ])
        .assert()
        .success();
    let (round_trip, _, _) = get_manifest(&registry, "oci/app", "v1");
    assert_eq!(
        round_trip, served,
        "OCI → v2s2 → OCI gives the original index"
    );

    // An annotated list cannot become a Docker list.
    env.run(&[
        "annotate",
        "all",
        &images[0].manifest_digest,
        "--annotation",
        "a=b",
    ]);
    env.cmd()
        .args([
            "push",
            "--tls-verify=false",
            "--format",
            "v2s2",
            "all",
            &registry.docker_ref("v2/app:v2"),
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("annotation \"a\"").and(predicate::str::contains("v2s2")));
    assert_eq!(
        crate::support::push::manifest_status(&registry, "v2/app", "v2"),
        404
    );
}
