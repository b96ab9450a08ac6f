//! `manifest apply FILE`: a list described in one YAML or JSON file, built in memory and pushed
//! in one run. The format is manifest-tool's `push from-spec` file, which works as it is:
//!
//! ```yaml
//! image: registry.example/app:1.2.0        # the destination
//! tags: ["1.2", "latest"]                  # more tags of the destination's repository
//! annotations: {org.opencontainers.image.source: https://example.org}   # on the index
//! manifests:
//!   - image: registry.example/app:1.2.0-arm64
//!     platform: {architecture: arm64, os: linux, variant: v8}   # overrides the image's
//!     annotations: {org.example.flavor: small}                  # on the entry (an extension)
//! ```
//!
//! An entry's image is read as `manifest add` reads it (any transport). A single image takes
//! its platform from its config, then the fields `platform` gives; an index contributes all its
//! entries, or, with `platform`, the entries of that platform with their attestations. Two
//! images of one platform are an error, as in manifest-tool.

mod yaml;

pub use yaml::{limits, Ignored};

use crate::config::registries::RegistriesConf;
use crate::ingest::resolve::{parse_image_arg, read_image_arg, BareName};
use crate::ingest::source::{Selection, SourceError};
use crate::model::list::{EntryEdit, ManifestList};
use crate::model::platform::{PlatformFilter, PlatformSpec};
use crate::model::reference::{parse_image, ImageRef, ReferenceError};
use crate::store::Store;
use crate::transport::open::Transports;
use serde::Deserialize;
use std::collections::BTreeMap;
use yaml::{scalar, scalar_list, scalar_map};

/// Why a spec file cannot be turned into a list.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The file is not valid YAML (or JSON) of the spec's shape.
    #[error("{file}: {detail}")]
    Parse {
        /// The spec file's name, as given.
        file: String,
        /// The parser's message, with line and column.
        detail: String,
    },
    /// The spec lists no images.
    #[error("{file}: no manifests: list at least one image under `manifests`")]
    NoManifests {
        /// The spec file's name, as given.
        file: String,
    },
    /// An `image` of the spec is not a valid image reference.
    #[error("image {image:?}")]
    Reference {
        /// The reference as written in the spec.
        image: String,
        /// Why it does not parse.
        #[source]
        source: ReferenceError,
    },
    /// An image of the spec could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// An entry's `platform` picks nothing out of the index its image names.
    #[error("{image}: {detail}")]
    Platform {
        /// The entry's image reference.
        image: String,
        /// The platform wanted and the platforms the index has.
        detail: String,
    },
    /// Two entries are for the same platform.
    #[error("two manifests are for platform {platform} ({first} and {second}); a list has one image per platform")]
    DuplicatePlatform {
        /// The platform, as `os/arch[/variant]` with its OS version.
        platform: String,
        /// The digest of the first entry for it.
        first: String,
        /// The digest of the second entry for it.
        second: String,
    },
}

/// The spec file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Spec {
    /// Where the list is pushed.
    pub image: String,
    /// More tags of the destination's repository.
    #[serde(default, deserialize_with = "scalar_list")]
    pub tags: Vec<String>,
    /// The images of the list.
    #[serde(default)]
    pub manifests: Vec<EntrySpec>,
    /// Annotations of the index itself.
    #[serde(default, deserialize_with = "scalar_map")]
    pub annotations: BTreeMap<String, String>,
    /// Order the entries by platform, as `push --sort` does (an extension).
    #[serde(default)]
    pub sort: bool,
    /// Keys this tool does not know (manifest-tool ignores them too; they are warned about).
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Ignored>,
}

/// One entry of `manifests`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct EntrySpec {
    /// The image reference: a registry image, or any transport `manifest add` reads.
    pub image: String,
    /// The platform to record for a single image, or to pick out of an index.
    #[serde(default)]
    pub platform: Option<PlatformFields>,
    /// Annotations of this entry in the list.
    #[serde(default, deserialize_with = "scalar_map")]
    pub annotations: BTreeMap<String, String>,
    /// Keys this tool does not know (warned about and ignored, as manifest-tool does).
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Ignored>,
}

/// An entry's `platform`: manifest-tool's keys (`osversion`, `osfeatures`) and the OCI ones
/// (`os.version`, `os.features`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PlatformFields {
    /// CPU architecture (`amd64`, `arm64`, …).
    #[serde(default, deserialize_with = "scalar")]
    pub architecture: Option<String>,
    /// Operating system (`linux`, `windows`, …).
    #[serde(default, deserialize_with = "scalar")]
    pub os: Option<String>,
    /// CPU variant (`v7`, `v8`, …).
    #[serde(default, deserialize_with = "scalar")]
    pub variant: Option<String>,
    /// Operating system version (`osversion` or `os.version`).
    #[serde(default, alias = "os.version", deserialize_with = "scalar")]
    pub osversion: Option<String>,
    /// Operating system features (`osfeatures` or `os.features`).
    #[serde(default, alias = "os.features", deserialize_with = "scalar_list")]
    pub osfeatures: Vec<String>,
    /// CPU features (kept only in Docker manifest lists).
    #[serde(default, deserialize_with = "scalar_list")]
    pub features: Vec<String>,
    /// Keys this tool does not know (warned about and ignored, as manifest-tool does).
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Ignored>,
}

impl Spec {
    /// Parses a spec (`file` names it in errors); JSON is read as the YAML it is. The YAML is
    /// read within the budget of [`limits`]: a file of aliases that would expand past it is refused
    /// before it is expanded.
    pub fn parse(text: &str, file: &str) -> Result<Self, ApplyError> {
        let spec: Spec = yaml::from_str(text).map_err(|detail| ApplyError::Parse {
            file: file.to_string(),
            detail,
        })?;
        if spec.manifests.is_empty() {
            return Err(ApplyError::NoManifests {
                file: file.to_string(),
            });
        }
        Ok(spec)
    }

    /// The keys that were ignored, as `manifests[1].platform.cpu`.
    pub fn ignored_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.unknown.keys().cloned().collect();
        for (n, entry) in self.manifests.iter().enumerate() {
            keys.extend(entry.unknown.keys().map(|k| format!("manifests[{n}].{k}")));
            if let Some(platform) = &entry.platform {
                keys.extend(
                    platform
                        .unknown
                        .keys()
                        .map(|k| format!("manifests[{n}].platform.{k}")),
                );
            }
        }
        keys
    }

    /// Where the list goes.
    pub fn destination(&self) -> Result<ImageRef, ApplyError> {
        parse_image(&self.image).map_err(|source| ApplyError::Reference {
            image: self.image.clone(),
            source,
        })
    }
}

/// Reads every entry's image and builds the list; nothing is written.
pub async fn build(
    spec: &Spec,
    transports: &Transports,
    store: &Store,
    registries: &RegistriesConf,
) -> Result<ManifestList, ApplyError> {
    let mut list = ManifestList::default();
    let index_annotations: Vec<(String, String)> = spec.annotations.clone().into_iter().collect();
    list.annotate_index(&index_annotations);
    for entry in &spec.manifests {
        let arg =
            parse_image_arg(&entry.image, registries).map_err(|source| ApplyError::Reference {
                image: entry.image.clone(),
                source,
            })?;
        let selection = Selection {
            all: true,
            ..Selection::default()
        };
        let added =
            read_image_arg(transports, store, &arg, &selection, BareName::RegistryFirst).await?;
        let from_index =
            added.entries.len() != 1 || added.entries[0].descriptor.digest != added.digest;
        let fields = entry.platform.clone().unwrap_or_default();
        let annotations: Vec<(String, String)> = entry.annotations.clone().into_iter().collect();
        let mut entries = added.entries;
        let edit = if from_index {
            if let Some(spec) = PlatformSpec::from_flags(
                fields.os.as_deref(),
                fields.architecture.as_deref(),
                fields.variant.as_deref(),
            ) {
                let descriptors: Vec<_> = entries.iter().map(|e| e.descriptor.clone()).collect();
                let keep = crate::model::platform::selected(
                    &descriptors,
                    &PlatformFilter::of(spec.clone()),
                );
                if keep.is_empty() {
                    return Err(ApplyError::Platform {
                        image: entry.image.clone(),
                        detail: format!(
                            "the index has no image for {} (it has: {})",
                            spec.display(),
                            crate::model::platform::platforms(&descriptors).join(", ")
                        ),
                    });
                }
                let mut at = 0;
                entries.retain(|_| {
                    at += 1;
                    keep.contains(&(at - 1))
                });
            }
            EntryEdit {
                annotations,
                ..EntryEdit::default()
            }
        } else {
            EntryEdit {
                os: fields.os,
                arch: fields.architecture,
                variant: fields.variant,
                os_version: fields.osversion,
                os_features: fields.osfeatures,
                features: fields.features,
                annotations,
                artifact_type: None,
            }
        };
        for mut new in entries {
            edit.apply(&mut new.descriptor);
            list.add(new.descriptor, new.source);
        }
    }
    check_platforms(&list)?;
    Ok(list)
}

/// One image per platform (attestations and entries without a platform aside).
fn check_platforms(list: &ManifestList) -> Result<(), ApplyError> {
    let mut seen: BTreeMap<String, &crate::model::digest::Digest> = BTreeMap::new();
    for entry in &list.index.manifests {
        if crate::model::platform::is_attestation(entry) {
            continue;
        }
        let Some(platform) = &entry.platform else {
            continue;
        };
        let key = format!(
            "{}{}",
            platform.display(),
            platform
                .os_version
                .as_ref()
                .map(|v| format!(" ({v})"))
                .unwrap_or_default()
        );
        if let Some(first) = seen.insert(key.clone(), &entry.digest) {
            return Err(ApplyError::DuplicatePlatform {
                platform: key,
                first: first.to_string(),
                second: entry.digest.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of manifest-tool's README, as it is.
    const MANIFEST_TOOL: &str = r#"image: myprivreg:5000/someimage:latest
tags: ["1.0.0", "1.0", "1"]
manifests:
  -
    image: myprivreg:5000/someimage:arm64
    platform:
      architecture: arm64
      os: linux
  -
    image: myprivreg:5000/someimage:amd64
    platform:
      architecture: amd64
      os: linux
"#;

    #[test]
    fn manifest_tool_files_parse_as_they_are() {
        let spec = Spec::parse(MANIFEST_TOOL, "someimage.yaml").unwrap();
        assert_eq!(spec.image, "myprivreg:5000/someimage:latest");
        assert_eq!(spec.tags, ["1.0.0", "1.0", "1"]);
        assert_eq!(spec.manifests.len(), 2);
        let platform = spec.manifests[0].platform.as_ref().unwrap();
        assert_eq!(platform.architecture.as_deref(), Some("arm64"));
        assert_eq!(platform.os.as_deref(), Some("linux"));
        assert!(spec.ignored_keys().is_empty());
        assert_eq!(
            spec.destination().unwrap().to_string(),
            "docker://myprivreg:5000/someimage:latest"
        );
    }

    #[test]
    fn extensions_and_spellings() {
        let text = r#"
image: oci:/tmp/out:v1
tags: 2
annotations: {org.example.n: 3, org.example.on: true}
manifests:
  - image: oci:/tmp/in:a
    annotations: {k: v}
    platform: {os: windows, architecture: amd64, os.version: 10.0.17763.1879, osfeatures: [win32k]}
    colour: blue
  - image: oci:/tmp/in:b
    platform: {osversion: "1", os.features: win32k, cpu: x}
flavour: plain
"#;
        let spec = Spec::parse(text, "s.yaml").unwrap();
        assert_eq!(spec.tags, ["2"]);
        assert_eq!(spec.annotations["org.example.n"], "3");
        assert_eq!(spec.annotations["org.example.on"], "true");
        let first = spec.manifests[0].platform.as_ref().unwrap();
        assert_eq!(first.osversion.as_deref(), Some("10.0.17763.1879"));
        assert_eq!(first.osfeatures, ["win32k"]);
        assert_eq!(
            spec.manifests[1].platform.as_ref().unwrap().osfeatures,
            ["win32k"]
        );
        assert_eq!(
            spec.ignored_keys(),
            [
                "flavour",
                "manifests[0].colour",
                "manifests[1].platform.cpu"
            ]
        );
    }

    #[test]
    fn json_and_bad_files() {
        let json = r#"{"image":"r.io/a:v1","manifests":[{"image":"r.io/a:amd64"}]}"#;
        assert_eq!(Spec::parse(json, "s.json").unwrap().manifests.len(), 1);
        for (text, says) in [
            ("image: r.io/a\n", "no manifests"),
            (
                "image: r.io/a\ntags: [1.10]\nmanifests: [{image: x}]\n",
                "in quotes",
            ),
            ("manifests: [{image: x}]\n", "image"),
            ("image: [1]\nmanifests: [{image: x}]\n", "s.yaml"),
        ] {
            let err = Spec::parse(text, "s.yaml").unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn yaml_bombs_are_refused_at_their_named_limits() {
        let anchor = "x".repeat(100 * 1024);
        let aliased = format!(
            "image: r.io/a:v1\nmanifests: [{{image: r.io/a:b}}]\nunknown:\n  - &big {anchor}\n{}",
            "  - *big\n".repeat(10_000)
        );
        let mut laughs = String::from("image: r.io/a:v1\nmanifests: [{image: r.io/a:b}]\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for n in 1..10 {
            laughs += &format!(
                "l{n}: &l{n} [{}]\n",
                vec![format!("*l{}", n - 1); 10].join(", ")
            );
        }
        let deep = format!(
            "image: r.io/a:v1\nmanifests: [{{image: r.io/a:b}}]\nd: {}{}\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        let nodes = format!(
            "image: r.io/a:v1\nmanifests: [{{image: r.io/a:b}}]\nn: [{}]\n",
            "1,".repeat(200_000)
        );
        let documents = "image: r.io/a:v1\nmanifests: [{image: r.io/a:b}]\n---\n".repeat(10);
        let anchors: String = (0..2_000).map(|n| format!("a{n}: &a{n} v\n")).collect();
        let anchors = format!("image: r.io/a:v1\nmanifests: [{{image: r.io/a:b}}]\n{anchors}");
        for (name, text) in [
            ("aliases of a big anchor", aliased),
            ("nested aliases", laughs),
            ("deep nesting", deep),
            ("many nodes", nodes),
            ("many documents", documents),
            ("many anchors", anchors),
        ] {
            let started = std::time::Instant::now();
            let err = Spec::parse(&text, "bomb.yaml").unwrap_err().to_string();
            assert!(err.starts_with("bomb.yaml: "), "{name}: {err}");
            assert!(
                err.contains("the most a spec file may have"),
                "{name}: {err}"
            );
            assert!(err.len() < 4000, "{name}: {} bytes of message", err.len());
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{name}"
            );
        }
    }
}
