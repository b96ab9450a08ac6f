//! `create` in-process: new, with images, picked from an index, --amend, --replace, refusals.

use super::run as create;
use crate::commands::testing::TestEnv;

#[test]
fn an_empty_list_is_created_and_its_id_printed() {
    let env = TestEnv::new();
    let out = env.run(create, &["l"]);
    let id = out.strip_suffix('\n').unwrap();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{out:?}"
    );
    let list = env.store().find("l").unwrap();
    assert_eq!(
        (list.id.as_str(), list.name.as_str()),
        (id, "localhost/l:latest")
    );
    assert!(list.list.index.manifests.is_empty());
}

#[test]
fn images_are_added_in_order_and_annotations_go_on_the_index() {
    let env = TestEnv::new();
    let (amd64, amd64_digest) = env.image("layout", "amd64", "linux/amd64");
    let (arm, arm_digest) = env.image("layout", "arm", "linux/arm/v7");
    env.run(
        create,
        &["--annotation", "org.example=1", "l", &amd64, &arm],
    );
    let entries = env.entries("l");
    assert_eq!(
        entries
            .iter()
            .map(|(d, p, _)| (d, p.as_str()))
            .collect::<Vec<_>>(),
        [
            (&amd64_digest, "linux/amd64"),
            (&arm_digest, "linux/arm/v7")
        ]
    );
    let list = env.store().find("l").unwrap();
    assert_eq!(list.list.index.annotations["org.example"], "1");
}

/// `create --artifact-type T`: the index's own artifactType, which makes it an OCI index.
#[test]
fn artifact_type_goes_on_the_index() {
    let env = TestEnv::new();
    env.run(
        create,
        &["--artifact-type", "application/vnd.example.bundle.v1", "l"],
    );
    let list = env.store().find("l").unwrap();
    assert_eq!(
        list.list.index.artifact_type.as_deref(),
        Some("application/vnd.example.bundle.v1")
    );
    let (document, format) = list.document().unwrap();
    assert_eq!(format, crate::model::oci::ListFormat::Oci);
    assert!(String::from_utf8(document)
        .unwrap()
        .contains(r#""artifactType":"application/vnd.example.bundle.v1","manifests":[]"#));
    let error = env.fails(create, &["--artifact-type", "bundle", "m"]);
    assert!(error.contains("not a media type"), "{error}");
}

#[test]
fn platform_flags_pick_one_image_of_an_index_and_all_takes_every_one() {
    let env = TestEnv::new();
    let (index, _, images) = env.index(
        "layout",
        "v1",
        &["linux/amd64", "linux/arm64/v8", "linux/s390x"],
    );
    for (line, want) in [
        (
            &["--os", "linux", "--arch", "arm64", "a", &index][..],
            vec![&images[1]],
        ),
        (
            &["--override-arch", "s390x", "--os", "linux", "b", &index],
            vec![&images[2]],
        ),
        (
            &[
                "--arch",
                "arm64",
                "--variant",
                "v8",
                "--os",
                "linux",
                "c",
                &index,
            ],
            vec![&images[1]],
        ),
        (&["--all", "d", &index], images.iter().collect()),
    ] {
        env.run(create, line);
        let got: Vec<_> = env
            .entries(line[line.len() - 2])
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "{line:?}");
    }
    let error = env.fails(create, &["--os", "windows", "--arch", "amd64", "e", &index]);
    assert!(error.contains("windows/amd64"), "{error}");
}

#[test]
fn a_taken_name_is_refused_amended_or_replaced() {
    let env = TestEnv::new();
    let (first, first_digest) = env.image("layout", "one", "linux/amd64");
    let (second, second_digest) = env.image("layout", "two", "linux/arm64");
    let id = env.create_list("l");

    let error = env.fails(create, &["l", &first]);
    assert!(error.contains("already in use"), "{error}");

    let out = env.run(create, &["--amend", "l", &first]);
    assert_eq!(out, format!("{id}\n"));
    let out = env.run(create, &["-a", "l", &second]);
    assert_eq!(out, format!("{id}\n"));
    let digests: Vec<_> = env.entries("l").into_iter().map(|e| e.0).collect();
    assert_eq!(digests, [first_digest, second_digest.clone()]);

    let out = env.run(create, &["--replace", "l", &second]);
    let new_id = out.trim_end();
    assert_ne!(new_id, id);
    let list = env.store().find("l").unwrap();
    assert_eq!(list.id, new_id);
    assert_eq!(
        env.entries("l")
            .into_iter()
            .map(|e| e.0)
            .collect::<Vec<_>>(),
        [second_digest]
    );
    assert_eq!(
        env.store().names().unwrap().len(),
        1,
        "the old list is gone"
    );

    let error = env.fails(create, &["--amend", "--replace", "l"]);
    assert!(error.contains("mutually exclusive"), "{error}");
}

#[test]
fn amend_starts_a_list_that_does_not_exist() {
    let env = TestEnv::new();
    let (image, digest) = env.image("layout", "one", "linux/amd64");
    let out = env.run(create, &["--amend", "l", &image]);
    let list = env.store().find("l").unwrap();
    assert_eq!(out, format!("{}\n", list.id));
    assert_eq!(env.entries("l")[0].0, digest);
}

#[test]
fn bad_input_changes_nothing() {
    let env = TestEnv::new();
    let (image, _) = env.image("layout", "one", "linux/amd64");
    env.create_list("other");
    let missing = format!("oci:{}:one", env.path("nowhere").display());
    for (line, says) in [
        (&["l", &image, &missing][..], "not an OCI image layout"),
        (
            &["--annotation", "novalue", "l"],
            "no value given for annotation",
        ),
        (&["--annotation", "=v", "l"], "no key given for annotation"),
        (&["Upper"], "must be lowercase"),
        (&["l", "dir:x"], "unknown transport"),
    ] {
        let error = env.fails(create, line);
        assert!(error.contains(says), "{line:?}: {error}");
    }
    assert!(env.store().find("l").is_err());
}
