//! Unit tests of `store`.

use super::*;

#[test]
fn create_save_load_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock().unwrap();
    let created = store
        .create("localhost/a:latest", ManifestList::default(), &[], &lock)
        .unwrap();
    assert!(matches!(
        store.create("localhost/a:latest", ManifestList::default(), &[], &lock),
        Err(StoreError::NameInUse { .. })
    ));
    let loaded = store.resolve(Some("localhost/a:latest"), "a").unwrap();
    assert_eq!(loaded.id, created.id);
    let by_prefix = store.resolve(None, &created.id[..5]).unwrap();
    assert_eq!(by_prefix.id, created.id);
    store.delete(&created.id, &lock).unwrap();
    assert!(matches!(
        store.resolve(Some("localhost/a:latest"), "a"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn delete_if_unchanged_keeps_a_list_that_changed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock().unwrap();
    let pushed = store
        .create("localhost/a:latest", ManifestList::default(), &[], &lock)
        .unwrap();
    let mut changed = pushed.clone();
    changed.list.annotate_index(&[("k".into(), "v".into())]);
    store.save(&changed, &lock).unwrap();
    assert_eq!(
        store.delete_if_unchanged(&pushed, &lock).unwrap(),
        Deletion::Changed
    );
    assert_eq!(
        store.delete_if_unchanged(&changed, &lock).unwrap(),
        Deletion::Deleted
    );
    assert_eq!(
        store.delete_if_unchanged(&changed, &lock).unwrap(),
        Deletion::Gone
    );
}

#[test]
fn a_list_over_the_manifest_limit_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock().unwrap();
    let mut big = ManifestList::default();
    big.annotate_index(&[("k".into(), "v".repeat(MAX_MANIFEST_BYTES as usize))]);
    let err = store
        .create("localhost/big:latest", big.clone(), &[], &lock)
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::ListTooLarge {
                limit: MAX_MANIFEST_BYTES,
                ..
            }
        ),
        "{err}"
    );
    assert!(store.names().unwrap().is_empty());
    let mut list = store
        .create(
            "localhost/small:latest",
            ManifestList::default(),
            &[],
            &lock,
        )
        .unwrap();
    let before = fs::read(dir.path().join("lists").join(&list.id).join("list.json")).unwrap();
    list.list = big;
    assert!(store.save(&list, &lock).is_err());
    let after = fs::read(dir.path().join("lists").join(&list.id).join("list.json")).unwrap();
    assert_eq!(before, after);
}

#[test]
fn corrupt_list_is_named_and_others_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock().unwrap();
    let bad = store
        .create("localhost/bad:latest", ManifestList::default(), &[], &lock)
        .unwrap();
    store
        .create("localhost/good:latest", ManifestList::default(), &[], &lock)
        .unwrap();
    fs::write(
        dir.path().join("lists").join(&bad.id).join("list.json"),
        b"{garbage",
    )
    .unwrap();
    let err = store
        .resolve(Some("localhost/bad:latest"), "bad")
        .unwrap_err();
    assert!(err.to_string().contains("list.json is corrupt"), "{err}");
    store
        .resolve(Some("localhost/good:latest"), "good")
        .unwrap();
}

#[test]
fn future_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("version"), "7\n").unwrap();
    let err = Store::open(dir.path()).err().unwrap();
    assert!(err.to_string().contains("newer version"), "{err}");
}

#[test]
fn blobs_are_verified() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let digest = Digest::sha256_of(b"abc");
    assert!(store.put_blob(&digest, b"abd").is_err());
    store.put_blob(&digest, b"abc").unwrap();
    assert_eq!(store.get_blob(&digest).unwrap(), Bytes::from_static(b"abc"));
}
