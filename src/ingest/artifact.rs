//! OCI artifacts made from files (`add --artifact`), as buildah 1.44 and podman 5 make them: an
//! image manifest with an `artifactType`, the empty config `{}` unless a config file is given,
//! and one layer per file titled with the file's name; written as Go's encoding/json writes it,
//! so the same files and flags give the digest buildah gives.

mod media_type;

use crate::model::digest::Digest;
use crate::model::oci::{Descriptor, ListFormat, OCI_CONFIG, OCI_MANIFEST};
use crate::store::{Store, StoreError, StoredFile};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

pub use media_type::media_type_problem;

/// The media type of the empty config (and of any empty JSON blob), image-spec 1.1.
pub const EMPTY_JSON_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The artifactType of an artifact nobody typed (ORAS's, buildah's and podman's default).
pub const UNKNOWN_ARTIFACT_TYPE: &str = "application/vnd.unknown.artifact.v1";
/// The layer annotation holding the file's name, as ORAS, buildah and podman set it.
pub const TITLE: &str = "org.opencontainers.image.title";
/// The empty config's bytes.
const EMPTY_JSON: &[u8] = b"{}";
/// Files one artifact may be made of: each is a layer of one manifest, which must stay under
/// the size registries accept, and each is read whole before the list changes.
pub const MAX_FILES: usize = 4096;

/// Why an artifact cannot be made (nothing is added to the list).
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// A flag's value is not a media type.
    #[error("{flag}: {reason}")]
    BadMediaType {
        /// The flag, as spelled on the command line.
        flag: &'static str,
        /// Why the value is not a media type.
        reason: String,
    },
    /// More files than [`MAX_FILES`].
    #[error("an artifact may be made of at most {limit} files ({count} given)")]
    TooManyFiles {
        /// How many were given.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A file name that cannot be a title (JSON strings are UTF-8).
    #[error("{0}: the file's name is not UTF-8, so it cannot be the layer's title")]
    NotUtf8(String),
    /// A file could not be kept in the store.
    #[error("keeping {path} in the store")]
    Store {
        /// The file, as given.
        path: String,
        /// What the store reported.
        #[source]
        source: StoreError,
    },
}

/// How the artifact manifest is made; every field's default is what buildah does without flags.
#[derive(Debug, Clone, Default)]
pub struct ArtifactSpec {
    /// `--artifact-type`: `None` is [`UNKNOWN_ARTIFACT_TYPE`], `Some("")` sets none.
    pub artifact_type: Option<String>,
    /// `--artifact-config-type` (default: the empty config's type, or the image config's when
    /// a config file is given).
    pub config_type: Option<String>,
    /// `--artifact-config`: a file holding the config (an empty one counts as none).
    pub config_file: Option<PathBuf>,
    /// `--artifact-layer-type` for every layer (default: guessed per file).
    pub layer_type: Option<String>,
    /// `--artifact-exclude-titles`: no title annotation on the layers.
    pub exclude_titles: bool,
    /// `--artifact-annotation`s: annotations of the manifest itself.
    pub annotations: BTreeMap<String, String>,
    /// `--artifact-subject`: the descriptor of the manifest the artifact refers to.
    pub subject: Option<Descriptor>,
}

/// An artifact made and kept: its list entry, the small blobs to keep with the list (the
/// manifest, an empty config), and the files it was made from (absolute paths).
#[derive(Debug, Clone)]
pub struct Made {
    /// The entry to add: the manifest's descriptor with the artifactType.
    pub entry: Descriptor,
    /// The manifest (and the empty config), for the store to keep when it saves the list.
    pub blobs: Vec<(Digest, Bytes)>,
    /// The absolute paths of the files, layers first, then the config file.
    pub files: Vec<String>,
}

impl ArtifactSpec {
    /// Refuses a flag whose value is not a media type, before any file is read.
    pub fn check(&self) -> Result<(), ArtifactError> {
        for (flag, value) in [
            ("--artifact-type", &self.artifact_type),
            ("--artifact-config-type", &self.config_type),
            ("--artifact-layer-type", &self.layer_type),
        ] {
            if let Some(reason) = value
                .as_deref()
                .filter(|v| !v.is_empty())
                .and_then(media_type_problem)
            {
                return Err(ArtifactError::BadMediaType { flag, reason });
            }
        }
        Ok(())
    }
}

/// Copies `files` (and the config file) into the store's blob area and builds the artifact
/// manifest that names them. The list itself is not changed here.
pub fn make(store: &Store, spec: &ArtifactSpec, files: &[PathBuf]) -> Result<Made, ArtifactError> {
    spec.check()?;
    if files.len() > MAX_FILES {
        return Err(ArtifactError::TooManyFiles {
            count: files.len(),
            limit: MAX_FILES,
        });
    }
    let keep = |path: &Path| -> Result<(String, StoredFile), ArtifactError> {
        let absolute = absolute(path);
        let text = absolute
            .to_str()
            .ok_or_else(|| ArtifactError::NotUtf8(path.display().to_string()))?
            .to_string();
        let stored = store
            .put_file(&absolute)
            .map_err(|source| ArtifactError::Store {
                path: path.display().to_string(),
                source,
            })?;
        Ok((text, stored))
    };
    let mut layers = Vec::new();
    let mut kept = Vec::new();
    for path in files {
        let (absolute, stored) = keep(path)?;
        let title = Path::new(&absolute)
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_string();
        let media_type = match spec.layer_type.as_deref().filter(|t| !t.is_empty()) {
            Some(given) => given.to_string(),
            None => media_type::guess(&title, &stored.head),
        };
        let mut layer = Descriptor::new(&media_type, stored.digest, stored.size);
        if !spec.exclude_titles {
            layer.annotations.insert(TITLE.into(), title);
        }
        layers.push(layer);
        kept.push(absolute);
    }
    let config_type = spec.config_type.clone().filter(|t| !t.is_empty());
    let mut blobs = Vec::new();
    let config_file = match spec.config_file.as_deref() {
        Some(path) if !path.as_os_str().is_empty() => Some(keep(path)?),
        _ => None,
    };
    let config = match config_file {
        // An empty file is no config (podman).
        Some((absolute, stored)) if stored.size > 0 => {
            kept.push(absolute);
            Descriptor::new(
                config_type.as_deref().unwrap_or(OCI_CONFIG),
                stored.digest,
                stored.size,
            )
        }
        _ => {
            let digest = Digest::sha256_of(EMPTY_JSON);
            blobs.push((digest.clone(), Bytes::from_static(EMPTY_JSON)));
            let mut empty = Descriptor::new(
                config_type.as_deref().unwrap_or(EMPTY_JSON_TYPE),
                digest,
                EMPTY_JSON.len() as u64,
            );
            empty.data = Some(base64::engine::general_purpose::STANDARD.encode(EMPTY_JSON));
            empty
        }
    };
    let artifact_type = match spec.artifact_type.as_deref() {
        None => Some(UNKNOWN_ARTIFACT_TYPE.to_string()),
        Some("") => None,
        Some(given) => Some(given.to_string()),
    };
    let manifest = manifest_bytes(
        artifact_type.as_deref(),
        &config,
        &layers,
        spec.subject.as_ref(),
        &spec.annotations,
    );
    let digest = Digest::sha256_of(&manifest);
    let mut entry = Descriptor::new(OCI_MANIFEST, digest.clone(), manifest.len() as u64);
    entry.artifact_type = artifact_type;
    blobs.insert(0, (digest, Bytes::from(manifest)));
    Ok(Made {
        entry,
        blobs,
        files: kept,
    })
}

/// The manifest as Go's encoding/json writes image-spec's `Manifest`: its fields in order,
/// empty ones left out, `<`, `>`, `&`, U+2028 and U+2029 escaped.
fn manifest_bytes(
    artifact_type: Option<&str>,
    config: &Descriptor,
    layers: &[Descriptor],
    subject: Option<&Descriptor>,
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut map = Map::new();
    map.insert("schemaVersion".into(), 2.into());
    map.insert("mediaType".into(), OCI_MANIFEST.into());
    if let Some(artifact_type) = artifact_type {
        map.insert("artifactType".into(), artifact_type.into());
    }
    map.insert("config".into(), config.to_value(ListFormat::Oci));
    map.insert(
        "layers".into(),
        layers.iter().map(|l| l.to_value(ListFormat::Oci)).collect(),
    );
    if let Some(subject) = subject {
        map.insert("subject".into(), subject.to_value(ListFormat::Oci));
    }
    if !annotations.is_empty() {
        let annotations = annotations
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        map.insert("annotations".into(), Value::Object(annotations));
    }
    go_json(&Value::Object(map))
}

/// Compact JSON as Go's encoding/json writes it: serde_json's, with the characters Go also
/// escapes. They can occur only inside strings, where the escape means the same character.
fn go_json(value: &Value) -> Vec<u8> {
    let text = serde_json::to_string(value).expect("JSON values always serialise");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.into_bytes()
}

/// `path` made absolute and cleaned (`.` and `..` resolved by name, symlinks not followed), as
/// Go's `filepath.Abs` makes it: the same file named two ways gives one text.
pub fn absolute(path: &Path) -> PathBuf {
    let joined = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut clean = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    clean
}

#[cfg(test)]
#[path = "artifact_tests.rs"]
mod tests;
