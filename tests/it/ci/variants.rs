//! `push --add-compression`: zstd variants of registry images (gzip layers decompressed and
//! recompressed on the way), planned in `--dry-run` and the metadata file, and pulled by the
//! real podman.
//!
//! The installed podman (Debian's 4.3.1, containers/image 5.23) picks the first entry of a
//! platform and has no preference for zstd (containers/image added one in 5.25), so the podman
//! that pulls by platform gets the gzip image, and the zstd variant is pulled by its digest into
//! a podman store of its own: it must give the same files.

use crate::support::buildah::Podman;
use crate::support::documents::{assert_valid_metadata, read_json};
use crate::support::push::{manifest_status, seed_images};
use crate::support::registry::Registry;
use crate::support::{five_platforms, TestEnv};
use serde_json::Value;

const ZSTD: &str = "io.github.containers.compression.zstd";

#[test]
fn zstd_variants_are_planned_pushed_and_pulled_by_podman() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let seeded = seed_images(env.tmp.path(), &registry, "src/app", &five_platforms()[..2]);
    env.run(&["create", "l"]);
    for (reference, _) in &seeded {
        env.run(&["add", "--tls-verify=false", "l", reference]);
    }
    let notes = env.path("notes.txt");
    std::fs::write(&notes, "not an image\n").unwrap();
    env.run(&["add", "--artifact", "l", notes.to_str().unwrap()]);
    let destination = registry.docker_ref("dst/app:v1");

    // The plan: a zstd variant of each image, none of the artifact; nothing is written.
    let metadata = env.path("plan.json");
    let plan = env.run(&[
        "push",
        "--dry-run",
        "--tls-verify=false",
        "--add-compression",
        "zstd",
        "--metadata-file",
        metadata.to_str().unwrap(),
        "l",
        &destination,
    ]);
    assert!(plan.contains("zstd variant of"), "{plan}");
    let document = read_json(&metadata);
    assert_valid_metadata(&document);
    let variants = document["variants"].as_array().unwrap();
    let actions: Vec<(&str, &str)> = variants
        .iter()
        .map(|v| (v["of"].as_str().unwrap(), v["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions[..2],
        [(&*seeded[0].1, "add"), (&*seeded[1].1, "add")]
    );
    assert_eq!(actions[2].1, "skip");
    assert_eq!(variants[2]["reason"], "an artifact, not an image");
    assert_eq!(manifest_status(&registry, "dst/app", "v1"), 404);

    env.run(&[
        "push",
        "--tls-verify=false",
        "--add-compression",
        "zstd",
        "l",
        &destination,
    ]);
    let pushed: Value =
        serde_json::from_str(&env.run(&["inspect", "--tls-verify=false", &destination])).unwrap();
    let entries = pushed["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 5, "{pushed:#}");
    assert_eq!(entries[0]["digest"], seeded[0].1.as_str());
    assert_eq!(entries[1]["digest"], seeded[1].1.as_str());
    assert_eq!(
        entries[2]["artifactType"],
        "application/vnd.unknown.artifact.v1"
    );
    for (n, original) in [(3, &entries[0]), (4, &entries[1])] {
        let variant = &entries[n];
        assert_eq!(variant["annotations"][ZSTD], "true", "{pushed:#}");
        assert_eq!(variant["platform"], original["platform"]);
        assert_eq!(
            original.get("annotations"),
            None,
            "gzip images stay unmarked"
        );
        let manifest: Value = serde_json::from_str(&env.run(&[
            "inspect",
            "--tls-verify=false",
            &format!(
                "docker://{}@{}",
                registry.image("dst/app"),
                variant["digest"].as_str().unwrap()
            ),
        ]))
        .unwrap();
        let original_manifest: Value = serde_json::from_str(&env.run(&[
            "inspect",
            "--tls-verify=false",
            &format!(
                "docker://{}@{}",
                registry.image("dst/app"),
                original["digest"].as_str().unwrap()
            ),
        ]))
        .unwrap();
        assert_eq!(
            manifest["config"], original_manifest["config"],
            "same config, same diff_ids"
        );
        for layer in manifest["layers"].as_array().unwrap() {
            assert_eq!(
                layer["mediaType"],
                "application/vnd.oci.image.layer.v1.tar+zstd"
            );
        }
    }

    // A podman without a zstd preference gets the gzip image of its platform.
    let by_platform = Podman::new(&env.path("podman-platform"));
    by_platform.run(&[
        "pull",
        "-q",
        "--tls-verify=false",
        "--platform",
        "linux/amd64",
        &registry.image("dst/app:v1"),
    ]);
    let digests = by_platform.run(&[
        "image",
        "inspect",
        "--format",
        "{{.RepoDigests}}",
        &registry.image("dst/app:v1"),
    ]);
    let gzip_amd64 = seeded[0].1.as_str();
    let zstd_amd64 = entries[3]["digest"].as_str().unwrap();
    assert!(
        digests.contains(gzip_amd64) && !digests.contains(zstd_amd64),
        "{digests}"
    );
    // The zstd variant, pulled by digest into a store of its own, holds the same files.
    let zstd = Podman::new(&env.path("podman-zstd"));
    let zstd_ref = format!("{}@{zstd_amd64}", registry.image("dst/app"));
    zstd.run(&["pull", "-q", "--tls-verify=false", &zstd_ref]);
    let files = zstd.files(&zstd_ref);
    assert!(!files.is_empty());
    assert_eq!(files, by_platform.files(&registry.image("dst/app:v1")));

    // gzip is there already for every platform: no variant, each decision says why.
    let metadata = env.path("again.json");
    env.run(&[
        "push",
        "--tls-verify=false",
        "--add-compression",
        "gzip",
        "--metadata-file",
        metadata.to_str().unwrap(),
        "l",
        &registry.docker_ref("dst/app:v2"),
    ]);
    let document = read_json(&metadata);
    assert_valid_metadata(&document);
    for decision in document["variants"].as_array().unwrap() {
        assert_eq!(decision["action"], "skip", "{decision}");
    }
    assert!(document["variants"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("already has a gzip image for linux/amd64"));
    // Refused where a variant cannot be told apart or pushed.
    let error = env.fails(&[
        "push",
        "--tls-verify=false",
        "--add-compression",
        "zstd",
        "--format",
        "v2s2",
        "--allow-lossy",
        "l",
        &destination,
    ]);
    assert!(
        error.contains("--add-compression needs an OCI index"),
        "{error}"
    );
    env.fails(&[
        "push",
        "--add-compression",
        "zstd",
        "--all=false",
        "l",
        &destination,
    ]);
}
