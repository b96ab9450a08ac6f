//! Artifact manifests as buildah and podman write them, from files kept in a test store.

use super::*;

fn store_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Store, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let paths = files
        .iter()
        .map(|(name, content)| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            path
        })
        .collect();
    (dir, store, paths)
}

fn manifest_of(made: &Made) -> Value {
    serde_json::from_slice(&made.blobs[0].1).unwrap()
}

/// The bytes buildah 1.44 writes for `manifest add --artifact LIST hello.txt` (Go's
/// encoding/json of image-spec's Manifest: field order, empty fields left out, the empty
/// config with its inline data).
#[test]
fn defaults_give_buildahs_bytes() {
    let (_dir, store, paths) = store_with(&[("hello.txt", b"hello\n")]);
    let made = make(&store, &ArtifactSpec::default(), &paths).unwrap();
    let expected = concat!(
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
        r#""artifactType":"application/vnd.unknown.artifact.v1","config":{"mediaType":"#,
        r#""application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","#,
        r#""size":2,"data":"e30="},"layers":[{"mediaType":"text/plain","digest":"#,
        r#""sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03","size":6,"#,
        r#""annotations":{"org.opencontainers.image.title":"hello.txt"}}]}"#
    );
    assert_eq!(String::from_utf8_lossy(&made.blobs[0].1), expected);
    assert_eq!(made.entry.digest, Digest::sha256_of(expected.as_bytes()));
    assert_eq!(made.entry.size, expected.len() as u64);
    assert_eq!(made.entry.media_type, OCI_MANIFEST);
    assert_eq!(
        made.entry.artifact_type.as_deref(),
        Some(UNKNOWN_ARTIFACT_TYPE)
    );
    assert!(
        made.entry.platform.is_none(),
        "no platform unless one is given"
    );
    // The empty config is kept with the manifest; the file is in the blob area.
    assert_eq!(made.blobs[1].0, Digest::sha256_of(b"{}"));
    assert_eq!(made.files, [absolute(&paths[0]).to_str().unwrap()]);
    assert!(store.get_blob(&Digest::sha256_of(b"hello\n")).is_some());
}

/// buildah's `manifest-add artifact` flags, and podman's rules for config files.
#[test]
fn every_flag_shapes_the_manifest() {
    let (dir, store, paths) = store_with(&[
        ("randomfile", b"\x00\x01binary"),
        ("zeroes", &[0u8; 64]),
        ("listed.txt", b"oh yeah\n"),
    ]);
    let subject = Descriptor::new(OCI_MANIFEST, Digest::sha256_of(b"subject"), 7);
    let spec = ArtifactSpec {
        artifact_type: Some("image/png".into()),
        config_type: Some("text/x-not-really".into()),
        layer_type: Some("image/not-validated".into()),
        annotations: BTreeMap::from([("left".into(), "right & <up>".into())]),
        subject: Some(subject.clone()),
        ..ArtifactSpec::default()
    };
    let made = make(&store, &spec, &paths[..1]).unwrap();
    let text = String::from_utf8(made.blobs[0].1.to_vec()).unwrap();
    assert!(text.contains(r#""artifactType":"image/png""#), "{text}");
    assert!(
        text.contains(r#""mediaType":"image/not-validated""#),
        "{text}"
    );
    assert!(
        text.contains(r#""mediaType":"text/x-not-really""#),
        "{text}"
    );
    // Go escapes <, > and & in strings.
    assert!(
        text.contains(r#""annotations":{"left":"right \u0026 \u003cup\u003e"}"#),
        "{text}"
    );
    let manifest = manifest_of(&made);
    assert_eq!(manifest["subject"]["digest"], subject.digest.as_str());
    assert_eq!(manifest["config"]["data"], "e30=");

    // Several files: a layer each, in order, typed by name or content; no titles on request.
    let spec = ArtifactSpec {
        artifact_type: Some(String::new()),
        exclude_titles: true,
        ..ArtifactSpec::default()
    };
    let made = make(&store, &spec, &paths[1..]).unwrap();
    let manifest = manifest_of(&made);
    assert_eq!(
        manifest.get("artifactType"),
        None,
        "--artifact-type \"\" sets none"
    );
    assert_eq!(made.entry.artifact_type, None);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers[0]["mediaType"], "application/octet-stream");
    assert_eq!(layers[1]["mediaType"], "text/plain");
    assert!(layers.iter().all(|l| l.get("annotations").is_none()));

    // A config file: the image config type unless one is given, no inline data; an empty
    // config file is no config.
    let config = dir.path().join("minimum-config.json");
    std::fs::write(&config, b"{}\n").unwrap();
    for (config_type, expected) in [(None, OCI_CONFIG), (Some("text/plain"), "text/plain")] {
        let spec = ArtifactSpec {
            config_file: Some(config.clone()),
            config_type: config_type.map(str::to_string),
            ..ArtifactSpec::default()
        };
        let made = make(&store, &spec, &paths[..1]).unwrap();
        let manifest = manifest_of(&made);
        assert_eq!(manifest["config"]["mediaType"], expected);
        assert_eq!(manifest["config"]["size"], 3);
        assert_eq!(manifest["config"].get("data"), None);
        assert_eq!(made.files.len(), 2, "the config file is one of the files");
    }
    std::fs::write(&config, b"").unwrap();
    let spec = ArtifactSpec {
        config_file: Some(config.clone()),
        ..ArtifactSpec::default()
    };
    let manifest = manifest_of(&make(&store, &spec, &paths[..1]).unwrap());
    assert_eq!(manifest["config"]["mediaType"], EMPTY_JSON_TYPE);
}

#[test]
fn bad_media_types_and_too_many_files_are_refused_before_anything_is_read() {
    let (_dir, store, paths) = store_with(&[("a", b"a")]);
    let spec = ArtifactSpec {
        layer_type: Some("not a type".into()),
        ..ArtifactSpec::default()
    };
    let error = make(&store, &spec, &paths).unwrap_err().to_string();
    assert!(error.starts_with("--artifact-layer-type: "), "{error}");
    let many = vec![paths[0].clone(); MAX_FILES + 1];
    let error = make(&store, &ArtifactSpec::default(), &many)
        .unwrap_err()
        .to_string();
    assert!(error.contains("at most 4096 files"), "{error}");
    assert!(store.get_blob(&Digest::sha256_of(b"a")).is_none());
}

#[test]
fn paths_are_made_absolute_and_clean() {
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(absolute(Path::new("a/./b/../c")), cwd.join("a/c"));
    assert_eq!(absolute(Path::new("/x/y/../z")), PathBuf::from("/x/z"));
}
