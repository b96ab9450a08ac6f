//! containers-storage that points outside itself or lies about sizes, built by the real buildah
//! into a private `--root` and then damaged: a layer directory, a file of a layer and a
//! directory on its way as symlinks out of the store (nothing from outside is read or sent);
//! `layers.json`, `images.json`, an image's `manifest` item, a tar-split file, a layer's file and
//! `storage.lock` as symlinks to `/dev/zero`, FIFOs, devices, directories, 8 GiB sparse files; a
//! layer that regenerates past its recorded size (cut there); the store's cache of compressed
//! layers damaged (ignored). Every refusal names the file and the rule, and no layer of a
//! failed push is committed to the registry.

use crate::support::buildah::content_tree;
use crate::support::faults::FaultProxy;
use crate::support::hostile::{damages, make_symlink, undamage, HANG_LIMIT};
use crate::support::local::Local;
use crate::support::push::manifest_status;
use crate::support::registry::Registry;
use serde_json::Value;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A buildah store with one image `localhost/<name>` of one layer (a content tree with a
/// `big_bytes` random file), a list `<name>` holding it, and where its files are.
struct Stored {
    local: Local,
    image: String,
    layer_dir: PathBuf,
    tar_split: PathBuf,
    manifest_item: PathBuf,
    layers_json: PathBuf,
    config_digest: String,
}

fn stored(name: &str, seed: u8, big_bytes: usize) -> Stored {
    let local = Local::new("vfs");
    let tree = content_tree(local.env.tmp.path(), seed, big_bytes);
    let image = format!("localhost/{name}");
    local.buildah.build(&image, "linux/amd64", &tree.root);
    local.run(&["create", name, &local.buildah.reference(&image)]);
    let root = local.buildah.root.clone();
    let images: Value =
        serde_json::from_slice(&fs::read(root.join("vfs-images/images.json")).unwrap()).unwrap();
    let record = images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["names"].to_string().contains(&image))
        .unwrap();
    let id = record["id"].as_str().unwrap().to_string();
    let layer = record["layer"].as_str().unwrap().to_string();
    let manifest: Value = serde_json::from_slice(&local.buildah.manifest_of(&image)).unwrap();
    Stored {
        image: local.buildah.reference(&image),
        layer_dir: root.join("vfs/dir").join(&layer),
        tar_split: root.join(format!("vfs-layers/{layer}.tar-split.gz")),
        manifest_item: root.join("vfs-images").join(&id).join("manifest"),
        layers_json: root.join("vfs-layers/layers.json"),
        config_digest: manifest["config"]["digest"].as_str().unwrap().to_string(),
        local,
    }
}

impl Stored {
    /// Runs `args` (with the store's flags), which must fail; returns stderr.
    fn refused(&self, args: &[&str], needles: &[&str]) -> String {
        let output = self
            .local
            .manifest(args)
            .timeout(HANG_LIMIT)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.starts_with("Error: "), "{args:?}: {stderr}");
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{args:?}: {needle:?} not in {stderr}"
            );
        }
        stderr
    }

    /// `push -q LIST oci:<fresh dir>:t`.
    fn push_to_layout(&self, list: &str, n: usize) -> Vec<String> {
        let out = self.local.env.path(&format!("out-{n}"));
        vec![
            "push".into(),
            "-q".into(),
            list.into(),
            format!("oci:{}:t", out.display()),
        ]
    }
}

fn strings(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Moves `path` out of the store to `outside` and leaves a symlink to it in its place.
fn link_out(path: &Path, outside: &Path) {
    fs::rename(path, outside).unwrap();
    std::os::unix::fs::symlink(outside, path).unwrap();
}

/// Puts back what [`link_out`] moved.
fn link_back(path: &Path, outside: &Path) {
    fs::remove_file(path).unwrap();
    fs::rename(outside, path).unwrap();
}

/// The digests of the blob uploads the registry committed (`PUT …?digest=` answered 201).
fn committed(registry: &Registry) -> Vec<String> {
    registry
        .access_log()
        .into_iter()
        .filter(|e| e.method == "PUT" && e.status == 201 && e.uri.contains("/blobs/uploads/"))
        .filter_map(|e| {
            e.uri
                .split(['?', '&'])
                .find_map(|p| p.strip_prefix("digest=").map(|d| d.replace("%3A", ":")))
        })
        .collect()
}

#[test]
fn a_layer_reached_through_a_symlink_out_of_the_store_is_never_read() {
    let s = stored("outward", 31, 1 << 20);
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    let destination = proxy.docker_ref("dst/outward:v1");
    let push = ["push", "--tls-verify=false", "-q", "outward", &destination];
    let outside = s.local.env.path("outside");

    // The layer directory itself.
    link_out(&s.layer_dir, &outside);
    s.refused(
        &push,
        &["is a symbolic link; only regular files inside", "outward"],
    );
    link_back(&s.layer_dir, &outside);
    // A directory on the way to a file (usr/share holds the 1 MiB file), and a file.
    for rel in ["usr/share", "etc/hello.txt"] {
        let path = s.layer_dir.join(rel);
        link_out(&path, &outside);
        s.refused(&push, &[rel, "symbolic link"]);
        link_back(&path, &outside);
    }
    let (received, _) = proxy.body_bytes();
    assert!(
        received < 64 * 1024,
        "{received} bytes were sent: the layer's content went out"
    );
    for digest in committed(&registry) {
        assert_eq!(digest, s.config_digest, "only the config may be stored");
    }
    assert_eq!(manifest_status(&registry, "dst/outward", "v1"), 404);
    // Put back, the same push works.
    s.local.run(&push);
}

#[test]
fn store_files_that_are_not_regular_files_inside_the_store_are_refused() {
    let s = stored("damaged", 32, 0);
    let inspect = ["inspect", &s.image];
    let root = s.local.buildah.root.clone();
    let mut n = 0;
    for damage in damages() {
        let sparse = damage.name.contains("sparse");
        let metadata = [
            s.layers_json.clone(),
            root.join("vfs-images/images.json"),
            s.manifest_item.clone(),
            root.join("storage.lock"),
        ];
        for file in metadata {
            // A lock file is never read, so its size does not matter.
            if sparse && file.ends_with("storage.lock") {
                continue;
            }
            let saved = s.local.env.path("saved");
            fs::rename(&file, &saved).unwrap();
            (damage.apply)(&file);
            s.refused(&inspect, &[file.to_str().unwrap(), damage.says_unfollowed]);
            undamage(&file);
            fs::rename(&saved, &file).unwrap();
        }
        // Streamed files: a sparse one is read as far as its entry says, and fails its check.
        for (file, sparse_says) in [
            (s.tar_split.clone(), "tar-split"),
            (
                s.layer_dir.join("etc/hello.txt"),
                "does not match its diff digest",
            ),
        ] {
            let saved = s.local.env.path("saved");
            fs::rename(&file, &saved).unwrap();
            (damage.apply)(&file);
            n += 1;
            let push = s.push_to_layout("damaged", n);
            let says = if sparse {
                sparse_says
            } else {
                damage.says_unfollowed
            };
            let stderr = s.refused(&strings(&push), &[says]);
            assert!(
                stderr.contains("damaged") && stderr.contains("layer"),
                "{stderr}"
            );
            undamage(&file);
            fs::rename(&saved, &file).unwrap();
        }
    }
    // A metadata file linked to a copy outside the store is refused as well.
    let copy = s.local.env.path("layers-copy.json");
    fs::copy(&s.layers_json, &copy).unwrap();
    fs::remove_file(&s.layers_json).unwrap();
    make_symlink(&copy, &s.layers_json);
    s.refused(&inspect, &["layers.json is a symbolic link"]);
}

#[test]
fn a_layer_is_cut_at_its_recorded_size_and_never_committed() {
    let s = stored("sized", 33, 1 << 20);
    let registry = Registry::plain();
    let destination = registry.docker_ref("dst/sized:v1");
    let push = ["push", "--tls-verify=false", "-q", "sized", &destination];

    // layers.json says the layer is smaller than it regenerates.
    let original = fs::read(&s.layers_json).unwrap();
    let mut layers: Value = serde_json::from_slice(&original).unwrap();
    for layer in layers.as_array_mut().unwrap() {
        layer["diff-size"] = Value::from(4096);
    }
    fs::write(&s.layers_json, serde_json::to_vec(&layers).unwrap()).unwrap();
    s.refused(
        &push,
        &["runs past 4096 bytes, its size by its diff-size in layers.json"],
    );
    fs::write(&s.layers_json, &original).unwrap();

    // The tar-split claims a 32 GiB file and the file is that long (sparse): the stream stops
    // at the layer's recorded size instead of regenerating 32 GiB.
    let mut lines = String::new();
    flate2::read::GzDecoder::new(fs::File::open(&s.tar_split).unwrap())
        .read_to_string(&mut lines)
        .unwrap();
    let huge: u64 = 32 << 30;
    let edited: Vec<String> = lines
        .lines()
        .map(|line| {
            let mut entry: Value = serde_json::from_str(line).unwrap();
            if entry["name"]
                .as_str()
                .is_some_and(|name| name.ends_with("usr/share/big.bin"))
            {
                entry["size"] = Value::from(huge);
            }
            entry.to_string()
        })
        .collect();
    let mut gz = flate2::write::GzEncoder::new(
        fs::File::create(&s.tar_split).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all((edited.join("\n") + "\n").as_bytes()).unwrap();
    gz.finish().unwrap();
    fs::File::options()
        .write(true)
        .open(s.layer_dir.join("usr/share/big.bin"))
        .unwrap()
        .set_len(huge)
        .unwrap();
    s.refused(
        &push,
        &["runs past", "diff-size in layers.json", "it was cut there"],
    );
    for digest in committed(&registry) {
        assert_eq!(digest, s.config_digest, "no layer was committed");
    }
    // What the registry held of each cut upload was given back at once.
    let cancelled = registry
        .access_log()
        .iter()
        .filter(|e| e.method == "DELETE" && e.uri.contains("/blobs/uploads/"))
        .count();
    assert!(cancelled >= 2, "{cancelled} uploads cancelled");
    assert_eq!(manifest_status(&registry, "dst/sized", "v1"), 404);
}

#[test]
fn a_damaged_cache_of_compressed_layers_is_only_a_cache() {
    let s = stored("cached", 34, 0);
    let first = s.push_to_layout("cached", 0);
    s.local.run(&strings(&first));
    let cache = s.local.env.store.join("compressed/gzip-6");
    let record = fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for (n, damage) in damages().into_iter().enumerate() {
        undamage(&record);
        (damage.apply)(&record);
        let push = s.push_to_layout("cached", n + 1);
        let output = s
            .local
            .manifest(&strings(&push))
            .timeout(HANG_LIMIT)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            damage.name,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
