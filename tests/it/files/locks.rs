//! Locks another process holds: containers-storage's (as a stuck buildah would hold them), the
//! store's own, a layout's. A lock released within the limit is waited out, with one line on
//! stderr after about a second naming the lock file and the process holding it; one held past
//! `--lock-timeout` ends in an error that says the same, and nothing is changed.

use crate::support::buildah::hold_write_lock;
use crate::support::expect::{refused, succeeds};
use crate::support::hostile::{image_layout, oci};
use crate::support::local::Local;
use crate::support::wait::Lines;
use crate::support::TestEnv;
use std::fs::File;
use std::process::Output;

/// This test process, as the error and the waiting line name it (its command name follows).
fn holder() -> String {
    format!("locked by process {} (", std::process::id())
}

#[test]
fn a_containers_storage_lock_is_waited_for_within_the_limit() {
    let local = Local::new("vfs");
    local.build_tree("localhost/locked", "linux/amd64", 21, 0);
    let image = local.buildah.reference("localhost/locked");
    let lock = local.buildah.root.join("storage.lock");

    // Held until the command says it waits for it: waited out, with the line.
    let held = hold_write_lock(&lock);
    let mut inspect = local.spawn(&["inspect", &image]);
    let mut lines = Lines::of(inspect.stderr.take().unwrap());
    lines.until("a line saying the command waits", |line| {
        line.starts_with("Waiting for")
    });
    drop(held);
    let output = Output {
        stderr: lines
            .rest()
            .iter()
            .map(|line| format!("{line}\n"))
            .collect::<String>()
            .into(),
        stdout: Vec::new(),
        status: inspect.wait().unwrap(),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let waiting = format!("Waiting for {}, {}", lock.display(), holder());
    assert!(stderr.contains(&waiting), "{stderr}");
    assert!(stderr.contains("(at most 5m; --lock-timeout)"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");

    // Held past the limit: an error naming the file and the holder.
    let _held = hold_write_lock(&lock);
    for command in [vec!["inspect", &image], vec!["create", "l", &image]] {
        let args: Vec<&str> = ["--lock-timeout", "1s"]
            .iter()
            .copied()
            .chain(command)
            .collect();
        let stderr = local.fails(&args);
        assert!(stderr.starts_with("Error: "), "{stderr}");
        let says = format!("{} is {}", lock.display(), holder());
        assert!(stderr.contains(&says), "{stderr}");
        assert!(
            stderr.contains("gave up after waiting 1s (--lock-timeout)"),
            "{stderr}"
        );
    }
    // The layers' own lock too (held by writers while they change layers).
    let layers_lock = local.buildah.root.join("vfs-layers/layers.lock");
    drop(_held);
    let _held = hold_write_lock(&layers_lock);
    let stderr = local.fails(&["--lock-timeout", "1s", "inspect", &image]);
    assert!(
        stderr.contains("layers.lock is locked by process"),
        "{stderr}"
    );
}

#[test]
fn the_stores_lock_and_a_layouts_lock_are_waited_for_within_the_limit() {
    let env = TestEnv::new();
    let (layout, _) = image_layout(&env, "img", 41);
    succeeds(&env, &["create", "l", &oci(&layout)]);

    let store_lock = File::options()
        .write(true)
        .open(env.store.join("lock"))
        .unwrap();
    store_lock.lock().unwrap();
    let says = format!("{} is {}", env.store.join("lock").display(), holder());
    let gave_up = "gave up after waiting 1s (--lock-timeout)";
    refused(
        &env,
        &["--lock-timeout", "1s", "create", "other"],
        &[&says, gave_up],
    );
    refused(
        &env,
        &["--lock-timeout", "1s", "add", "l", &oci(&layout)],
        &[&says, gave_up],
    );
    drop(store_lock);

    let out = env.path("out");
    succeeds(&env, &["push", "-q", "l", &format!("{}:a", oci(&out))]);
    let layout_lock = File::open(&out).unwrap();
    layout_lock.lock().unwrap();
    let says = format!("{} is {}", out.display(), holder());
    refused(
        &env,
        &[
            "--lock-timeout",
            "1s",
            "push",
            "-q",
            "l",
            &format!("{}:b", oci(&out)),
        ],
        &[&says, "gave up after waiting 1s"],
    );
}
