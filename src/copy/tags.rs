//! Where a push writes its index: one repository (or layout) and every tag the index gets
//! there. The index is written to each tag last, after every child is in place; a registry
//! that refuses an OCI index gets the same list as a Docker manifest list, for every tag.

use super::error::PushError;
use super::inputs::Observer;
use crate::model::digest::Digest;
use crate::model::oci::{self, Index, ListFormat};
use crate::model::reference::{parse_image, ImageRef, LayoutRef, RegistryRef};
use crate::transport::open::manifest_ref;
use crate::transport::{ManifestRef, RawManifest, Transport};

/// The destination repository and the tags of one push, the first one the destination named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The destination as the user named it.
    pub image: ImageRef,
    /// Every name the index is written under, in order, each once.
    pub tags: Vec<ManifestRef>,
}

impl Target {
    /// The destination and `extra` tags: each a bare tag (`v2`) or a reference to the same
    /// repository or layout (`docker://reg/app:v2`, `oci:DIR:v2`).
    pub(crate) fn new(destination: &ImageRef, extra: &[String]) -> Result<Self, PushError> {
        let first = manifest_ref(destination);
        if matches!(first, ManifestRef::Digest(_)) {
            return Err(PushError::DigestDestination);
        }
        let mut tags = vec![first];
        for text in extra {
            let tag = extra_tag(destination, text)?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Ok(Self {
            image: destination.clone(),
            tags,
        })
    }

    /// The destination named with each tag (`docker://reg/app:v1`), for messages and metadata.
    pub(crate) fn references(&self) -> Vec<String> {
        self.tags.iter().map(|tag| self.reference(tag)).collect()
    }

    /// The tags as text (`v1`; `latest` for a registry default, empty for a layout's only entry).
    pub(crate) fn tag_names(&self) -> Vec<String> {
        self.tags
            .iter()
            .map(|tag| match (tag, &self.image) {
                (ManifestRef::Tag(t), _) => t.clone(),
                (_, ImageRef::Registry(_)) => "latest".into(),
                _ => String::new(),
            })
            .collect()
    }

    fn reference(&self, tag: &ManifestRef) -> String {
        let name = match tag {
            ManifestRef::Tag(t) => Some(t.clone()),
            _ => None,
        };
        match &self.image {
            ImageRef::Registry(r) => ImageRef::Registry(RegistryRef {
                tag: name.or_else(|| Some("latest".into())),
                digest: None,
                ..r.clone()
            })
            .to_string(),
            ImageRef::Layout(l) => ImageRef::Layout(LayoutRef { name, ..l.clone() }).to_string(),
            other => other.to_string(),
        }
    }
}

/// One `--tag` value as a name in the destination's repository.
fn extra_tag(destination: &ImageRef, text: &str) -> Result<ManifestRef, PushError> {
    let bad = |reason: String| PushError::BadTag {
        tag: text.to_string(),
        reason,
    };
    let bare = !text.contains('/') && !text.contains(':');
    let parsed = if bare {
        // Parsed as part of a reference, so a tag follows the one rule every tag follows.
        let full = match destination {
            ImageRef::Registry(r) => format!("docker://{}/{}:{text}", r.registry, r.repository),
            ImageRef::Layout(l) => ImageRef::Layout(LayoutRef {
                name: Some(text.to_string()),
                ..l.clone()
            })
            .to_string(),
            ImageRef::Storage(_) => return Err(bad("containers-storage is read-only".into())),
        };
        parse_image(&full)
    } else {
        parse_image(text)
    }
    .map_err(|e| bad(e.to_string()))?;
    let tag = match (&parsed, destination) {
        (ImageRef::Registry(p), ImageRef::Registry(d))
            if p.registry == d.registry && p.repository == d.repository =>
        {
            if p.digest.is_some() {
                return Err(bad("a tag is needed, not a digest".into()));
            }
            p.tag.clone().unwrap_or_else(|| "latest".into())
        }
        (ImageRef::Layout(p), ImageRef::Layout(d)) if p.kind == d.kind && same_path(p, d) => {
            match &p.name {
                Some(name) => name.clone(),
                None => return Err(bad("name the tag (oci:DIR:TAG)".into())),
            }
        }
        _ => {
            return Err(bad(format!(
                "it is not in the destination's repository ({destination}); push to another \
                 repository with a push of its own"
            )))
        }
    };
    Ok(ManifestRef::Tag(tag))
}

fn same_path(a: &LayoutRef, b: &LayoutRef) -> bool {
    let canonical =
        |l: &LayoutRef| std::fs::canonicalize(&l.path).unwrap_or_else(|_| l.path.clone());
    a.path == b.path || canonical(a) == canonical(b)
}

/// The index as it is written: its bytes in `format`.
pub(super) fn index_manifest(index: &Index, format: ListFormat) -> RawManifest {
    let bytes = index.to_bytes(format);
    RawManifest {
        digest: Digest::sha256_of(&bytes),
        media_type: format.media_type().to_string(),
        bytes: bytes.into(),
    }
}

/// Writes the index to every tag of `target`, in order; returns the manifest written. When the
/// first tag refuses an OCI index for its type and no format was asked for, the same list as
/// a Docker manifest list is written instead, to that tag and all the others.
pub(super) async fn write_index(
    dest: &dyn Transport,
    target: &Target,
    index: &Index,
    format: ListFormat,
    format_asked: bool,
    progress: &dyn Observer,
) -> Result<RawManifest, PushError> {
    let mut manifest = index_manifest(index, format);
    let failed = |source| PushError::Transport {
        context: format!("writing the manifest list to {}", dest.describe()),
        source,
    };
    for (n, tag) in target.tags.iter().enumerate() {
        progress.line(&format!(
            "Writing manifest list {} to {}",
            manifest.digest,
            target.reference(tag)
        ));
        match dest.manifest_put(tag, &manifest).await {
            Ok(()) => {}
            Err(e) if n == 0 && e.rejects_manifest_type() && !format_asked => {
                let Some(docker) = docker_list_instead(index, format) else {
                    return Err(failed(e));
                };
                progress.line(&format!(
                    "The destination refused an OCI index ({e}); writing it as a Docker manifest list"
                ));
                dest.manifest_put(tag, &docker).await.map_err(failed)?;
                manifest = docker;
            }
            Err(e) => return Err(failed(e)),
        }
    }
    Ok(manifest)
}

/// The list as a Docker manifest list, when the OCI index a registry refused can be one without
/// losing anything: every child a Docker manifest and nothing OCI-only set. buildah (through
/// containers/image) tries the other list type the same way, so Quay and zot, which refuse an
/// OCI index over Docker manifests, get what they accept, and every other registry still gets
/// the bytes buildah pushes.
fn docker_list_instead(index: &Index, format: ListFormat) -> Option<RawManifest> {
    let all_docker = index.manifests.iter().all(|m| {
        m.media_type == oci::DOCKER_MANIFEST || m.media_type == ListFormat::Docker.media_type()
    });
    if format != ListFormat::Oci || !all_docker || index.loss_in(ListFormat::Docker).is_some() {
        return None;
    }
    Some(index_manifest(index, ListFormat::Docker))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dest: &str, extra: &[&str]) -> Result<Target, PushError> {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Target::new(&parse_image(dest).unwrap(), &extra)
    }

    #[test]
    fn extra_tags_are_bare_or_in_the_same_repository() {
        let t = target(
            "docker://127.0.0.1:5000/app:v1",
            &[
                "v2",
                "docker://127.0.0.1:5000/app:v3",
                "127.0.0.1:5000/app",
                "v2",
            ],
        )
        .unwrap();
        assert_eq!(t.tag_names(), ["v1", "v2", "v3", "latest"]);
        assert_eq!(
            t.references()[2],
            "docker://127.0.0.1:5000/app:v3",
            "{:?}",
            t.references()
        );
        let layout = target("oci:/tmp/out:v1", &["v2", "oci:/tmp/out:v3"]).unwrap();
        assert_eq!(layout.tag_names(), ["v1", "v2", "v3"]);
        assert_eq!(layout.references()[1], "oci:/tmp/out:v2");
    }

    #[test]
    fn tags_elsewhere_or_malformed_are_refused() {
        for (dest, tag, says) in [
            (
                "docker://127.0.0.1:5000/app:v1",
                "docker://127.0.0.1:5000/other:v2",
                "not in",
            ),
            (
                "docker://127.0.0.1:5000/app:v1",
                "127.0.0.1:5001/app:v2",
                "not in",
            ),
            ("docker://127.0.0.1:5000/app:v1", "-bad", "invalid tag"),
            ("docker://127.0.0.1:5000/app:v1", "oci:/tmp/x:v2", "not in"),
            ("oci:/tmp/out:v1", "oci:/tmp/other:v2", "not in"),
            ("oci:/tmp/out:v1", "oci:/tmp/out", "name the tag"),
        ] {
            let err = target(dest, &[tag]).unwrap_err().to_string();
            assert!(err.contains(says), "{tag}: {err}");
        }
        assert!(matches!(
            target(
                &format!("docker://r.io/app@{}", Digest::sha256_of(b"x")),
                &[]
            ),
            Err(PushError::DigestDestination)
        ));
    }
}
