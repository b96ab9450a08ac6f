//! The local store under abuse: future versions, corrupt lists, full disks, permissions; its
//! own files damaged: a `version` that is no version, list records and names and cached blobs
//! that are FIFOs, devices, symlinks to `/dev/zero` or 8 GiB sparse files.

use crate::support::expect::{refused, succeeds};
use crate::support::hostile::{
    image_layout, make_fifo, make_sparse, make_symlink, make_zero_device, oci, HUGE,
};
use crate::support::image::{five_platforms, write_image_layout};
use crate::support::TestEnv;
use predicates::prelude::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// Replaces a store file with something that is not a regular file of sane size.
type Damage = fn(&Path);

#[test]
fn a_version_file_that_is_not_a_version_is_invalid_not_newer() {
    let env = TestEnv::new();
    succeeds(&env, &["create", "l"]);
    let version = env.store.join("version");
    let invalid = [
        ("0", r#"it holds "0""#),
        ("abc\n", r#"it holds "abc""#),
        ("", "it holds nothing"),
        ("\n \n", "it holds nothing"),
        ("-1", r#"it holds "-1""#),
        ("1.0", r#"it holds "1.0""#),
        ("0x1", r#"it holds "0x1""#),
        ("garbage\x1b[2K\r", r#"it holds "garbage\u{1b}[2K""#),
        ("\u{202e}1", r#"it holds "\u{202e}1""#),
    ];
    for (content, needle) in invalid {
        fs::write(&version, content).unwrap();
        let stderr = refused(
            &env,
            &["inspect", "l"],
            &[
                "the store version file",
                version.to_str().unwrap(),
                "is invalid",
                needle,
            ],
        );
        assert!(!stderr.contains("newer"), "{content:?}: {stderr}");
        assert!(
            !stderr.contains('\x1b') && !stderr.contains('\u{202e}'),
            "{stderr}"
        );
    }
    make_sparse(&version, HUGE);
    refused(
        &env,
        &["inspect", "l"],
        &["is invalid: it holds 8589934592 bytes"],
    );
    for (content, found) in [("2", "2"), ("99999999999999999999999", "9999")] {
        fs::write(&version, content).unwrap();
        refused(
            &env,
            &["inspect", "l"],
            &["written by a newer version of manifest", found],
        );
    }
    make_fifo(&version);
    refused(&env, &["inspect", "l"], &["is a FIFO, not a regular file"]);
    make_symlink(Path::new("/dev/zero"), &version);
    refused(&env, &["inspect", "l"], &["is a character device"]);
    fs::remove_file(&version).unwrap();
    for fine in ["1", "1\n", " 1 \n", "01"] {
        fs::write(&version, fine).unwrap();
        succeeds(&env, &["inspect", "l"]);
    }
}

/// The directory of the only list in the store.
fn only_list_dir(env: &TestEnv) -> PathBuf {
    let mut lists: Vec<PathBuf> = fs::read_dir(env.store.join("lists"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(lists.len(), 1);
    lists.pop().unwrap()
}

#[test]
fn list_records_that_are_not_regular_files_are_refused_without_reading() {
    let env = TestEnv::new();
    let (layout, _) = image_layout(&env, "img", 30);
    let damages: &[(Damage, &str)] = &[
        (make_fifo, "is a FIFO"),
        (make_zero_device, "is a character device"),
        (
            |p| make_symlink(Path::new("/dev/zero"), p),
            "is a character device",
        ),
        (|p| make_sparse(p, HUGE), "8589934592 bytes, over the limit"),
    ];
    for (damage, needle) in damages {
        succeeds(&env, &["create", "l", &oci(&layout)]);
        let record = only_list_dir(&env).join("list.json");
        damage(&record);
        refused(&env, &["inspect", "l"], &[needle]);
        refused(&env, &["add", "l", &oci(&layout)], &[needle]);
        // It can still be removed.
        succeeds(&env, &["rm", "l"]);
    }
    // A name file that is a FIFO hides that list; nothing blocks.
    succeeds(&env, &["create", "l"]);
    make_fifo(&only_list_dir(&env).join("name"));
    refused(&env, &["inspect", "l"], &["image not known"]);
    succeeds(&env, &["create", "other"]);
}

#[test]
fn cached_blobs_that_are_not_regular_files_are_ignored() {
    let env = TestEnv::new();
    let (layout, image) = image_layout(&env, "img", 31);
    succeeds(&env, &["create", "l", &oci(&layout)]);
    let cached = |digest: &str| {
        env.store
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let manifest = cached(&image.manifest_digest);
    let damages: &[Damage] = &[
        make_fifo,
        make_zero_device,
        |p| make_symlink(Path::new("/dev/zero"), p),
        |p| make_sparse(p, HUGE),
    ];
    for (n, damage) in damages.iter().enumerate() {
        damage(&manifest);
        // The cache is only a cache: push reads the manifest from its source instead.
        let dest = env.path(&format!("out-{n}"));
        succeeds(&env, &["push", "-q", "l", &format!("{}:t", oci(&dest))]);
        succeeds(&env, &["inspect", &format!("{}:t", oci(&dest))]);
    }
}

fn layout(env: &TestEnv, n: usize) -> String {
    let dir = env.path(&format!("img-{n}"));
    write_image_layout(&dir, &five_platforms()[n], "latest");
    format!("oci:{}", dir.display())
}

#[test]
fn a_store_from_a_future_version_is_refused_clearly() {
    let env = TestEnv::new();
    env.run(&["create", "a"]);
    std::fs::write(env.store.join("version"), "9\n").unwrap();
    env.cmd().args(["inspect", "a"]).assert().code(1).stderr(
        predicate::str::contains("newer version of manifest")
            .and(predicate::str::contains("store version 9")),
    );
}

#[test]
fn a_corrupt_list_is_named_and_other_lists_still_work() {
    let env = TestEnv::new();
    let bad = env.run(&["create", "bad"]);
    env.run(&["create", "good"]);
    let file = env.store.join("lists").join(bad.trim()).join("list.json");
    std::fs::write(&file, b"{\"version\":1,\"id\":").unwrap();
    env.cmd().args(["inspect", "bad"]).assert().code(1).stderr(
        predicate::str::contains(file.to_str().unwrap()).and(predicate::str::contains("corrupt")),
    );
    env.run(&["add", "good", &layout(&env, 0)]);
    env.run(&["inspect", "good"]);
    // The corrupt list can still be removed.
    env.run(&["rm", "bad"]);
}

#[test]
fn store_files_are_not_world_writable() {
    let env = TestEnv::new();
    env.run(&["create", "perm"]);
    env.run(&["add", "perm", &layout(&env, 1)]);
    let mut stack = vec![env.store.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let mode = entry.metadata().unwrap().permissions().mode();
            assert_eq!(
                mode & 0o002,
                0,
                "{} is world-writable ({mode:o})",
                entry.path().display()
            );
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            }
        }
    }
}

#[test]
fn a_full_disk_fails_cleanly_and_keeps_the_list() {
    let env = TestEnv::new();
    env.run(&["create", "full"]);
    env.run(&["add", "full", &layout(&env, 0)]);
    let src = layout(&env, 2);
    let before = crate::support::store_snapshot(&env.store);
    let listed_before = env.run(&["inspect", "full"]);
    // RLIMIT_FSIZE makes every write past 64 bytes fail with EFBIG, as a full disk fails writes.
    let mut cmd = crate::support::manifest_std_cmd(&env.store);
    cmd.args(["add", "full", &src]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("Error: "), "{stderr}");
    assert!(
        stderr.contains("too large")
            || stderr.contains("No space")
            || stderr.contains("File too large"),
        "{stderr}"
    );
    assert_eq!(env.run(&["inspect", "full"]), listed_before);
    // Only leftover temp files may differ, and those are cleaned up by the failed write itself.
    assert_eq!(
        crate::support::store_snapshot(&env.store)
            .keys()
            .collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
}
