//! `annotate` in-process: an entry by digest, prefix or image reference; the index itself and
//! its subject; refusals that leave the list as it was.

use super::run as annotate;
use crate::commands::testing::TestEnv;

/// A list `l` holding an amd64 and an arm image: its ID, the images' references and digests.
fn list_of_two(env: &TestEnv) -> (String, [(String, crate::model::digest::Digest); 2]) {
    let id = env.create_list("l");
    let amd64 = env.image("layout", "amd64", "linux/amd64");
    let arm = env.image("layout", "arm", "linux/arm");
    env.run(
        crate::commands::create::run,
        &["--amend", "l", &amd64.0, &arm.0],
    );
    (id, [amd64, arm])
}

#[test]
fn an_entry_named_by_digest_prefix_or_reference_is_edited() {
    let env = TestEnv::new();
    let (id, [(_, amd64), (arm_ref, arm)]) = list_of_two(&env);
    let out = env.run(annotate, &["--annotation", "a=1", "l", &amd64.hex()[..10]]);
    assert_eq!(out, format!("{id}: {amd64}\n"));
    let out = env.run(
        annotate,
        &["--variant", "v7", "--os-version", "1", "l", &arm_ref],
    );
    assert_eq!(out, format!("{id}: {arm}\n"));
    let out = env.run(annotate, &["--annotation", "b=2", &id[..8], arm.as_str()]);
    assert_eq!(out, format!("{id}: {arm}\n"));

    let entries = env.entries("l");
    assert_eq!(entries[0].2["a"], "1");
    assert_eq!(entries[1].1, "linux/arm/v7");
    assert_eq!(entries[1].2["b"], "2");
    let list = env.store().find("l").unwrap();
    let platform = list.list.index.manifests[1].platform.clone().unwrap();
    assert_eq!(platform.os_version.as_deref(), Some("1"));
}

#[test]
fn index_annotations_and_subject_go_on_the_index() {
    let env = TestEnv::new();
    let (id, [(_, _), (arm_ref, arm)]) = list_of_two(&env);
    let out = env.run(annotate, &["--index", "--annotation", "org.example=1", "l"]);
    assert_eq!(out, format!("{id}\n"));
    let out = env.run(annotate, &["--subject", &arm_ref, "l"]);
    assert_eq!(out, format!("{id}\n"));
    let list = env.store().find("l").unwrap();
    assert_eq!(list.list.index.annotations["org.example"], "1");
    assert_eq!(
        list.list.index.subject.as_ref().map(|s| &s.digest),
        Some(&arm)
    );
    assert!(list
        .list
        .index
        .manifests
        .iter()
        .all(|e| e.annotations.is_empty()));
}

#[test]
fn refusals_leave_the_list_as_it_was() {
    let env = TestEnv::new();
    let (_, [(amd64_ref, amd64), _]) = list_of_two(&env);
    let other = env.image("layout", "other", "linux/s390x");
    for (line, says) in [
        (
            &["--index", "--arch", "arm64", "l"][..],
            "platform flags need an entry digest",
        ),
        (
            &["--index", "l", amd64.as_str()],
            "--index takes no INSTANCE",
        ),
        (&["l"], "annotate needs the digest of an entry"),
        (&["l", "fffffff"], "fffffff: image not known"),
        (
            &["l", &amd64.hex()[..2]],
            "image not known (give an entry's digest",
        ),
        (&["l", "busybox"], "busybox: image not known"),
        (
            &["l", &other.0],
            "image not known (no entry of list localhost/l:latest",
        ),
        (&["nolist", &amd64_ref], "nolist: image not known"),
        (&["--annotation", "=x", "l", amd64.as_str()], "no key given"),
    ] {
        let error = env.fails(annotate, line);
        assert!(error.contains(says), "{line:?}: {error}");
    }
}

#[test]
fn the_one_image_of_a_platform_is_edited_without_its_digest() {
    let env = TestEnv::new();
    let (id, [(_, amd64), (_, arm)]) = list_of_two(&env);
    let out = env.run(
        annotate,
        &["--platform", "linux/arm", "--annotation", "k=v", "l"],
    );
    assert_eq!(out, format!("{id}: {arm}\n"));
    let entries = env.entries("l");
    assert_eq!(entries[1].2["k"], "v");
    assert!(entries[0].2.is_empty(), "{amd64} was edited too");

    let (_, armv6) = env.image("layout", "armv6", "linux/arm/v6");
    env.run(
        crate::commands::create::run,
        &[
            "--amend",
            "l",
            &format!("oci:{}:armv6", env.path("layout").display()),
        ],
    );
    let error = env.fails(
        annotate,
        &["--platform", "linux/arm", "--annotation", "k=w", "l"],
    );
    assert!(
        error.contains("matches several images")
            && error.contains(arm.as_str())
            && error.contains(armv6.as_str()),
        "{error}"
    );
    let error = env.fails(
        annotate,
        &["--platform", "linux/s390x", "--annotation", "k=w", "l"],
    );
    assert!(error.contains("it has: linux/amd64, linux/arm"), "{error}");
}

/// `--artifact-type` on an entry or (with `--index`) on the index; an artifact's file names its
/// entry, as in buildah's `manifest annotate LIST FILE`.
#[test]
fn artifact_types_and_files_name_what_is_annotated() {
    let env = TestEnv::new();
    env.create_list("l");
    let file = env.path("chart.tgz");
    std::fs::write(&file, b"\x1f\x8b\x08\0").unwrap();
    let file = file.to_str().unwrap();
    env.run(crate::commands::add::run, &["--artifact", "l", file]);
    env.run(
        annotate,
        &[
            "--annotation",
            "red=blue",
            "--artifact-type",
            "application/vnd.cncf.helm.chart",
            "l",
            file,
        ],
    );
    env.run(
        annotate,
        &[
            "--index",
            "--artifact-type",
            "application/vnd.example.bundle.v1",
            "l",
        ],
    );
    let list = env.store().find("l").unwrap();
    let entry = &list.list.index.manifests[0];
    assert_eq!(entry.annotations["red"], "blue");
    assert_eq!(
        entry.artifact_type.as_deref(),
        Some("application/vnd.cncf.helm.chart")
    );
    assert_eq!(
        list.list.index.artifact_type.as_deref(),
        Some("application/vnd.example.bundle.v1")
    );
    // An empty value removes it; a value that is no media type is refused.
    env.run(annotate, &["--index", "--artifact-type=", "l"]);
    assert_eq!(
        env.store().find("l").unwrap().list.index.artifact_type,
        None
    );
    let error = env.fails(annotate, &["--artifact-type", "helm", "l", file]);
    assert!(error.contains("not a media type"), "{error}");
}
