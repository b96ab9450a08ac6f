//! Publishing a multi-arch tag that is complete and right: `--require-platform` refused before
//! any write, `--sort` giving one digest for one set of images, `push --verify`, and the index
//! of one image (and its attestation) a per-arch CI job pushes, taken without `--all`.

use crate::support::image::{write_attested_index_layout, write_image_layout, ImageSpec};
use crate::support::push::{delete_blob, list_tags, push_layout_image, resolved, seed_images};
use crate::support::registry::{writes, Registry};
use crate::support::{five_platforms, list_of, TestEnv};

#[test]
fn a_missing_or_doubled_platform_is_refused_before_any_write() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let specs = [
        five_platforms()[0].clone(),
        ImageSpec::new("linux/amd64", 1, 4096, 2000),
    ];
    let seeded = seed_images(env.tmp.path(), &registry, "src/app", &specs);
    // Both are tagged `amd64`: name them by digest.
    let by_digest = |n: usize| format!("{}@{}", registry.image("src/app"), seeded[n].1);
    list_of(&env, &[by_digest(0)]);
    let destination = registry.docker_ref("dst/app:v1");
    let before = registry.access_log().len();
    for dry_run in [true, false] {
        let mut args = vec![
            "push",
            "--tls-verify=false",
            "--require-platform",
            "linux/amd64,linux/arm64",
        ];
        if dry_run {
            args.push("--dry-run");
        }
        args.extend(["l", &destination]);
        let stderr = env.fails(&args);
        assert!(
            stderr.contains("--require-platform: linux/arm64 is missing; nothing was pushed"),
            "{stderr}"
        );
    }
    let log = registry.access_log();
    assert!(
        log[before..].is_empty(),
        "a refused push sent requests: {:?}",
        &log[before..]
    );
    let spec = env.path("release.yaml");
    std::fs::write(
        &spec,
        format!(
            "image: {}\nmanifests:\n  - image: {}\n",
            &destination[9..],
            by_digest(0)
        ),
    )
    .unwrap();
    let stderr = env.fails(&[
        "apply",
        "--tls-verify=false",
        "--require-platform",
        "linux/arm64",
        spec.to_str().unwrap(),
    ]);
    assert!(stderr.contains("linux/arm64 is missing"), "{stderr}");
    // apply read its images (read-only) and wrote nothing.
    let log = registry.access_log();
    assert!(
        writes(&log[before..]).is_empty(),
        "{:?}",
        writes(&log[before..])
    );
    assert!(list_tags(&registry, "dst/app").is_empty());

    // Two images of one platform are named, with their digests.
    env.run(&["add", "--tls-verify=false", "l", &by_digest(1)]);
    let stderr = env.fails(&[
        "push",
        "--tls-verify=false",
        "--require-platform",
        "linux/amd64",
        "l",
        &destination,
    ]);
    assert!(
        stderr.contains(&format!(
            "linux/amd64 has 2 images ({}, {})",
            seeded[0].1, seeded[1].1
        )),
        "{stderr}"
    );

    // Attestations are not platforms: an image and its attestation pass, and the plan says so.
    let layout = env.path("buildx");
    write_attested_index_layout(&layout, &five_platforms()[..1], "v1");
    env.run(&["create", "attested"]);
    env.run(&[
        "add",
        "--all",
        "attested",
        &format!("oci:{}:v1", layout.display()),
    ]);
    let plan = env.run(&[
        "push",
        "--dry-run",
        "--tls-verify=false",
        "--require-platform",
        "linux/amd64",
        "attested",
        &destination,
    ]);
    assert!(
        plan.contains("note: --require-platform linux/amd64: one image each"),
        "{plan}"
    );
    env.run(&[
        "push",
        "-q",
        "--tls-verify=false",
        "--require-platform",
        "linux/amd64",
        "--verify",
        "attested",
        &destination,
    ]);
    assert_eq!(list_tags(&registry, "dst/app"), ["v1"]);
}

#[test]
fn opposite_orders_give_one_digest_with_sort() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let dir = env.path("images");
    let specs = five_platforms();
    let references: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(n, spec)| {
            write_image_layout(&dir, spec, &format!("i{n}"));
            format!("oci:{}:i{n}", dir.display())
        })
        .collect();
    for (list, order) in [("forward", [0, 1, 2, 3, 4]), ("backward", [4, 2, 3, 1, 0])] {
        env.run(&["create", list]);
        for n in order {
            env.run(&["add", list, &references[n]]);
        }
        for sort in [true, false] {
            let tag = format!("app:{list}-{sort}");
            env.run(&[
                "push",
                "-q",
                "--tls-verify=false",
                &format!("--sort={sort}"),
                list,
                &registry.docker_ref(&tag),
            ]);
        }
    }
    let digest = |tag: &str| resolved(&registry, "app", tag);
    assert_eq!(digest("forward-true"), digest("backward-true"));
    assert_ne!(digest("forward-false"), digest("backward-false"));
    // Platform order is not the order of five_platforms (arm/v7 sorts before arm64).
    assert_ne!(digest("forward-true"), digest("forward-false"));

    // `sort: true` in an apply file gives the same index.
    let spec = env.path("release.yaml");
    let manifests: String = [3, 0, 4, 1, 2]
        .iter()
        .map(|n| format!("  - image: {}\n", references[*n]))
        .collect();
    std::fs::write(
        &spec,
        format!(
            "image: {}\nsort: true\nmanifests:\n{manifests}",
            registry.docker_ref("app:applied")
        ),
    )
    .unwrap();
    env.run(&["apply", "-q", "--tls-verify=false", spec.to_str().unwrap()]);
    assert_eq!(digest("applied"), digest("forward-true"));
}

#[test]
fn push_verify_fails_when_the_destination_lacks_a_blob() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let dir = env.path("images");
    let built = write_image_layout(&dir, &five_platforms()[1], "arm64");
    env.run(&["create", "l", &format!("oci:{}:arm64", dir.display())]);
    let v1 = registry.docker_ref("app:v1");
    env.run(&["push", "-q", "--tls-verify=false", "--verify", "l", &v1]);

    // A cleanup job deletes a layer; a push of the index alone still writes its tag.
    assert_eq!(delete_blob(&registry, "app", &built.layer_digests[0]), 202);
    let v2 = registry.docker_ref("app:v2");
    let stderr = env.fails(&[
        "push",
        "-q",
        "--tls-verify=false",
        "--all=false",
        "--verify",
        "l",
        &v2,
    ]);
    assert!(stderr.contains("(the tag has moved)"), "{stderr}");
    assert!(
        stderr.contains(&format!("missing-blob {}", built.manifest_digest))
            && stderr.contains(&built.layer_digests[0]),
        "{stderr}"
    );
    let mut tags = list_tags(&registry, "app");
    tags.sort();
    assert_eq!(tags, ["v1", "v2"]);
}

#[test]
fn an_index_of_one_image_and_its_attestation_is_added_without_all() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    // Another platform than this machine's, as a per-arch CI job on other hardware pushes it.
    let other = match std::env::consts::ARCH {
        "s390x" => "linux/ppc64le",
        _ => "linux/s390x",
    };
    let layout = env.path("buildx");
    let (index, images, attestations) =
        write_attested_index_layout(&layout, &[ImageSpec::new(other, 1, 4096, 77)], "v1");
    push_layout_image(&layout, "v1", &registry, "ci/app", "build-1");
    let by_digest = format!("{}@{index}", registry.image("ci/app"));
    env.run(&["create", "l"]);
    let out = env.run(&["add", "--tls-verify=false", "l", &by_digest]);
    assert!(
        out.trim_end().ends_with(&images[0].manifest_digest),
        "{out}"
    );
    let listed: serde_json::Value = serde_json::from_str(&env.run(&["inspect", "l"])).unwrap();
    let digests: Vec<&str> = listed["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        digests,
        [images[0].manifest_digest.as_str(), attestations[0].as_str()]
    );
    env.run(&["create", "created", &format!("oci:{}:v1", layout.display())]);
    assert_eq!(env.run(&["inspect", "created"]), env.run(&["inspect", "l"]));

    // An index of several platforms still needs --all or a platform.
    let several = env.path("several");
    write_attested_index_layout(
        &several,
        &[
            ImageSpec::new(other, 1, 4096, 78),
            ImageSpec::new("linux/mips64le", 1, 4096, 79),
        ],
        "v1",
    );
    let stderr = env.fails(&["add", "l", &format!("oci:{}:v1", several.display())]);
    assert!(stderr.contains("--all"), "{stderr}");
}
