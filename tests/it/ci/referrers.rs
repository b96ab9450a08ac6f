//! `push --referrers`: a child's signature, listed under the `sha256-<hex>` fallback tag of a
//! registry without the referrers API (distribution 2.8), arrives at the destination and is
//! listed there the same way.

use crate::support::documents::{assert_valid_metadata, read_json};
use crate::support::image::{sha256_digest, OCI_MANIFEST};
use crate::support::push::{
    get_blob, get_manifest, list_tags, push_signature, seed_images, SIGNATURE_ARTIFACT_TYPE,
};
use crate::support::registry::Registry;
use crate::support::{five_platforms, list_of, TestEnv};
use serde_json::Value;

#[test]
fn referrers_of_a_child_arrive_at_the_destination() {
    let env = TestEnv::new();
    let source = Registry::plain();
    let dest = Registry::plain();
    let seeded = seed_images(env.tmp.path(), &source, "src/app", &five_platforms()[..2]);
    let (child, _, _) = get_manifest(&source, "src/app", &seeded[0].1);
    let signature = push_signature(
        &source,
        "src/app",
        (&seeded[0].1, child.len() as u64, OCI_MANIFEST),
        b"{\"critical\":{\"image\":{\"docker-manifest-digest\":\"...\"}}}",
    );
    let references: Vec<String> = seeded.iter().map(|(r, _)| r.clone()).collect();
    list_of(&env, &references);
    let fallback = format!("sha256-{}", seeded[0].1.trim_start_matches("sha256:"));

    // Without --referrers nothing but the list goes.
    env.run(&[
        "push",
        "-q",
        "--tls-verify=false",
        "l",
        &dest.docker_ref("plain/app:v1"),
    ]);
    assert_eq!(list_tags(&dest, "plain/app"), ["v1"]);

    let destination = dest.docker_ref("dst/app:v1");
    let dry_run = || {
        env.run(&[
            "push",
            "--dry-run",
            "--referrers",
            "--tls-verify=false",
            "l",
            &destination,
        ])
    };
    let plan = dry_run();
    assert!(
        plan.contains(&format!("referrer {signature} of {}", seeded[0].1))
            && plan.contains(SIGNATURE_ARTIFACT_TYPE),
        "{plan}"
    );
    assert!(
        plan.contains(&format!("referrers tag {fallback}: write")),
        "{plan}"
    );

    let metadata = env.path("m.json");
    env.cmd()
        .args([
            "push",
            "-q",
            "--referrers",
            "--tls-verify=false",
            "--metadata-file",
        ])
        .arg(&metadata)
        .args(["l", &dest.docker_ref("dst/app:v1")])
        .assert()
        .success();
    let (bytes, _, _) = get_manifest(&dest, "dst/app", &signature);
    assert_eq!(sha256_digest(&bytes), signature);
    let manifest: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(manifest["subject"]["digest"], seeded[0].1.as_str());
    for blob in std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().unwrap()) {
        let digest = blob["digest"].as_str().unwrap();
        assert_eq!(sha256_digest(&get_blob(&dest, "dst/app", digest)), digest);
    }
    let (listed, _, _) = get_manifest(&dest, "dst/app", &fallback);
    let listed: Value = serde_json::from_slice(&listed).unwrap();
    assert_eq!(listed["manifests"][0]["digest"], signature.as_str());
    assert_eq!(
        listed["manifests"][0]["artifactType"],
        SIGNATURE_ARTIFACT_TYPE
    );
    let metadata = read_json(&metadata);
    assert_valid_metadata(&metadata);
    assert_eq!(metadata["referrers"][0]["action"], "copy");
    assert_eq!(metadata["referrerTags"], serde_json::json!([fallback]));

    // Again: the signature is there and listed, so nothing of it is written.
    let again = dry_run();
    assert!(
        again.contains(&format!("referrer {signature} of {}", seeded[0].1))
            && again.contains("skip (already there)"),
        "{again}"
    );
    assert!(!again.contains("referrers tag"), "{again}");
}
