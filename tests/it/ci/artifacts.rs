//! Artifacts in lists (`add --artifact`) and artifactType on the index and its entries, pushed
//! to the real registry and read back by skopeo; `--format v2s2` refusing what a Docker list
//! cannot hold, and `--allow-lossy` dropping it by name.

use crate::support::buildah::skopeo_to_layout;
use crate::support::documents::read_json;
use crate::support::image::read_blob;
use crate::support::push::{manifest_status, seed_images};
use crate::support::registry::Registry;
use crate::support::{five_platforms, TestEnv};
use predicates::prelude::*;
use serde_json::Value;

const BUNDLE: &str = "application/vnd.example.bundle.v1";
const CHART: &str = "application/vnd.example.model.v1";
const SCANNED: &str = "application/vnd.example.scanned.v1";

/// A list `l` of one registry image (annotated with an artifactType) and one artifact of two
/// files, with an artifactType of its own: the artifact's digest and its files.
fn bundle(env: &TestEnv, registry: &Registry) -> (String, Vec<std::path::PathBuf>) {
    let seeded = seed_images(env.tmp.path(), registry, "src/app", &five_platforms()[..1]);
    let weights = env.path("weights");
    let notes = env.path("notes.txt");
    let weights_bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&weights, weights_bytes).unwrap();
    std::fs::write(&notes, "trained on 3 GPUs\n").unwrap();
    env.run(&["create", "--artifact-type", BUNDLE, "l"]);
    env.run(&["add", "--tls-verify=false", "l", &seeded[0].0]);
    env.run(&["annotate", "--artifact-type", SCANNED, "l", &seeded[0].1]);
    let added = env.run(&[
        "add",
        "--artifact",
        "--artifact-type",
        CHART,
        "l",
        weights.to_str().unwrap(),
        notes.to_str().unwrap(),
    ]);
    let digest = added.trim().rsplit(' ').next().unwrap().to_string();
    (digest, vec![weights, notes])
}

/// The artifact types survive a push (`inspect` of the pushed index shows them), and skopeo
/// copies the artifact back with every file as it was.
#[test]
fn an_artifact_list_is_pushed_and_pulled_back_by_skopeo_file_for_file() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let (artifact, files) = bundle(&env, &registry);
    let destination = registry.docker_ref("dst/bundle:v1");
    env.run(&["push", "--tls-verify=false", "l", &destination]);

    let pushed: Value =
        serde_json::from_str(&env.run(&["inspect", "--tls-verify=false", &destination])).unwrap();
    assert_eq!(
        pushed["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(pushed["artifactType"], BUNDLE, "{pushed:#}");
    assert_eq!(
        pushed["manifests"][0]["artifactType"], SCANNED,
        "{pushed:#}"
    );
    assert_eq!(pushed["manifests"][1]["digest"], artifact.as_str());
    assert_eq!(pushed["manifests"][1]["artifactType"], CHART, "{pushed:#}");
    assert_eq!(pushed["manifests"][1].get("platform"), None);

    let layout = env.path("pulled");
    skopeo_to_layout(
        &format!("docker://{}@{artifact}", registry.image("dst/bundle")),
        &layout,
        "chart",
    );
    let index = read_json(&layout.join("index.json"));
    assert_eq!(index["manifests"][0]["digest"], artifact.as_str());
    let manifest: Value = serde_json::from_slice(&read_blob(&layout, &artifact)).unwrap();
    assert_eq!(manifest["artifactType"], CHART);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for (layer, (file, media_type)) in layers
        .iter()
        .zip(files.iter().zip(["application/octet-stream", "text/plain"]))
    {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_eq!(layer["annotations"]["org.opencontainers.image.title"], name);
        assert_eq!(layer["mediaType"], media_type, "{name}");
        let pulled = read_blob(&layout, layer["digest"].as_str().unwrap());
        assert!(pulled == std::fs::read(file).unwrap(), "{name} differs");
    }
}

/// `--format v2s2`: a Docker list holds neither artifacts nor artifactType; the push is refused
/// naming each, and nothing is written; `--allow-lossy` leaves them out, naming each.
#[test]
fn format_v2s2_refuses_artifacts_unless_allow_lossy_drops_them() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let (artifact, _) = bundle(&env, &registry);
    let destination = registry.docker_ref("dst/bundle:v2");
    let stderr = env.fails(&[
        "push",
        "--tls-verify=false",
        "--format",
        "v2s2",
        "l",
        &destination,
    ]);
    for named in [
        format!("artifact {artifact} ({CHART})"),
        "the index's artifactType".to_string(),
        "'s artifactType".to_string(),
        "--allow-lossy".to_string(),
    ] {
        assert!(stderr.contains(&named), "{named} not in {stderr}");
    }
    assert_eq!(manifest_status(&registry, "dst/bundle", "v2"), 404);
    assert_eq!(manifest_status(&registry, "dst/bundle", &artifact), 404);

    env.cmd()
        .args([
            "push",
            "--tls-verify=false",
            "--format",
            "v2s2",
            "--allow-lossy",
        ])
        .args(["l", &destination])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "Dropping artifact {artifact} ({CHART})"
        )));
    let pushed: Value =
        serde_json::from_str(&env.run(&["inspect", "--tls-verify=false", &destination])).unwrap();
    assert_eq!(
        pushed["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let entries = pushed["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{pushed:#}");
    assert_eq!(
        entries[0]["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert!(!serde_json::to_string(&pushed)
        .unwrap()
        .contains("artifactType"));
    assert_eq!(manifest_status(&registry, "dst/bundle", &artifact), 404);
}
