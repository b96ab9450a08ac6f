//! `oci-archive:` files with odd entries (links, FIFOs, devices, escaping names, mode-0000
//! directories), truncated or special archive files, and reading and writing as a user that is
//! not root: nothing is ever unpacked, and nothing is left in TMPDIR.

use crate::support::expect::{refused, succeeds};
use crate::support::hostile::image_layout;
use crate::support::hostile::{
    chown_tree, make_fifo, make_symlink, make_zero_device, nobody, tar_entry, tar_layout,
};
use crate::support::image::blob_path;
use crate::support::{manifest_std_cmd, TestEnv};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use tar::EntryType;

fn archive_ref(path: &Path) -> String {
    format!("oci-archive:{}", path.display())
}

/// Packs `layout` into `name`.tar without the entries named in `skip` (paths inside the
/// layout), then lets `extra` add entries.
fn pack(
    env: &TestEnv,
    layout: &Path,
    name: &str,
    skip: &[&str],
    extra: impl FnOnce(&mut tar::Builder<fs::File>),
) -> std::path::PathBuf {
    let staged = env.path(&format!("{name}-staged"));
    copy_dir(layout, &staged);
    for rel in skip {
        fs::remove_file(staged.join(rel)).unwrap();
    }
    let out = env.path(&format!("{name}.tar"));
    tar_layout(&staged, &out, extra);
    out
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn rel(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

#[test]
fn archive_entries_that_are_not_regular_files_are_never_read() {
    let env = TestEnv::new();
    let (layout, image) = image_layout(&env, "img", 40);
    let layer = rel(&image.layer_digests[0]);
    let manifest = rel(&image.manifest_digest);
    let layer_bytes = fs::read(blob_path(&layout, &image.layer_digests[0])).unwrap();

    // Read at add time: refused then.
    let at_add: Vec<(std::path::PathBuf, &str)> = vec![
        (
            pack(&env, &layout, "manifest-fifo", &[&manifest], |b| {
                tar_entry(b, &manifest, EntryType::Fifo, 0o644, None, b"")
            }),
            "is a FIFO",
        ),
        (
            pack(&env, &layout, "index-device", &["index.json"], |b| {
                tar_entry(b, "index.json", EntryType::Char, 0o644, None, b"")
            }),
            "is a character device",
        ),
        (
            pack(&env, &layout, "manifest-outside", &[&manifest], |b| {
                tar_entry(
                    b,
                    &manifest,
                    EntryType::Link,
                    0o644,
                    Some("/etc/passwd"),
                    b"",
                )
            }),
            "hard link to outside the layout",
        ),
        (
            pack(&env, &layout, "index-symlink", &["index.json"], |b| {
                tar_entry(
                    b,
                    "index.json",
                    EntryType::Symlink,
                    0o777,
                    Some("/etc/passwd"),
                    b"",
                )
            }),
            "is a symbolic link",
        ),
    ];
    succeeds(&env, &["create", "l"]);
    for (archive, needle) in &at_add {
        refused(&env, &["add", "l", &archive_ref(archive)], &[needle]);
        refused(&env, &["inspect", &archive_ref(archive)], &[needle]);
    }

    // Read when pushed: refused then, with nothing written to the destination.
    let layer_symlink = pack(&env, &layout, "layer-symlink", &[&layer], |b| {
        tar_entry(
            b,
            &layer,
            EntryType::Symlink,
            0o777,
            Some("/etc/passwd"),
            b"",
        )
    });
    succeeds(&env, &["create", "sym", &archive_ref(&layer_symlink)]);
    let dest = env.path("dest");
    refused(
        &env,
        &["push", "-q", "sym", &format!("oci:{}:t", dest.display())],
        &["is a symbolic link"],
    );
    assert!(!blob_path(&dest, &image.layer_digests[0]).exists());

    // Fine: a hard link to another entry inside, names that try to leave the archive (never
    // unpacked, so they go nowhere), a mode-0000 directory.
    let fine = pack(&env, &layout, "fine", &[&layer], |b| {
        tar_entry(
            b,
            "blobs/sha256/copy",
            EntryType::Regular,
            0o644,
            None,
            &layer_bytes,
        );
        tar_entry(
            b,
            &layer,
            EntryType::Link,
            0o644,
            Some("./blobs/sha256/copy"),
            b"",
        );
        tar_entry(b, "../../escaped", EntryType::Regular, 0o644, None, b"x");
        tar_entry(b, "locked/", EntryType::Directory, 0o000, None, b"");
        tar_entry(b, "locked/inside", EntryType::Regular, 0o000, None, b"x");
    });
    succeeds(&env, &["create", "fine", &archive_ref(&fine)]);
    succeeds(
        &env,
        &["push", "-q", "fine", &format!("oci:{}:t", dest.display())],
    );
    assert_eq!(
        fs::read(blob_path(&dest, &image.layer_digests[0])).unwrap(),
        layer_bytes
    );
    assert!(!env.tmp.path().parent().unwrap().join("escaped").exists());
}

#[test]
fn truncated_and_special_archive_files_are_refused() {
    let env = TestEnv::new();
    let (layout, _) = image_layout(&env, "img", 41);
    let whole = pack(&env, &layout, "whole", &[], |_| {});
    succeeds(&env, &["create", "l"]);
    let cut = env.path("cut.tar");
    let bytes = fs::read(&whole).unwrap();
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let fifo = env.path("fifo.tar");
    make_fifo(&fifo);
    let device = env.path("device.tar");
    make_zero_device(&device);
    let garbage = env.path("garbage.tar");
    fs::write(&garbage, vec![0x5a; 4096]).unwrap();
    for (archive, needle) in [
        (&cut, "truncated"),
        (&fifo, "is a FIFO"),
        (&device, "is a character device"),
        (&garbage, "not a readable tar archive"),
    ] {
        refused(&env, &["add", "l", &archive_ref(archive)], &[needle]);
        refused(
            &env,
            &["push", "-q", "l", &format!("{}:t", archive_ref(archive))],
            &[needle],
        );
    }
    // The archive itself may be reached through a symlink: the user named that path.
    let link = env.path("link.tar");
    make_symlink(&whole, &link);
    succeeds(&env, &["add", "l", &archive_ref(&link)]);
}

/// `manifest` as `nobody`, with TMPDIR set to `tmpdir`.
fn as_nobody(env: &TestEnv, tmpdir: &Path) -> assert_cmd::Command {
    let (uid, gid) = nobody();
    let mut cmd = manifest_std_cmd(&env.store);
    cmd.env("TMPDIR", tmpdir).uid(uid).gid(gid);
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(crate::support::hostile::HANG_LIMIT);
    cmd
}

fn assert_empty(tmpdir: &Path, after: &str) {
    let left: Vec<_> = fs::read_dir(tmpdir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{after} left {left:?} in TMPDIR");
}

#[test]
fn archives_read_and_written_as_another_user_leave_nothing_in_tmpdir() {
    let env = TestEnv::new();
    let (layout, _) = image_layout(&env, "img", 42);
    // A tar whose blob directory has mode 0000: unpacked as a user that is not root, nothing
    // could be written into it, nor removed from it afterwards.
    let staged = env.path("locked-staged");
    copy_dir(&layout, &staged);
    let locked = staged.join("blobs/sha256");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let archive = env.path("locked.tar");
    tar_layout(&staged, &archive, |b| {
        tar_entry(b, "junk/", EntryType::Directory, 0o000, None, b"");
    });
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    let bytes = fs::read(&archive).unwrap();
    let cut = env.path("cut.tar");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let tmpdir = env.path("tmpdir");
    fs::create_dir_all(&tmpdir).unwrap();
    let (uid, gid) = nobody();
    crate::support::home_dir(&env.store);
    chown_tree(env.tmp.path(), uid, gid);
    // A directory nobody may not write to: a push there fails after staging its blobs.
    let closed = env.path("closed");
    fs::create_dir_all(&closed).unwrap();

    let steps: &[(&[&str], bool)] = &[
        (&["create", "l"], true),
        (&["add", "l", &archive_ref(&archive)], true),
        (&["inspect", &archive_ref(&archive)], true),
        (
            &[
                "push",
                "-q",
                "l",
                &format!("{}:t", archive_ref(&env.path("out.tar"))),
            ],
            true,
        ),
        (
            &[
                "inspect",
                &format!("{}:t", archive_ref(&env.path("out.tar"))),
            ],
            true,
        ),
        (&["add", "l", &archive_ref(&cut)], false),
        (
            &[
                "push",
                "-q",
                "l",
                &format!("{}:t", archive_ref(&closed.join("out.tar"))),
            ],
            false,
        ),
        (
            &["push", "-q", "l", &format!("{}:t", archive_ref(&cut))],
            false,
        ),
    ];
    for (args, ok) in steps {
        let output = as_nobody(&env, &tmpdir).args(*args).output().unwrap();
        assert_eq!(
            output.status.success(),
            *ok,
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_empty(&tmpdir, &format!("{args:?}"));
    }
}
