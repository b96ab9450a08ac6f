//! Writers that race or die: pushes of one layout or archive at once (existing, empty, missing
//! directories), `push --rm` while the list changes, edits that would build an index too large
//! to push, commands on one store at once, and commands killed in the middle of a write.

use crate::support::expect::{refused, succeeds};
use crate::support::hostile::{assert_ok, image_layout, oci, run_all_at_once, skopeo_inspect_raw};
use crate::support::image::{
    blob_path, descriptor, find_ref, five_platforms, make_images, sha256_digest, write_document,
    write_image_blobs, write_image_layout, ImageSpec, OCI_INDEX, OCI_MANIFEST,
};
use crate::support::{manifest_std_cmd, stdout_of, TestEnv};
use manifest::model::digest::Digest;
use manifest::model::list::Source;
use manifest::model::oci::Descriptor;
use manifest::model::reference::parse_image;
use manifest::store::Store;
use serde_json::json;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

/// Two lists of one image each (`la`, `lb`) and the digest each pushes as.
fn two_lists(env: &TestEnv) -> [(String, String); 2] {
    [("la", 10), ("lb", 11)].map(|(list, seed)| {
        let (layout, _) = image_layout(env, &format!("src-{list}"), seed);
        succeeds(env, &["create", list, &oci(&layout)]);
        let document = succeeds(env, &["inspect", "--raw", list]);
        (list.to_string(), sha256_digest(document.as_bytes()))
    })
}

/// Pushes the lists in turn to `DEST:t0` … `DEST:t7`, all at once.
fn eight_pushes(env: &TestEnv, lists: &[(String, String); 2], dest: &str) {
    let commands = (0..8)
        .map(|n| {
            let mut cmd = env.cmd();
            cmd.args(["push", "-q", &lists[n % 2].0, &format!("{dest}:t{n}")]);
            cmd
        })
        .collect();
    for output in run_all_at_once(commands) {
        assert_ok(&output);
    }
}

#[test]
fn concurrent_pushes_to_one_layout_keep_every_tag() {
    let env = TestEnv::new();
    let lists = two_lists(&env);
    let (existing, _) = image_layout(&env, "existing", 12);
    let empty = env.path("empty");
    fs::create_dir_all(&empty).unwrap();
    // What a killed writer leaves behind is not someone else's content.
    let leftover = env.path("leftover");
    fs::create_dir_all(&leftover).unwrap();
    fs::write(leftover.join(".tmp-0123abcd"), b"half written").unwrap();
    let destinations = [
        existing.clone(),
        empty,
        env.path("missing"),
        env.path("missing-parent/and/child"),
        leftover,
    ];
    for dest in &destinations {
        eight_pushes(&env, &lists, &oci(dest));
        for n in 0..8 {
            let entry = find_ref(dest, &format!("t{n}"))
                .unwrap_or_else(|| panic!("{}: tag t{n} lost", dest.display()));
            assert_eq!(
                entry["digest"],
                lists[n % 2].1.as_str(),
                "{}",
                dest.display()
            );
            assert!(blob_path(dest, &lists[n % 2].1).is_file());
        }
    }
    assert!(
        find_ref(&existing, "latest").is_some(),
        "the existing tag was lost"
    );
}

#[test]
fn concurrent_pushes_to_one_oci_archive_keep_every_tag() {
    let env = TestEnv::new();
    let lists = two_lists(&env);
    let tmpdir = env.path("tmpdir");
    fs::create_dir_all(&tmpdir).unwrap();
    let existing = env.path("existing.tar");
    succeeds(
        &env,
        &[
            "push",
            "-q",
            "la",
            &format!("oci-archive:{}:seed", existing.display()),
        ],
    );
    for archive in [existing.clone(), env.path("new.tar")] {
        let dest = format!("oci-archive:{}", archive.display());
        let commands = (0..8)
            .map(|n| {
                let mut cmd = env.cmd();
                cmd.env("TMPDIR", &tmpdir).args([
                    "push",
                    "-q",
                    &lists[n % 2].0,
                    &format!("{dest}:t{n}"),
                ]);
                cmd
            })
            .collect();
        for output in run_all_at_once(commands) {
            assert_ok(&output);
        }
        for n in 0..8 {
            let raw = succeeds(&env, &["inspect", "--raw", &format!("{dest}:t{n}")]);
            assert_eq!(sha256_digest(raw.as_bytes()), lists[n % 2].1, "{dest}:t{n}");
        }
        // Another reader agrees that the archive is a valid OCI archive.
        let raw = skopeo_inspect_raw(&format!("{dest}:t1"));
        assert_eq!(sha256_digest(&raw), lists[1].1);
    }
    succeeds(
        &env,
        &[
            "inspect",
            "--raw",
            &format!("oci-archive:{}:seed", existing.display()),
        ],
    );
    assert_eq!(
        fs::read_dir(&tmpdir).unwrap().count(),
        0,
        "leftovers in TMPDIR"
    );
}

#[test]
fn a_directory_with_other_content_is_refused_and_left_alone() {
    let env = TestEnv::new();
    let lists = two_lists(&env);
    let dir = env.path("photos");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("holiday.jpg"), b"jpeg").unwrap();
    refused(
        &env,
        &["push", "-q", &lists[0].0, &format!("{}:t", oci(&dir))],
        &["is not empty and is not an OCI image layout"],
    );
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["holiday.jpg"]);
}

/// The list `l` (one image), a second image to add to it, and the store opened in-process.
fn rm_setup(env: &TestEnv) -> (Store, Descriptor, String) {
    let (first, _) = image_layout(env, "first", 13);
    let (second, image) = image_layout(env, "second", 14);
    succeeds(env, &["create", "l", &oci(&first)]);
    let descriptor = Descriptor::new(
        OCI_MANIFEST,
        Digest::parse(&image.manifest_digest).unwrap(),
        image.manifest_bytes.len() as u64,
    );
    let source = oci(&fs::canonicalize(second).unwrap());
    (Store::open(&env.store).unwrap(), descriptor, source)
}

/// Starts `push --rm l DEST` while this test holds the store lock, and waits (on the push's
/// own output) until it has pushed and is waiting for the lock to delete the list. `change`
/// runs then, under the lock. Returns the push's stderr and whether it succeeded.
fn push_rm_with(
    env: &TestEnv,
    dest: &str,
    change: impl FnOnce(&Store, &manifest::store::StoreLock),
) -> (String, bool) {
    let store = Store::open(&env.store).unwrap();
    let lock = store.lock().unwrap();
    let mut child = manifest_std_cmd(&env.store)
        .args(["push", "--rm", "l", dest])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the push ended before it finished pushing: {seen}"
        );
        seen.push_str(&line);
        if line.starts_with("Pushed ") {
            break;
        }
    }
    change(&store, &lock);
    drop(lock);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    seen.push_str(&rest);
    (seen, child.wait().unwrap().success())
}

#[test]
fn push_rm_keeps_a_list_that_changed_while_it_was_pushed() {
    let env = TestEnv::new();
    let (_, added, source) = rm_setup(&env);
    let dest = format!("{}:t", oci(&env.path("out")));
    let (stderr, ok) = push_rm_with(&env, &dest, |store, lock| {
        let mut list = store.resolve(Some("localhost/l:latest"), "l").unwrap();
        list.list
            .add(added.clone(), Source::Image(parse_image(&source).unwrap()));
        store.save(&list, lock).unwrap();
    });
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("Warning: localhost/l:latest changed while it was pushed; it was kept"),
        "{stderr}"
    );
    let kept = succeeds(&env, &["inspect", "l"]);
    assert!(kept.contains(added.digest.as_str()), "{kept}");
    // What was pushed is the list as it was read: one entry.
    let pushed = find_ref(&env.path("out"), "t").unwrap();
    let index: serde_json::Value = serde_json::from_slice(
        &fs::read(blob_path(
            &env.path("out"),
            pushed["digest"].as_str().unwrap(),
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);

    // Unchanged, it is deleted; already deleted by someone else, the push still succeeds.
    let (stderr, ok) = push_rm_with(&env, &dest, |_, _| {});
    assert!(ok && !stderr.contains("Warning"), "{stderr}");
    env.cmd().args(["exists", "l"]).assert().code(1);
    succeeds(&env, &["create", "l", &source]);
    let (stderr, ok) = push_rm_with(&env, &dest, |store, lock| {
        let (id, _) = store.resolve_id(Some("localhost/l:latest"), "l").unwrap();
        store.delete(&id, lock).unwrap();
    });
    assert!(ok && !stderr.contains("Warning"), "{stderr}");
}

#[test]
fn push_rm_racing_an_add_never_loses_the_added_entry() {
    let env = TestEnv::new();
    let (_, added, source) = rm_setup(&env);
    let out = env.path("out");
    for round in 0..4 {
        if round > 0 {
            let _ = env.cmd().args(["rm", "l"]).output();
            succeeds(&env, &["create", "l", &oci(&env.path("first"))]);
        }
        let mut push = env.cmd();
        push.args([
            "push",
            "-q",
            "--rm",
            "l",
            &format!("{}:r{round}", oci(&out)),
        ]);
        let mut add = env.cmd();
        add.args(["add", "l", &source]);
        let outputs = run_all_at_once(vec![push, add]);
        assert_ok(&outputs[0]);
        let digest = added.digest.as_str();
        let in_list = env
            .cmd()
            .args(["inspect", "l"])
            .output()
            .unwrap()
            .stdout
            .windows(digest.len())
            .any(|w| w == digest.as_bytes());
        let pushed = find_ref(&out, &format!("r{round}")).unwrap();
        let index = fs::read(blob_path(&out, pushed["digest"].as_str().unwrap())).unwrap();
        let in_push = String::from_utf8_lossy(&index).contains(digest);
        let add_refused = String::from_utf8_lossy(&outputs[1].stderr).contains("no manifest list");
        assert!(
            in_list || in_push || add_refused,
            "round {round}: the added entry is gone: add said {:?}, push said {:?}",
            String::from_utf8_lossy(&outputs[1].stderr),
            String::from_utf8_lossy(&outputs[0].stderr)
        );
    }
}

/// An index layout whose one child carries an annotation of `annotation_bytes` bytes, so that
/// adding it with `--all` brings that much into the list.
fn index_with_big_annotation(dir: &Path, seed: u64, annotation_bytes: usize) {
    let image = write_image_blobs(dir, &ImageSpec::new("linux/amd64", 1, 1024, seed));
    let mut child = descriptor(
        OCI_MANIFEST,
        &image.manifest_digest,
        image.manifest_bytes.len() as u64,
    );
    child["annotations"] = json!({ "org.example.padding": "x".repeat(annotation_bytes) });
    child["platform"] = json!({ "architecture": "amd64", "os": "linux" });
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [child],
    });
    write_document(dir, OCI_INDEX, &index, "latest");
}

#[test]
fn an_index_over_the_manifest_limit_is_never_built() {
    let env = TestEnv::new();
    let three_mib = env.path("three-mib");
    index_with_big_annotation(&three_mib, 20, 3 << 20);
    let one_and_a_half = env.path("one-and-a-half-mib");
    index_with_big_annotation(&one_and_a_half, 21, 3 << 19);
    succeeds(&env, &["create", "big", "--all", &oci(&three_mib)]);
    let needles = ["list localhost/", "bytes, over the limit of 4194304 bytes"];
    // create, add, annotate (an entry, the index): each refused before the store changes.
    refused(
        &env,
        &[
            "create",
            "both",
            "--all",
            &oci(&three_mib),
            &oci(&one_and_a_half),
        ],
        &needles,
    );
    env.cmd().args(["exists", "both"]).assert().code(1);
    refused(
        &env,
        &["add", "--all", "big", &oci(&one_and_a_half)],
        &needles,
    );
    let padding: Vec<String> = (0..10)
        .map(|n| format!("--annotation=k{n}={}", "y".repeat(120_000)))
        .collect();
    let mut args = vec!["annotate", "--index", "big"];
    args.extend(padding.iter().map(String::as_str));
    refused(&env, &args, &needles);
    let inspected: serde_json::Value =
        serde_json::from_str(&succeeds(&env, &["inspect", "big"])).unwrap();
    let child = inspected["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mut args = vec!["annotate", "big", child.as_str()];
    args.extend(padding.iter().map(String::as_str));
    refused(&env, &args, &needles);
    // The list as it was still pushes.
    succeeds(
        &env,
        &["push", "-q", "big", &format!("{}:t", oci(&env.path("out")))],
    );
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
