//! Platform filters on a 5-arch index with a buildx attestation per image: attestations follow
//! their image and are never a platform.

use crate::support::image::write_attested_index_layout;
use crate::support::push::get_manifest;
use crate::support::registry::Registry;
use crate::support::{five_platforms, TestEnv};
use serde_json::Value;

fn entries(document: &[u8]) -> Vec<Value> {
    let index: Value = serde_json::from_slice(document).unwrap();
    index["manifests"].as_array().unwrap().clone()
}

fn digests(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn add_push_and_remove_by_platform_keep_attestations_with_their_images() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let layout = env.path("buildx");
    let (_, images, attestations) = write_attested_index_layout(&layout, &five_platforms(), "v1");
    let source = format!("oci:{}:v1", layout.display());
    let image = |n: usize| images[n].manifest_digest.clone();

    // add --all --platform keeps two images and their two attestations.
    env.run(&["create", "picked"]);
    env.run(&[
        "add",
        "--all",
        "--platform",
        "linux/amd64,linux/arm64",
        "picked",
        &source,
    ]);
    let picked = entries(env.run(&["inspect", "picked"]).as_bytes());
    assert_eq!(
        digests(&picked),
        [
            image(0),
            image(1),
            attestations[0].clone(),
            attestations[1].clone()
        ]
    );

    // push --platform pushes a subset and leaves the list as it is.
    env.run(&["create", "all"]);
    env.run(&["add", "--all", "all", &source]);
    let before = env.run(&["inspect", "all"]);
    env.run(&[
        "push",
        "-q",
        "--tls-verify=false",
        "--platform",
        "linux/arm64/v8",
        "--platform",
        "linux/s390x",
        "all",
        &registry.docker_ref("app:subset"),
    ]);
    let (pushed, _, _) = get_manifest(&registry, "app", "subset");
    assert_eq!(
        digests(&entries(&pushed)),
        [
            image(1),
            image(4),
            attestations[1].clone(),
            attestations[4].clone()
        ]
    );
    assert_eq!(
        env.run(&["inspect", "all"]),
        before,
        "push --platform changed the list"
    );

    // remove --platform, and --arch/--variant, take the attestation along.
    let removed = env.run(&["remove", "--platform", "linux/arm/v7", "all"]);
    assert_eq!(removed.lines().count(), 2, "{removed}");
    assert!(
        removed.contains(&image(2)) && removed.contains(&attestations[2]),
        "{removed}"
    );
    let removed = env.run(&["remove", "--arch", "ppc64le", "all"]);
    assert!(
        removed.contains(&image(3)) && removed.contains(&attestations[3]),
        "{removed}"
    );
    let left = entries(env.run(&["inspect", "all"]).as_bytes());
    assert_eq!(
        digests(&left),
        [
            image(0),
            image(1),
            image(4),
            attestations[0].clone(),
            attestations[1].clone(),
            attestations[4].clone()
        ]
    );

    // The table names attestations by the image they describe.
    let table = env.run(&["inspect", "--format", "table", "all"]);
    assert!(table.starts_with("PLATFORM"), "{table}");
    assert!(
        table.contains(&format!("attestation of {}", image(0))),
        "{table}"
    );
    assert!(
        table.contains("vnd.docker.reference.type=attestation-manifest"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 7, "{table}");
}

#[test]
fn a_platform_nothing_has_is_an_error_that_lists_the_real_platforms() {
    let env = TestEnv::new();
    let layout = env.path("buildx");
    write_attested_index_layout(&layout, &five_platforms()[..2], "v1");
    let source = format!("oci:{}:v1", layout.display());
    env.run(&["create", "l"]);
    for (args, says) in [
        (
            vec!["add", "--all", "--platform", "linux/mips64", "l", &source],
            "linux/mips64",
        ),
        (
            vec!["add", "--platform", "unknown/unknown", "l", &source],
            "unknown/unknown",
        ),
        (vec!["add", "--platform", "linux", "l", &source], "OS/ARCH"),
    ] {
        let stderr = env.fails(&args);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        if !says.contains("OS/ARCH") {
            assert!(stderr.contains("linux/amd64, linux/arm64/v8)"), "{stderr}");
            assert_eq!(
                stderr.matches("unknown/unknown").count(),
                usize::from(says == "unknown/unknown"),
                "attestations are no platform: {stderr}"
            );
        }
    }
    env.run(&["add", "--all", "l", &source]);
    for args in [
        vec!["remove", "--platform", "linux/s390x", "l"],
        vec![
            "push",
            "--platform",
            "linux/s390x",
            "l",
            "oci:/nonexistent/out",
        ],
    ] {
        let stderr = env.fails(&args);
        assert!(
            stderr.contains("linux/s390x")
                && stderr.contains("it has: linux/amd64, linux/arm64/v8"),
            "{args:?}: {stderr}"
        );
    }
}
