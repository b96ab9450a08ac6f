//! `push` in-process to OCI layouts: the list and its images, a dry run, --rm, the digest
//! file, and refusals.

use super::run as push;
use crate::commands::testing::TestEnv;
use crate::model::digest::Digest;

/// A list `l` of two images from one layout: the images' digests, the digest the list will
/// have when pushed, and a destination layout `oci:<env>/out:v1`.
fn list_of_two(env: &TestEnv) -> (Vec<Digest>, Digest, String) {
    let (index, _, images) = env.index("source", "v1", &["linux/amd64", "linux/arm64/v8"]);
    env.run(crate::commands::create::run, &["--all", "l", &index]);
    let (document, _) = env.store().find("l").unwrap().document().unwrap();
    let destination = format!("oci:{}:v1", env.path("out").display());
    (images, Digest::sha256_of(&document), destination)
}

#[test]
fn the_list_and_its_images_reach_the_layout() {
    let env = TestEnv::new();
    let (images, digest, destination) = list_of_two(&env);
    let digestfile = env.path("digest");
    let out = env.run(
        push,
        &[
            "-q",
            "--digestfile",
            digestfile.to_str().unwrap(),
            "l",
            &destination,
        ],
    );
    assert_eq!(out, "", "a push prints its summary on stderr only");
    assert_eq!(
        std::fs::read_to_string(&digestfile).unwrap(),
        digest.as_str()
    );

    // Read back through `inspect`: the index as stored; each image is there by digest.
    let pushed = env.run(crate::commands::inspect::run, &["--raw", &destination]);
    assert_eq!(Digest::sha256_of(pushed.as_bytes()), digest);
    for image in images {
        assert!(
            env.path("out/blobs/sha256").join(image.hex()).is_file(),
            "{image}"
        );
    }
    assert!(env.store().find("l").is_ok(), "without --rm the list stays");
}

#[test]
fn a_dry_run_prints_the_plan_and_writes_nothing() {
    let env = TestEnv::new();
    let (images, digest, destination) = list_of_two(&env);
    let out = env.run(push, &["-q", "--dry-run", "--rm", "l", &destination]);
    for digest in images.iter().chain([&digest]) {
        assert!(
            out.contains(digest.as_str()),
            "{digest} is not in the plan: {out}"
        );
    }
    assert!(!env.path("out").exists());
    assert!(env.store().find("l").is_ok(), "a dry run deletes nothing");
}

#[test]
fn rm_deletes_the_list_after_the_push() {
    let env = TestEnv::new();
    let (_, _, destination) = list_of_two(&env);
    env.run(push, &["-q", "--rm", "l", &destination]);
    assert!(env.path("out/index.json").exists());
    assert!(env.store().names().unwrap().is_empty());
}

#[test]
fn refusals_change_nothing() {
    let env = TestEnv::new();
    let (_, _, destination) = list_of_two(&env);
    for (line, says) in [
        (&["nolist", &destination][..], "nolist: image not known"),
        (
            &["--sign-by", "ABCD", "l", &destination],
            "signing and signature policies are not supported (--sign-by)",
        ),
        (&["l", "dir:x"], "unknown transport"),
        (
            &["--platform", "linux/s390x", "l", &destination],
            "linux/s390x",
        ),
    ] {
        let error = env.fails(push, line);
        assert!(error.contains(says), "{line:?}: {error}");
    }
    assert!(!env.path("out/index.json").exists());
}
