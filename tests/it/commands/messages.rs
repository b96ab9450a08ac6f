//! What reaches the terminal: control characters from files and registries escaped (errors,
//! progress, inspect's JSON), long lists of names cut short, media types decided by the body,
//! and annotation flags that say what is missing.

use crate::support::expect::{refused, succeeds};
use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::hostile::{image_layout, oci};
use crate::support::image::{
    blob_path, descriptor, write_document, write_image_blobs, write_index_layout, ImageSpec,
    OCI_INDEX, OCI_MANIFEST, REF_NAME_ANNOTATION,
};
use crate::support::push::push_layout_image;
use crate::support::registry::Registry;
use crate::support::TestEnv;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

/// Characters that would steer a terminal if printed raw.
const RAW_CONTROLS: &[char] = &['\r', '\x1b', '\x07', '\u{9b}', '\u{202e}', '\x7f'];

fn assert_no_raw_controls(text: &str) {
    // One line: the only newline is the last character.
    let body = text.strip_suffix('\n').unwrap_or(text);
    assert!(
        !body.contains(RAW_CONTROLS) && !body.contains('\n'),
        "raw control characters in {text:?}"
    );
}

/// Writes `index.json` of `dir` with these entries (replacing what was there).
fn write_index_json(dir: &Path, entries: Vec<Value>) {
    let index = json!({ "schemaVersion": 2, "manifests": entries });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

#[test]
fn errors_and_progress_print_control_characters_escaped() {
    let env = TestEnv::new();
    succeeds(&env, &["create", "l"]);
    // Names from a layout's index.json, listed in an error.
    let (layout, image) = image_layout(&env, "names", 50);
    let names = [
        "a\rDone: pushed successfully",
        "\x1b[2K\x1b]0;owned\x07b",
        "\u{202e}txt.exe",
        "del\x7fc1\u{9b}31m",
    ];
    let entries = names
        .iter()
        .map(|name| {
            let mut d = descriptor(
                OCI_MANIFEST,
                &image.manifest_digest,
                image.manifest_bytes.len() as u64,
            );
            d["annotations"] = json!({ REF_NAME_ANNOTATION: name });
            d
        })
        .collect();
    write_index_json(&layout, entries);
    let stderr = refused(
        &env,
        &["add", "l", &oci(&layout)],
        &[
            "a\\rDone: pushed successfully",
            "\\x1b[2K\\x1b]0;owned\\x07b",
            "\\u{202e}txt.exe",
            "del\\x7fc1\\u{9b}31m",
        ],
    );
    assert_no_raw_controls(&stderr);

    // An error body from a registry.
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    proxy.add(
        Rule::new(
            "GET",
            "/manifests/",
            Fault::Reply {
                status: 403,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: json!({"errors": [{
                    "code": "DENIED",
                    "message": "\r\x1b[2KPushed sha256:0000 \u{202e}ok\u{9b}",
                }]})
                .to_string(),
            },
        )
        .times(10),
    );
    let stderr = refused(
        &env,
        &["inspect", "--tls-verify=false", &proxy.docker_ref("app:v1")],
        &["Error: "],
    );
    assert_no_raw_controls(&stderr);

    // Progress lines name the destination; references refuse C0 and C1 controls, but a path
    // may hold bidi controls.
    let dest = env.path("out\u{202e}\u{2066}fake");
    let (source, _) = image_layout(&env, "source", 51);
    succeeds(&env, &["create", "p", &oci(&source)]);
    let output = env
        .cmd()
        .args(["push", "p", &format!("{}:t", oci(&dest))])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("out\\u{202e}\\u{2066}fake"), "{stderr}");
    for line in stderr.lines() {
        assert_no_raw_controls(line);
    }
}

#[test]
fn inspect_escapes_controls_in_json_and_raw_keeps_the_exact_bytes() {
    let env = TestEnv::new();
    let hostile = "a\u{7f}b\u{9b}c\u{202e}d\u{1b}e\u{2066}f";
    let dir = env.path("annotated");
    let image = write_image_blobs(&dir, &ImageSpec::new("linux/amd64", 1, 1024, 52));
    let mut manifest: Value = serde_json::from_slice(&image.manifest_bytes).unwrap();
    manifest["annotations"] = json!({ "org.example.note": hostile });
    write_document(&dir, OCI_MANIFEST, &manifest, "latest");
    let bytes = serde_json::to_vec(&manifest).unwrap();

    let shown = succeeds(&env, &["inspect", &oci(&dir)]);
    for escape in ["\\u007f", "\\u009b", "\\u202e", "\\u001b", "\\u2066"] {
        assert!(shown.contains(escape), "{escape} not in {shown}");
    }
    assert!(!shown.contains(RAW_CONTROLS), "{shown}");
    let parsed: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(parsed["annotations"]["org.example.note"], hostile);
    let raw = env
        .cmd()
        .args(["inspect", "--raw", &oci(&dir)])
        .output()
        .unwrap();
    assert_eq!(raw.stdout, bytes, "--raw prints the exact bytes");

    // A local list's annotations are shown the same way.
    succeeds(
        &env,
        &["create", "--annotation", &format!("k={hostile}"), "l"],
    );
    let shown = succeeds(&env, &["inspect", "l"]);
    assert!(
        shown.contains("\\u202e") && !shown.contains(RAW_CONTROLS),
        "{shown}"
    );
}

#[test]
fn long_lists_of_names_in_errors_are_cut_short() {
    let env = TestEnv::new();
    succeeds(&env, &["create", "l"]);
    // index.json with 20,000 tags and no way to pick one.
    let (many, image) = image_layout(&env, "many", 53);
    let entries = (0..20_000)
        .map(|n| {
            let mut d = descriptor(
                OCI_MANIFEST,
                &image.manifest_digest,
                image.manifest_bytes.len() as u64,
            );
            d["annotations"] = json!({ REF_NAME_ANNOTATION: format!("tag-{n}") });
            d
        })
        .collect();
    write_index_json(&many, entries);
    let stderr = refused(
        &env,
        &["add", "l", &oci(&many)],
        &["holds 20000 images (tag-0, tag-1,", "tag-9 and 19990 more)"],
    );
    assert!(stderr.len() < 1000, "{} bytes: {stderr}", stderr.len());

    // An index with 300 platforms, none of them the one asked for.
    let platforms = env.path("platforms");
    let children: Vec<Value> = (0..300)
        .map(|n| {
            let mut d = descriptor(OCI_MANIFEST, &format!("sha256:{n:064x}"), 100);
            d["platform"] = json!({ "architecture": format!("arch{n}"), "os": "linux" });
            d
        })
        .collect();
    let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children });
    write_document(&platforms, OCI_INDEX, &index, "latest");
    let stderr = refused(
        &env,
        &["add", "--arch", "mips64", "l", &oci(&platforms)],
        &["linux/arch0, linux/arch1,", "linux/arch9 and 290 more"],
    );
    assert!(stderr.len() < 1000, "{} bytes: {stderr}", stderr.len());

    // What --format v2s2 would lose, entry by entry.
    let specs: Vec<ImageSpec> = (0..30)
        .map(|n| ImageSpec::new(&format!("linux/arch{n}"), 1, 64, 600 + n))
        .collect();
    let annotated = env.path("annotated");
    write_index_layout(&annotated, &specs, "latest");
    succeeds(&env, &["create", "--all", "lossy", &oci(&annotated)]);
    succeeds(
        &env,
        &["annotate", "--index", "--annotation", "k=v", "lossy"],
    );
    let inspected: Value = serde_json::from_str(&succeeds(&env, &["inspect", "lossy"])).unwrap();
    for entry in inspected["manifests"].as_array().unwrap() {
        let digest = entry["digest"].as_str().unwrap();
        succeeds(&env, &["annotate", "--annotation", "k=v", "lossy", digest]);
    }
    let stderr = refused(
        &env,
        &[
            "push",
            "--format",
            "v2s2",
            "lossy",
            &format!("{}:t", oci(&env.path("out"))),
        ],
        &["without losing", "and 21 more"],
    );
    assert!(stderr.len() < 2000, "{} bytes: {stderr}", stderr.len());
}

/// A layout whose `latest` entry claims `claimed` for the document `body`.
fn claimed_layout(dir: &Path, claimed: &str, body: &Value) {
    write_document(dir, claimed, body, "latest");
}

#[test]
fn a_manifest_is_typed_by_its_body_whatever_it_was_sent_as() {
    let env = TestEnv::new();
    succeeds(&env, &["create", "l"]);
    let dir = env.path("claims");
    let image = write_image_blobs(&dir, &ImageSpec::new("linux/amd64", 1, 1024, 54));
    let mut untyped_image: Value = serde_json::from_slice(&image.manifest_bytes).unwrap();
    untyped_image.as_object_mut().unwrap().remove("mediaType");
    let child = descriptor(
        OCI_MANIFEST,
        &image.manifest_digest,
        image.manifest_bytes.len() as u64,
    );
    let mut platformed = child.clone();
    platformed["platform"] = json!({ "architecture": "amd64", "os": "linux" });
    let untyped_index = json!({ "schemaVersion": 2, "manifests": [platformed] });

    // The claim is wrong and the body has no mediaType: the body's shape decides.
    claimed_layout(&dir, OCI_INDEX, &untyped_image);
    succeeds(&env, &["add", "l", &oci(&dir)]);
    claimed_layout(&dir, OCI_MANIFEST, &untyped_index);
    succeeds(
        &env,
        &["add", "--arch", "amd64", "--os", "linux", "l", &oci(&dir)],
    );
    let inspected: Value = serde_json::from_str(&succeeds(&env, &["inspect", "l"])).unwrap();
    for entry in inspected["manifests"].as_array().unwrap() {
        assert_eq!(entry["mediaType"], OCI_MANIFEST, "{inspected}");
    }

    // The body contradicts itself: refused, saying what it is and what it claims.
    let mut lying = serde_json::from_slice::<Value>(&image.manifest_bytes).unwrap();
    lying["mediaType"] = json!(OCI_INDEX);
    claimed_layout(&dir, OCI_INDEX, &lying);
    refused(
        &env,
        &["add", "l", &oci(&dir)],
        &[
            "is an image manifest (it has \"config\" and \"layers\")",
            &format!("its mediaType says {OCI_INDEX}"),
        ],
    );
    let mut lying = untyped_index.clone();
    lying["mediaType"] = json!(OCI_MANIFEST);
    claimed_layout(&dir, OCI_MANIFEST, &lying);
    refused(
        &env,
        &["add", "l", &oci(&dir)],
        &["is an index (it has \"manifests\")", OCI_MANIFEST],
    );
    let mut both = untyped_image.clone();
    both["manifests"] = json!([]);
    claimed_layout(&dir, OCI_MANIFEST, &both);
    refused(&env, &["add", "l", &oci(&dir)], &["has both \"manifests\""]);
    assert!(blob_path(&dir, &image.manifest_digest).is_file());
}

#[test]
fn a_registry_content_type_does_not_override_the_body() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let proxy = FaultProxy::start(&registry);
    // An image manifest with a mediaType, and one without (typed by its shape).
    let (typed_dir, typed) = image_layout(&env, "typed", 55);
    push_layout_image(&typed_dir, "latest", &registry, "app", "typed");
    let untyped_dir = env.path("untyped");
    let image = write_image_blobs(&untyped_dir, &ImageSpec::new("linux/amd64", 1, 1024, 58));
    let mut untyped: Value = serde_json::from_slice(&image.manifest_bytes).unwrap();
    untyped.as_object_mut().unwrap().remove("mediaType");
    claimed_layout(&untyped_dir, OCI_MANIFEST, &untyped);
    let untyped_digest = push_layout_image(&untyped_dir, "latest", &registry, "app", "untyped");
    let index_dir = env.path("index");
    let specs = [
        ImageSpec::new("linux/amd64", 1, 1024, 56),
        ImageSpec::new("linux/arm64", 1, 1024, 57),
    ];
    write_index_layout(&index_dir, &specs, "latest");
    push_layout_image(&index_dir, "latest", &registry, "app", "index");
    for (tag, wrong) in [
        ("typed", OCI_INDEX),
        ("untyped", OCI_INDEX),
        ("index", OCI_MANIFEST),
    ] {
        proxy.add(
            Rule::new(
                "GET",
                format!("/manifests/{tag}"),
                Fault::ContentType(wrong.into()),
            )
            .times(100),
        );
    }
    succeeds(&env, &["create", "l"]);
    let add = |tag: &str, extra: &[&str]| {
        let reference = proxy.docker_ref(&format!("app:{tag}"));
        let mut args = vec!["add", "--tls-verify=false"];
        args.extend_from_slice(extra);
        args.extend(["l", reference.as_str()]);
        succeeds(&env, &args)
    };
    assert!(add("typed", &[]).contains(&typed.manifest_digest));
    assert!(add("untyped", &[]).contains(&untyped_digest));
    add("index", &["--arch", "arm64"]);
    let inspected: Value = serde_json::from_str(&succeeds(&env, &["inspect", "l"])).unwrap();
    let types: Vec<_> = inspected["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["mediaType"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, [OCI_MANIFEST, OCI_MANIFEST, OCI_MANIFEST]);
}

#[test]
fn annotation_flags_say_whether_the_key_or_the_value_is_missing() {
    let env = TestEnv::new();
    succeeds(&env, &["create", "l"]);
    let cases = [
        ("=value", r#"no key given for annotation "=value""#),
        ("=", r#"no key given for annotation "=""#),
        ("K", r#"no value given for annotation "K""#),
        ("K=", r#"no value given for annotation "K""#),
    ];
    for (flag, message) in cases {
        let annotation = format!("--annotation={flag}");
        refused(&env, &["create", &annotation, "other"], &[message]);
        refused(&env, &["annotate", "--index", &annotation, "l"], &[message]);
        refused(
            &env,
            &["add", &annotation, "l", "oci:/nonexistent"],
            &[message],
        );
    }
}
