//! `exists` in-process: a list by name or ID, a missing one, a store that cannot be read.

use super::run as exists;
use crate::commands::testing::TestEnv;

#[test]
fn says_whether_a_list_exists() {
    let env = TestEnv::new();
    assert!(
        !env.call(exists, &["l"]).0.unwrap(),
        "an empty store has no lists"
    );
    let id = env.create_list("l");
    for name in ["l", "localhost/l:latest", &id, &id[..4]] {
        let (result, out) = env.call(exists, &[name]);
        assert!(result.unwrap(), "{name}");
        assert_eq!(out, "");
    }
    assert!(!env.call(exists, &["m"]).0.unwrap());
}

#[test]
fn a_store_that_cannot_be_read_is_an_error() {
    let env = TestEnv::new();
    let id = env.create_list("l");
    std::fs::write(env.path("store/lists").join(&id).join("list.json"), "{").unwrap();
    let error = env.fails(exists, &["l"]);
    assert!(error.contains("is corrupt"), "{error}");
    std::fs::write(env.path("store/version"), "9\n").unwrap();
    let error = env.fails(exists, &["l"]);
    assert!(error.contains("newer version of manifest"), "{error}");
}
