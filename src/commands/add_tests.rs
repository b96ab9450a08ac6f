//! `add` in-process, from OCI layouts: one image, one picked from an index, --all, --platform,
//! entry flags, and refusals that leave the list as it was.

use super::run as add;
use crate::commands::testing::TestEnv;

#[test]
fn an_image_is_added_with_the_platform_of_its_config() {
    let env = TestEnv::new();
    let id = env.create_list("l");
    let (image, digest) = env.image("layout", "arm", "linux/arm/v7");
    let out = env.run(add, &["l", &image]);
    assert_eq!(out, format!("{id}: {digest}\n"));
    let entries = env.entries("l");
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (&entries[0].0, entries[0].1.as_str()),
        (&digest, "linux/arm/v7")
    );
    // What push reads it from, and the manifest and config, are kept with the list.
    let list = env.store().find(&id).unwrap();
    assert!(list.list.sources[&digest].to_string().starts_with("oci:"));
    assert!(env.store().get_blob(&digest).is_some());

    // Adding it again replaces the entry instead of adding a second one.
    env.run(add, &["--annotation", "k=v", "l", &image]);
    let entries = env.entries("l");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].2["k"], "v");
}

#[test]
fn entry_flags_set_the_entrys_fields() {
    let env = TestEnv::new();
    env.create_list("l");
    let (image, _) = env.image("layout", "win", "windows/amd64");
    env.run(
        add,
        &[
            "--os-version",
            "10.0.17763.1879",
            "--os-features",
            "win32k",
            "--features",
            "sse4,avx",
            "l",
            &image,
        ],
    );
    let list = env.store().find("l").unwrap();
    let entry = &list.list.index.manifests[0];
    let platform = entry.platform.as_ref().unwrap();
    assert_eq!(platform.os_version.as_deref(), Some("10.0.17763.1879"));
    assert_eq!(platform.os_features, ["win32k"]);
    assert_eq!(platform.features, ["sse4", "avx"]);
}

#[test]
fn an_index_gives_one_image_by_platform_or_all_of_them() {
    let env = TestEnv::new();
    let (index, index_digest, images) = env.index(
        "layout",
        "v1",
        &["linux/amd64", "linux/arm64/v8", "linux/ppc64le"],
    );
    let id = env.create_list("one");
    let out = env.run(add, &["--os", "linux", "--arch", "ppc64le", "one", &index]);
    assert_eq!(out, format!("{id}: {}\n", images[2]));
    assert_eq!(env.entries("one").len(), 1);

    // --all prints the first entry added; the platform flags then change nothing.
    let id = env.create_list("all");
    let out = env.run(
        add,
        &[
            "--all",
            "--arch",
            "s390x",
            "--annotation",
            "k=v",
            "all",
            &index,
        ],
    );
    assert_eq!(out, format!("{id}: {}\n", images[0]));
    let entries = env.entries("all");
    assert_eq!(
        entries.iter().map(|e| &e.0).collect::<Vec<_>>(),
        images.iter().collect::<Vec<_>>()
    );
    assert_eq!(entries[2].1, "linux/ppc64le");
    assert!(entries.iter().all(|e| e.2["k"] == "v"));

    env.create_list("some");
    env.run(
        add,
        &["--platform", "linux/arm64,linux/ppc64le", "some", &index],
    );
    let digests: Vec<_> = env.entries("some").into_iter().map(|e| e.0).collect();
    assert_eq!(digests, [images[1].clone(), images[2].clone()]);
    assert_ne!(digests[0], index_digest);
}

#[test]
fn refusals_leave_the_list_as_it_was() {
    let env = TestEnv::new();
    env.create_list("l");
    let (index, _, _) = env.index("layout", "v1", &["linux/amd64", "linux/arm64/v8"]);
    let (image, _) = env.image("layout", "single", "linux/amd64");
    let missing = format!("oci:{}:v1", env.path("nowhere").display());
    for (line, says) in [
        (&["nolist", &image][..], "nolist: image not known"),
        (&["l", &missing], "not an OCI image layout"),
        (
            &["--os", "linux", "--arch", "riscv64", "l", &index],
            "riscv64",
        ),
        (&["--platform", "linux/s390x", "l", &index], "linux/s390x"),
        (&["--platform", "linux/arm64", "l", &image], "linux/amd64"),
        (&["--platform", "linux//", "l", &index], "linux//"),
        (
            &["--annotation", "k", "l", &image],
            "no value given for annotation",
        ),
        (&["l", "dir:x"], "unknown transport"),
    ] {
        let error = env.fails(add, line);
        assert!(error.contains(says), "{line:?}: {error}");
    }
    assert!(env.entries("l").is_empty());
}

/// `add --artifact LIST FILE…`: one entry made of the files, typed, with the entry flags; the
/// `--artifact-*` flags without `--artifact` are refused in buildah's words.
#[test]
fn files_become_one_artifact_entry() {
    let env = TestEnv::new();
    let id = env.create_list("l");
    let readme = env.path("README.md");
    let weights = env.path("weights");
    std::fs::write(&readme, "# model\n").unwrap();
    std::fs::write(&weights, [0u8; 1000]).unwrap();
    let (readme, weights) = (readme.to_str().unwrap(), weights.to_str().unwrap());
    let out = env.run(
        add,
        &[
            "--artifact",
            "--artifact-type",
            "application/vnd.example.model.v1",
            "--os",
            "linux",
            "--arch",
            "amd64",
            "--annotation",
            "k=v",
            "l",
            readme,
            weights,
        ],
    );
    let list = env.store().find("l").unwrap();
    let entry = &list.list.index.manifests[0];
    assert_eq!(out, format!("{id}: {}\n", entry.digest));
    assert_eq!(
        entry.artifact_type.as_deref(),
        Some("application/vnd.example.model.v1")
    );
    assert_eq!(entry.platform.as_ref().unwrap().display(), "linux/amd64");
    assert_eq!(entry.annotations["k"], "v");
    assert_eq!(
        list.list.sources[&entry.digest],
        crate::model::list::Source::Store
    );
    assert_eq!(
        list.list.instance_by_file(weights),
        Some(entry.digest.clone())
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&env.store().get_blob(&entry.digest).unwrap()).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers[0]["mediaType"], "text/markdown");
    assert_eq!(layers[1]["mediaType"], "application/octet-stream");
    assert_eq!(
        layers[1]["annotations"]["org.opencontainers.image.title"],
        "weights"
    );

    for (line, says) in [
        (
            &["--artifact-type", "a/b", "l", readme][..],
            "--artifact-type requires --artifact",
        ),
        (
            &[
                "--artifact-exclude-titles",
                "--artifact-config",
                "c",
                "l",
                readme,
            ],
            "--artifact-config/--artifact-exclude-titles require --artifact",
        ),
        (&["l", readme, weights], "too many arguments"),
        (&["--artifact", "--all", "l", readme], "--all"),
        (&["--artifact", "l", "/no/such/file"], "/no/such/file"),
        (
            &["--artifact", "--artifact-type", "png", "l", readme],
            "not a media type",
        ),
        (&["--artifact", "nolist", readme], "nolist: image not known"),
    ] {
        let error = env.fails(add, line);
        assert!(error.contains(says), "{line:?}: {error}");
    }
    assert_eq!(env.entries("l").len(), 1);
}
