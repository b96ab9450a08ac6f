//! Several tags from one push: children and blobs copied once, every tag written last.

use crate::support::push::{resolved, seed_images};
use crate::support::registry::Registry;
use crate::support::{five_platforms, list_of, TestEnv};

#[test]
fn three_tags_from_one_push_copy_each_child_once_and_tag_last() {
    let env = TestEnv::new();
    let source = Registry::plain();
    let dest = Registry::plain();
    let seeded = seed_images(env.tmp.path(), &source, "src/app", &five_platforms()[..3]);
    let references: Vec<String> = seeded.iter().map(|(r, _)| r.clone()).collect();
    list_of(&env, &references);
    let digestfile = env.path("digest");
    env.cmd()
        .args(["push", "--tls-verify=false", "--tag", "v2", "-t"])
        .arg(dest.docker_ref("dst/app:v3"))
        .arg("--digestfile")
        .arg(&digestfile)
        .args(["l", &dest.docker_ref("dst/app:v1")])
        .assert()
        .success()
        .stdout("");
    let pushed = std::fs::read_to_string(&digestfile).unwrap();
    for tag in ["v1", "v2", "v3"] {
        assert_eq!(resolved(&dest, "dst/app", tag), pushed, "{tag}");
    }

    let log = dest.access_log();
    let puts = |path: &str| {
        log.iter()
            .enumerate()
            .filter(|(_, e)| e.method == "PUT" && e.uri.starts_with(path))
            .map(|(at, _)| at)
            .collect::<Vec<_>>()
    };
    let mut last_child = 0;
    for (_, digest) in &seeded {
        let writes = puts(&format!("/v2/dst/app/manifests/{digest}"));
        assert_eq!(writes.len(), 1, "child {digest} written once: {log:?}");
        last_child = last_child.max(writes[0]);
    }
    let uploads = log
        .iter()
        .filter(|e| e.method == "PUT" && e.uri.contains("/blobs/uploads/"))
        .count();
    assert_eq!(
        uploads, 6,
        "three configs and three layers, each once: {log:?}"
    );
    for tag in ["v1", "v2", "v3"] {
        let writes = puts(&format!("/v2/dst/app/manifests/{tag}"));
        assert_eq!(writes.len(), 1, "{tag}: {log:?}");
        assert!(
            writes[0] > last_child,
            "{tag} written before a child: {log:?}"
        );
    }
}

#[test]
fn tags_to_a_layout_and_tags_elsewhere() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let seeded = seed_images(env.tmp.path(), &registry, "src/app", &five_platforms()[..1]);
    list_of(&env, &[seeded[0].0.clone()]);
    let out = env.path("out");
    let layout = format!("oci:{}", out.display());
    env.run(&[
        "push",
        "-q",
        "--tls-verify=false",
        "--tag",
        "v2",
        "--tag",
        &format!("{layout}:latest"),
        "l",
        &format!("{layout}:v1"),
    ]);
    let index = crate::support::image::read_index_json(&out);
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(names, ["v1", "v2", "latest"]);

    for (tag, says) in [
        (
            registry.docker_ref("other/app:v2"),
            "not in the destination's repository",
        ),
        ("bad tag!".to_string(), "invalid tag"),
    ] {
        let out = env
            .cmd()
            .args([
                "push",
                "--tls-verify=false",
                "--tag",
                &tag,
                "l",
                &registry.docker_ref("dst/app:v1"),
            ])
            .assert()
            .failure()
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{tag}: {stderr}");
    }
    assert!(
        crate::support::push::list_tags(&registry, "dst/app").is_empty(),
        "a refused --tag pushes nothing"
    );
}
