//! Unit tests of `store`.

use super::*;
use crate::model::list::Source;

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
fn a_record_whose_source_does_not_parse_is_a_corrupt_list() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock().unwrap();
    let mut content = ManifestList::default();
    content.add(entry(1), Source::image("oci:/src/1"));
    content.add(entry(2), Source::Store);
    let list = store
        .create("localhost/a:latest", content, &[], &lock)
        .unwrap();
    let path = dir.path().join("lists").join(&list.id).join("list.json");
    let record = fs::read_to_string(&path).unwrap();
    assert!(record.contains("\"oci:/src/1\"") && record.contains("\"store:\""));
    assert_eq!(
        store.load(&list.id).unwrap().list.sources,
        list.list.sources
    );
    for (bad, says) in [
        ("dir:/src/1", "unknown transport \"dir\""),
        ("oci:", "the layout path is empty"),
        ("docker://r/UPPER", "invalid"),
    ] {
        fs::write(&path, record.replace("oci:/src/1", bad)).unwrap();
        let err = store.load(&list.id).unwrap_err().to_string();
        assert!(
            err.contains("list.json is corrupt")
                && err.contains(&format!("the source of entry {}", entry(1).digest))
                && err.contains(says),
            "{bad}: {err}"
        );
    }
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

fn entry(n: u8) -> crate::model::oci::Descriptor {
    crate::model::oci::Descriptor::new(crate::model::oci::OCI_MANIFEST, Digest::sha256_of(&[n]), 10)
}

/// A new store in a temp dir holding one empty list, `localhost/a:latest`.
fn store_with_list_a() -> (tempfile::TempDir, Store, StoredList) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let list = store
        .create(
            "localhost/a:latest",
            ManifestList::default(),
            &[],
            &store.lock().unwrap(),
        )
        .unwrap();
    (dir, store, list)
}

fn record(dir: &Path, list: &StoredList) -> Vec<u8> {
    fs::read(dir.join("lists").join(&list.id).join("list.json")).unwrap()
}

#[test]
fn update_finds_the_list_once_edits_and_saves() {
    let (_dir, store, created) = store_with_list_a();
    // By short name, full name, ID and ID prefix: the same list.
    for (n, name_or_id) in ["a", "localhost/a:latest", &created.id, &created.id[..4]]
        .into_iter()
        .enumerate()
    {
        let id = store
            .update(name_or_id, &[], |list| {
                list.list
                    .add(entry(n as u8), Source::image(&format!("oci:/src/{n}")));
                Ok(list.id.clone())
            })
            .unwrap();
        assert_eq!(id, created.id, "{name_or_id}");
    }
    let saved = store.find("a").unwrap();
    assert_eq!(saved.list.index.manifests.len(), 4);
    assert_eq!(
        saved.list.sources[&entry(2).digest],
        Source::image("oci:/src/2")
    );
}

#[test]
fn update_writes_nothing_when_the_edit_or_the_save_is_refused() {
    let (dir, store, list) = store_with_list_a();
    let before = record(dir.path(), &list);
    let blob = Bytes::from_static(b"{}");
    let blobs = [(Digest::sha256_of(&blob), blob)];

    // A refused edit: what it changed before failing is not saved, its blobs not kept.
    let error = store
        .update("a", &blobs, |list| -> Result<(), StoreError> {
            list.list.add(entry(1), Source::Store);
            list.list.remove(&entry(2).digest, &list.name)?;
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(error, StoreError::Edit(_)), "{error}");
    assert!(error.to_string().contains("image not known"), "{error}");

    // A list over the limit is refused by the save.
    let error = store
        .update("a", &blobs, |list| {
            list.list
                .annotate_index(&[("k".into(), "v".repeat(MAX_MANIFEST_BYTES as usize))]);
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(error, StoreError::ListTooLarge { .. }), "{error}");

    assert_eq!(record(dir.path(), &list), before);
    assert!(store.get_blob(&blobs[0].0).is_none());

    // No such list: the edit never runs.
    let error = store
        .update("b", &[], |_| -> Result<(), StoreError> {
            panic!("edited a list that does not exist")
        })
        .unwrap_err();
    assert!(
        matches!(error, StoreError::NotFound(ref name) if name == "b"),
        "{error}"
    );
}

#[test]
fn update_keeps_the_lists_identity_and_saves_blobs_with_it() {
    let (_dir, store, list) = store_with_list_a();
    let blob = Bytes::from_static(b"{\"config\":1}");
    let digest = Digest::sha256_of(&blob);
    store
        .update("a", &[(digest.clone(), blob.clone())], |list| {
            list.id = "0".repeat(64);
            list.name = "localhost/b:latest".into();
            list.list.add(entry(1), Source::Store);
            Ok(())
        })
        .unwrap();
    let saved = store.find(&list.id).unwrap();
    assert_eq!((saved.id, saved.name), (list.id, list.name));
    assert_eq!(saved.list.index.manifests.len(), 1);
    assert_eq!(store.get_blob(&digest), Some(blob));
    assert_eq!(store.names().unwrap().len(), 1);
}

#[test]
fn update_or_create_amends_or_starts_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let created = store
        .update_or_create("localhost/a:latest", &[], |list| {
            list.add(entry(1), Source::Store)
        })
        .unwrap();
    let amended = store
        .update_or_create("localhost/a:latest", &[], |list| {
            list.add(entry(2), Source::Store)
        })
        .unwrap();
    assert_eq!(amended.id, created.id);
    let saved = store.find("a").unwrap();
    assert_eq!(
        saved
            .list
            .index
            .manifests
            .iter()
            .map(|e| &e.digest)
            .collect::<Vec<_>>(),
        [&entry(1).digest, &entry(2).digest]
    );
    assert_eq!(store.names().unwrap().len(), 1);
}
