//! Unit tests of `fsutil`.

use super::*;
use futures_util::StreamExt;
use std::fs;
use std::fs::File;
use std::io::Write;

#[test]
fn a_file_that_grows_or_shrinks_after_it_was_measured_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, b"0123456789").unwrap();
    let grows = open_regular(&path).unwrap().unwrap();
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"more")
        .unwrap();
    assert!(matches!(
        grows.read_all(100),
        Err(FileError::Changed { .. })
    ));
    let shrinks = open_regular(&path).unwrap().unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(3)
        .unwrap();
    let err = shrinks.read_all(100).unwrap_err();
    assert!(
        err.to_string().contains("ended after 3 of 14 bytes"),
        "{err}"
    );
    assert!(matches!(
        open_regular(&path).unwrap().unwrap().read_all(2),
        Err(FileError::TooLarge {
            size: 3,
            limit: 2,
            ..
        })
    ));
    assert!(open_regular(&dir.path().join("missing")).unwrap().is_none());
}

#[tokio::test]
async fn streams_stop_at_the_size_and_fail_when_the_file_ends_early() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, [7u8; 1000]).unwrap();
    let chunks: Vec<_> = open_regular(&path)
        .unwrap()
        .unwrap()
        .stream(300)
        .collect()
        .await;
    let sizes: Vec<usize> = chunks.iter().map(|c| c.as_ref().unwrap().len()).collect();
    assert_eq!(sizes, [300, 300, 300, 100]);
    let region = open_regular(&path).unwrap().unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(500)
        .unwrap();
    let results: Vec<_> = region.stream(300).collect().await;
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(FileError::Changed { .. })));
    assert_eq!(results.len(), 2, "nothing follows an error");
}

#[test]
fn root_dirs_refuse_symlinks_below_and_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = RootDir::open(dir.path()).unwrap();
    root.write_atomic("a/b/c", b"x")
        .unwrap_or_else(|e| panic!("{e}"));
    root.create_dirs("a/b").unwrap();
    assert_eq!(root.read("a/b/c", Cap::new("", 10)).unwrap().unwrap(), b"x");
    assert!(root
        .read("a/missing/c", Cap::new("", 10))
        .unwrap()
        .is_none());
    std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("link")).unwrap();
    assert!(matches!(
        root.read("link/b/c", Cap::new("", 10)),
        Err(FileError::Symlink { .. })
    ));
    for bad in ["", "/abs", "a/../a/b/c", "a//b", "./a"] {
        assert!(
            matches!(
                root.read(bad, Cap::new("", 10)),
                Err(FileError::BadName { .. })
            ),
            "{bad:?}"
        );
    }
    let leftover = root.temp_file("a").unwrap();
    drop(leftover);
    assert_eq!(
        fs::read_dir(dir.path().join("a")).unwrap().count(),
        1,
        "temp file removed"
    );
}
