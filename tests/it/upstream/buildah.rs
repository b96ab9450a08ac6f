//! buildah's own manifest tests (`tests/lists.bats` at v1.30.0, the buildah sealos vendors, and
//! at v1.44.0, the newest tag) that read registry images only, one test each, with the same
//! command lines and outcomes (the cases with local images are in `upstream::buildah_storage`).
//!
//! Where upstream differs from these, on purpose (docs/testing.md has the table):
//! - `registry.k8s.io/pause:3.1` is a five-platform index the harness pushes to a registry on
//!   127.0.0.1 (plain HTTP, so commands that read it carry `--tls-verify=false`);
//! - `dir:DIR` destinations are `oci:DIR` layouts (the one local destination this tool writes);
//! - errors exit 1, as sealos does (buildah exits 125).

use crate::support::image::{read_blob, read_index_json};
use crate::support::store_snapshot;
use crate::support::upstream::{createrandom, exit_1, Upstream};
use crate::support::TestEnv;

/// `oci:DIR` holds the pushed list and the manifest of every instance in `digests`.
fn assert_layout_holds(dir: &std::path::Path, digests: &[&str]) {
    let index = read_index_json(dir);
    let list = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let list = String::from_utf8(read_blob(dir, &list)).unwrap();
    for digest in digests {
        assert!(list.contains(digest), "{digest} not in the pushed list");
        read_blob(dir, digest);
    }
}

/// Mirrors `manifest-inspect-id`.
#[test]
fn manifest_inspect_id() {
    let env = TestEnv::new();
    let cid = env.run(&["create", "foo"]);
    env.run(&["inspect", cid.trim()]);
}

/// Mirrors `manifest-add`.
#[test]
fn manifest_add() {
    let f = Upstream::new();
    f.foo_from_image_list(&[]);
    assert_eq!(f.exists("foo"), 0);
    assert_eq!(f.exists("foo2"), 1);
    f.ok(&["rm", "foo"]);
}

/// Mirrors `manifest-add-one` (its `buildah inspect` lines are not manifest commands).
#[test]
fn manifest_add_one() {
    let f = Upstream::new();
    f.ok(&["create", "foo"]);
    f.ok(&[
        "add",
        "--arch=arm64",
        "--tls-verify=false",
        "foo",
        &f.image_list_instance(),
    ]);
    assert!(f.ok(&["inspect", "foo"]).contains(f.digest("arm64")));
}

/// Mirrors `manifest-add-all`.
#[test]
fn manifest_add_all() {
    let f = Upstream::new();
    f.foo_from_image_list(&["--all"]);
    let inspected = f.ok(&["inspect", "foo"]);
    for arch in ["amd64", "arm", "arm64", "ppc64le", "s390x"] {
        assert!(inspected.contains(f.digest(arch)), "{arch}");
    }
}

/// Mirrors `manifest-remove`.
#[test]
fn manifest_remove() {
    let f = Upstream::new();
    f.foo_from_image_list(&["--all"]);
    assert!(f.ok(&["inspect", "foo"]).contains(f.digest("arm64")));
    f.ok(&["remove", "foo", f.digest("arm64")]);
    let inspected = f.ok(&["inspect", "foo"]);
    for arch in ["amd64", "arm", "ppc64le", "s390x"] {
        assert!(inspected.contains(f.digest(arch)), "{arch}");
    }
    assert!(
        !inspected.contains(f.digest("arm64")),
        "arm64 instance digest found in manifest list"
    );
}

/// Mirrors `manifest-remove-not-found`.
#[test]
fn manifest_remove_not_found() {
    let f = Upstream::new();
    f.foo_from_image_list(&[]);
    f.fails(&[
        "remove",
        "foo",
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ]);
}

/// Mirrors `manifest-rm failures`.
#[test]
fn manifest_rm_failures() {
    let env = TestEnv::new();
    assert!(exit_1(env.cmd().args(["rm", "foo1"])).contains("foo1: image not known"));
}

/// Mirrors `manifest-push`: the pushed copy holds the instance for this machine's architecture.
#[test]
fn manifest_push() {
    let f = Upstream::new();
    f.foo_from_image_list(&["--all"]);
    let pushed = f.push_foo_to_layout(&[]);
    assert_layout_holds(&pushed, &[f.host_digest()]);
}

/// Mirrors `manifest-push with retry` (v1.44.0).
#[test]
fn manifest_push_with_retry() {
    let f = Upstream::new();
    f.foo_from_image_list(&["--all"]);
    let pushed = f.push_foo_to_layout(&["--retry", "4", "--retry-delay", "4s"]);
    assert_layout_holds(&pushed, &[f.host_digest()]);
}

/// Mirrors `manifest-push-all`: every instance is in the pushed copy.
#[test]
fn manifest_push_all() {
    let f = Upstream::new();
    f.foo_from_image_list(&["--all"]);
    let pushed = f.push_foo_to_layout(&["--all"]);
    assert_layout_holds(&pushed, &f.all_digests());
}

/// Mirrors `manifest-push-all-default-true` (v1.44.0): help says `--all` defaults to true,
/// before `--authfile`.
#[test]
fn manifest_push_all_default_true() {
    let env = TestEnv::new();
    let help = env.run(&["push", "--help"]);
    let all = help.find("--all").expect("--all in help");
    let default = all + help[all..].find("[default: true]").expect("a default");
    let authfile = help.find("--authfile").expect("--authfile in help");
    assert!(
        default < authfile && !help[all..default].contains("\n      --"),
        "{help}"
    );
}

/// `manifest-push-purge` and `manifest-push-rm`, which differ in the flag only: after a push
/// with `flag` the list is gone.
fn push_and_remove(flag: &str) {
    let f = Upstream::new();
    f.foo_from_image_list(&["--arch=arm64"]);
    f.ok(&["inspect", "foo"]);
    f.push_foo_to_layout(&[flag]);
    f.fails(&["inspect", "foo"]);
}

/// Mirrors `manifest-push-purge`.
#[test]
fn manifest_push_purge() {
    push_and_remove("--purge");
}

/// Mirrors `manifest-push-rm`.
#[test]
fn manifest_push_rm() {
    push_and_remove("--rm");
}

/// Mirrors `manifest-push should fail with nonexistent authfile`; the list (despite `--purge`)
/// and the destination are untouched.
#[test]
fn manifest_push_should_fail_with_nonexistent_authfile() {
    let f = Upstream::new();
    f.foo_from_image_list(&["--arch=arm64"]);
    f.ok(&["inspect", "foo"]);
    let pushed = f.env().path("pushed");
    let before = store_snapshot(&f.env().store);
    f.fails(&[
        "push",
        "--authfile",
        "/tmp/nonexistent",
        "--purge",
        "foo",
        &format!("oci:{}", pushed.display()),
    ]);
    assert_eq!(store_snapshot(&f.env().store), before);
    assert!(!pushed.exists());
}

/// Mirrors `manifest-create-amend-replace-conflict` (v1.44.0).
#[test]
fn manifest_create_amend_replace_conflict() {
    let env = TestEnv::new();
    let stderr = exit_1(
        env.cmd()
            .args(["create", "--amend", "--replace", "fail-test:v1"]),
    );
    assert!(stderr.contains("mutually exclusive"), "{stderr}");
    env.cmd().args(["exists", "fail-test:v1"]).assert().code(1);
}

/// Mirrors `manifest-add-multiple-artifacts` (v1.44.0): one artifact of two files, pushed.
#[test]
fn manifest_add_multiple_artifacts() {
    let env = TestEnv::new();
    env.run(&["create", "foo"]);
    let (randomfile4, randomfile3) = (env.path("randomfile4"), env.path("randomfile3"));
    createrandom(&randomfile4);
    createrandom(&randomfile3);
    env.run(&[
        "add",
        "--artifact",
        "foo",
        randomfile3.to_str().unwrap(),
        randomfile4.to_str().unwrap(),
    ]);
    let pushed = env.path("pushed");
    env.run(&["push", "--all", "foo", &format!("oci:{}", pushed.display())]);
    // Both files arrived, as the one artifact's two layers.
    for file in [&randomfile3, &randomfile4] {
        let content = std::fs::read(file).unwrap();
        let digest = manifest::model::digest::Digest::sha256_of(&content);
        assert!(read_blob(&pushed, digest.as_str()) == content);
    }
}
