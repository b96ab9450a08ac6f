//! `prune` in-process: what lists still use is kept, the rest removed, a dry run removes
//! nothing, and a list that cannot be read stops it.

use super::run as prune;
use crate::commands::testing::TestEnv;
use crate::model::digest::Digest;

/// The digests of the store's cached blobs.
fn cached(env: &TestEnv) -> Vec<Digest> {
    let mut out: Vec<Digest> = std::fs::read_dir(env.path("store/blobs/sha256"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy())).ok()
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn blobs_only_removed_lists_used_are_removed() {
    let env = TestEnv::new();
    let (shared, _) = env.image("layout", "shared", "linux/amd64");
    let (only_gone, gone_digest) = env.image("layout", "gone", "linux/arm64/v8");
    env.create_list("kept");
    env.run(crate::commands::add::run, &["kept", &shared]);
    env.create_list("gone");
    env.run(crate::commands::add::run, &["gone", &shared]);
    env.run(crate::commands::add::run, &["gone", &only_gone]);
    let before = cached(&env);
    assert_eq!(
        env.run(prune, &[]),
        "Freed 0 B in 0 cached blobs no list uses\n"
    );
    assert_eq!(cached(&env), before, "every blob is used");

    env.run(crate::commands::rm::run, &["gone"]);
    // The arm64 image's manifest and config go; the shared image's stay.
    let plan = env.run(prune, &["--dry-run"]);
    assert!(plan.contains(&gone_digest.to_string()), "{plan}");
    assert!(plan.ends_with("in 2 cached blobs no list uses\n"), "{plan}");
    assert!(plan.contains("Would free"), "{plan}");
    assert_eq!(cached(&env), before, "a dry run removes nothing");

    let done = env.run(prune, &[]);
    assert_eq!(done.replace("Freed", "Would free"), plan);
    let after = cached(&env);
    assert_eq!(after.len(), before.len() - 2);
    assert!(!after.contains(&gone_digest));
    // The kept list still pushes.
    let out = format!("oci:{}:v1", env.path("out").display());
    env.run(crate::commands::push::run, &["kept", &out]);
}

#[test]
fn a_list_that_cannot_be_read_stops_it_before_anything_is_removed() {
    let env = TestEnv::new();
    let (image, _) = env.image("layout", "one", "linux/amd64");
    let id = env.create_list("broken");
    env.run(crate::commands::add::run, &["broken", &image]);
    let other = env.create_list("other");
    env.run(crate::commands::rm::run, &[&other]);
    std::fs::write(env.path("store/lists").join(&id).join("list.json"), "{").unwrap();
    let before = cached(&env);
    let error = env.fails(prune, &[]);
    assert!(error.contains(&id), "{error}");
    assert_eq!(cached(&env), before);
}

#[test]
fn an_artifacts_files_are_kept_while_a_list_names_them() {
    let env = TestEnv::new();
    let file = env.path("model.bin");
    std::fs::write(&file, b"weights").unwrap();
    let file_digest = Digest::sha256_of(b"weights");
    env.create_list("l");
    env.run(
        crate::commands::add::run,
        &["--artifact", "l", file.to_str().unwrap()],
    );
    assert!(cached(&env).contains(&file_digest));
    assert!(env
        .run(prune, &[])
        .starts_with("Freed 0 B in 0 cached blobs"));
    assert!(cached(&env).contains(&file_digest), "the list names it");

    env.run(crate::commands::rm::run, &["l"]);
    let done = env.run(prune, &[]);
    assert!(done.contains(&file_digest.to_string()), "{done}");
    assert!(!cached(&env).contains(&file_digest));
}
