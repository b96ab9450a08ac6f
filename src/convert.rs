//! `push --format`: rewriting image manifests between OCI and Docker v2s2, refusing any change
//! that would lose data. Blobs are never rewritten; only manifest bytes (and so digests) change.

use crate::oci::{self, ListFormat};
use crate::transport::RawManifest;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot convert {digest} to {target}: {reason}")]
pub struct ConvertError {
    pub digest: String,
    pub target: &'static str,
    pub reason: String,
}

/// The manifest media type of images in a list of `format`.
pub fn image_type(format: ListFormat) -> &'static str {
    match format {
        ListFormat::Oci => oci::OCI_MANIFEST,
        ListFormat::Docker => oci::DOCKER_MANIFEST,
    }
}

/// Rewrites an image manifest into `format`; `Ok(None)` when it already is in that format or is
/// not an image manifest (nested indexes are pushed as they are).
pub fn convert_manifest(
    manifest: &RawManifest,
    format: ListFormat,
) -> Result<Option<RawManifest>, ConvertError> {
    let from = manifest.media_type.as_str();
    let target = image_type(format);
    if from == target || (from != oci::OCI_MANIFEST && from != oci::DOCKER_MANIFEST) {
        return Ok(None);
    }
    let fail = |reason: String| ConvertError {
        digest: manifest.digest.to_string(),
        target: match format {
            ListFormat::Oci => "OCI (--format oci)",
            ListFormat::Docker => "Docker v2s2 (--format v2s2)",
        },
        reason,
    };
    let doc: Map<String, Value> =
        serde_json::from_slice(&manifest.bytes).map_err(|e| fail(e.to_string()))?;
    for (key, value) in &doc {
        match key.as_str() {
            "schemaVersion" | "mediaType" | "config" | "layers" => {}
            "annotations" | "subject" | "artifactType" if format == ListFormat::Docker => {
                return Err(fail(format!(
                    "its `{key}` cannot be represented in a Docker manifest and would be lost"
                )))
            }
            _ if format == ListFormat::Docker => {
                return Err(fail(format!("its field `{key}` would be lost")))
            }
            _ => {
                let _ = value;
            }
        }
    }
    let config = doc
        .get("config")
        .and_then(Value::as_object)
        .ok_or_else(|| fail("it has no config".into()))?;
    let config_type = config
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let new_config_type = match (format, config_type) {
        (ListFormat::Docker, oci::OCI_CONFIG) | (ListFormat::Docker, oci::DOCKER_CONFIG) => {
            oci::DOCKER_CONFIG
        }
        (ListFormat::Oci, oci::DOCKER_CONFIG) | (ListFormat::Oci, oci::OCI_CONFIG) => {
            oci::OCI_CONFIG
        }
        (_, other) => {
            return Err(fail(format!(
            "its config type {other:?} is not an image config (an artifact cannot change format)"
        )))
        }
    };
    let mut layers = Vec::new();
    for layer in doc
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let layer = layer
            .as_object()
            .ok_or_else(|| fail("a layer is not an object".into()))?;
        let layer_type = layer.get("mediaType").and_then(Value::as_str).unwrap_or("");
        let new_type = layer_type_in(format, layer_type).ok_or_else(|| {
            fail(format!(
                "layer type {layer_type:?} has no equivalent (Docker manifests hold gzip layers only)"
            ))
        })?;
        if format == ListFormat::Docker && layer.contains_key("annotations") {
            return Err(fail("its layer annotations would be lost".into()));
        }
        layers.push(descriptor(format, new_type, layer));
    }
    let mut out = Map::new();
    out.insert("schemaVersion".into(), 2.into());
    out.insert("mediaType".into(), target.into());
    out.insert("config".into(), descriptor(format, new_config_type, config));
    out.insert("layers".into(), Value::Array(layers));
    if format == ListFormat::Oci {
        for (key, value) in &doc {
            if !out.contains_key(key) {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    let bytes = serde_json::to_vec(&Value::Object(out)).expect("JSON values always serialise");
    Ok(Some(RawManifest::from_bytes(bytes.into())))
}

fn layer_type_in(format: ListFormat, from: &str) -> Option<&'static str> {
    match (format, from) {
        (ListFormat::Docker, oci::OCI_LAYER_GZIP | oci::DOCKER_LAYER_GZIP) => {
            Some(oci::DOCKER_LAYER_GZIP)
        }
        (ListFormat::Docker, oci::OCI_LAYER_NONDIST_GZIP | oci::DOCKER_LAYER_FOREIGN_GZIP) => {
            Some(oci::DOCKER_LAYER_FOREIGN_GZIP)
        }
        (ListFormat::Oci, oci::DOCKER_LAYER_GZIP | oci::OCI_LAYER_GZIP) => {
            Some(oci::OCI_LAYER_GZIP)
        }
        (ListFormat::Oci, oci::DOCKER_LAYER_FOREIGN_GZIP | oci::OCI_LAYER_NONDIST_GZIP) => {
            Some(oci::OCI_LAYER_NONDIST_GZIP)
        }
        (ListFormat::Oci, oci::OCI_LAYER_TAR | oci::OCI_LAYER_ZSTD) => {
            Some(if from == oci::OCI_LAYER_TAR {
                oci::OCI_LAYER_TAR
            } else {
                oci::OCI_LAYER_ZSTD
            })
        }
        _ => None,
    }
}

/// A blob descriptor in the key order of `format`.
fn descriptor(format: ListFormat, media_type: &str, from: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("mediaType".into(), media_type.into());
    let size = from.get("size").cloned().unwrap_or(Value::Null);
    let digest = from.get("digest").cloned().unwrap_or(Value::Null);
    match format {
        ListFormat::Oci => {
            out.insert("digest".into(), digest);
            out.insert("size".into(), size);
        }
        ListFormat::Docker => {
            out.insert("size".into(), size);
            out.insert("digest".into(), digest);
        }
    }
    for (key, value) in from {
        if !out.contains_key(key) {
            out.insert(key.clone(), value.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCI: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:28c6d11933a06d0262aeef7f59ed339febd303ddd6d5ce9235c9fa9f3e8f0190","size":10},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:db37141a30dfcf3202288364677ca10e11077926ee69f7a444d2f6fd77e1d288","size":20}]}"#;

    #[test]
    fn oci_to_docker_and_back() {
        let raw = RawManifest::from_bytes(OCI.as_bytes().to_vec().into());
        let docker = convert_manifest(&raw, ListFormat::Docker).unwrap().unwrap();
        assert_eq!(docker.media_type, oci::DOCKER_MANIFEST);
        let text = String::from_utf8(docker.bytes.to_vec()).unwrap();
        assert!(text.contains(r#"{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":20,"digest""#), "{text}");
        let back = convert_manifest(&docker, ListFormat::Oci).unwrap().unwrap();
        assert_eq!(back.bytes, raw.bytes);
        assert!(convert_manifest(&raw, ListFormat::Oci).unwrap().is_none());
    }

    #[test]
    fn lossy_conversions_are_refused() {
        let annotated = OCI.replacen("\"layers\"", "\"annotations\":{\"a\":\"b\"},\"layers\"", 1);
        let raw = RawManifest::from_bytes(annotated.into_bytes().into());
        let err = convert_manifest(&raw, ListFormat::Docker).unwrap_err();
        assert!(err.to_string().contains("annotations"), "{err}");
        let zstd = OCI.replace("tar+gzip", "tar+zstd");
        let raw = RawManifest::from_bytes(zstd.into_bytes().into());
        let err = convert_manifest(&raw, ListFormat::Docker).unwrap_err();
        assert!(err.to_string().contains("zstd"), "{err}");
    }
}
