//! `push --dry-run` writes nothing and decides what the real push then does; `--metadata-file`
//! matches the schema the repository ships.

use crate::support::documents::{assert_valid_metadata, read_json};
use crate::support::image::write_image_layout;
use crate::support::push::{list_tags, push_layout_image, resolved, seed_images};
use crate::support::registry::{writes, Registry};
use crate::support::{five_platforms, list_of, TestEnv};

#[test]
fn a_dry_run_writes_nothing_and_decides_what_the_push_does() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let specs = five_platforms();
    // Two images in another repository of the registry (mounted), one of them already at the
    // destination (skipped), and one from a layout (copied).
    let seeded = seed_images(env.tmp.path(), &registry, "src/app", &specs[..2]);
    let first = env.path("layout-0-1000");
    push_layout_image(&first, "latest", &registry, "dst/app", "old");
    let layout = env.path("from-layout");
    write_image_layout(&layout, &specs[2], "v1");
    let mut references: Vec<String> = seeded.iter().map(|(r, _)| r.clone()).collect();
    references.push(format!("oci:{}:v1", layout.display()));
    list_of(&env, &references);

    let destination = registry.docker_ref("dst/app:v1");
    let planned = env.path("plan.json");
    let before = registry.access_log().len();
    let out = env
        .cmd()
        .args([
            "push",
            "--dry-run",
            "--tls-verify=false",
            "--tag",
            "v2",
            "--metadata-file",
        ])
        .arg(&planned)
        .args(["l", &destination])
        .assert()
        .success()
        .get_output()
        .clone();
    let plan = String::from_utf8(out.stdout).unwrap();
    let log = registry.access_log();
    assert!(
        writes(&log[before..]).is_empty(),
        "the dry run wrote: {:?}",
        writes(&log[before..])
    );
    assert_eq!(
        list_tags(&registry, "dst/app"),
        ["old"],
        "no tag was written"
    );
    assert!(
        plan.contains(&format!(
            "image {} linux/amd64: skip (already there)",
            seeded[0].1
        )),
        "{plan}"
    );
    assert!(
        plan.contains(&format!("image {} linux/arm64/v8: copy", seeded[1].1)),
        "{plan}"
    );
    assert!(plan.contains(": mount from src/app"), "{plan}");
    assert!(
        plan.lines()
            .any(|l| l.contains(": copy ") && l.ends_with(" bytes")),
        "a layout blob is copied, with its size: {plan}"
    );
    assert!(plan.contains(&format!("  {destination}\n")), "{plan}");
    assert!(plan.contains(&registry.docker_ref("dst/app:v2")), "{plan}");
    assert!(
        plan.contains("\"manifests\": ["),
        "the index is printed: {plan}"
    );

    let pushed = env.path("pushed.json");
    env.cmd()
        .args([
            "push",
            "-q",
            "--tls-verify=false",
            "--tag",
            "v2",
            "--metadata-file",
        ])
        .arg(&pushed)
        .args(["l", &destination])
        .assert()
        .success();
    let (planned, pushed) = (read_json(&planned), read_json(&pushed));
    assert_valid_metadata(&planned);
    assert_valid_metadata(&pushed);
    assert_eq!(planned["dryRun"], true);
    assert_eq!(pushed["dryRun"], false);
    for key in [
        "manifests",
        "blobs",
        "referrers",
        "digest",
        "tags",
        "references",
        "bytes",
    ] {
        assert_eq!(
            planned[key], pushed[key],
            "{key} differs between the dry run and the push"
        );
    }
    let actions: Vec<&str> = pushed["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["skip", "copy", "copy"]);
    assert_eq!(pushed["manifests"][0]["platform"], "linux/amd64");
    assert_eq!(pushed["tags"], serde_json::json!(["v1", "v2"]));
    assert!(
        pushed["bytes"]["mounted"].as_u64().unwrap() > 0,
        "{pushed:#}"
    );
    assert!(
        pushed["bytes"]["copied"].as_u64().unwrap() > 0,
        "{pushed:#}"
    );
    assert_eq!(
        resolved(&registry, "dst/app", "v2"),
        pushed["digest"].as_str().unwrap()
    );

    // Now everything is there: a second dry run says so.
    let again = env.run(&["push", "--dry-run", "--tls-verify=false", "l", &destination]);
    assert_eq!(again.matches("skip (already there)").count(), 3, "{again}");
}

#[test]
fn a_dry_run_to_a_new_layout_creates_nothing() {
    let env = TestEnv::new();
    let source = env.path("src");
    write_image_layout(&source, &five_platforms()[0], "v1");
    list_of(&env, &[format!("oci:{}:v1", source.display())]);
    let out = env.path("out");
    let archive = env.path("out.tar");
    for destination in [
        format!("oci:{}:v1", out.display()),
        format!("oci-archive:{}:v1", archive.display()),
    ] {
        let plan = env.run(&["push", "--dry-run", "l", &destination]);
        assert!(plan.contains("copy"), "{plan}");
    }
    assert!(
        !out.exists() && !archive.exists(),
        "a dry run created the destination"
    );
    // What a push would refuse, a dry run refuses too.
    let taken = env.path("taken");
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("notes.txt"), "mine").unwrap();
    env.cmd()
        .args([
            "push",
            "--dry-run",
            "l",
            &format!("oci:{}", taken.display()),
        ])
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "is not empty and is not an OCI image layout",
        ));
}
