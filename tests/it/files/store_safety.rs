//! The local store under abuse: future versions, corrupt files, full disks, permissions.

use crate::support::image::{five_platforms, write_image_layout};
use crate::support::TestEnv;
use predicates::prelude::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

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
