//! Hostile files, damaged stores and concurrent writers: layouts and archives with symlinks,
//! special files and sizes that lie; store files that are FIFOs or garbage; pushes racing each
//! other; text that tries to steer the terminal. Every case either succeeds or fails with a
//! clear `Error:` line, without hanging and without changing the store.

mod archives;
mod config_files;
mod helpers;
mod host_spellings;
mod layout_reads;
mod locks;
mod messages;
mod storage_files;
mod store_files;
mod writers;

use crate::support::hostile::HANG_LIMIT;
use crate::support::image::{write_image_layout, BuiltImage, ImageSpec};
use crate::support::{store_snapshot, TestEnv};
use std::path::PathBuf;

/// Eight GiB: a sparse file this long costs no disk and must never be read.
const HUGE: u64 = 8 << 30;

/// The image most cases start from: one 64 KiB layer; the seed makes its blobs unique.
fn spec(seed: u64) -> ImageSpec {
    ImageSpec::new("linux/amd64", 1, 64 * 1024, seed)
}

/// A one-image layout at `env.path(name)`, its image tagged `latest`.
fn image_layout(env: &TestEnv, name: &str, seed: u64) -> (PathBuf, BuiltImage) {
    let dir = env.path(name);
    let built = write_image_layout(&dir, &spec(seed), "latest");
    (dir, built)
}

/// `oci:DIR` for a path.
fn oci(dir: &std::path::Path) -> String {
    format!("oci:{}", dir.display())
}

/// Runs `args`, which must fail with an `Error:` line that holds every needle and leave the
/// store byte-identical; returns stderr.
fn refused(env: &TestEnv, args: &[&str], needles: &[&str]) -> String {
    let mut command = env.cmd();
    command.args(args);
    refused_cmd(env, command, needles)
}

/// [`refused`] for a command made by the caller (with its own environment).
fn refused_cmd(env: &TestEnv, mut command: assert_cmd::Command, needles: &[&str]) -> String {
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
fn succeeds(env: &TestEnv, args: &[&str]) -> String {
    let output = env.cmd().args(args).timeout(HANG_LIMIT).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
