//! Unit tests of `list`: the pure edits, table-driven.

use super::*;
use crate::model::oci::OCI_MANIFEST;

fn entry(n: u8, os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
    let mut d = Descriptor::new(OCI_MANIFEST, Digest::sha256_of(&[n]), 500 + n as u64);
    d.platform = Some(Platform {
        os: os.into(),
        architecture: arch.into(),
        variant: variant.map(str::to_string),
        ..Platform::default()
    });
    d
}

fn digests(list: &ManifestList) -> Vec<Digest> {
    list.index
        .manifests
        .iter()
        .map(|e| e.digest.clone())
        .collect()
}

#[test]
fn re_adding_moves_entry_to_the_end() {
    let mut list = ManifestList::default();
    list.add(
        entry(1, "linux", "amd64", None),
        Source::image("docker://a"),
    );
    list.add(
        entry(2, "linux", "arm64", None),
        Source::image("docker://b"),
    );
    list.add(
        entry(1, "linux", "amd64", None),
        Source::image("docker://c"),
    );
    assert_eq!(
        digests(&list),
        vec![Digest::sha256_of(&[2]), Digest::sha256_of(&[1])]
    );
    assert_eq!(
        list.sources[&Digest::sha256_of(&[1])],
        Source::image("docker://c")
    );
}

#[test]
fn remove_platforms_takes_attestations_along() {
    use crate::model::platform::{ATTESTATION_MANIFEST, REFERENCE_DIGEST, REFERENCE_TYPE};
    let mut list = ManifestList::default();
    let images = [
        entry(1, "linux", "amd64", None),
        entry(2, "linux", "arm", Some("v7")),
        entry(3, "linux", "arm", Some("v6")),
    ];
    for image in &images {
        list.add(
            image.clone(),
            Source::image(&format!("docker://r/app@{}", image.digest)),
        );
    }
    for (n, image) in [(11, &images[0]), (12, &images[1])] {
        let mut a = entry(n, "unknown", "unknown", None);
        a.annotations
            .insert(REFERENCE_TYPE.into(), ATTESTATION_MANIFEST.into());
        a.annotations
            .insert(REFERENCE_DIGEST.into(), image.digest.to_string());
        list.add(a, Source::image("docker://r/a"));
    }
    let filter = PlatformFilter::parse(&["linux/arm/v7".into()]).unwrap();
    let removed = list.remove_platforms(&filter, "l").unwrap();
    assert_eq!(
        removed,
        [images[1].digest.clone(), Digest::sha256_of(&[12])]
    );
    assert_eq!(list.index.manifests.len(), 3);
    assert!(!list.sources.contains_key(&images[1].digest));
    let err = list.remove_platforms(&filter, "l").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no entry of list l is for platform linux/arm/v7 (it has: linux/amd64, linux/arm/v6)"
    );
}

#[test]
fn remove_known_and_unknown() {
    let mut list = ManifestList::default();
    list.add(
        entry(1, "linux", "amd64", None),
        Source::image("docker://a"),
    );
    assert_eq!(
        list.remove(&Digest::sha256_of(&[9]), "localhost/l:latest"),
        Err(ListError::UnknownInstance {
            digest: Digest::sha256_of(&[9]).to_string(),
            list: "localhost/l:latest".into()
        })
    );
    list.remove(&Digest::sha256_of(&[1]), "l").unwrap();
    assert!(list.index.manifests.is_empty());
    assert!(list.sources.is_empty());
}

#[test]
fn annotate_table() {
    struct Case {
        edit: EntryEdit,
        check: fn(&Descriptor) -> bool,
    }
    let cases = [
        Case {
            edit: EntryEdit {
                variant: Some("v8".into()),
                ..Default::default()
            },
            check: |d| d.platform.as_ref().unwrap().variant.as_deref() == Some("v8"),
        },
        Case {
            edit: EntryEdit {
                os: Some("windows".into()),
                os_version: Some("10.0.1".into()),
                ..Default::default()
            },
            check: |d| {
                let p = d.platform.as_ref().unwrap();
                p.os == "windows"
                    && p.os_version.as_deref() == Some("10.0.1")
                    && p.architecture == "amd64"
            },
        },
        Case {
            edit: EntryEdit {
                features: vec!["sse4".into()],
                os_features: vec!["win32k".into()],
                ..Default::default()
            },
            check: |d| {
                let p = d.platform.as_ref().unwrap();
                p.features == ["sse4"] && p.os_features == ["win32k"]
            },
        },
        Case {
            edit: EntryEdit {
                annotations: vec![("b".into(), "2".into()), ("a".into(), "1".into())],
                ..Default::default()
            },
            check: |d| d.annotations.keys().collect::<Vec<_>>() == ["a", "b"],
        },
        Case {
            edit: EntryEdit {
                artifact_type: Some("application/vnd.example.sbom+json".into()),
                ..Default::default()
            },
            check: |d| d.artifact_type.as_deref() == Some("application/vnd.example.sbom+json"),
        },
        Case {
            edit: EntryEdit {
                artifact_type: Some(String::new()),
                ..Default::default()
            },
            check: |d| d.artifact_type.is_none(),
        },
        Case {
            edit: EntryEdit::default(),
            check: |d| {
                d.platform.as_ref().unwrap().architecture == "amd64" && d.annotations.is_empty()
            },
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let mut list = ManifestList::default();
        list.add(entry(1, "linux", "amd64", None), Source::Store);
        list.annotate(&Digest::sha256_of(&[1]), &case.edit, "l")
            .unwrap();
        assert!((case.check)(&list.index.manifests[0]), "case {i}");
    }
    let mut list = ManifestList::default();
    assert!(list
        .annotate(&Digest::sha256_of(&[1]), &EntryEdit::default(), "l")
        .is_err());
}

#[test]
fn instances_resolve_from_the_list_alone() {
    let digest = |head: &str, fill: &str| {
        Digest::parse(&format!("sha256:{head}{}", fill.repeat(64 - head.len()))).unwrap()
    };
    let first = digest("0907f27d", "a");
    let twin = digest("0907aaaa", "b");
    let lonely = digest("c0ffee00", "c");
    let mut list = ManifestList::default();
    for d in [&first, &twin, &lonely] {
        let mut entry = entry(0, "linux", "amd64", None);
        entry.digest = d.clone();
        list.add(entry, Source::Store);
    }
    let resolve = |text: &str| list.resolve_instance(text, "localhost/l:latest");

    for (text, want) in [
        (first.as_str(), &first),
        ("0907f27d", &first),
        ("0907f", &first),
        ("sha256:0907f", &first),
        ("c0f", &lonely),
        ("sha256:c", &lonely),
        (lonely.hex(), &lonely),
    ] {
        assert_eq!(resolve(text), Ok(Some(want.clone())), "{text}");
    }
    // A full digest that is no entry is returned as it is: the edit then names it.
    let other = Digest::sha256_of(b"other");
    assert_eq!(resolve(other.as_str()), Ok(Some(other.clone())));

    for text in ["0907", "sha256:0"] {
        assert_eq!(
            resolve(text),
            Err(ListError::AmbiguousInstance {
                prefix: text.into(),
                list: "localhost/l:latest".into(),
                candidates: vec![first.to_string(), twin.to_string()],
            }),
            "{text}"
        );
    }
    for text in ["fff", "sha256:1", "sha512:0907", "0907f27e"] {
        assert_eq!(
            resolve(text),
            Err(ListError::UnknownInstance {
                digest: text.into(),
                list: "localhost/l:latest".into(),
            }),
            "{text}"
        );
    }
    assert_eq!(
        resolve("fff").unwrap_err().to_string(),
        "fff: image not known (no entry of list localhost/l:latest has that digest)"
    );
    // Not digests at all: image names, short or odd words, other algorithms.
    for text in [
        "busybox",
        "ab",
        "0907F27D",
        "sha256:",
        "sha256:xyz",
        "md5:0907",
        "docker://r/x:1",
        "",
    ] {
        assert_eq!(resolve(text), Ok(None), "{text:?}");
    }
    // `remove` takes a digest only: the same words are errors saying why.
    assert_eq!(list.instance("0907f", "l"), Ok(first.clone()));
    for (text, reason) in [
        (
            "busybox",
            "not a digest (sha256:…) or a prefix of an entry's digest",
        ),
        (
            "",
            "not a digest (sha256:…) or a prefix of an entry's digest",
        ),
        ("md5:0907", "unsupported algorithm"),
        ("sha256:xyz", "wrong length"),
    ] {
        let error = list.instance(text, "l").unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("invalid instance {text:?}: ")) && error.contains(reason),
            "{text:?}: {error}"
        );
    }
}

#[test]
fn annotation_parsing() {
    let ok = parse_annotations(&["a=b".into(), "c=d=e".into()]).unwrap();
    assert_eq!(
        ok,
        vec![("a".into(), "b".into()), ("c".into(), "d=e".into())]
    );
    let cases = [
        ("foo", ListError::AnnotationWithoutValue("foo".into())),
        ("foo=", ListError::AnnotationWithoutValue("foo".into())),
        ("=v", ListError::AnnotationWithoutKey("=v".into())),
        ("=", ListError::AnnotationWithoutKey("=".into())),
        ("==v", ListError::AnnotationWithoutKey("==v".into())),
        ("", ListError::AnnotationWithoutKey("".into())),
    ];
    for (bad, expected) in cases {
        assert_eq!(parse_annotations(&[bad.into()]), Err(expected), "{bad:?}");
    }
    assert_eq!(
        ListError::AnnotationWithoutValue("foo".into()).to_string(),
        "no value given for annotation \"foo\" (use KEY=VALUE)"
    );
    assert_eq!(
        ListError::AnnotationWithoutKey("=value".into()).to_string(),
        "no key given for annotation \"=value\" (use KEY=VALUE)"
    );
}

#[test]
fn split_flags() {
    assert_eq!(
        split_list_flags(&["a,b".into(), "c".into(), " ,d".into()]),
        ["a", "b", "c", "d"]
    );
}
