//! The whole offline flow on generated OCI layouts, and bad input leaving the store untouched.

use crate::support::image::{five_platforms, write_image_layout, write_index_layout, ImageSpec};
use crate::support::{manifest_cmd, store_snapshot};
use predicates::prelude::*;
use std::path::Path;

fn stdout_of(store: &Path, args: &[&str]) -> String {
    let out = manifest_cmd(store)
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

/// Five per-arch layouts under `dir`, named `img-N`; returns their manifest digests.
fn make_images(dir: &Path) -> Vec<String> {
    five_platforms()
        .iter()
        .enumerate()
        .map(|(n, spec)| {
            write_image_layout(&dir.join(format!("img-{n}")), spec, "latest").manifest_digest
        })
        .collect()
}

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

/// Runs a command that must fail with `message` and leave the store byte-identical.
fn refused(store: &Path, args: &[&str], message: &str) {
    let before = store_snapshot(store);
    manifest_cmd(store)
        .args(args)
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with("Error: ").and(predicate::str::contains(message)));
    assert_eq!(store_snapshot(store), before, "store changed by {args:?}");
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
        refused(&store, &["create", bad], "invalid list name");
    }
    refused(&store, &["create", "base"], "already in use");
    refused(
        &store,
        &["add", "base", "docker-daemon:alpine:latest"],
        "unknown transport \"docker-daemon\"",
    );
    refused(
        &store,
        &["add", "base", "ftp://example/x"],
        "unknown transport",
    );
    refused(
        &store,
        &[
            "add",
            "base",
            &format!("docker://127.0.0.1:1/x:tag@{unknown}"),
        ],
        "tag and digest",
    );
    refused(
        &store,
        &["add", "--annotation", "foo", "base", &img0],
        "no value given for annotation \"foo\"",
    );
    refused(
        &store,
        &["annotate", "base", &unknown, "--arch", "arm"],
        &unknown,
    );
    refused(
        &store,
        &["remove", "base", &unknown],
        "localhost/base:latest",
    );
    refused(
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
        refused(&store, &args, "Error: missing: image not known");
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
    refused(&store, &["add", "base", &src], "not found");
    let mut tampered = saved.clone();
    tampered[1] ^= 0x20;
    std::fs::write(&config, tampered).unwrap();
    refused(&store, &["add", "base", &src], "does not match its digest");
    std::fs::write(&config, saved).unwrap();
    // Something that is not an image at all.
    let notimage = tmp.path().join("notimage");
    std::fs::create_dir_all(&notimage).unwrap();
    std::fs::write(notimage.join("readme"), "hello").unwrap();
    refused(
        &store,
        &["add", "base", &format!("oci:{}", notimage.display())],
        "not an OCI image layout",
    );
    refused(
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

#[test]
fn concurrent_adds_lose_no_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let specs: Vec<ImageSpec> = (0..16)
        .map(|n| ImageSpec {
            seed: 1000 + n,
            layer_size: 256,
            layers: 1,
            ..five_platforms()[0].clone()
        })
        .collect();
    for (n, spec) in specs.iter().enumerate() {
        write_image_layout(&tmp.path().join(format!("c-{n}")), spec, "latest");
    }
    stdout_of(&store, &["create", "busy"]);
    let bin = assert_cmd::cargo::cargo_bin("manifest");
    let children: Vec<_> = (0..16)
        .map(|n| {
            std::process::Command::new(&bin)
                .env("MANIFEST_STORE", &store)
                .args([
                    "add",
                    "busy",
                    &format!("oci:{}", tmp.path().join(format!("c-{n}")).display()),
                ])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(
        stdout_of(&store, &["inspect", "busy"])
            .matches("\"digest\"")
            .count(),
        16
    );
}

#[test]
fn concurrent_commands_on_different_lists_all_land() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    make_images(tmp.path());
    let bin = assert_cmd::cargo::cargo_bin("manifest");
    let spawn = |args: Vec<String>| {
        std::process::Command::new(&bin)
            .env("MANIFEST_STORE", &store)
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // Eight lists created at once, each with an image, then an add to each at once.
    let creating: Vec<_> = (0..8)
        .map(|n| {
            let src = format!(
                "oci:{}",
                tmp.path().join(format!("img-{}", n % 5)).display()
            );
            spawn(vec!["create".into(), format!("l{n}"), src])
        })
        .collect();
    for mut child in creating {
        assert!(child.wait().unwrap().success());
    }
    let adding: Vec<_> = (0..8)
        .map(|n| {
            let src = format!(
                "oci:{}",
                tmp.path().join(format!("img-{}", (n + 1) % 5)).display()
            );
            spawn(vec!["add".into(), format!("l{n}"), src])
        })
        .collect();
    for mut child in adding {
        assert!(child.wait().unwrap().success());
    }
    for n in 0..8 {
        let inspected = stdout_of(&store, &["inspect", &format!("l{n}")]);
        assert_eq!(inspected.matches("\"digest\"").count(), 2, "list l{n}");
    }
}

#[test]
fn sigkill_during_every_kind_of_write_leaves_lists_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let digests = make_images(tmp.path());
    stdout_of(&store, &["create", "crash"]);
    let bin = assert_cmd::cargo::cargo_bin("manifest");
    for round in 0..30u64 {
        let n = (round % 5) as usize;
        let src = format!("oci:{}", tmp.path().join(format!("img-{n}")).display());
        let args: Vec<String> = match round % 5 {
            0 | 1 => vec!["add".into(), "crash".into(), src],
            2 => vec![
                "annotate".into(),
                "crash".into(),
                digests[0].clone(),
                "--annotation".into(),
                format!("round={round}"),
            ],
            3 => vec!["create".into(), format!("side{round}"), src],
            _ => vec!["rm".into(), format!("side{}", round - 1)],
        };
        let mut child = std::process::Command::new(&bin)
            .env("MANIFEST_STORE", &store)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different moment each round, from before the read to after the save.
        std::thread::sleep(std::time::Duration::from_micros(round * 400));
        let _ = child.kill();
        let _ = child.wait();
        // Every list that exists is whole.
        for entry in std::fs::read_dir(store.join("lists")).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            if name.len() == 64 {
                let inspected = stdout_of(&store, &["inspect", &name]);
                serde_json::from_str::<serde_json::Value>(&inspected).unwrap();
            }
        }
    }
    // The first add may have been killed before it saved; the list works either way, and the
    // next write sweeps away half-made or half-removed list directories.
    stdout_of(
        &store,
        &[
            "add",
            "crash",
            &format!("oci:{}", tmp.path().join("img-0").display()),
        ],
    );
    let leftovers: Vec<_> = std::fs::read_dir(store.join("lists"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Writes a layout whose index.json names `manifest` (raw bytes, stored under its digest).
fn hostile_layout(dir: &Path, index_json: &str, blobs: &[&[u8]]) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(dir.join("index.json"), index_json).unwrap();
    for blob in blobs {
        let digest = sha256(blob);
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
    refused(
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
    refused(
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
            sha256(manifest.as_bytes()),
            manifest.len()
        ),
        &[manifest.as_bytes()],
    );
    refused(
        &store,
        &["add", "victim", &format!("oci:{}", big_config.display())],
        "over the limit",
    );
    // Pushing to a layout never writes outside it, whatever the list holds.
    assert!(!tmp.path().join("etc").exists());
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
