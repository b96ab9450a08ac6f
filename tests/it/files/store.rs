//! The store's own files, damaged: a `version` that is no version, list records and names and
//! cached blobs that are FIFOs, devices, symlinks to `/dev/zero` or 8 GiB sparse files.

use crate::support::expect::{refused, succeeds};
use crate::support::hostile::{
    image_layout, make_fifo, make_sparse, make_symlink, make_zero_device, oci, HUGE,
};
use crate::support::TestEnv;
use std::fs;
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
