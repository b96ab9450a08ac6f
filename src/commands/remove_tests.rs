//! `remove` in-process: by digest or prefix, by platform, and refusals that leave the list as
//! it was.

use super::run as remove;
use crate::commands::testing::TestEnv;

/// A list `l` of four images from one index: its ID and the images' digests.
fn list_of_four(env: &TestEnv) -> (String, Vec<crate::model::digest::Digest>) {
    let platforms = [
        "linux/amd64",
        "linux/arm64/v8",
        "linux/arm/v7",
        "linux/arm/v6",
    ];
    let (index, _, images) = env.index("layout", "v1", &platforms);
    let id = env.create_list("l");
    env.run(crate::commands::add::run, &["--all", "l", &index]);
    (id, images)
}

fn digests(env: &TestEnv) -> Vec<crate::model::digest::Digest> {
    env.entries("l").into_iter().map(|e| e.0).collect()
}

#[test]
fn an_entry_is_removed_by_digest_or_prefix() {
    let env = TestEnv::new();
    let (id, images) = list_of_four(&env);
    let out = env.run(remove, &["l", images[1].as_str()]);
    assert_eq!(out, format!("{id}: {}\n", images[1]));
    let out = env.run(remove, &["l", &images[3].hex()[..7]]);
    assert_eq!(out, format!("{id}: {}\n", images[3]));
    let out = env.run(
        remove,
        &[&id[..5], &format!("sha256:{}", &images[0].hex()[..5])],
    );
    assert_eq!(out, format!("{id}: {}\n", images[0]));
    assert_eq!(digests(&env), [images[2].clone()]);
    let list = env.store().find("l").unwrap();
    assert_eq!(list.list.sources.len(), 1, "sources go with their entries");
}

#[test]
fn entries_are_removed_by_platform() {
    let env = TestEnv::new();
    let (id, images) = list_of_four(&env);
    let out = env.run(remove, &["--arch", "arm", "l"]);
    assert_eq!(out, format!("{id}: {}\n{id}: {}\n", images[2], images[3]));
    let out = env.run(remove, &["--platform", "linux/arm64,linux/amd64", "l"]);
    assert_eq!(out, format!("{id}: {}\n{id}: {}\n", images[0], images[1]));
    assert!(digests(&env).is_empty());
}

#[test]
fn refusals_leave_the_list_as_it_was() {
    let env = TestEnv::new();
    let (_, images) = list_of_four(&env);
    let unknown = crate::model::digest::Digest::sha256_of(b"not an entry");
    for (line, says) in [
        (
            &["l", "busybox"][..],
            "invalid instance \"busybox\": not a digest",
        ),
        (
            &["l", "md5:0"],
            "invalid instance \"md5:0\": unsupported algorithm",
        ),
        (
            &["l", unknown.as_str()],
            "image not known (no entry of list localhost/l:latest",
        ),
        (&["l", "fffffff"], "fffffff: image not known"),
        (
            &["--platform", "linux/s390x", "l"],
            "no entry of list localhost/l:latest is for platform linux/s390x",
        ),
        (&["--os", "windows", "l"], "windows"),
        (&["--platform", "linux/", "l"], "linux/"),
        (&["nolist", images[0].as_str()], "nolist: image not known"),
    ] {
        let error = env.fails(remove, line);
        assert!(error.contains(says), "{line:?}: {error}");
    }
    assert_eq!(digests(&env), images);
}
