//! JSON documents the tool writes (`--metadata-file`, `verify --format json`): read from disk
//! and checked against the schemas the repository ships under `schemas/`.

use serde_json::Value;
use std::path::Path;

/// A JSON file.
pub fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What `document` breaks of `schemas/<schema>` (empty when it matches), one line per error
/// with where it is.
pub fn schema_errors(schema: &str, document: &Value) -> Vec<String> {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(schema);
    let schema = read_json(&schema_path);
    let validator = jsonschema::validator_for(&schema).expect("the shipped schema is valid");
    validator
        .iter_errors(document)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// Checks a `--metadata-file` document against the schema the repository ships.
pub fn assert_valid_metadata(document: &Value) {
    let errors = schema_errors("push-metadata.json", document);
    assert!(
        errors.is_empty(),
        "metadata does not match the schema: {errors:?}\n{document:#}"
    );
}
