//! Commands that must be refused or must succeed: a refusal exits 1 with an `Error:` line
//! holding every expected word and leaves the store byte-identical.

use super::hostile::HANG_LIMIT;
use super::{manifest_cmd, store_snapshot, TestEnv};
use predicates::prelude::*;
use std::path::Path;

/// Runs `args`, which must fail with an `Error:` line that holds every needle and leave the
/// store byte-identical; returns stderr.
pub fn refused(env: &TestEnv, args: &[&str], needles: &[&str]) -> String {
    let mut command = env.cmd();
    command.args(args);
    refused_cmd(env, command, needles)
}

/// [`refused`] for a command made by the caller (with its own environment).
pub fn refused_cmd(env: &TestEnv, mut command: assert_cmd::Command, needles: &[&str]) -> String {
    let before = store_snapshot(&env.store);
    let output = command.timeout(HANG_LIMIT).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let shown = format!("{command:?}");
    assert_eq!(output.status.code(), Some(1), "{shown}: {stderr}");
    assert!(
        stderr.contains("Error: "),
        "{shown} printed no Error line: {stderr}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{shown}: {needle:?} not in {stderr}"
        );
    }
    assert_eq!(
        store_snapshot(&env.store),
        before,
        "{shown} changed the store"
    );
    stderr
}

/// Runs `args`, which must succeed; returns stdout.
pub fn succeeds(env: &TestEnv, args: &[&str]) -> String {
    let output = env.cmd().args(args).timeout(HANG_LIMIT).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs a command on `store` that must fail with `message` and leave the store byte-identical.
pub fn refused_with(store: &Path, args: &[&str], message: &str) {
    let before = store_snapshot(store);
    manifest_cmd(store)
        .args(args)
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with("Error: ").and(predicate::str::contains(message)));
    assert_eq!(store_snapshot(store), before, "store changed by {args:?}");
}
