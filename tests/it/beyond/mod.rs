//! What CI jobs reach for other tools for, against the real registry: several tags in one
//! push, dry runs, platform filters with buildx attestations, referrers, machine-readable
//! results, `apply` with manifest-tool's spec, artifacts and compression variants,
//! completions, man pages and progress.

mod apply;
mod artifacts;
mod dry_run;
mod platforms;
mod publish;
mod referrers;
mod shell;
mod tags;
mod variants;
mod verify;

use crate::support::registry::{AccessLogEntry, Registry};
use crate::support::TestEnv;
use serde_json::Value;
use std::path::Path;

/// The requests that change something at a registry.
fn writes(log: &[AccessLogEntry]) -> Vec<&AccessLogEntry> {
    log.iter()
        .filter(|e| matches!(e.method.as_str(), "PUT" | "POST" | "PATCH" | "DELETE"))
        .collect()
}

/// A JSON file.
fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks a `--metadata-file` document against the schema the repository ships.
fn assert_valid_metadata(document: &Value) {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/push-metadata.json");
    let schema = read_json(&schema_path);
    let validator = jsonschema::validator_for(&schema).expect("the shipped schema is valid");
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "metadata does not match the schema: {errors:?}\n{document:#}"
    );
}

/// A list `l` made of the images `references` (added from `registry`, plain HTTP).
fn list_of(env: &TestEnv, references: &[String]) {
    env.run(&["create", "l"]);
    for reference in references {
        env.run(&["add", "--tls-verify=false", "l", reference]);
    }
}

/// The digest `repo:tag` resolves to at `registry`.
fn resolved(registry: &Registry, repo: &str, tag: &str) -> String {
    let (bytes, _, digest) = crate::support::push::get_manifest(registry, repo, tag);
    let digest = digest.expect("Docker-Content-Digest");
    assert_eq!(crate::support::image::sha256_digest(&bytes), digest);
    digest
}
