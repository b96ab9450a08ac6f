//! containers-storage: images buildah built (vfs and overlay), added by local name and by
//! `containers-storage:` reference, pushed to the real registry, pulled back with skopeo and
//! compared with what was copied in and with what `buildah manifest push --all` pushes.

use crate::support::buildah::{content_tree, skopeo_to_layout, Buildah, ContentTree, BIG};
use crate::support::image::{sha256_digest, write_image_layout, ImageSpec};
use crate::support::local::{
    pull_first_child, read_pulled, tar_entries, tree_entries, Local, Pulled,
};
use crate::support::push::{get_blob, get_manifest, manifest_status, push_layout_image};
use crate::support::registry::Registry;
use crate::support::TestEnv;
use serde_json::Value;

/// Checks that `pulled` carries exactly `tree` and that its layer digests are the diff_ids of
/// the image buildah stored.
fn assert_same_image(pulled: &Pulled, tree: &ContentTree, stored_diff_ids: &Value) {
    assert_eq!(&pulled.config["rootfs"]["diff_ids"], stored_diff_ids);
    let uncompressed: Vec<Value> = pulled
        .layers
        .iter()
        .map(|(_, digest, _)| Value::String(digest.clone()))
        .collect();
    assert_eq!(
        &Value::Array(uncompressed),
        stored_diff_ids,
        "layer digests are the diff_ids"
    );
    let (_, _, tar) = pulled.layers.last().unwrap();
    let (entries, xattrs) = tar_entries(tar);
    assert_eq!(
        entries,
        tree_entries(&tree.root),
        "the unpacked files equal what was copied in"
    );
    if tree.has_xattr {
        assert_eq!(
            xattrs
                .get("usr/share/tagged user.manifest.test")
                .map(Vec::as_slice),
            Some(&b"value"[..]),
            "the xattr survived: {xattrs:?}"
        );
    }
}

/// The config of a stored image, as buildah reports it.
fn stored_config(buildah: &Buildah, name: &str) -> Value {
    let text = buildah.run(&[
        "inspect",
        "--type",
        "image",
        "--format",
        "{{.Config}}",
        name,
    ]);
    serde_json::from_str(&text).unwrap()
}

/// Two arch images built by buildah, one added by its bare local name and one by a
/// `containers-storage:` reference, pushed --all; each arch pulled back with skopeo equals its
/// content, and `buildah manifest push --all` of the same images pushes the same configs and
/// uncompressed layers.
fn round_trip(driver: &'static str) {
    let local = Local::new(driver);
    if driver == "overlay" {
        if let Err(why) = local.buildah.probe() {
            eprintln!(
                "overlay is not usable on this machine ({}); the vfs test covers the same code path",
                why.trim()
            );
            return;
        }
    }
    let registry = Registry::plain();
    let trees = [
        content_tree(local.env.tmp.path(), 1, BIG),
        content_tree(local.env.tmp.path(), 2, 0),
    ];
    let platforms = ["linux/amd64", "linux/arm64/v8"];
    let names = ["localhost/app-amd64", "localhost/app-arm64"];
    for ((tree, platform), name) in trees.iter().zip(platforms).zip(names) {
        local.buildah.build(name, platform, &tree.root);
    }
    local.run(&["create", "localhost/app"]);
    local.run(&["add", "--tls-verify=false", "localhost/app", names[0]]);
    local.run(&["add", "localhost/app", &local.buildah.reference(names[1])]);
    let digest_file = local.env.path("digest");
    let destination = registry.docker_ref("dst/app:v1");
    local.run(&[
        "push",
        "--tls-verify=false",
        "--digestfile",
        digest_file.to_str().unwrap(),
        "localhost/app",
        &destination,
    ]);
    let (index, _, served) = get_manifest(&registry, "dst/app", "v1");
    let pushed = std::fs::read_to_string(&digest_file).unwrap();
    assert_eq!(
        pushed,
        sha256_digest(&index),
        "--digestfile has what was pushed"
    );
    assert_eq!(served.as_deref(), Some(pushed.as_str()));
    let index: Value = serde_json::from_slice(&index).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for (n, entry) in entries.iter().enumerate() {
        let digest = entry["digest"].as_str().unwrap();
        let stored = local.buildah.manifest_of(names[n]);
        assert_ne!(
            digest,
            sha256_digest(&stored),
            "the child was rewritten with compressed layers"
        );
        let (child, _, _) = get_manifest(&registry, "dst/app", digest);
        assert_eq!(entry["size"].as_u64().unwrap(), child.len() as u64);
        let layout = local.env.path(&format!("pulled-{n}"));
        skopeo_to_layout(
            &registry.docker_ref(&format!("dst/app@{digest}")),
            &layout,
            "x",
        );
        let pulled = read_pulled(&layout);
        assert!(
            pulled.layers.iter().all(|(t, ..)| t.ends_with("tar+gzip")),
            "gzip by default"
        );
        let stored_config = stored_config(&local.buildah, names[n]);
        assert_same_image(&pulled, &trees[n], &stored_config["rootfs"]["diff_ids"]);
        assert_eq!(pulled.config["architecture"], stored_config["architecture"]);
    }

    // The same images through buildah itself: same configs, same uncompressed layers.
    local
        .buildah
        .run(&["manifest", "create", "localhost/blist"]);
    for name in names {
        local
            .buildah
            .run(&["manifest", "add", "localhost/blist", name]);
    }
    local.buildah.run(&[
        "manifest",
        "push",
        "--all",
        "--tls-verify=false",
        "-q",
        "localhost/blist",
        &registry.docker_ref("buildah/app:v1"),
    ]);
    let (theirs, _, _) = get_manifest(&registry, "buildah/app", "v1");
    let theirs: Value = serde_json::from_slice(&theirs).unwrap();
    for (ours, theirs) in entries.iter().zip(theirs["manifests"].as_array().unwrap()) {
        let read = |repo: &str, entry: &Value| {
            let layout = local.env.path(&format!(
                "cmp-{}-{}",
                repo.replace('/', "-"),
                &entry["digest"].as_str().unwrap()[7..19]
            ));
            let reference =
                registry.docker_ref(&format!("{repo}@{}", entry["digest"].as_str().unwrap()));
            skopeo_to_layout(&reference, &layout, "x");
            read_pulled(&layout)
        };
        let (a, b) = (read("dst/app", ours), read("buildah/app", theirs));
        assert_eq!(a.config_digest, b.config_digest, "the same config");
        let digests = |p: &Pulled| {
            p.layers
                .iter()
                .map(|(_, d, _)| d.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(digests(&a), digests(&b), "the same uncompressed layers");
    }
}

#[test]
fn vfs_local_images_push_and_pull_back_unchanged() {
    round_trip("vfs");
}

#[test]
fn overlay_local_images_push_and_pull_back_unchanged() {
    round_trip("overlay");
}

/// An image of two layers (built on a local base): every layer of the chain is regenerated and
/// pushed, in order, each equal to what was copied in at that step.
#[test]
fn layered_image_pushes_every_layer_of_its_chain() {
    let local = Local::new("vfs");
    let registry = Registry::plain();
    let base_tree = content_tree(local.env.tmp.path(), 12, 0);
    // Other paths than the base's: vfs finds changes by metadata, and same-size files copied
    // in the same instant would not count as changed.
    let top_root = local.env.path("top");
    std::fs::create_dir_all(top_root.join("opt/app")).unwrap();
    std::fs::write(top_root.join("opt/app/run.sh"), "#!/bin/sh\necho top\n").unwrap();
    let top_tree = ContentTree {
        root: top_root,
        has_xattr: false,
    };
    local
        .buildah
        .build("localhost/base", "linux/amd64", &base_tree.root);
    local.buildah.build_on(
        "localhost/base",
        "localhost/top",
        "linux/amd64",
        &top_tree.root,
    );
    local.run(&["create", "layered", "localhost/top"]);
    local.run(&[
        "push",
        "--tls-verify=false",
        "layered",
        &registry.docker_ref("dst/layered:v1"),
    ]);
    let layout = local.env.path("pulled");
    let pulled = pull_first_child(&registry, "dst/layered", "v1", &layout);
    assert_eq!(pulled.layers.len(), 2);
    let stored = stored_config(&local.buildah, "localhost/top");
    assert_same_image(&pulled, &top_tree, &stored["rootfs"]["diff_ids"]);
    assert_eq!(
        tar_entries(&pulled.layers[0].2).0,
        tree_entries(&base_tree.root),
        "the base layer first"
    );
}

/// An image pulled into containers-storage keeps its registry manifest (gzip layer digests)
/// while the store has only the uncompressed layers: each is found by its compressed digest,
/// regenerated, compressed again, and the child rewritten; the content is the same.
#[test]
fn pulled_image_with_gzip_layers_is_pushed_from_the_store() {
    let local = Local::new("vfs");
    let registry = Registry::plain();
    let layout = local.env.path("layout");
    let spec = ImageSpec::new("linux/arm64/v8", 2, 200_000, 21);
    let built = write_image_layout(&layout, &spec, "latest");
    push_layout_image(&layout, "latest", &registry, "src/pulled", "v1");
    let pulled_id = local.buildah.run(&[
        "pull",
        "-q",
        "--tls-verify=false",
        &registry.docker_ref("src/pulled:v1"),
    ]);
    let pulled_id = pulled_id.lines().last().unwrap();
    local.buildah.run(&["tag", pulled_id, "localhost/pulled"]);
    let printed = local.run(&["create", "pulled", "localhost/pulled"]);
    assert!(!printed.is_empty());
    let inspect = local
        .env
        .cmd()
        .args(local.buildah.global_args())
        .args(["inspect", "pulled"])
        .output()
        .unwrap();
    assert!(inspect.status.success());
    let inspected: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(
        inspected["manifests"][0]["digest"], built.manifest_digest,
        "the list names the stored (pulled) manifest"
    );
    // The digest of a local entry changes at push, and inspect says so (on stderr: stdout is
    // the document).
    assert_eq!(
        String::from_utf8_lossy(&inspect.stderr).trim_end(),
        "Note: 1 entry is a local image (containers-storage): its digest is assigned at push, \
         when the layers stored uncompressed are compressed (`push --dry-run` shows them)"
    );
    local.run(&[
        "push",
        "--tls-verify=false",
        "pulled",
        &registry.docker_ref("dst/pulled:v1"),
    ]);
    let pulled_back = local.env.path("pulled-back");
    let pushed = pull_first_child(&registry, "dst/pulled", "v1", &pulled_back);
    let original = read_pulled(&layout);
    assert_eq!(
        pushed.config_digest, original.config_digest,
        "the config is unchanged"
    );
    let digests = |p: &Pulled| {
        p.layers
            .iter()
            .map(|(_, d, _)| d.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        digests(&pushed),
        digests(&original),
        "the same uncompressed layers"
    );

    // A zstd variant beside it (`--add-compression`): its layers come from the store as tars
    // too, whatever its manifest says, and hold the same content.
    local.run(&[
        "push",
        "--tls-verify=false",
        "--add-compression",
        "zstd",
        "pulled",
        &registry.docker_ref("dst/pulled:v2"),
    ]);
    let (index, _, _) = get_manifest(&registry, "dst/pulled", "v2");
    let index: Value = serde_json::from_slice(&index).unwrap();
    assert_eq!(
        index["manifests"][1]["annotations"]["io.github.containers.compression.zstd"],
        "true"
    );
    let variant = index["manifests"][1]["digest"].as_str().unwrap();
    let variant_layout = local.env.path("variant");
    skopeo_to_layout(
        &registry.docker_ref(&format!("dst/pulled@{variant}")),
        &variant_layout,
        "x",
    );
    let variant = read_pulled(&variant_layout);
    assert_eq!(variant.config_digest, original.config_digest);
    assert_eq!(digests(&variant), digests(&original));
    assert!(variant
        .layers
        .iter()
        .all(|(media_type, ..)| media_type == "application/vnd.oci.image.layer.v1.tar+zstd"));
}

/// The seed's example as written, with the store named only by storage.conf
/// (`$CONTAINERS_STORAGE_CONF`), which buildah reads too.
#[test]
fn seed_example_add_localhost_list_localhost_image() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let root = env.path("graph");
    let run = env.path("run");
    let conf = env.path("storage.conf");
    std::fs::write(
        &conf,
        format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            root.display(),
            run.display()
        ),
    )
    .unwrap();
    let tree = content_tree(env.tmp.path(), 3, 0);
    let container = String::from_utf8(
        std::process::Command::new("buildah")
            .env("CONTAINERS_STORAGE_CONF", &conf)
            .args(["from", "scratch"])
            .output()
            .expect("buildah is installed (apt-get install -y buildah)")
            .stdout,
    )
    .unwrap();
    let container = container.trim();
    for args in [
        vec!["copy", container, &format!("{}/", tree.root.display()), "/"],
        vec!["commit", "-q", "--rm", container, "localhost/image"],
    ] {
        let output = std::process::Command::new("buildah")
            .env("CONTAINERS_STORAGE_CONF", &conf)
            .args(&args)
            .output()
            .unwrap();
        assert!(output.status.success(), "buildah {args:?}: {output:?}");
    }
    let manifest = |args: &[&str]| {
        let mut cmd = env.cmd();
        cmd.env("CONTAINERS_STORAGE_CONF", &conf).args(args);
        cmd.assert().success();
    };
    manifest(&["create", "localhost/list"]);
    manifest(&["add", "localhost/list", "localhost/image"]);
    manifest(&[
        "push",
        "--tls-verify=false",
        "localhost/list",
        &registry.docker_ref("seed/list:v1"),
    ]);
    let layout = env.path("pulled");
    let (_, _, tar) = pull_first_child(&registry, "seed/list", "v1", &layout)
        .layers
        .pop()
        .unwrap();
    assert_eq!(tar_entries(&tar).0, tree_entries(&tree.root));
}

/// A list `buildah manifest create/add` made is a source for `create --all`: its local instance
/// is read from the store, its registry instance from the registry buildah recorded.
#[test]
fn buildah_list_is_read_with_create_all() {
    let local = Local::new("vfs");
    let registry = Registry::plain();
    let (_, id) = local.build_tree("localhost/one", "linux/arm64/v8", 4, 0);
    local
        .buildah
        .run(&["manifest", "create", "localhost/thatlist"]);
    local
        .buildah
        .run(&["manifest", "add", "localhost/thatlist", "localhost/one"]);
    let remote_layout = local.env.path("remote");
    let remote = write_image_layout(
        &remote_layout,
        &ImageSpec::new("linux/s390x", 1, 1000, 31),
        "latest",
    );
    push_layout_image(&remote_layout, "latest", &registry, "src/remote", "v1");
    local.buildah.run(&[
        "manifest",
        "add",
        "--tls-verify=false",
        "localhost/thatlist",
        &registry.docker_ref("src/remote:v1"),
    ]);
    local.run(&[
        "create",
        "--all",
        "new",
        "containers-storage:localhost/thatlist",
    ]);
    let inspected: Value = serde_json::from_str(&local.run(&["inspect", "new"])).unwrap();
    let entry = &inspected["manifests"][0];
    assert_eq!(entry["platform"]["architecture"], "arm64");
    assert_eq!(entry["platform"]["variant"], "v8");
    assert_eq!(inspected["manifests"][1]["digest"], remote.manifest_digest);
    assert_eq!(
        inspected["manifests"][1]["platform"]["architecture"],
        "s390x"
    );
    let list = std::fs::read_to_string(
        std::fs::read_dir(local.env.store.join("lists"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join("list.json"),
    )
    .unwrap();
    assert!(
        list.contains(&format!("]@{id}")),
        "the entry's source is the image: {list}"
    );
    local.run(&[
        "push",
        "--tls-verify=false",
        "new",
        &registry.docker_ref("from/list:v1"),
    ]);
    let (index, _, _) = get_manifest(&registry, "from/list", "v1");
    let index: Value = serde_json::from_slice(&index).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(
        index["manifests"][1]["digest"], remote.manifest_digest,
        "the registry instance is pushed as it is"
    );
}

/// `inspect containers-storage:NAME` prints the stored manifest; --raw its exact bytes.
#[test]
fn inspect_prints_the_stored_manifest() {
    let local = Local::new("vfs");
    let (_, id) = local.build_tree("localhost/shown", "linux/amd64", 8, 0);
    let stored = local.buildah.manifest_of("localhost/shown");
    for reference in [
        local.buildah.reference("localhost/shown"),
        "containers-storage:localhost/shown:latest".to_string(),
        format!("containers-storage:@{}", &id[..12]),
        format!("containers-storage:{id}"),
        // Bare names: a local image is looked for first, as sealos does.
        "localhost/shown".to_string(),
        "shown".to_string(),
    ] {
        let raw = local
            .manifest(&["inspect", "--raw", &reference])
            .assert()
            .success();
        assert_eq!(raw.get_output().stdout, stored, "{reference}");
    }
    let pretty = local.run(&["inspect", "containers-storage:localhost/shown"]);
    let a: Value = serde_json::from_str(&pretty).unwrap();
    let b: Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(a, b);
    assert!(
        pretty.contains("\n    \"schemaVersion\""),
        "indented with 4 spaces"
    );
}

/// `--compression-format zstd`: zstd layers whose content is the diff_id; a second push reuses
/// what the first compressed (the destination has it) instead of sending it again.
#[test]
fn zstd_push_and_repush_skips_known_layers() {
    let local = Local::new("vfs");
    let registry = Registry::plain();
    local.build_tree("localhost/z", "linux/arm64/v8", 9, 1024 * 1024);
    local.run(&["create", "z", "localhost/z"]);
    let push = |tag: &str| {
        let out = local
            .manifest(&[
                "push",
                "--tls-verify=false",
                "--compression-format",
                "zstd",
                "--compression-level",
                "5",
                "z",
                &registry.docker_ref(&format!("dst/z:{tag}")),
            ])
            .assert()
            .success();
        String::from_utf8_lossy(&out.get_output().stderr).into_owned()
    };
    let first = push("v1");
    let second = push("v2");
    assert!(first.contains(": 2 blobs copied"), "{first}");
    assert!(
        second.contains(": 0 blobs copied") && second.contains("2 already present"),
        "nothing compressed twice: {second}"
    );
    let (a, _, _) = get_manifest(&registry, "dst/z", "v1");
    let (b, _, _) = get_manifest(&registry, "dst/z", "v2");
    assert_eq!(a, b, "the same index both times");
    let index: Value = serde_json::from_slice(&a).unwrap();
    let (child, _, _) = get_manifest(
        &registry,
        "dst/z",
        index["manifests"][0]["digest"].as_str().unwrap(),
    );
    let child: Value = serde_json::from_slice(&child).unwrap();
    let layer = &child["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let blob = get_blob(&registry, "dst/z", layer["digest"].as_str().unwrap());
    let tar = zstd::decode_all(&blob[..]).unwrap();
    let config = stored_config(&local.buildah, "localhost/z");
    assert_eq!(
        Value::String(sha256_digest(&tar)),
        config["rootfs"]["diff_ids"][0]
    );

    // zstd cannot be named in a Docker manifest: refused before anything is pushed.
    let stderr = local.fails(&[
        "push",
        "--tls-verify=false",
        "--format",
        "v2s2",
        "--compression-format",
        "zstd",
        "z",
        &registry.docker_ref("dst/z:docker"),
    ]);
    assert!(stderr.contains("zstd layers cannot be named"), "{stderr}");
    assert_eq!(manifest_status(&registry, "dst/z", "docker"), 404);
}
