//! `push --format`: rewriting image manifests between OCI and Docker v2s2, refusing any change
//! that would lose data. Blobs are never rewritten; only manifest bytes (and so digests) change.

use crate::model::oci::{self, ListFormat};
use crate::transport::RawManifest;
use serde_json::{Map, Value};

/// Why `push --format` cannot rewrite an image manifest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConvertError {
    /// The target format cannot hold some fields; every one is named.
    #[error("cannot convert {digest} to {target} without losing {}; push with --allow-lossy to drop them", lost.join(", "))]
    Lossy {
        /// The manifest's digest.
        digest: String,
        /// The format converted to, in words.
        target: &'static str,
        /// Every field that would be lost, named.
        lost: Vec<String>,
    },
    /// The manifest has no equivalent in the target format at all.
    #[error("cannot convert {digest} to {target}: {reason}")]
    Unconvertible {
        /// The manifest's digest.
        digest: String,
        /// The format converted to, in words.
        target: &'static str,
        /// What has no equivalent (a zstd layer in a Docker manifest, for one).
        reason: String,
    },
}

/// A manifest rewritten into another format, and the fields it lost (only with `allow_lossy`).
#[derive(Debug, Clone)]
pub(crate) struct Converted {
    pub manifest: RawManifest,
    /// Every field the target format could not hold, named (`annotation "k"`, `subject`).
    pub dropped: Vec<String>,
}

/// The manifest media type of images in a list of `format`.
pub(crate) fn image_type(format: ListFormat) -> &'static str {
    match format {
        ListFormat::Oci => oci::OCI_MANIFEST,
        ListFormat::Docker => oci::DOCKER_MANIFEST,
    }
}

/// The fields a Docker schema 2 manifest and its descriptors have.
const DOCKER_MANIFEST_FIELDS: &[&str] = &["schemaVersion", "mediaType", "config", "layers"];
const DOCKER_DESCRIPTOR_FIELDS: &[&str] = &["mediaType", "size", "digest", "urls"];

/// Rewrites an image manifest into `format`; `Ok(None)` when it already is in that format or is
/// not an image manifest (nested indexes are pushed as they are). A field the target cannot
/// hold is an error naming every such field, unless `allow_lossy`: then they are dropped and
/// listed in [`Converted::dropped`].
pub(crate) fn convert_manifest(
    manifest: &RawManifest,
    format: ListFormat,
    allow_lossy: bool,
) -> Result<Option<Converted>, ConvertError> {
    let from = manifest.media_type.as_str();
    let target = image_type(format);
    if from == target || (from != oci::OCI_MANIFEST && from != oci::DOCKER_MANIFEST) {
        return Ok(None);
    }
    let target_name = match format {
        ListFormat::Oci => "OCI (--format oci)",
        ListFormat::Docker => "Docker v2s2 (--format v2s2)",
    };
    let fail = |reason: String| ConvertError::Unconvertible {
        digest: manifest.digest.to_string(),
        target: target_name,
        reason,
    };
    let doc: Map<String, Value> =
        serde_json::from_slice(&manifest.bytes).map_err(|e| fail(e.to_string()))?;
    let mut lost = Vec::new();
    if format == ListFormat::Docker {
        lost_fields(&doc, DOCKER_MANIFEST_FIELDS, "", &mut lost);
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
    if format == ListFormat::Docker {
        lost_fields(config, DOCKER_DESCRIPTOR_FIELDS, "config ", &mut lost);
    }
    let mut layers = Vec::new();
    for (n, layer) in doc
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
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
        if format == ListFormat::Docker {
            lost_fields(
                layer,
                DOCKER_DESCRIPTOR_FIELDS,
                &format!("layer {n} "),
                &mut lost,
            );
        }
        layers.push(descriptor(format, new_type, layer));
    }
    if !lost.is_empty() && !allow_lossy {
        return Err(ConvertError::Lossy {
            digest: manifest.digest.to_string(),
            target: target_name,
            lost,
        });
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
    Ok(Some(Converted {
        manifest: RawManifest::from_bytes(bytes.into()),
        dropped: lost,
    }))
}

/// Names every field of `object` outside `kept`, each annotation by its key (quoted and
/// escaped: they come from the network), prefixed with `whose` (`layer 0 `).
fn lost_fields(object: &Map<String, Value>, kept: &[&str], whose: &str, lost: &mut Vec<String>) {
    for (key, value) in object {
        if kept.contains(&key.as_str()) {
            continue;
        }
        match (key.as_str(), value) {
            ("annotations", Value::Object(annotations)) => lost.extend(
                annotations
                    .keys()
                    .map(|name| format!("{whose}annotation {name:?}")),
            ),
            ("subject" | "artifactType", _) => lost.push(format!("{whose}{key}")),
            _ => lost.push(format!("{whose}field {key:?}")),
        }
    }
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
        let kept = format == ListFormat::Oci || DOCKER_DESCRIPTOR_FIELDS.contains(&key.as_str());
        if kept && !out.contains_key(key) {
            out.insert(key.clone(), value.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::digest::Digest;
    use crate::model::oci::{Descriptor, Index, Platform};

    const OCI: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:28c6d11933a06d0262aeef7f59ed339febd303ddd6d5ce9235c9fa9f3e8f0190","size":10},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:db37141a30dfcf3202288364677ca10e11077926ee69f7a444d2f6fd77e1d288","size":20}]}"#;

    fn raw(text: &str) -> RawManifest {
        RawManifest::from_bytes(text.as_bytes().to_vec().into())
    }

    #[test]
    fn oci_to_docker_and_back() {
        let raw = raw(OCI);
        let docker = convert_manifest(&raw, ListFormat::Docker, false)
            .unwrap()
            .unwrap();
        assert!(docker.dropped.is_empty());
        let docker = docker.manifest;
        assert_eq!(docker.media_type, oci::DOCKER_MANIFEST);
        let text = String::from_utf8(docker.bytes.to_vec()).unwrap();
        assert!(text.contains(r#"{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":20,"digest""#), "{text}");
        let back = convert_manifest(&docker, ListFormat::Oci, false)
            .unwrap()
            .unwrap();
        assert_eq!(back.manifest.bytes, raw.bytes);
        assert!(back.dropped.is_empty());
        assert!(convert_manifest(&raw, ListFormat::Oci, false)
            .unwrap()
            .is_none());
    }

    /// What buildah writes into every image it commits, and more that Docker cannot hold:
    /// every field is named, and only an explicit opt-in drops them.
    #[test]
    fn every_lost_field_is_named_and_dropped_only_on_request() {
        let buildah = OCI.replacen(
            "\"layers\"",
            "\"annotations\":{\"org.opencontainers.image.base.digest\":\"\",\"org.opencontainers.image.base.name\":\"\"},\"layers\"",
            1,
        );
        let crowded = buildah
            .replacen(
                "\"size\":20",
                "\"size\":20,\"annotations\":{\"x\":\"y\"},\"data\":\"e30=\"",
                1,
            )
            .replacen(
                "\"size\":10",
                "\"size\":10,\"annotations\":{\"c\":\"d\"}",
                1,
            )
            .replacen(
                "\"schemaVersion\":2",
                "\"schemaVersion\":2,\"artifactType\":\"a/b\",\"subject\":{},\"odd\\u001b\":1",
                1,
            );
        for (text, want) in [
            (
                buildah.as_str(),
                vec![
                    "annotation \"org.opencontainers.image.base.digest\"",
                    "annotation \"org.opencontainers.image.base.name\"",
                ],
            ),
            (
                crowded.as_str(),
                vec![
                    "artifactType",
                    "subject",
                    "field \"odd\\u{1b}\"",
                    "annotation \"org.opencontainers.image.base.digest\"",
                    "annotation \"org.opencontainers.image.base.name\"",
                    "config annotation \"c\"",
                    "layer 0 annotation \"x\"",
                    "layer 0 field \"data\"",
                ],
            ),
        ] {
            let manifest = raw(text);
            let err = convert_manifest(&manifest, ListFormat::Docker, false).unwrap_err();
            match &err {
                ConvertError::Lossy { lost, .. } => assert_eq!(lost, &want),
                other => panic!("expected a loss, got {other:?}"),
            }
            let message = err.to_string();
            for field in &want {
                assert!(message.contains(field), "{message} misses {field}");
            }
            assert!(message.contains("--allow-lossy"), "{message}");

            let converted = convert_manifest(&manifest, ListFormat::Docker, true)
                .unwrap()
                .unwrap();
            assert_eq!(converted.dropped, want);
            let plain = convert_manifest(&raw(OCI), ListFormat::Docker, false)
                .unwrap()
                .unwrap();
            assert_eq!(
                converted.manifest.bytes, plain.manifest.bytes,
                "only the lost fields differ"
            );
        }
    }

    #[test]
    fn unconvertible_layers_stay_refused_even_when_loss_is_allowed() {
        let zstd = OCI.replace("tar+gzip", "tar+zstd");
        for allow in [false, true] {
            let err = convert_manifest(&raw(&zstd), ListFormat::Docker, allow).unwrap_err();
            assert!(matches!(err, ConvertError::Unconvertible { .. }));
            assert!(err.to_string().contains("zstd"), "{err}");
        }
    }

    #[test]
    fn index_loss_names_every_field() {
        let entry = |n: u8| {
            let mut d = Descriptor::new(oci::OCI_MANIFEST, Digest::sha256_of(&[n]), 100);
            d.platform = Some(Platform::default());
            d
        };
        let mut index = Index::default();
        index.manifests.push(entry(1));
        index.manifests.push(entry(2));
        assert_eq!(index.loss_in(ListFormat::Docker), None);
        assert_eq!(index.loss_in(ListFormat::Oci), None);
        index.annotations.insert("b\u{1b}".into(), "1".into());
        index.annotations.insert("a".into(), "2".into());
        index.subject = Some(entry(3));
        index.manifests[0]
            .annotations
            .insert("org.example.k".into(), "v".into());
        index.manifests[1].artifact_type = Some("x/y".into());
        index.manifests[1].platform.as_mut().unwrap().features = vec!["sse4".into()];
        let (one, two) = (Digest::sha256_of(&[1]), Digest::sha256_of(&[2]));
        assert_eq!(
            index.loss_in(ListFormat::Docker).unwrap(),
            format!(
                "the index's annotation \"a\", the index's annotation \"b\\u{{1b}}\", \
                 the index's subject, entry {one}'s annotation \"org.example.k\", \
                 entry {two}'s artifactType"
            )
        );
        assert_eq!(
            index.loss_in(ListFormat::Oci).unwrap(),
            format!("entry {two}'s platform features")
        );
        // What the loss names is really left out.
        let oci = String::from_utf8(index.to_bytes(ListFormat::Oci)).unwrap();
        assert!(
            !oci.contains("features") && oci.contains("org.example.k"),
            "{oci}"
        );
        let docker = String::from_utf8(index.to_bytes(ListFormat::Docker)).unwrap();
        assert!(
            docker.contains("sse4") && !docker.contains("annotations"),
            "{docker}"
        );
    }
}
