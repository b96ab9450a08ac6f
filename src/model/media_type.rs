//! The media type of a manifest, decided in one place for every source (registry, layout,
//! archive, store cache) from the body first and the claim it came with second.

use crate::model::oci::{is_index_type, DocumentError, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use serde_json::Value;

/// What the body of a manifest is by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Index,
    Image,
    Unknown,
}

impl Shape {
    fn of_media_type(media_type: &str) -> Shape {
        if is_index_type(media_type) {
            Shape::Index
        } else if media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST {
            Shape::Image
        } else {
            Shape::Unknown
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Shape::Index => "an index (it has \"manifests\")",
            Shape::Image => "an image manifest (it has \"config\" and \"layers\")",
            Shape::Unknown => "neither an index nor an image manifest",
        }
    }
}

/// The media type of a manifest, decided in one place for every source: the body's own
/// `mediaType` when it agrees with the body's shape (`manifests` for an index, `config` and
/// `layers` for an image); a body without one is typed by its shape, and `claimed` (the
/// `Content-Type` it was sent with, or the descriptor that pointed at it) only chooses between
/// the OCI and Docker type of that shape. A body whose `mediaType` contradicts its shape is
/// refused. Text that is not a JSON object has no shape: its type is `claimed` (or empty), for
/// the reader to refuse.
pub fn manifest_kind(bytes: &[u8], claimed: Option<&str>) -> Result<String, DocumentError> {
    let claimed = claimed.filter(|c| !c.is_empty());
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(bytes) else {
        return Ok(claimed.unwrap_or_default().to_string());
    };
    let declared = object
        .get("mediaType")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let index_like = object.contains_key("manifests");
    let image_like = object.contains_key("config") || object.contains_key("layers");
    let shape = match (index_like, image_like) {
        (true, true) => return Err(DocumentError::Malformed(
            "it has both \"manifests\" (an index) and \"config\"/\"layers\" (an image manifest)"
                .into(),
        )),
        (true, false) => Shape::Index,
        (false, true) => Shape::Image,
        (false, false) => Shape::Unknown,
    };
    if let Some(declared) = declared {
        let declared_shape = Shape::of_media_type(declared);
        if shape == Shape::Unknown || declared_shape == Shape::Unknown || declared_shape == shape {
            return Ok(declared.to_string());
        }
        return Err(DocumentError::KindMismatch {
            body: shape.describe(),
            declared: declared.to_string(),
            claimed: claimed.filter(|c| *c != declared).map(str::to_string),
        });
    }
    let claimed_fits = claimed.filter(|c| Shape::of_media_type(c) == shape);
    Ok(match (shape, claimed_fits) {
        (Shape::Unknown, _) => claimed.unwrap_or_default().to_string(),
        (_, Some(fits)) => fits.to_string(),
        (Shape::Index, None) => OCI_INDEX.to_string(),
        (Shape::Image, None) => OCI_MANIFEST.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::oci::DOCKER_LIST;

    const IMAGE: &str = r#""config":{"mediaType":"c","digest":"sha256:e8e5c466ed695669861aa18654f47483f5a9abe4286597f308c0827e12fe9a83","size":1},"layers":[]"#;

    fn doc(media_type: Option<&str>, body: &str) -> Vec<u8> {
        match media_type {
            Some(t) => format!(r#"{{"schemaVersion":2,"mediaType":"{t}",{body}}}"#),
            None => format!(r#"{{"schemaVersion":2,{body}}}"#),
        }
        .into_bytes()
    }

    #[test]
    fn the_body_decides_and_the_claim_breaks_ties() {
        let index = r#""manifests":[]"#;
        let ok = [
            // The body's own type, when it fits its shape, whatever was claimed.
            (
                doc(Some(OCI_MANIFEST), IMAGE),
                Some(OCI_INDEX),
                OCI_MANIFEST,
            ),
            (doc(Some(DOCKER_MANIFEST), IMAGE), None, DOCKER_MANIFEST),
            (doc(Some(OCI_INDEX), index), Some(OCI_MANIFEST), OCI_INDEX),
            (doc(Some(DOCKER_LIST), index), Some(OCI_INDEX), DOCKER_LIST),
            // No type in the body: its shape, with the claim choosing OCI or Docker.
            (doc(None, IMAGE), Some(OCI_INDEX), OCI_MANIFEST),
            (doc(None, IMAGE), Some(DOCKER_MANIFEST), DOCKER_MANIFEST),
            (doc(None, IMAGE), None, OCI_MANIFEST),
            (doc(None, index), Some(OCI_MANIFEST), OCI_INDEX),
            (doc(None, index), Some(DOCKER_LIST), DOCKER_LIST),
            (doc(Some(""), index), None, OCI_INDEX),
            // Types this tool does not know, and bodies without a shape, are kept as declared
            // (or claimed) for the reader to refuse.
            (
                doc(Some("application/vnd.example+json"), IMAGE),
                None,
                "application/vnd.example+json",
            ),
            (
                br#"{"schemaVersion":1,"fsLayers":[]}"#.to_vec(),
                Some(OCI_MANIFEST),
                OCI_MANIFEST,
            ),
            (b"not json".to_vec(), Some(OCI_INDEX), OCI_INDEX),
            (b"[]".to_vec(), None, ""),
        ];
        for (bytes, claimed, expected) in ok {
            assert_eq!(
                manifest_kind(&bytes, claimed).as_deref(),
                Ok(expected),
                "{} claimed as {claimed:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn a_body_that_contradicts_itself_is_refused() {
        let err = manifest_kind(&doc(Some(OCI_INDEX), IMAGE), Some(DOCKER_LIST)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the document is an image manifest (it has \"config\" and \"layers\") but its \
                 mediaType says {OCI_INDEX} (and it was sent as {DOCKER_LIST})"
            )
        );
        let err =
            manifest_kind(&doc(Some(DOCKER_MANIFEST), r#""manifests":[]"#), None).unwrap_err();
        assert!(err.to_string().contains("is an index"), "{err}");
        let both = doc(None, &format!(r#""manifests":[],{IMAGE}"#));
        assert!(matches!(
            manifest_kind(&both, None),
            Err(DocumentError::Malformed(_))
        ));
    }
}
