//! `manifest verify` against real layouts and the real registry: executables of another
//! machine found by `--deep` (whiteouts honoured), missing and resized blobs, configs that
//! disagree with their entries, required referrers, and the JSON document against its schema.

use crate::support::documents::schema_errors;
use crate::support::image::{
    find_ref, write_files_image, write_index_layout, BuiltImage, LayerFile,
};
use crate::support::push::{delete_blob, push_signature, seed_images, SIGNATURE_ARTIFACT_TYPE};
use crate::support::registry::{free_port, Registry};
use crate::support::{five_platforms, list_of, TestEnv};
use serde_json::Value;

/// This machine's architecture and another one, in OCI names.
fn host_and_other() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "arm64"),
        "aarch64" => ("arm64", "amd64"),
        other => panic!("no test platform pair for {other}"),
    }
}

/// Runs `verify` with `args`: (exit code, stdout, stderr).
fn verify(env: &TestEnv, args: &[&str]) -> (i32, String, String) {
    let output = env.cmd().arg("verify").args(args).output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// Checks a `verify --format json` document against schemas/verify.json.
fn assert_valid(document: &Value) {
    let errors = schema_errors("verify.json", document);
    assert!(errors.is_empty(), "{errors:?}\n{document:#}");
}

fn image_with(
    env: &TestEnv,
    name: &str,
    platform: &str,
    layers: &[&[LayerFile<'_>]],
) -> (String, BuiltImage) {
    let dir = env.path(name);
    let built = write_files_image(&dir, platform, layers, "v1");
    (format!("oci:{}:v1", dir.display()), built)
}

#[test]
fn deep_finds_a_binary_of_another_machine_and_honours_whiteouts() {
    let env = TestEnv::new();
    let (host, other) = host_and_other();
    let binary = std::fs::read("/bin/true").expect("/bin/true");
    let true_file: LayerFile = ("usr/bin/true", &binary);
    let motd: LayerFile = ("etc/motd", b"hello\n");

    // An image labelled for another machine holding this machine's /bin/true.
    let (wrong, built) = image_with(
        &env,
        "wrong",
        &format!("linux/{other}"),
        &[&[motd], &[true_file]],
    );
    let (code, out, _) = verify(&env, &["--deep", &wrong]);
    assert_eq!(code, 1, "{out}");
    let layer = &built.layer_digests[1];
    assert!(
        out.contains(&format!(
            "binary-platform-mismatch {} (linux/{other}): /usr/bin/true in layer {layer} is ELF 64-bit",
            built.manifest_digest
        )),
        "{out}"
    );
    assert!(out.contains("2 layers"), "{out}");
    // Without --deep nothing reads the layers.
    let (code, out, _) = verify(&env, &[&wrong]);
    assert_eq!(code, 0, "{out}");

    // The same file in an image of this machine's platform is right.
    let (right, _) = image_with(
        &env,
        "right",
        &format!("linux/{host}"),
        &[&[motd, true_file]],
    );
    let (code, out, _) = verify(&env, &["--deep", &right]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(": ok (1 images, 2 blobs, 1 layers"), "{out}");
    assert!(out.contains("1 executables"), "{out}");

    // A later layer deletes it (whiteout), hides its directory (opaque), or replaces it.
    let script: LayerFile = ("usr/bin/true", b"#!/bin/sh\nexit 0\n");
    for (name, upper) in [
        ("whiteout", ("usr/bin/.wh.true", &b""[..])),
        ("opaque", ("usr/bin/.wh..wh..opq", &b""[..])),
        ("replaced", script),
    ] {
        let (reference, _) = image_with(
            &env,
            name,
            &format!("linux/{other}"),
            &[&[true_file], &[upper]],
        );
        let (code, out, _) = verify(&env, &["--deep", &reference]);
        assert_eq!(code, 0, "{name}: {out}");
    }
    // A whiteout of another file deletes nothing of it.
    let (reference, _) = image_with(
        &env,
        "other-whiteout",
        &format!("linux/{other}"),
        &[&[true_file], &[("usr/bin/.wh.false", b"")]],
    );
    let (code, out, _) = verify(&env, &["--deep", &reference]);
    assert_eq!(code, 1, "{out}");

    // Published: the same finding from the registry, as a JSON document.
    let registry = Registry::plain();
    env.run(&["create", "l"]);
    env.run(&["add", "l", &wrong]);
    env.run(&["add", "l", &right]);
    let destination = registry.docker_ref("deep/app:v1");
    env.run(&["push", "-q", "--tls-verify=false", "l", &destination]);
    let (code, out, _) = verify(
        &env,
        &[
            "--deep",
            "--tls-verify=false",
            "--format",
            "json",
            &destination,
        ],
    );
    assert_eq!(code, 1, "{out}");
    let document: Value = serde_json::from_str(&out).unwrap();
    assert_valid(&document);
    assert_eq!(document["ok"], false);
    assert_eq!(document["checked"]["layers"], 3);
    let problems = document["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{document:#}");
    assert_eq!(problems[0]["kind"], "binary-platform-mismatch");
    assert_eq!(problems[0]["path"], "/usr/bin/true");
    assert_eq!(problems[0]["blob"], layer.as_str());
    assert_eq!(problems[0]["digest"], built.manifest_digest.as_str());
    assert!(problems[0]["machine"]
        .as_str()
        .unwrap()
        .starts_with("ELF 64-bit"));
}

#[test]
fn missing_and_resized_blobs_in_a_layout_and_in_the_registry() {
    let env = TestEnv::new();
    let layout = env.path("index");
    let (_, images) = write_index_layout(&layout, &five_platforms()[..2], "v1");
    let source = format!("oci:{}:v1", layout.display());
    let (code, out, _) = verify(&env, &[&source]);
    assert_eq!(code, 0, "{out}");

    let gone = &images[1].layer_digests[0];
    let path = crate::support::image::blob_path(&layout, gone);
    let kept = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let (code, out, _) = verify(&env, &["--format", "json", &source]);
    assert_eq!(code, 1, "{out}");
    let document: Value = serde_json::from_str(&out).unwrap();
    assert_valid(&document);
    assert_eq!(document["problems"][0]["kind"], "missing-blob");
    assert_eq!(document["problems"][0]["blob"], gone.as_str());
    assert_eq!(
        document["problems"][0]["digest"],
        images[1].manifest_digest.as_str()
    );
    assert_eq!(document["problems"][0]["platform"], "linux/arm64/v8");
    std::fs::write(&path, &kept[..100]).unwrap();
    let (code, out, _) = verify(&env, &[&source]);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!("size-mismatch {}", images[1].manifest_digest)),
        "{out}"
    );
    std::fs::write(&path, &kept).unwrap();

    // In the registry: a blob a cleanup job deleted, found with HEAD requests only.
    let registry = Registry::plain();
    let destination = registry.docker_ref("gc/app:v1");
    env.run(&["create", "l"]);
    env.run(&["add", "--all", "l", &source]);
    env.run(&["push", "-q", "--tls-verify=false", "l", &destination]);
    let (code, out, _) = verify(&env, &["--tls-verify=false", &destination]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(delete_blob(&registry, "gc/app", gone), 202);
    let before = registry.access_log().len();
    let (code, out, _) = verify(&env, &["--tls-verify=false", &destination]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "missing-blob {} (linux/arm64/v8): blob {gone}",
            images[1].manifest_digest
        )),
        "{out}"
    );
    let log = registry.access_log();
    let layer_reads: Vec<_> = log[before..]
        .iter()
        .filter(|e| e.uri.contains("/blobs/") && e.method == "GET")
        .filter(|e| {
            images
                .iter()
                .any(|i| i.layer_digests.iter().any(|l| e.uri.ends_with(l.as_str())))
        })
        .collect();
    assert!(layer_reads.is_empty(), "layers were read: {layer_reads:?}");
}

#[test]
fn a_config_that_disagrees_with_its_entry() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let seeded = seed_images(env.tmp.path(), &registry, "src/app", &five_platforms()[..2]);
    let references: Vec<String> = seeded.iter().map(|(r, _)| r.clone()).collect();
    list_of(&env, &references);
    env.run(&["annotate", "--arch", "s390x", "l", &seeded[0].1]);
    let (code, out, _) = verify(&env, &["l"]);
    assert_eq!(code, 1, "{out}");
    let destination = registry.docker_ref("dst/app:v1");
    env.run(&["push", "-q", "--tls-verify=false", "l", &destination]);
    let (code, out, _) = verify(&env, &["--tls-verify=false", &destination]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "platform-mismatch {} (linux/s390x): the entry says linux/s390x, its config says linux/amd64",
            seeded[0].1
        )),
        "{out}"
    );
    assert!(
        out.ends_with("1 problem (2 images, 4 blobs checked)\n"),
        "{out}"
    );
}

#[test]
fn required_referrers_and_platforms_of_a_published_index() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let seeded = seed_images(env.tmp.path(), &registry, "app", &five_platforms()[..2]);
    let references: Vec<String> = seeded.iter().map(|(r, _)| r.clone()).collect();
    list_of(&env, &references);
    let index = registry.docker_ref("app:v1");
    env.run(&["push", "-q", "--tls-verify=false", "l", &index]);
    let sign = |n: usize| {
        let (child, _, _) = crate::support::push::get_manifest(&registry, "app", &seeded[n].1);
        push_signature(
            &registry,
            "app",
            (
                &seeded[n].1,
                child.len() as u64,
                crate::support::image::OCI_MANIFEST,
            ),
            b"{}",
        )
    };
    sign(0);
    let args = [
        "--tls-verify=false",
        "--require-referrer",
        SIGNATURE_ARTIFACT_TYPE,
        "--require-platform",
        "linux/amd64,linux/arm64",
        &index,
    ];
    let (code, out, _) = verify(&env, &args);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "missing-referrer {} (linux/arm64/v8): no referrer of type {SIGNATURE_ARTIFACT_TYPE}",
            seeded[1].1
        )),
        "{out}"
    );
    assert_eq!(out.matches("missing-referrer").count(), 1, "{out}");
    sign(1);
    let (code, out, _) = verify(&env, &args);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = verify(
        &env,
        &[
            "--tls-verify=false",
            "--require-platform",
            "linux/s390x",
            &index,
        ],
    );
    assert_eq!(code, 1);
    assert!(out.starts_with("missing-platform (linux/s390x): "), "{out}");
}

#[test]
fn a_check_that_cannot_finish_is_an_error_never_ok() {
    let env = TestEnv::new();
    let nothing = format!("docker://127.0.0.1:{}/app:v1", free_port());
    let (code, out, err) = verify(
        &env,
        &[
            "--tls-verify=false",
            "--format",
            "json",
            "--retry",
            "0",
            &nothing,
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(err.starts_with("Error: "), "{err}");
    let document: Value = serde_json::from_str(&out).unwrap();
    assert_valid(&document);
    assert_eq!(document["ok"], false);
    assert!(
        document["error"].as_str().unwrap().contains("127.0.0.1"),
        "{document:#}"
    );
    // And a layout entry that is not there is a problem, not an error.
    let dir = env.path("empty");
    write_index_layout(&dir, &five_platforms()[..1], "v1");
    assert!(find_ref(&dir, "v1").is_some());
    let (code, out, _) = verify(&env, &[&format!("oci:{}:v2", dir.display())]);
    assert_eq!(code, 1);
    assert!(out.starts_with("missing-manifest: "), "{out}");
}

/// A blob's size in a registry comes from `HEAD`; a `HEAD` that states another size is asked
/// again with a one-byte ranged `GET`, whose `Content-Range` is believed: Harbor's `HEAD` can
/// state another length than the blob's, which is no problem, while a stored blob of another
/// size is `size-mismatch`.
#[test]
fn a_blob_of_another_size_in_the_registry_is_found_without_reading_it() {
    use crate::support::faults::{Fault, FaultProxy, Rule};
    let env = TestEnv::new();
    let registry = Registry::plain();
    let layout = env.path("index");
    let (_, images) = write_index_layout(&layout, &five_platforms()[..1], "v1");
    env.run(&["create", "l"]);
    env.run(&["add", "--all", "l", &format!("oci:{}:v1", layout.display())]);
    env.run(&[
        "push",
        "-q",
        "--tls-verify=false",
        "l",
        &registry.docker_ref("sz/app:v1"),
    ]);
    let layer = &images[0].layer_digests[0];
    let real = std::fs::metadata(crate::support::image::blob_path(&layout, layer))
        .unwrap()
        .len();
    let head_says = |size: u64| {
        Rule::new(
            "HEAD",
            format!("/blobs/{layer}"),
            Fault::Reply {
                status: 200,
                headers: vec![("Content-Length".into(), size.to_string())],
                body: String::new(),
            },
        )
    };
    let range_says = |total: u64| {
        Rule::new(
            "GET",
            format!("/blobs/{layer}"),
            Fault::Reply {
                status: 206,
                headers: vec![("Content-Range".into(), format!("bytes 0-0/{total}"))],
                body: "x".into(),
            },
        )
    };

    // Harbor: the HEAD states another length, the blob has the right one.
    let harbor = FaultProxy::start(&registry);
    harbor.add(head_says(real + 7));
    harbor.add(range_says(real));
    let (code, out, _) = verify(
        &env,
        &["--tls-verify=false", &harbor.docker_ref("sz/app:v1")],
    );
    assert_eq!(code, 0, "{out}");
    let asked: Vec<_> = harbor
        .seen()
        .into_iter()
        .filter(|s| s.path.contains(&format!("/blobs/{layer}")))
        .map(|s| s.method)
        .collect();
    assert_eq!(
        asked,
        ["HEAD", "GET"],
        "the length was asked again with a ranged GET"
    );

    // A stored blob of another size.
    let resized = FaultProxy::start(&registry);
    resized.add(head_says(real + 7));
    resized.add(range_says(real + 7));
    let (code, out, _) = verify(
        &env,
        &["--tls-verify=false", &resized.docker_ref("sz/app:v1")],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("size-mismatch {}", images[0].manifest_digest)),
        "{out}"
    );
}
