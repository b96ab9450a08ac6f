//! buildah's own manifest tests (`tests/lists.bats` at v1.30.0 and v1.44.0) that use images in
//! containers-storage, one test each, with the same command lines and outcomes: the images are
//! pulled (`_prefetch`, `buildah pull`, `buildah from`) from a registry on 127.0.0.1 or built
//! (`buildah bud`, `buildah commit`) by the real buildah into a store of the test's own, and named
//! as upstream names them (bare local names, image IDs, `sha256:ID`).
//!
//! Where upstream differs from these, on purpose (docs/testing.md has the table):
//! - `busybox` is `IMAGE_LIST`'s instance for this machine, pulled and tagged
//!   `docker.io/library/busybox:latest`; `registry.k8s.io/pause` is that index on 127.0.0.1;
//! - errors exit 1, as sealos does (buildah exits 125);
//! - lists live in this tool's store, not in containers-storage: a list never takes an image's
//!   name away, and `--replace` leaves the image's name on the image.

use crate::support::store_snapshot;
use crate::support::upstream::{createrandom, Upstream};
use manifest::model::list::PlatformWanted;

/// Mirrors `manifest-create` (v1.30.0; v1.44.0 adds `--amend --annotation red=blue foo busybox`
/// with a local `busybox`).
#[test]
fn manifest_create() {
    let f = Upstream::new();
    f.prefetch_busybox();
    let imagedigest = f.image_digest("busybox");
    let listid = f.ok(&["create", "foo"]);
    assert!(f
        .fails(&["create", "foo"])
        .contains("that name is already in use"));
    assert_eq!(f.ok(&["create", "--amend", "foo"]), listid);
    let amended = f.ok(&[
        "create",
        "--amend",
        "--annotation",
        "red=blue",
        "foo",
        "busybox",
    ]);
    assert_eq!(amended, listid);
    let inspected = f.ok(&["inspect", "foo"]);
    assert!(inspected.contains("\"red\": \"blue\""), "{inspected}");
    assert!(
        inspected.contains(&imagedigest),
        "{imagedigest}: {inspected}"
    );
    assert_eq!(f.exists("foo"), 0);
    assert_eq!(f.exists("foo2"), 1);
}

/// Builds image `name` from scratch, runs `create FLAG name` and checks that the list has a new
/// ID and `entries` entries; the image's ID.
fn create_over_an_image(f: &Upstream, flag: &str, name: &str, entries: usize) -> String {
    f.bud_from_scratch(name);
    let originalid = f.buildah(&["images", "-q", name]);
    let listid = f.ok(&["create", flag, name]);
    assert_ne!(
        listid.trim(),
        originalid,
        "list ID should differ from original image ID"
    );
    assert_eq!(f.entries(name), entries, "manifest entries of {name}");
    originalid
}

/// Mirrors `manifest-create-amend-nonlist` (v1.44.0): `--amend` of an image's name makes a list
/// whose one entry is that image.
#[test]
fn manifest_create_amend_nonlist() {
    let f = Upstream::new();
    create_over_an_image(&f, "--amend", "amend-test:v1", 1);
    let inspected = f.ok(&["inspect", "amend-test:v1"]);
    let imagedigest = f.image_digest("amend-test:v1");
    assert!(
        inspected.contains(&imagedigest),
        "the entry is the image: {inspected}"
    );
}

/// Mirrors `manifest-create-amend-nonlist-with-images` (v1.44.0).
#[test]
fn manifest_create_amend_nonlist_with_images() {
    let f = Upstream::new();
    let first = f.bud_from_scratch("amend-add-test:v1");
    let second = f.bud_from_scratch("scratch-for-amend");
    assert_ne!(first, second, "two builds, two images");
    f.ok(&[
        "create",
        "--amend",
        "amend-add-test:v1",
        "scratch-for-amend",
    ]);
    assert!(
        f.entries("amend-add-test:v1") >= 2,
        "expected at least 2 manifest entries (converted + added)"
    );
}

/// Mirrors `manifest-create-replace` (v1.44.0). buildah moves the name from the image to the new
/// list; here lists live in this tool's store and containers-storage is only read, so the image
/// keeps its name: everything upstream asserts holds.
#[test]
fn manifest_create_replace() {
    let f = Upstream::new();
    let originalid = create_over_an_image(&f, "--replace", "replace-test:v1", 0);
    f.buildah(&["inspect", &originalid]);
}

/// Mirrors `manifest-create-replace-existing-list` (v1.44.0).
#[test]
fn manifest_create_replace_existing_list() {
    let f = Upstream::new();
    f.prefetch_busybox();
    let originalid = f.ok(&["create", "replace-list-test:v1"]);
    f.ok(&["add", "replace-list-test:v1", "busybox"]);
    assert!(
        f.entries("replace-list-test:v1") > 0,
        "setup: original list should have entries"
    );
    let newid = f.ok(&["create", "--replace", "replace-list-test:v1"]);
    assert_ne!(newid, originalid, "new list ID should differ from original");
    assert_eq!(
        f.entries("replace-list-test:v1"),
        0,
        "expected empty manifest list after replace"
    );
}

/// Mirrors `manifest-add local image`.
#[test]
fn manifest_add_local_image() {
    let f = Upstream::new();
    let target = "scratch-image";
    f.bud_from_scratch(target);
    f.ok(&["create", "foo"]);
    let added = f.ok(&["add", "foo", target]);
    assert!(added.contains(&f.image_digest(target)), "{added}");
    f.ok(&["rm", "foo"]);
}

/// Mirrors `manifest-annotate global annotation` (v1.44.0).
#[test]
fn manifest_annotate_global_annotation() {
    let f = Upstream::new();
    f.prefetch_busybox();
    f.ok(&["create", "foo"]);
    f.ok(&["add", "foo", "busybox"]);
    f.ok(&["annotate", "--index", "--annotation", "red=blue", "foo"]);
    assert!(f.ok(&["inspect", "foo"]).contains("\"red\": \"blue\""));
}

/// Mirrors `manifest-annotate instance annotation` (v1.44.0). One step differs on purpose:
/// buildah accepts `--features` on an entry of a list that has annotations and drops the
/// features from the OCI index it writes (podman#15069); here that step is an error that names
/// the clash and changes nothing. Everything upstream asserts holds.
#[test]
fn manifest_annotate_instance_annotation() {
    let f = Upstream::new();
    f.prefetch_busybox();
    f.ok(&["create", "foo"]);
    let added = f.ok(&["add", "foo", "busybox"]);
    let instance = added.trim().rsplit(' ').next().unwrap();
    f.ok(&["annotate", "--annotation", "red=blue", "foo", instance]);
    f.ok(&["annotate", "--os", "OperatingSystem", "foo", instance]);
    f.ok(&["annotate", "--arch", "aRCHITECTURE", "foo", instance]);
    f.ok(&["annotate", "--variant", "vARIANT", "foo", instance]);
    let before = store_snapshot(&f.env().store);
    let clash = f.fails(&[
        "annotate",
        "--features",
        "FEATURE1",
        "--features",
        "FEATURE2",
        "foo",
        instance,
    ]);
    assert!(clash.contains("features"), "{clash}");
    assert_eq!(store_snapshot(&f.env().store), before);
    f.ok(&[
        "annotate",
        "--os-features",
        "OSFEATURE1",
        "--os-features",
        "OSFEATURE2",
        "foo",
        instance,
    ]);
    let inspected = f.ok(&["inspect", "foo"]);
    for text in [
        "\"red\": \"blue\"",
        "\"os\": \"OperatingSystem\"",
        "\"architecture\": \"aRCHITECTURE\"",
        "\"variant\": \"vARIANT\"",
        "\"OSFEATURE2\"",
    ] {
        assert!(inspected.contains(text), "{text} missing from {inspected}");
    }
}

/// Mirrors `manifest-annotate subject` (v1.44.0): the subject, prefetched into the store, is
/// named without a transport and read locally (the plain-HTTP registry is never asked: the
/// command has no `--tls-verify=false`).
#[test]
fn manifest_annotate_subject() {
    let f = Upstream::new();
    f.prefetch_busybox();
    f.prefetch(&f.instance_without_transport, None);
    f.ok(&["create", "foo"]);
    f.ok(&["add", "foo", "busybox"]);
    f.ok(&[
        "annotate",
        "--subject",
        &f.instance_without_transport,
        "foo",
    ]);
    let imagedigest = f.image_digest(&f.instance_without_transport);
    assert_eq!(imagedigest, f.digest("arm64"));
    let inspected = f.ok(&["inspect", "foo"]);
    assert!(inspected.contains(&imagedigest), "{inspected}");
    assert!(inspected.contains("\"subject\""), "{inspected}");
}

/// Mirrors `manifest-no-matching-instance`: an image built with `buildah bud --layers
/// --iidfile` is added by what the file holds (`sha256:ID`).
#[test]
fn manifest_no_matching_instance() {
    let f = Upstream::new();
    f.ok(&["create", "test-list"]);
    f.ok(&[
        "add",
        "--all",
        "--tls-verify=false",
        "test-list",
        &f.image_list,
    ]);
    let arch = PlatformWanted::host().arch;
    let inspected: serde_json::Value =
        serde_json::from_str(&f.ok(&["inspect", "test-list"])).unwrap();
    let archinstance = inspected["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == arch.as_str())
        .expect("an instance for this machine")["digest"]
        .as_str()
        .unwrap()
        .to_string();
    f.ok(&["remove", "test-list", &archinstance]);
    let image_id = f.bud_with_iidfile("much content, wow.\n", true);
    assert!(image_id.starts_with("sha256:"), "{image_id}");
    f.ok(&["add", "test-list", &image_id]);
    assert_eq!(f.entries("test-list"), 5);
}

/// Mirrors `manifest-add-to-list-from-storage`: two arches of one index pulled and tagged.
#[test]
fn manifest_add_to_list_from_storage() {
    let f = Upstream::new();
    let busybox = f.registry.image("pause:3.1");
    f.prefetch(&busybox, Some("amd64"));
    f.buildah(&["tag", &busybox, "test:amd64"]);
    f.prefetch(&busybox, Some("arm64"));
    f.buildah(&["tag", &busybox, "test:arm64"]);
    f.ok(&["create", "test"]);
    f.ok(&["add", "test", "test:amd64"]);
    f.ok(&["add", "--variant=variant-something", "test", "test:arm64"]);
    let inspected = f.ok(&["inspect", "test"]);
    for text in ["amd64", "arm64", "variant-something"] {
        assert!(inspected.contains(text), "{text} missing from {inspected}");
    }
    // The entries are the pulled instances themselves.
    assert!(inspected.contains(f.digest("amd64")), "{inspected}");
    assert!(inspected.contains(f.digest("arm64")), "{inspected}");
}

/// Mirrors `manifest-create-list-from-storage`: a container's image committed, then named as the
/// list's first image.
#[test]
fn manifest_create_list_from_storage() {
    let f = Upstream::new();
    let busybox = f.registry.image("pause:3.1");
    let cid = f.buildah(&[
        "from",
        "--quiet",
        "--tls-verify=false",
        "--arch",
        "amd64",
        &busybox,
    ]);
    let committed = format!("{cid}-committed:latest");
    f.buildah(&["commit", "-q", &cid, &committed]);
    f.ok(&["create", "test:latest", &committed]);
    let inspected = f.ok(&["inspect", "test"]);
    assert!(inspected.contains("amd64"), "{inspected}");
    assert_eq!(f.exists("test:latest"), 0);
    assert_eq!(f.exists("test2"), 1);
}

/// Beyond upstream: `sha256:ID`, as `--iidfile` writes it, names the local image with that ID for
/// every command, and never a registry; a short or unknown one fails at once.
#[test]
fn sha256_image_ids_name_local_images_only() {
    let f = Upstream::new();
    let image_id = f.bud_with_iidfile("by ID\n", false);
    let image_id = image_id.as_str();
    let digest = f.image_digest(image_id.strip_prefix("sha256:").unwrap());
    assert!(f.ok(&["create", "one", image_id]).len() > 1);
    assert!(f.ok(&["inspect", "one"]).contains(&digest));
    f.ok(&["create", "two"]);
    assert!(f.ok(&["add", "two", image_id]).contains(&digest));
    let inspected: serde_json::Value = serde_json::from_str(&f.ok(&["inspect", image_id])).unwrap();
    assert_eq!(inspected["schemaVersion"], 2, "the stored manifest");

    let unknown = format!("sha256:{}", "0".repeat(64));
    let before = store_snapshot(&f.env().store);
    let missing = f.fails(&["--debug", "add", "two", &unknown]);
    assert!(
        missing.contains("not found in containers-storage"),
        "{missing}"
    );
    assert!(
        !missing.contains("GET "),
        "no registry was asked: {missing}"
    );
    let short = f.fails(&["add", "two", "sha256:0123abcd"]);
    assert!(short.contains("64 lowercase hexadecimal"), "{short}");
    assert_eq!(store_snapshot(&f.env().store), before);
}

/// Beyond upstream: `create --amend NAME` takes a list buildah made in containers-storage over
/// with every entry; a list of this tool's store by that name is amended as it is, never joined
/// by the image; with neither, the list starts empty.
#[test]
fn create_amend_takes_over_a_local_image_only_where_no_list_has_the_name() {
    let f = Upstream::new();
    let content = f.env().path("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("file"), "x\n").unwrap();
    let buildah = &f.local.buildah;
    buildah.build("localhost/app-amd64", "linux/amd64", &content);
    buildah.build("localhost/app-arm64", "linux/arm64/v8", &content);
    f.buildah(&["manifest", "create", "localhost/blist"]);
    for image in ["localhost/app-amd64", "localhost/app-arm64"] {
        f.buildah(&["manifest", "add", "localhost/blist", image]);
    }
    f.ok(&["create", "--amend", "blist"]);
    let inspected = f.ok(&["inspect", "blist"]);
    for image in ["localhost/app-amd64", "localhost/app-arm64"] {
        assert!(
            inspected.contains(&f.image_digest(image)),
            "{image}: {inspected}"
        );
    }
    assert_eq!(f.entries("blist"), 2);

    f.ok(&["create", "localhost/app-amd64"]);
    f.ok(&["create", "--amend", "localhost/app-amd64"]);
    assert_eq!(
        f.entries("localhost/app-amd64"),
        0,
        "the list, not the image"
    );
    f.ok(&["create", "--amend", "nothing-by-that-name"]);
    assert_eq!(f.entries("nothing-by-that-name"), 0);
}

/// Beyond upstream: `annotate LIST NAME` takes a local image's short name (or its
/// `containers-storage:` reference) for the entry it was added as; a short name that is no local
/// image is `image not known`, with no request anywhere.
#[test]
fn annotate_names_an_entry_by_its_local_image() {
    let f = Upstream::new();
    let id = f.bud_from_scratch("scratch-image");
    let digest = f.image_digest("scratch-image");
    f.ok(&["create", "foo"]);
    let added = f.ok(&["add", "foo", "scratch-image"]);
    let by_name = f.ok(&["annotate", "--annotation", "a=b", "foo", "scratch-image"]);
    assert_eq!(by_name, added);
    assert!(by_name.trim().ends_with(&digest), "{by_name}");
    let by_reference = f.ok(&[
        "annotate",
        "--annotation",
        "c=d",
        "foo",
        &format!("containers-storage:@{id}"),
    ]);
    assert_eq!(by_reference, added);
    let inspected = f.ok(&["inspect", "foo"]);
    assert!(inspected.contains("\"a\": \"b\"") && inspected.contains("\"c\": \"d\""));
    let before = store_snapshot(&f.env().store);
    let missing = f.fails(&[
        "--debug",
        "annotate",
        "--annotation",
        "a=b",
        "foo",
        "nosuch",
    ]);
    assert!(
        missing.starts_with("Error: nosuch: image not known"),
        "{missing}"
    );
    assert!(
        !missing.contains("GET "),
        "no registry was asked: {missing}"
    );
    assert_eq!(store_snapshot(&f.env().store), before);
}

/// Mirrors `manifest-add artifact` (v1.44.0): two artifacts with every `--artifact-*` flag and
/// the local `busybox` as their subject; the second is annotated by its file's name, and the
/// pushed layout holds the file as a blob and the artifact manifest with the flags' values.
#[test]
fn manifest_add_artifact() {
    let f = Upstream::new();
    f.prefetch_busybox();
    let randomfile2 = f.env().path("randomfile2");
    let randomfile = f.env().path("randomfile");
    createrandom(&randomfile2);
    createrandom(&randomfile);
    let blobencoded =
        manifest::model::digest::Digest::sha256_of(&std::fs::read(&randomfile).unwrap())
            .as_str()
            .trim_start_matches("sha256:")
            .to_string();
    let (randomfile2, randomfile) = (randomfile2.to_str().unwrap(), randomfile.to_str().unwrap());
    f.ok(&["create", "foo"]);
    let flags = |artifact_type: &'static str, annotation: &'static str| {
        vec![
            "add",
            "--artifact",
            "--artifact-type",
            artifact_type,
            "--artifact-layer-type",
            "image/not-validated",
            "--artifact-config-type",
            "text/x-not-really",
            "--artifact-subject",
            "busybox",
            "--artifact-annotation",
            annotation,
            "foo",
        ]
    };
    f.ok(&[flags("image/jpeg", "up=down"), vec![randomfile2]].concat());
    let output = f.ok(&[flags("image/png", "left=right"), vec![randomfile]].concat());
    let digest = output.trim().rsplit(' ').next().unwrap().to_string();
    let (alg, encoded) = digest.split_once(':').unwrap();
    f.ok(&["annotate", "--annotation", "red=blue", "foo", randomfile]);
    let output = f.ok(&["inspect", "foo"]);
    assert!(output.contains("\"image/png\""), "{output}");
    assert!(output.contains("\"red\": \"blue\""), "{output}");
    let pushed = f.env().path("pushed");
    f.ok(&["push", "--all", "foo", &format!("oci:{}", pushed.display())]);
    assert!(
        std::fs::read(pushed.join("blobs/sha256").join(&blobencoded)).unwrap()
            == std::fs::read(randomfile).unwrap(),
        "pushed copy of random file did not match original"
    );
    let output = std::fs::read_to_string(pushed.join("blobs").join(alg).join(encoded))
        .expect("artifact manifest not found in expected location");
    for expected in [
        r#""artifactType":"image/png""#,
        r#""mediaType":"image/not-validated""#,
        r#""mediaType":"text/x-not-really""#,
        r#""annotations":{"left":"right"}"#,
    ] {
        assert!(output.contains(expected), "{expected} not in {output}");
    }
    // The subject is the local busybox's manifest.
    assert!(output.contains(&f.image_digest("busybox")), "{output}");
    f.ok(&["rm", "foo"]);
}
