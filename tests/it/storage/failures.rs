//! containers-storage under change: images and layers removed, changed or locked by a writer
//! while a push reads them, and bad local references. Each is a clear error that names the
//! image, and the destination tag (or the list store) stays as it was. And a local layer's
//! upload cut part-way: made again from the store, never from a copy on disk.

use crate::support::buildah::{hold_write_lock, skopeo_to_layout, BIG};
use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::local::{pull_first_child, read_pulled, tar_entries, tree_entries, Local};
use crate::support::push::{get_manifest, manifest_status};
use crate::support::registry::Registry;
use crate::support::store_snapshot;
use serde_json::Value;
/// A layer removed or changed between add and push: a clear error naming the image, and the
/// destination tag untouched (still the earlier push).
#[test]
fn removed_or_changed_layer_fails_and_leaves_the_tag() {
    let local = Local::new("vfs");
    let registry = Registry::plain();
    let destination = registry.docker_ref("dst/gone:v1");
    local.build_tree("localhost/gone", "linux/amd64", 5, 0);
    local.build_tree("localhost/kept", "linux/amd64", 6, 0);
    local.run(&[
        "create",
        "earlier",
        &local.buildah.reference("localhost/kept"),
    ]);
    local.run(&["push", "--tls-verify=false", "earlier", &destination]);
    let (before, _, _) = get_manifest(&registry, "dst/gone", "v1");

    local.run(&[
        "create",
        "doomed",
        &local.buildah.reference("localhost/gone"),
    ]);
    // Change a file of the layer: regeneration no longer matches the diff_id.
    let store_layers = local.buildah.root.join("vfs/dir");
    for dir in std::fs::read_dir(&store_layers).unwrap() {
        let file = dir.unwrap().path().join("etc/hello.txt");
        if std::fs::read_to_string(&file).is_ok_and(|t| t == "hello 5\n") {
            std::fs::write(&file, "HELLO 5\n").unwrap();
        }
    }
    let stderr = local.fails(&["push", "--tls-verify=false", "doomed", &destination]);
    assert!(
        stderr.contains("localhost/gone"),
        "names the image: {stderr}"
    );
    assert!(
        stderr.contains("does not match its diff digest"),
        "{stderr}"
    );

    // Remove the image: the push fails before anything is written under the tag.
    local.buildah.run(&["rmi", "localhost/gone"]);
    let stderr = local.fails(&["push", "--tls-verify=false", "doomed", &destination]);
    assert!(stderr.starts_with("Error: "), "{stderr}");
    assert!(
        stderr.contains("not found in containers-storage"),
        "{stderr}"
    );
    let (after, _, _) = get_manifest(&registry, "dst/gone", "v1");
    assert_eq!(before, after, "the destination tag is untouched");
}

/// `buildah rmi` while a push reads the image: c/storage's layer lock makes rmi wait for the
/// reader (or the push sees the image gone first and fails clearly); the registry never gets
/// a broken image under the tag.
#[test]
fn rmi_during_push_never_yields_a_broken_push() {
    let local = Local::new("vfs");
    let registry = Registry::plain();
    let (tree, _) = local.build_tree("localhost/busy", "linux/amd64", 7, BIG);
    local.run(&["create", "busy", "localhost/busy"]);
    let push = local.spawn_push("busy", &registry.docker_ref("dst/busy:v1"));
    let rmi = local
        .buildah
        .cmd()
        .args(["rmi", "localhost/busy"])
        .output()
        .unwrap();
    let output = push.wait_with_output().unwrap();
    assert!(rmi.status.success(), "rmi runs once the reader is done");
    if output.status.success() {
        let (index, _, _) = get_manifest(&registry, "dst/busy", "v1");
        let index: Value = serde_json::from_slice(&index).unwrap();
        let child = index["manifests"][0]["digest"].as_str().unwrap();
        let layout = local.env.path("pulled");
        skopeo_to_layout(
            &registry.docker_ref(&format!("dst/busy@{child}")),
            &layout,
            "x",
        );
        let (_, _, tar) = read_pulled(&layout).layers.pop().unwrap();
        assert_eq!(tar_entries(&tar).0, tree_entries(&tree.root));
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("busy"),
            "a clear error naming the image: {stderr}"
        );
        assert_eq!(manifest_status(&registry, "dst/busy", "v1"), 404);
    }
}

/// Bad local references are clear errors that change nothing in the list store.
#[test]
fn bad_local_references_are_clear_errors() {
    let local = Local::new("vfs");
    local.build_tree("localhost/real", "linux/amd64", 10, 0);
    local.run(&["create", "mylist"]);
    let before = store_snapshot(&local.env.store);
    for (args, wanted) in [
        (
            vec!["add", "mylist", "containers-storage:localhost/missing"],
            "not found in containers-storage",
        ),
        (
            vec!["add", "mylist", "containers-storage:[vfs@relative]x"],
            "absolute path",
        ),
        (vec!["add", "mylist", "containers-storage:App"], "lowercase"),
        (
            vec![
                "add",
                "mylist",
                "containers-storage:[btrfs@/var/empty]localhost/real",
            ],
            "not supported",
        ),
        (
            vec!["push", "mylist", "containers-storage:localhost/real"],
            "read-only",
        ),
        (
            vec!["add", "mylist", "localhost/missing"],
            "neither a registry image nor a local one",
        ),
    ] {
        let stderr = local.fails(&args);
        assert!(
            stderr.starts_with("Error: ") && stderr.contains(wanted),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(before, store_snapshot(&local.env.store), "nothing changed");
}

/// A local layer goes to the registry as it is compressed, with no copy on local disk (TMPDIR
/// does not exist here), and an upload cut part-way is regenerated from the store and sent
/// again whole: what arrives has the stored diff_ids.
#[test]
fn a_cut_local_layer_upload_is_made_again_from_the_store_without_a_temporary_copy() {
    let local = Local::new("vfs");
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let (tree, _) = local.build_tree("localhost/streamed", "linux/amd64", 7, BIG / 8);
    local.run(&["create", "streamed", "localhost/streamed"]);
    // The layer's PATCH is the one with no Content-Length: its size is known only at the end.
    proxy.add(
        Rule::new(
            "PATCH",
            "/blobs/uploads/",
            Fault::CutRequestAfter(256 * 1024),
        )
        .times(1)
        .when(|head| head.header("content-length").is_none()),
    );
    local
        .manifest(&[
            "push",
            "--tls-verify=false",
            "--retry-delay",
            "10ms",
            "streamed",
            &proxy.docker_ref("dst/streamed:v1"),
        ])
        .env("TMPDIR", local.env.path("no-such-directory"))
        .assert()
        .success();
    let (received, _) = proxy.body_bytes();
    let (index, _, _) = get_manifest(&registry, "dst/streamed", "v1");
    let index: Value = serde_json::from_slice(&index).unwrap();
    let (child, _, _) = get_manifest(
        &registry,
        "dst/streamed",
        index["manifests"][0]["digest"].as_str().unwrap(),
    );
    let child: Value = serde_json::from_slice(&child).unwrap();
    let sent_whole = child["layers"][0]["size"].as_u64().unwrap();
    assert!(
        received > sent_whole + 256 * 1024,
        "the cut upload was sent again whole: {received} bytes for a {sent_whole}-byte layer"
    );
    let pulled = pull_first_child(&registry, "dst/streamed", "v1", &local.env.path("pulled"));
    let layer = &pulled.layers[0];
    assert_eq!(
        Value::String(layer.1.clone()),
        pulled.config["rootfs"]["diff_ids"][0]
    );
    assert_eq!(tar_entries(&layer.2).0, tree_entries(&tree.root));
}

/// A writer holds `layers.lock` (as c/storage does while it deletes a layer) and marks the
/// layer incomplete before letting go: the push, which cannot read the layers while the lock is
/// held, sees the layer as being removed and fails clearly; the tag is never written.
#[test]
fn a_layer_being_removed_under_the_store_lock_is_a_clear_error() {
    let local = Local::new("vfs");
    let registry = Registry::plain();
    local.build_tree("localhost/going", "linux/amd64", 11, 0);
    local.run(&["create", "going", "localhost/going"]);
    let layers_dir = local.buildah.root.join("vfs-layers");
    let writer = hold_write_lock(&layers_dir.join("layers.lock"));
    let push = local.spawn_push("going", &registry.docker_ref("dst/going:v1"));
    let layers_json = layers_dir.join("layers.json");
    let mut layers: Value = serde_json::from_slice(&std::fs::read(&layers_json).unwrap()).unwrap();
    for layer in layers.as_array_mut().unwrap() {
        layer["flags"] = serde_json::json!({"incomplete": true});
    }
    std::fs::write(&layers_json, serde_json::to_vec(&layers).unwrap()).unwrap();
    drop(writer);
    let output = push.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("being created or removed"), "{stderr}");
    assert!(
        stderr.contains("localhost/going"),
        "names the image: {stderr}"
    );
    assert_eq!(manifest_status(&registry, "dst/going", "v1"), 404);
}
