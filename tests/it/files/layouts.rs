//! `oci:` layouts whose files are not what they seem: symlinks (to outside, to inside, to
//! devices), FIFOs, device nodes, directories, sparse or truncated files, in place of a layer,
//! a manifest, a config, `index.json`, `oci-layout` or a `blobs/` directory; digests that are
//! paths and sizes that would exhaust memory.

use crate::support::expect::{refused, refused_with, succeeds};
use crate::support::hostile::{
    image_layout, make_fifo, make_sparse, make_symlink, make_zero_device, oci, HUGE,
};
use crate::support::image::{blob_path, sha256_digest, BuiltImage};
use crate::support::push::blob_status;
use crate::support::registry::Registry;
use crate::support::{stdout_of, TestEnv};
use std::fs;
use std::path::{Path, PathBuf};

/// What a case may use to damage its layout.
struct Case<'a> {
    layout: &'a Path,
    /// The file under attack.
    target: PathBuf,
    /// A directory outside the layout.
    outside: &'a Path,
    image: &'a BuiltImage,
}

type Damage = fn(&Case);

/// A symlink to a copy of the target outside the layout: the same bytes, so only the rule
/// "no symlinks" stops it (a size or digest check would not).
fn symlink_to_outside_copy(case: &Case) {
    let copy = case.outside.join(format!(
        "copy-{}",
        case.target.file_name().unwrap().to_string_lossy()
    ));
    if case.target.is_dir() {
        fs::rename(&case.target, &copy).unwrap();
    } else {
        fs::copy(&case.target, &copy).unwrap();
    }
    make_symlink(&copy, &case.target);
}

fn symlink_to_a_secret(case: &Case) {
    let secret = case.outside.join("secret");
    fs::write(&secret, "password=hunter2\n").unwrap();
    make_symlink(&secret, &case.target);
}

fn symlink_to_dev_zero(case: &Case) {
    make_symlink(Path::new("/dev/zero"), &case.target);
}

/// A relative symlink to another file inside the layout.
fn symlink_inside(case: &Case) {
    let config = blob_path(case.layout, &case.image.config_digest);
    let other = if config == case.target {
        blob_path(case.layout, &case.image.manifest_digest)
    } else {
        config
    };
    let copy = other.with_file_name("inside-copy");
    fs::copy(&other, &copy).unwrap();
    make_symlink(Path::new("inside-copy"), &case.target);
}

fn fifo(case: &Case) {
    make_fifo(&case.target);
}

fn zero_device(case: &Case) {
    make_zero_device(&case.target);
}

fn sparse(case: &Case) {
    make_sparse(&case.target, HUGE);
}

fn directory(case: &Case) {
    fs::remove_file(&case.target).unwrap();
    fs::create_dir(&case.target).unwrap();
}

fn truncated(case: &Case) {
    let file = fs::OpenOptions::new()
        .write(true)
        .open(&case.target)
        .unwrap();
    file.set_len(100).unwrap();
}

#[test]
fn layers_that_are_not_regular_files_inside_the_layout_are_never_sent() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let cases: &[(&str, Damage, &str)] = &[
        (
            "same bytes outside",
            symlink_to_outside_copy,
            "symbolic link",
        ),
        ("secret outside", symlink_to_a_secret, "symbolic link"),
        ("another blob inside", symlink_inside, "symbolic link"),
        ("/dev/zero", symlink_to_dev_zero, "symbolic link"),
        ("FIFO", fifo, "is a FIFO, not a regular file"),
        ("device", zero_device, "is a character device"),
        ("8 GiB sparse", sparse, "is 8589934592 bytes, but blob"),
        ("truncated", truncated, "is 100 bytes, but blob"),
        ("directory", directory, "is a directory"),
    ];
    for (n, (name, damage, needle)) in cases.iter().enumerate() {
        let (layout, image) = image_layout(&env, &format!("layer-{n}"), 1);
        let outside = env.path(&format!("outside-{n}"));
        fs::create_dir_all(&outside).unwrap();
        let layer = &image.layer_digests[0];
        damage(&Case {
            layout: &layout,
            target: blob_path(&layout, layer),
            outside: &outside,
            image: &image,
        });
        let list = format!("l{n}");
        succeeds(&env, &["create", &list]);
        // The layer is not read at add time; the push must refuse it.
        succeeds(&env, &["add", &list, &oci(&layout)]);
        let dest = env.path(&format!("dest-{n}"));
        let stderr = refused(
            &env,
            &["push", "-q", &list, &format!("{}:t", oci(&dest))],
            &[needle],
        );
        assert!(
            !blob_path(&dest, layer).exists(),
            "{name}: the layer reached the destination layout ({stderr})"
        );
        let repo = format!("case/{n}");
        refused(
            &env,
            &[
                "push",
                "-q",
                "--tls-verify=false",
                "--retry-delay",
                "1ms",
                &list,
                &registry.docker_ref(&format!("{repo}:t")),
            ],
            &[needle],
        );
        assert_eq!(
            blob_status(&registry, &repo, layer),
            404,
            "{name}: the layer reached the registry"
        );
    }
}

#[test]
fn manifests_configs_indexes_and_markers_must_be_regular_files_inside_the_layout() {
    let env = TestEnv::new();
    succeeds(&env, &["create", "l"]);
    enum Target {
        IndexJson,
        OciLayout,
        Manifest,
        Config,
        BlobsDir,
        AlgorithmDir,
    }
    use Target::*;
    let cases: &[(Target, Damage, &str)] = &[
        (IndexJson, symlink_to_outside_copy, "symbolic link"),
        (IndexJson, symlink_to_dev_zero, "symbolic link"),
        (IndexJson, fifo, "is a FIFO"),
        (IndexJson, zero_device, "is a character device"),
        (IndexJson, sparse, "8589934592 bytes, over the limit"),
        (IndexJson, directory, "is a directory"),
        (OciLayout, symlink_to_outside_copy, "symbolic link"),
        (OciLayout, fifo, "is a FIFO"),
        (OciLayout, zero_device, "is a character device"),
        (Manifest, symlink_to_outside_copy, "symbolic link"),
        (Manifest, symlink_inside, "symbolic link"),
        (Manifest, symlink_to_dev_zero, "symbolic link"),
        (Manifest, fifo, "is a FIFO"),
        (Manifest, zero_device, "is a character device"),
        (Manifest, sparse, "8589934592 bytes, over the limit"),
        (Config, symlink_to_outside_copy, "symbolic link"),
        (Config, symlink_to_dev_zero, "symbolic link"),
        (Config, fifo, "is a FIFO"),
        (Config, sparse, "is 8589934592 bytes, but blob"),
        (BlobsDir, symlink_to_outside_copy, "symbolic link"),
        (AlgorithmDir, symlink_to_outside_copy, "symbolic link"),
    ];
    for (n, (target, damage, needle)) in cases.iter().enumerate() {
        let (layout, image) = image_layout(&env, &format!("doc-{n}"), 2);
        let outside = env.path(&format!("outside-{n}"));
        fs::create_dir_all(&outside).unwrap();
        // inspect reads the manifest but not the config.
        let inspect_reads_it = !matches!(target, Config);
        let target = match target {
            IndexJson => layout.join("index.json"),
            OciLayout => layout.join("oci-layout"),
            Manifest => blob_path(&layout, &image.manifest_digest),
            Config => blob_path(&layout, &image.config_digest),
            BlobsDir => layout.join("blobs"),
            AlgorithmDir => layout.join("blobs/sha256"),
        };
        damage(&Case {
            layout: &layout,
            target: target.clone(),
            outside: &outside,
            image: &image,
        });
        let context = format!("case {n} ({})", target.display());
        let stderr = refused(&env, &["add", "l", &oci(&layout)], &[needle]);
        assert!(!stderr.contains("hunter2"), "{context}: {stderr}");
        if inspect_reads_it {
            refused(&env, &["inspect", &oci(&layout)], &[needle]);
        }
    }
}

#[test]
fn layouts_reached_through_symlinks_and_hardlinked_blobs_are_read() {
    let env = TestEnv::new();
    let (layout, image) = image_layout(&env, "real", 3);
    // The layout root itself, and a directory above it, reached through symlinks: the user
    // named that path, and nothing below the root is a symlink.
    let root_link = env.path("root-link");
    make_symlink(&layout, &root_link);
    let parent_link = env.path("parent-link");
    make_symlink(env.tmp.path(), &parent_link);
    // A layer hard-linked to a file outside the layout is a regular file inside it.
    let (linked, linked_image) = image_layout(&env, "hardlinked", 4);
    let layer = blob_path(&linked, &linked_image.layer_digests[0]);
    let outside = env.path("hardlink-outside");
    fs::rename(&layer, &outside).unwrap();
    fs::hard_link(&outside, &layer).unwrap();

    let sources = [
        oci(&root_link),
        oci(&parent_link.join("real")),
        oci(&linked),
    ];
    for (n, source) in sources.iter().enumerate() {
        let list = format!("ok{n}");
        succeeds(&env, &["create", &list, source]);
        let dest = env.path(&format!("dest-{n}"));
        succeeds(&env, &["push", "-q", &list, &format!("{}:t", oci(&dest))]);
        let pushed = if n == 2 { &linked_image } else { &image };
        let layer = &pushed.layer_digests[0];
        assert!(blob_path(&dest, layer).is_file(), "{source}");
    }
}

#[test]
fn pushing_never_writes_through_a_symlink_in_the_destination() {
    let env = TestEnv::new();
    let (layout, image) = image_layout(&env, "src", 5);
    succeeds(&env, &["create", "l", &oci(&layout)]);
    let layer = &image.layer_digests[0];

    // blobs/ points outside: refused, and nothing lands outside.
    let (dest, _) = image_layout(&env, "dest-blobs", 6);
    let outside = env.path("outside-blobs");
    fs::rename(dest.join("blobs"), &outside).unwrap();
    make_symlink(&outside, &dest.join("blobs"));
    let before = crate::support::store_snapshot(&outside);
    refused(
        &env,
        &["push", "-q", "l", &format!("{}:t", oci(&dest))],
        &["symbolic link"],
    );
    assert_eq!(crate::support::store_snapshot(&outside), before);

    // index.json points outside: refused, the file it points at is untouched.
    let (dest, _) = image_layout(&env, "dest-index", 6);
    let victim = env.path("victim-index.json");
    fs::write(&victim, b"{\"keep\":true}").unwrap();
    make_symlink(&victim, &dest.join("index.json"));
    refused(
        &env,
        &["push", "-q", "l", &format!("{}:t", oci(&dest))],
        &["symbolic link"],
    );
    assert_eq!(fs::read(&victim).unwrap(), b"{\"keep\":true}");

    // oci-layout is a symlink: not a layout this tool writes to.
    let dest = env.path("dest-marker");
    fs::create_dir_all(&dest).unwrap();
    make_symlink(&victim, &dest.join("oci-layout"));
    refused(
        &env,
        &["push", "-q", "l", &format!("{}:t", oci(&dest))],
        &["symbolic link"],
    );

    // A blob path that is a symlink is replaced by the real blob; its target is untouched.
    let (dest, _) = image_layout(&env, "dest-blob", 6);
    let victim = env.path("victim-blob");
    fs::write(&victim, b"keep me").unwrap();
    make_symlink(&victim, &blob_path(&dest, layer));
    succeeds(&env, &["push", "-q", "l", &format!("{}:t", oci(&dest))]);
    assert_eq!(fs::read(&victim).unwrap(), b"keep me");
    let written = blob_path(&dest, layer);
    assert!(!written.is_symlink() && written.is_file());
    assert_eq!(
        fs::read(&written).unwrap(),
        fs::read(blob_path(&layout, layer)).unwrap()
    );
}

/// Writes a layout whose index.json names `manifest` (raw bytes, stored under its digest).
fn hostile_layout(dir: &Path, index_json: &str, blobs: &[&[u8]]) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(dir.join("index.json"), index_json).unwrap();
    for blob in blobs {
        let digest = sha256_digest(blob);
        std::fs::write(dir.join("blobs/sha256").join(&digest[7..]), blob).unwrap();
    }
}

#[test]
fn hostile_layouts_cannot_escape_or_exhaust() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    stdout_of(&store, &["create", "victim"]);
    // A digest that is a path.
    let evil = tmp.path().join("evil");
    hostile_layout(
        &evil,
        r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../../etc/passwd","size":10}]}"#,
        &[],
    );
    refused_with(
        &store,
        &["add", "victim", &format!("oci:{}", evil.display())],
        "invalid digest",
    );
    // An absurd size for the manifest.
    let huge = tmp.path().join("huge");
    hostile_layout(
        &huge,
        &format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{}","size":1000000000000000}}]}}"#,
            "a".repeat(64)
        ),
        &[],
    );
    refused_with(
        &store,
        &["add", "victim", &format!("oci:{}", huge.display())],
        "over the limit",
    );
    // A config that claims to be enormous.
    let config_digest = format!("sha256:{}", "b".repeat(64));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":99999999999}},"layers":[]}}"#
    );
    let big_config = tmp.path().join("bigconfig");
    hostile_layout(
        &big_config,
        &format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{}}}]}}"#,
            sha256_digest(manifest.as_bytes()),
            manifest.len()
        ),
        &[manifest.as_bytes()],
    );
    refused_with(
        &store,
        &["add", "victim", &format!("oci:{}", big_config.display())],
        "over the limit",
    );
    // Pushing to a layout never writes outside it, whatever the list holds.
    assert!(!tmp.path().join("etc").exists());
}
