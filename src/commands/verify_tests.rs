//! `verify` in-process on local lists and layouts (no network): what each check reports, the
//! exit status it leads to, and the JSON document.

use super::run as verify;
use crate::commands::testing::TestEnv;
use crate::model::digest::Digest;

/// The layer digest of the image `digest` in the layout `layout`.
fn layer_of(env: &TestEnv, layout: &str, digest: &Digest) -> Digest {
    let path = env.path(layout).join("blobs/sha256").join(digest.hex());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    Digest::parse(manifest["layers"][0]["digest"].as_str().unwrap()).unwrap()
}

#[test]
fn a_local_list_is_checked_against_its_sources() {
    let env = TestEnv::new();
    env.create_list("l");
    let (amd64_ref, amd64) = env.image("layout", "amd64", "linux/amd64");
    let (arm_ref, arm) = env.image("layout", "arm", "linux/arm/v7");
    env.run(crate::commands::add::run, &["l", &amd64_ref]);
    env.run(crate::commands::add::run, &["l", &arm_ref]);

    let (ok, out) = env.call(verify, &["l"]);
    assert!(ok.unwrap(), "{out}");
    assert!(out.ends_with(": ok (2 images, 4 blobs checked)\n"), "{out}");

    env.run(
        crate::commands::annotate::run,
        &["--arch", "s390x", "l", arm.as_str()],
    );
    let (ok, out) = env.call(
        verify,
        &["--require-platform", "linux/amd64,linux/arm64", "l"],
    );
    assert!(!ok.unwrap());
    assert!(
        out.contains(&format!(
            "platform-mismatch {arm} (linux/s390x/v7): the entry says linux/s390x/v7, its config says linux/arm/v7"
        )),
        "{out}"
    );
    assert!(out.contains("missing-platform (linux/arm64)"), "{out}");
    assert!(
        out.ends_with("2 problems (2 images, 4 blobs checked)\n"),
        "{out}"
    );

    let layer = layer_of(&env, "layout", &amd64);
    std::fs::remove_file(env.path("layout/blobs/sha256").join(layer.hex())).unwrap();
    let (ok, out) = env.call(verify, &["--format", "json", "l"]);
    assert!(!ok.unwrap());
    let document: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(document["ok"], false);
    let kinds: Vec<&str> = document["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"missing-blob"), "{out}");
    let missing = document["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "missing-blob")
        .unwrap();
    assert_eq!(missing["digest"], amd64.as_str());
    assert_eq!(missing["blob"], layer.as_str());
}

#[test]
fn a_layout_blob_of_the_wrong_size_and_a_missing_image() {
    let env = TestEnv::new();
    let (reference, _, images) = env.index("index", "v1", &["linux/amd64", "linux/arm64"]);
    let (ok, out) = env.call(verify, &[&reference]);
    assert!(ok.unwrap(), "{out}");

    let layer = layer_of(&env, "index", &images[1]);
    let path = env.path("index/blobs/sha256").join(layer.hex());
    std::fs::write(&path, b"shorter").unwrap();
    let (ok, out) = env.call(verify, &[&reference]);
    assert!(!ok.unwrap());
    assert!(
        out.contains(&format!(
            "size-mismatch {} (linux/arm64): blob {layer} is 7 bytes",
            images[1]
        )),
        "{out}"
    );

    let (ok, out) = env.call(
        verify,
        &[&format!("oci:{}:nothing", env.path("index").display())],
    );
    assert!(!ok.unwrap());
    assert!(out.starts_with("missing-manifest: "), "{out}");

    // A short name that is no list never reaches the network.
    let error = env.fails(verify, &["nosuchlist"]);
    assert!(error.contains("nosuchlist: image not known"), "{error}");
}
