//! `rm` in-process: lists by name and ID, missing names reported together, `--ignore`.

use super::run as rm;
use crate::commands::testing::TestEnv;

#[test]
fn lists_are_deleted_by_name_or_id_prefix() {
    let env = TestEnv::new();
    let a = env.create_list("a");
    let b = env.create_list("registry.example/b:v1");
    let kept = env.create_list("c");
    let out = env.run(rm, &["a", &b[..6]]);
    assert_eq!(
        out,
        format!("untagged: localhost/a:latest\n{a}\nuntagged: registry.example/b:v1\n{b}\n")
    );
    let names = env.store().names().unwrap();
    assert_eq!(names, [(kept, "localhost/c:latest".to_string())]);
}

#[test]
fn missing_names_are_reported_together_after_the_others_are_deleted() {
    let env = TestEnv::new();
    let a = env.create_list("a");
    let (result, out) = env.call(rm, &["x", "a", "y"]);
    let error = format!("{:#}", result.unwrap_err());
    assert_eq!(error, "x: image not known; y: image not known");
    assert_eq!(out, format!("untagged: localhost/a:latest\n{a}\n"));
    assert!(env.store().names().unwrap().is_empty());

    assert_eq!(env.run(rm, &["--ignore", "x", "y"]), "");
    let error = env.fails(rm, &["z"]);
    assert_eq!(error, "z: image not known");
}

#[test]
fn a_corrupt_list_can_still_be_deleted() {
    let env = TestEnv::new();
    let id = env.create_list("l");
    std::fs::write(env.path("store/lists").join(&id).join("list.json"), "{").unwrap();
    assert!(env.store().find("l").is_err());
    let out = env.run(rm, &["l"]);
    assert_eq!(out, format!("untagged: localhost/l:latest\n{id}\n"));
    assert!(env.store().names().unwrap().is_empty());
}
