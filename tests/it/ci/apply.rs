//! `manifest apply`: manifest-tool's documented spec, adapted only to a local registry, works
//! as it is; the extensions (any transport, entry annotations) and `--dry-run` too; a spec of
//! aliases or nesting that would expand without bound is refused.

use crate::support::hostile::HANG_LIMIT;
use crate::support::image::write_image_layout;
use crate::support::push::{get_manifest, list_tags, push_layout_image, resolved};
use crate::support::registry::{writes, Registry};
use crate::support::{five_platforms, ImageSpec, TestEnv};
use serde_json::Value;
use std::fs;

/// manifest-tool's README example, with `myprivreg:5000` replaced by the test registry.
fn manifest_tool_example(registry: &str) -> String {
    format!(
        r#"image: {registry}/someimage:latest
tags: ["1.0.0", "1.0", "1"]
manifests:
  -
    image: {registry}/someimage:arm64
    platform:
      architecture: arm64
      os: linux
  -
    image: {registry}/someimage:amd64
    platform:
      architecture: amd64
      os: linux
"#
    )
}

#[test]
fn a_manifest_tool_spec_works_as_it_is() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let specs = five_platforms();
    let mut digests = Vec::new();
    for (spec, tag) in [(&specs[1], "arm64"), (&specs[0], "amd64")] {
        let layout = env.path(tag);
        write_image_layout(&layout, spec, "latest");
        digests.push(push_layout_image(
            &layout,
            "latest",
            &registry,
            "someimage",
            tag,
        ));
    }
    let file = env.path("someimage.yaml");
    std::fs::write(&file, manifest_tool_example(&registry.addr)).unwrap();

    let before = registry.access_log().len();
    let plan = env.run(&[
        "apply",
        "--dry-run",
        "--tls-verify=false",
        file.to_str().unwrap(),
    ]);
    assert!(
        writes(&registry.access_log()[before..]).is_empty(),
        "the dry run wrote"
    );
    assert!(
        plan.contains(&registry.docker_ref("someimage:1.0.0")),
        "{plan}"
    );

    env.run(&["apply", "-q", "--tls-verify=false", file.to_str().unwrap()]);
    let latest = resolved(&registry, "someimage", "latest");
    for tag in ["1.0.0", "1.0", "1"] {
        assert_eq!(resolved(&registry, "someimage", tag), latest, "{tag}");
    }
    let (index, _, _) = get_manifest(&registry, "someimage", "latest");
    let index: Value = serde_json::from_slice(&index).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["digest"], digests[0].as_str());
    assert_eq!(entries[0]["platform"]["architecture"], "arm64");
    assert_eq!(
        entries[0]["platform"]["variant"], "v8",
        "the config's variant is kept"
    );
    assert_eq!(entries[1]["digest"], digests[1].as_str());
    // Nothing is left in the store.
    env.cmd().args(["exists", "someimage"]).assert().code(1);
}

#[test]
fn json_specs_extensions_and_errors() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let layout = env.path("in");
    write_image_layout(&layout, &five_platforms()[2], "armv7");
    let source = format!("oci:{}:armv7", layout.display());
    let file = env.path("spec.json");
    let spec = serde_json::json!({
        "image": registry.image("app:v1"),
        "annotations": {"org.opencontainers.image.source": "https://example.org/app"},
        "manifests": [{
            "image": source,
            "platform": {"architecture": "arm", "os": "linux", "variant": "v6"},
            "annotations": {"org.example.flavor": "armv6"}
        }],
        "flavour": "ignored"
    });
    std::fs::write(&file, serde_json::to_vec(&spec).unwrap()).unwrap();
    let out = env
        .cmd()
        .args(["apply", "-q", "--tls-verify=false", "--tag", "extra"])
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("ignoring unknown key flavour"));
    let (index, _, _) = get_manifest(&registry, "app", "extra");
    let index: Value = serde_json::from_slice(&index).unwrap();
    assert_eq!(
        index["annotations"]["org.opencontainers.image.source"],
        "https://example.org/app"
    );
    assert_eq!(
        index["manifests"][0]["platform"]["variant"], "v6",
        "the spec's platform wins"
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["org.example.flavor"],
        "armv6"
    );

    let other = env.path("other");
    write_image_layout(
        &other,
        &ImageSpec::new("linux/arm/v7", 1, 1024, 99),
        "armv7",
    );
    let twice = env.path("twice.yaml");
    std::fs::write(
        &twice,
        format!(
            "image: {}\nmanifests:\n  - image: {source}\n  - image: oci:{}:armv7\n",
            registry.image("app:dup"),
            other.display()
        ),
    )
    .unwrap();
    let out = env
        .cmd()
        .arg("apply")
        .arg(&twice)
        .assert()
        .failure()
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("two manifests are for platform linux/arm/v7"));
    assert!(!list_tags(&registry, "app").contains(&"dup".to_string()));
}

#[test]
fn apply_specs_that_would_expand_without_bound_are_refused() {
    let env = TestEnv::new();
    let spec = env.path("bomb.yaml");
    let head = "image: reg.io/app:v1\nmanifests: [{image: reg.io/app:amd64}]\n";
    // The issue's shape, scaled to the 1 MiB cap: a big anchor aliased under an unknown key.
    let aliased = format!(
        "{head}unknown:\n  - &big {}\n{}",
        "x".repeat(512 * 1024),
        "  - *big\n".repeat(50_000)
    );
    let mut laughs = format!("{head}l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for n in 1..12 {
        laughs += &format!(
            "l{n}: &l{n} [{}]\n",
            vec![format!("*l{}", n - 1); 10].join(", ")
        );
    }
    let deep = format!("{head}d: {}{}\n", "[".repeat(50_000), "]".repeat(50_000));
    for (text, says) in [
        (aliased, "bytes of text, aliases expanded"),
        (laughs, "the most a spec file may have"),
        (deep, "levels of nesting"),
    ] {
        fs::write(&spec, text).unwrap();
        let mut command = env.cmd();
        command.args(["apply", "--dry-run", spec.to_str().unwrap()]);
        let output = command.timeout(HANG_LIMIT).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with("Error: "), "{stderr}");
        assert!(
            stderr.contains("bomb.yaml") && stderr.contains(says),
            "{stderr}"
        );
        assert!(stderr.len() < 2000, "{stderr}");
    }
}
