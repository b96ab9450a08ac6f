//! The documents this tool reads and writes: image indexes, Docker manifest lists, descriptors and
//! platforms, with the exact key order of the specs and every unknown field kept.

use crate::model::digest::Digest;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image manifest (one platform's config and layers).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image config (platform, layer diff IDs and run settings).
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Media type of a gzip-compressed OCI layer tarball.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub(crate) const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub(crate) const OCI_LAYER_NONDIST_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub(crate) const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub(crate) const DOCKER_LAYER_FOREIGN_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// The file that marks a directory (or an archive) as an OCI image layout.
pub(crate) const LAYOUT_FILE: &str = "oci-layout";
/// `index.json` of a layout larger than this is refused (a hostile layout must not exhaust memory).
pub(crate) const MAX_INDEX_JSON_BYTES: u64 = 64 * 1024 * 1024;
/// Manifests larger than this are refused, and no list larger than this is built: real ones
/// are a few KiB, registries refuse bigger ones, and a hostile source must not make the tool
/// buffer gigabytes.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Configs are read whole (to learn the platform); the same reasoning caps them.
pub(crate) const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Every manifest media type a registry read asks for.
pub(crate) const ACCEPTED_MANIFEST_TYPES: &[&str] =
    &[OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

/// Whether a media type names a list of manifests rather than a single image.
pub(crate) fn is_index_type(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// The two shapes a list can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// An OCI image index (`application/vnd.oci.image.index.v1+json`).
    Oci,
    /// A Docker manifest list (`application/vnd.docker.distribution.manifest.list.v2+json`).
    Docker,
}

impl ListFormat {
    pub(crate) fn media_type(self) -> &'static str {
        match self {
            ListFormat::Oci => OCI_INDEX,
            ListFormat::Docker => DOCKER_LIST,
        }
    }
}

/// Why bytes are not a usable index or image manifest, or why a list cannot be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    /// Not JSON, not an object, or a required field is missing or of the wrong type.
    #[error("not a valid manifest document: {0}")]
    Malformed(String),
    /// A single image manifest where a list was wanted (its declared media type, possibly empty).
    #[error("it is a single image manifest{}, not an index or manifest list", declared_suffix(.0))]
    NotAnIndex(String),
    /// The body's shape (index or image) contradicts its own `mediaType`.
    #[error(
        "the document is {body} but its mediaType says {declared}{}",
        claimed_suffix(.claimed)
    )]
    KindMismatch {
        /// The shape the body has, in words (an index or an image manifest).
        body: &'static str,
        /// The `mediaType` the body declares.
        declared: String,
        /// The media type it was sent or pointed at with, when that differs from `declared`.
        claimed: Option<String>,
    },
    /// The list holds Docker-only and OCI-only fields at once, so neither format can be written.
    #[error(
        "the list has both `features` (Docker manifest lists only) and annotations, subject or \
         artifactType (OCI indexes only); no format can hold both, so remove one of them"
    )]
    FormatClash,
}

fn declared_suffix(declared: &str) -> String {
    if declared.is_empty() {
        String::new()
    } else {
        format!(" ({declared})")
    }
}

fn claimed_suffix(claimed: &Option<String>) -> String {
    match claimed {
        Some(claimed) => format!(" (and it was sent as {claimed})"),
        None => String::new(),
    }
}

/// The platform an image runs on, as a list entry describes it (`platform` of an index entry).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Platform {
    /// CPU architecture in Go's `GOARCH` terms (`amd64`, `arm64`, …).
    #[serde(default)]
    pub architecture: String,
    /// Operating system in Go's `GOOS` terms (`linux`, `windows`, …).
    #[serde(default)]
    pub os: String,
    /// The operating system version the image needs (`os.version`, a Windows build number).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Operating system features the image needs (`os.features`, such as `win32k`).
    #[serde(rename = "os.features", default)]
    pub os_features: Vec<String>,
    /// The CPU variant within the architecture (`v7` for arm, `v8` for arm64, …).
    #[serde(default)]
    pub variant: Option<String>,
    /// CPU features the image needs (Docker manifest lists only; reserved in OCI).
    #[serde(default)]
    pub features: Vec<String>,
    /// Fields neither spec names, kept so that a list is written back as it was read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Platform {
    /// `features` exist only in Docker lists (the OCI field is reserved); an OCI index is
    /// written without them, which `Index::loss_in` reports first.
    fn to_value(&self, format: ListFormat) -> Value {
        let mut map = Map::new();
        map.insert("architecture".into(), self.architecture.clone().into());
        map.insert("os".into(), self.os.clone().into());
        if let Some(v) = non_empty(&self.os_version) {
            map.insert("os.version".into(), v.into());
        }
        if !self.os_features.is_empty() {
            map.insert("os.features".into(), self.os_features.clone().into());
        }
        if let Some(v) = non_empty(&self.variant) {
            map.insert("variant".into(), v.into());
        }
        if !self.features.is_empty() && format == ListFormat::Docker {
            map.insert("features".into(), self.features.clone().into());
        }
        append_extra(&mut map, &self.extra);
        Value::Object(map)
    }

    /// `os/arch[/variant]`, the way users name a platform.
    pub(crate) fn display(&self) -> String {
        match non_empty(&self.variant) {
            Some(v) => format!("{}/{}/{}", self.os, self.architecture, v),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value.as_ref().filter(|v| !v.is_empty()).cloned()
}

fn append_extra(map: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (k, v) in extra {
        map.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

/// A reference to content by digest: what an index entry, a config or a layer entry holds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content (`mediaType`).
    #[serde(default)]
    pub media_type: String,
    /// The digest of the referenced bytes; it is how the content is fetched and verified.
    pub digest: Digest,
    /// The exact length of the referenced bytes.
    pub size: u64,
    /// Other locations the content may be downloaded from (`urls`, for foreign layers).
    #[serde(default)]
    pub urls: Vec<String>,
    /// Arbitrary key/value metadata on this entry (OCI only).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The referenced bytes themselves, base64-encoded, embedded in the descriptor (OCI only).
    #[serde(default)]
    pub data: Option<String>,
    /// For an index entry, the platform the referenced image runs on.
    #[serde(default)]
    pub platform: Option<Platform>,
    /// For an artifact, the type of artifact the referenced manifest is (OCI only).
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// Fields neither spec names, kept so that a list is written back as it was read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Descriptor {
    /// A descriptor with only the three required fields set.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            data: None,
            platform: None,
            artifact_type: None,
            extra: Map::new(),
        }
    }

    /// The descriptor as JSON in the key order of `format`'s spec.
    pub(crate) fn to_value(&self, format: ListFormat) -> Value {
        let mut map = Map::new();
        map.insert("mediaType".into(), self.media_type.clone().into());
        match format {
            ListFormat::Oci => {
                map.insert("digest".into(), self.digest.as_str().into());
                map.insert("size".into(), self.size.into());
            }
            ListFormat::Docker => {
                map.insert("size".into(), self.size.into());
                map.insert("digest".into(), self.digest.as_str().into());
            }
        }
        if !self.urls.is_empty() {
            map.insert("urls".into(), self.urls.clone().into());
        }
        if format == ListFormat::Oci {
            if !self.annotations.is_empty() {
                map.insert("annotations".into(), string_map(&self.annotations));
            }
            if let Some(data) = non_empty(&self.data) {
                map.insert("data".into(), data.into());
            }
        }
        if let Some(platform) = &self.platform {
            map.insert("platform".into(), platform.to_value(format));
        }
        if format == ListFormat::Oci {
            if let Some(t) = non_empty(&self.artifact_type) {
                map.insert("artifactType".into(), t.into());
            }
        }
        append_extra(&mut map, &self.extra);
        Value::Object(map)
    }

    /// Whether this entry carries something only an OCI index can hold.
    fn has_oci_only_fields(&self) -> bool {
        !self.annotations.is_empty()
            || non_empty(&self.artifact_type).is_some()
            || non_empty(&self.data).is_some()
    }

    fn has_docker_only_fields(&self) -> bool {
        self.platform
            .as_ref()
            .is_some_and(|p| !p.features.is_empty())
    }
}

fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// A manifest list or image index, format-neutral: the format is chosen when it is written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// The `mediaType` the document declared when read; the written one comes from the format.
    #[serde(default)]
    pub media_type: Option<String>,
    /// For an artifact index, the type of artifact it is (OCI only).
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// The entries, one per manifest, in the order they are written.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// The manifest this index refers to (the referrers API links it from there; OCI only).
    #[serde(default)]
    pub subject: Option<Descriptor>,
    /// Arbitrary key/value metadata on the index itself (OCI only).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Fields neither spec names, kept so that a list is written back as it was read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Index {
    /// Parses an index or manifest list; a single image manifest is refused.
    pub fn parse(bytes: &[u8]) -> Result<Self, DocumentError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| DocumentError::Malformed(e.to_string()))?;
        let object = value
            .as_object()
            .ok_or_else(|| DocumentError::Malformed("not a JSON object".into()))?;
        let declared = object
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let looks_like_image = object.contains_key("config") || object.contains_key("layers");
        if (!declared.is_empty() && !is_index_type(&declared)) || looks_like_image {
            return Err(DocumentError::NotAnIndex(declared));
        }
        if !object.get("manifests").is_some_and(Value::is_array) {
            return Err(DocumentError::Malformed("no \"manifests\" array".into()));
        }
        let mut index: Index =
            serde_json::from_value(value).map_err(|e| DocumentError::Malformed(e.to_string()))?;
        // shift_remove keeps the order of the other unknown fields (remove would swap the last
        // one into its place and change the bytes written back; found by fuzzing).
        index.extra.shift_remove("schemaVersion");
        Ok(index)
    }

    /// buildah's rule: an empty list is a Docker list; a non-empty one is an OCI index unless an
    /// entry has `features` (Docker only) and nothing OCI-only is set.
    pub fn auto_format(&self) -> Result<ListFormat, DocumentError> {
        let oci_only = !self.annotations.is_empty()
            || self.subject.is_some()
            || non_empty(&self.artifact_type).is_some()
            || self.manifests.iter().any(Descriptor::has_oci_only_fields);
        let docker_only = self
            .manifests
            .iter()
            .any(Descriptor::has_docker_only_fields);
        match (oci_only, docker_only) {
            (true, true) => Err(DocumentError::FormatClash),
            (true, false) => Ok(ListFormat::Oci),
            (false, true) => Ok(ListFormat::Docker),
            (false, false) if self.manifests.is_empty() => Ok(ListFormat::Docker),
            (false, false) => Ok(ListFormat::Oci),
        }
    }

    /// Everything `format` cannot hold, every field named (annotations by key, escaped: they may
    /// come from the network), or `None` when nothing would be lost.
    pub(crate) fn loss_in(&self, format: ListFormat) -> Option<String> {
        let mut lost = Vec::new();
        match format {
            ListFormat::Docker => {
                lost.extend(
                    self.annotations
                        .keys()
                        .map(|key| format!("the index's annotation {key:?}")),
                );
                if self.subject.is_some() {
                    lost.push("the index's subject".to_string());
                }
                if non_empty(&self.artifact_type).is_some() {
                    lost.push("the index's artifactType".to_string());
                }
                for entry in &self.manifests {
                    let whose = format!("entry {}'s", entry.digest);
                    lost.extend(
                        entry
                            .annotations
                            .keys()
                            .map(|key| format!("{whose} annotation {key:?}")),
                    );
                    if non_empty(&entry.artifact_type).is_some() {
                        lost.push(format!("{whose} artifactType"));
                    }
                    if non_empty(&entry.data).is_some() {
                        lost.push(format!("{whose} data"));
                    }
                }
            }
            ListFormat::Oci => {
                for entry in &self.manifests {
                    if entry.has_docker_only_fields() {
                        lost.push(format!("entry {}'s platform features", entry.digest));
                    }
                }
            }
        }
        (!lost.is_empty()).then(|| crate::boundary::terminal::shortened_list(lost))
    }

    pub(crate) fn to_value(&self, format: ListFormat) -> Value {
        let mut map = Map::new();
        map.insert("schemaVersion".into(), 2.into());
        map.insert("mediaType".into(), format.media_type().into());
        if format == ListFormat::Oci {
            if let Some(t) = non_empty(&self.artifact_type) {
                map.insert("artifactType".into(), t.into());
            }
        }
        map.insert(
            "manifests".into(),
            Value::Array(self.manifests.iter().map(|d| d.to_value(format)).collect()),
        );
        if format == ListFormat::Oci {
            if let Some(subject) = &self.subject {
                map.insert("subject".into(), subject.to_value(ListFormat::Oci));
            }
            if !self.annotations.is_empty() {
                map.insert("annotations".into(), string_map(&self.annotations));
            }
        }
        append_extra(&mut map, &self.extra);
        Value::Object(map)
    }

    /// The compact bytes that are stored and pushed; their sha256 is the list's digest.
    pub fn to_bytes(&self, format: ListFormat) -> Vec<u8> {
        serde_json::to_vec(&self.to_value(format)).expect("JSON values always serialise")
    }
}

/// Re-indents a JSON document with four spaces, keeping its key order, with a final newline;
/// every control character is written as a JSON escape.
pub fn pretty(value: &Value) -> String {
    use serde::Serialize;
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value
        .serialize(&mut serializer)
        .expect("JSON values always serialise");
    out.push(b'\n');
    let text = String::from_utf8(out).expect("serde_json writes UTF-8");
    // serde_json escapes C0 controls only. DEL, C1 and bidi controls can occur only inside
    // strings, where `\uXXXX` is the same character: the document means the same, and a
    // terminal shows it as it is.
    if !text
        .chars()
        .any(|c| c != '\n' && crate::boundary::terminal::is_control(c))
    {
        return text;
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c != '\n' && crate::boundary::terminal::is_control(c) {
            escaped.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            escaped.push(c);
        }
    }
    escaped
}

/// The parts of a single-image manifest (OCI or Docker v2s2) this tool needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// The manifest schema version; only 2 is accepted.
    #[serde(default)]
    pub schema_version: u32,
    /// The `mediaType` the manifest declares, if any.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The image config blob (platform and run settings).
    pub config: Descriptor,
    /// The layer blobs, base layer first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (for referrers such as signatures and SBOMs).
    #[serde(default)]
    pub subject: Option<Descriptor>,
    /// Arbitrary key/value metadata on the manifest.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// For an artifact manifest, the type of artifact it is.
    #[serde(default)]
    pub artifact_type: Option<String>,
}

impl ImageManifest {
    /// Parses an image manifest; refuses anything but schema version 2.
    pub fn parse(bytes: &[u8]) -> Result<Self, DocumentError> {
        let manifest: ImageManifest =
            serde_json::from_slice(bytes).map_err(|e| DocumentError::Malformed(e.to_string()))?;
        if manifest.schema_version != 2 {
            return Err(DocumentError::Malformed(format!(
                "schemaVersion {} (only 2 is supported)",
                manifest.schema_version
            )));
        }
        Ok(manifest)
    }

    /// Every blob the manifest references: config first, then the layers.
    pub(crate) fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        std::iter::once(&self.config).chain(self.layers.iter())
    }
}

/// The platform fields of an image config.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(rename = "os.version", default)]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default)]
    pub os_features: Vec<String>,
}

impl ImageConfig {
    pub(crate) fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            os_version: non_empty(&self.os_version),
            os_features: self.os_features.clone(),
            variant: non_empty(&self.variant),
            ..Platform::default()
        }
    }
}

#[cfg(test)]
#[path = "oci_tests.rs"]
mod tests;
