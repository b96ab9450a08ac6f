//! The list commands end to end on generated OCI layouts (create, add, annotate, inspect, push
//! to a layout or an archive and read back, rm, exists, `--version`), and bad input leaving the
//! store untouched.

use crate::support::expect::refused_with;
use crate::support::image::{five_platforms, make_images, write_index_layout};
use crate::support::{manifest_cmd, stdout_of};
use predicates::prelude::*;

#[test]
fn create_add_annotate_inspect_push_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let digests = make_images(tmp.path());

    let id = stdout_of(&store, &["create", "mylist"]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    for (n, digest) in digests.iter().enumerate() {
        let src = format!("oci:{}", tmp.path().join(format!("img-{n}")).display());
        let printed = stdout_of(&store, &["add", "mylist", &src]);
        assert_eq!(printed, format!("{id}: {digest}\n"));
    }
    let printed = stdout_of(
        &store,
        &[
            "annotate",
            "mylist",
            &digests[1],
            "--variant",
            "v8",
            "--annotation",
            "org.example.flavor=arm64-v8",
        ],
    );
    assert_eq!(printed, format!("{id}: {}\n", digests[1]));

    let inspected = stdout_of(&store, &["inspect", "mylist"]);
    assert!(inspected.starts_with("{\n    \"schemaVersion\": 2,\n    \"mediaType\": \"application/vnd.oci.image.index.v1+json\""), "{inspected}");
    assert!(inspected.ends_with("}\n"));
    for arch in ["amd64", "arm64", "arm", "ppc64le", "s390x"] {
        assert!(
            inspected.contains(&format!("\"architecture\": \"{arch}\"")),
            "{arch} missing"
        );
    }
    assert!(inspected.contains("\"org.example.flavor\": \"arm64-v8\""));
    // The ID and a prefix of it name the same list.
    assert_eq!(stdout_of(&store, &["inspect", &id[..8]]), inspected);

    let raw = stdout_of(&store, &["inspect", "--raw", "mylist"]);
    let out = tmp.path().join("out");
    let digestfile = tmp.path().join("digest");
    manifest_cmd(&store)
        .args([
            "push",
            "mylist",
            &format!("oci:{}:v1", out.display()),
            "--digestfile",
        ])
        .arg(&digestfile)
        .assert()
        .success()
        .stdout("");
    let pushed_digest = std::fs::read_to_string(&digestfile).unwrap();
    assert_eq!(pushed_digest, sha256(raw.as_bytes()));

    // Every blob of the layout matches its name.
    for entry in std::fs::read_dir(out.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        assert_eq!(
            sha256(&bytes),
            format!("sha256:{}", entry.file_name().to_string_lossy())
        );
    }
    // Reading the pushed layout back as a source gives the same index.
    let again = stdout_of(
        &store,
        &["inspect", "--raw", &format!("oci:{}:v1", out.display())],
    );
    assert_eq!(again, raw);
    let id2 = stdout_of(
        &store,
        &[
            "create",
            "copy",
            "--all",
            &format!("oci:{}:v1", out.display()),
        ],
    );
    let copy = stdout_of(&store, &["inspect", "--raw", id2.trim()]);
    assert_eq!(sha256(copy.as_bytes()), pushed_digest);

    let rm = stdout_of(&store, &["rm", "mylist"]);
    assert_eq!(rm, format!("untagged: localhost/mylist:latest\n{id}\n"));
    manifest_cmd(&store)
        .args(["exists", "mylist"])
        .assert()
        .code(1)
        .stdout("")
        .stderr("");
    manifest_cmd(&store)
        .args(["exists", "copy"])
        .assert()
        .code(0);
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[test]
fn empty_list_prints_docker_list_with_empty_array() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    stdout_of(&store, &["create", "empty"]);
    assert_eq!(
        stdout_of(&store, &["inspect", "empty"]),
        "{\n    \"schemaVersion\": 2,\n    \"mediaType\": \"application/vnd.docker.distribution.manifest.list.v2+json\",\n    \"manifests\": []\n}\n"
    );
}

#[test]
fn add_all_and_platform_choice_from_an_index_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let layout = tmp.path().join("multi");
    let (_, images) = write_index_layout(&layout, &five_platforms(), "v1");
    let src = format!("oci:{}:v1", layout.display());
    let id = stdout_of(&store, &["create", "all"]);
    // sealos prints the first instance added, not the index.
    let printed = stdout_of(&store, &["add", "--all", "all", &src]);
    assert_eq!(
        printed,
        format!("{}: {}\n", id.trim(), images[0].manifest_digest)
    );
    assert_eq!(
        stdout_of(&store, &["inspect", "all"])
            .matches("\"digest\"")
            .count(),
        5
    );

    stdout_of(&store, &["create", "one"]);
    let printed = stdout_of(
        &store,
        &["add", "--arch", "arm", "--variant", "v7", "one", &src],
    );
    assert!(
        printed.ends_with(&format!("{}\n", images[2].manifest_digest)),
        "{printed}"
    );
    manifest_cmd(&store)
        .args(["add", "--arch", "mips64", "one", &src])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("linux/mips64").and(predicate::str::contains("--all")));
}

#[test]
fn oci_archive_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    make_images(tmp.path());
    stdout_of(&store, &["create", "arch"]);
    for n in 0..3 {
        stdout_of(
            &store,
            &[
                "add",
                "arch",
                &format!("oci:{}", tmp.path().join(format!("img-{n}")).display()),
            ],
        );
    }
    let archive = tmp.path().join("out.tar");
    manifest_cmd(&store)
        .args([
            "push",
            "-q",
            "arch",
            &format!("oci-archive:{}:v2", archive.display()),
        ])
        .assert()
        .success();
    let raw = stdout_of(&store, &["inspect", "--raw", "arch"]);
    let back = stdout_of(
        &store,
        &[
            "inspect",
            "--raw",
            &format!("oci-archive:{}:v2", archive.display()),
        ],
    );
    assert_eq!(raw, back);
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let digests = make_images(tmp.path());
    let img0 = format!("oci:{}", tmp.path().join("img-0").display());
    stdout_of(&store, &["create", "base"]);
    stdout_of(&store, &["add", "base", &img0]);
    let long = "a".repeat(300);
    let unknown = format!("sha256:{}", "0".repeat(64));

    for bad in [
        "../x",
        "a/../b",
        "/abs/path",
        "a//b",
        "x/",
        "a\u{1}b",
        long.as_str(),
    ] {
        refused_with(&store, &["create", bad], "invalid list name");
    }
    refused_with(&store, &["create", "base"], "already in use");
    refused_with(
        &store,
        &["add", "base", "docker-daemon:alpine:latest"],
        "unknown transport \"docker-daemon\"",
    );
    refused_with(
        &store,
        &["add", "base", "ftp://example/x"],
        "unknown transport",
    );
    refused_with(
        &store,
        &[
            "add",
            "base",
            &format!("docker://127.0.0.1:1/x:tag@{unknown}"),
        ],
        "tag and digest",
    );
    refused_with(
        &store,
        &["add", "--annotation", "foo", "base", &img0],
        "no value given for annotation \"foo\"",
    );
    refused_with(
        &store,
        &["annotate", "base", &unknown, "--arch", "arm"],
        &unknown,
    );
    refused_with(
        &store,
        &["remove", "base", &unknown],
        "localhost/base:latest",
    );
    refused_with(
        &store,
        &["remove", "base", "sha256:nothex"],
        "invalid instance \"sha256:nothex\"",
    );
    for args in [
        vec!["add", "missing", img0.as_str()],
        vec!["annotate", "missing", digests[0].as_str(), "--arch", "arm"],
        vec!["inspect", "missing"],
        vec!["push", "missing", "oci:/tmp/never-written"],
        vec!["remove", "missing", digests[0].as_str()],
        vec!["rm", "missing"],
    ] {
        refused_with(&store, &args, "Error: missing: image not known");
    }
    // A corrupt layout: a missing blob, then a blob whose bytes do not match its name.
    let broken = tmp.path().join("img-1");
    let blobs = broken.join("blobs/sha256");
    let config = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("\"rootfs\"")))
        .unwrap();
    let saved = std::fs::read(&config).unwrap();
    std::fs::remove_file(&config).unwrap();
    let src = format!("oci:{}", broken.display());
    refused_with(&store, &["add", "base", &src], "not found");
    let mut tampered = saved.clone();
    tampered[1] ^= 0x20;
    std::fs::write(&config, tampered).unwrap();
    refused_with(&store, &["add", "base", &src], "does not match its digest");
    std::fs::write(&config, saved).unwrap();
    // Something that is not an image at all.
    let notimage = tmp.path().join("notimage");
    std::fs::create_dir_all(&notimage).unwrap();
    std::fs::write(notimage.join("readme"), "hello").unwrap();
    refused_with(
        &store,
        &["add", "base", &format!("oci:{}", notimage.display())],
        "not an OCI image layout",
    );
    refused_with(
        &store,
        &[
            "annotate",
            "--annotation",
            "k=v",
            "--features",
            "sse4",
            "base",
            &digests[0],
        ],
        "features",
    );
}

#[test]
fn rm_reports_every_missing_list_and_deletes_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    stdout_of(&store, &["create", "a"]);
    stdout_of(&store, &["create", "b"]);
    manifest_cmd(&store)
        .args(["rm", "a", "x", "b", "y"])
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("untagged: localhost/a:latest")
                .and(predicate::str::contains("untagged: localhost/b:latest")),
        )
        .stderr(
            predicate::str::contains("x: image not known")
                .and(predicate::str::contains("y: image not known")),
        );
    manifest_cmd(&store).args(["exists", "a"]).assert().code(1);
}

/// `--version` is answered before the command line is built, as clap would answer it.
#[test]
fn version_is_printed_as_clap_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let expected = format!("manifest {}\n", env!("CARGO_PKG_VERSION"));
    for flag in ["--version", "-V"] {
        let out = manifest_cmd(&store).arg(flag).assert().success();
        assert_eq!(String::from_utf8_lossy(&out.get_output().stdout), expected);
    }
    // With anything else on the line clap answers, and says the same.
    let out = manifest_cmd(&store)
        .args(["--version", "--debug"])
        .assert()
        .success();
    assert_eq!(String::from_utf8_lossy(&out.get_output().stdout), expected);
}
