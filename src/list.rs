//! Pure edits of a manifest list: add, replace, remove, annotate, and pick an entry by platform.
//! No I/O happens here, so every rule is covered by table tests.

use crate::digest::Digest;
use crate::oci::{Descriptor, Index, Platform};
use crate::platform::PlatformFilter;
use std::collections::BTreeMap;

mod pick;
mod sort;
pub use sort::sorted_by_platform;

/// A list as the store keeps it: the index, and where each entry's content can be read from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManifestList {
    /// The list itself; its entries are in `index.manifests`.
    pub index: Index,
    /// Entry digest → the image reference it was added from (`docker://…`, `oci:/abs/dir:ref`).
    pub sources: BTreeMap<Digest, String>,
    /// Artifact entry digest → the absolute paths of the files it was made from (`add
    /// --artifact`), so that `annotate LIST FILE` finds it as buildah does.
    pub artifact_files: BTreeMap<Digest, Vec<String>>,
}

/// Why an edit of a list is refused (nothing is changed).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListError {
    /// An annotation `KEY` or `KEY=` without a value (the key).
    #[error("no value given for annotation {0:?} (use KEY=VALUE)")]
    AnnotationWithoutValue(String),
    /// An annotation with an empty key (the whole argument).
    #[error("no key given for annotation {0:?} (use KEY=VALUE)")]
    AnnotationWithoutKey(String),
    /// sealos' words (`image not known`), then which list was searched.
    #[error("{digest}: image not known (no entry of list {list} has that digest)")]
    UnknownInstance {
        /// The digest asked for, as given.
        digest: String,
        /// The list's name.
        list: String,
    },
    /// A digest prefix that matches more than one entry.
    #[error("{prefix} matches several entries of list {list}: {}; give more of the digest", candidates.join(", "))]
    AmbiguousInstance {
        /// The prefix, as given.
        prefix: String,
        /// The list's name.
        list: String,
        /// The digests of every entry it matches.
        candidates: Vec<String>,
    },
    /// `remove --platform` matches no entry of the list.
    #[error("no entry of list {list} is for platform {wanted} (it has: {available})")]
    NoSuchPlatform {
        /// The platform asked for.
        wanted: String,
        /// The list's name.
        list: String,
        /// The platforms the list has.
        available: String,
    },
    /// `annotate --platform` matches more than one image of the list.
    #[error("platform {wanted} matches several images of list {list}: {}; give a more precise platform (with its variant) or the entry's digest", candidates.join(", "))]
    AmbiguousPlatform {
        /// The platform asked for.
        wanted: String,
        /// The list's name.
        list: String,
        /// The digests of the images it matches.
        candidates: Vec<String>,
    },
    /// An INSTANCE argument that is no digest and no digest prefix.
    #[error("invalid instance {text:?}: {reason}")]
    InvalidInstance {
        /// The argument as given.
        text: String,
        /// Why it is no digest (the digest parser's reason, or that it is none at all).
        reason: String,
    },
}

/// Field changes requested by `add`/`annotate` flags; `None`/empty means "leave as it is".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryEdit {
    /// `--os`: the operating system to record.
    pub os: Option<String>,
    /// `--arch`: the CPU architecture to record.
    pub arch: Option<String>,
    /// `--variant`: the CPU variant to record (empty clears it).
    pub variant: Option<String>,
    /// `--os-version`: the operating system version to record (empty clears it).
    pub os_version: Option<String>,
    /// `--os-features`: replaces the operating system features.
    pub os_features: Vec<String>,
    /// `--features`: replaces the CPU features (Docker manifest lists only).
    pub features: Vec<String>,
    /// `--annotation KEY=VALUE`s to set on the entry, in order.
    pub annotations: Vec<(String, String)>,
    /// `--artifact-type`: the artifactType to record (empty clears it).
    pub artifact_type: Option<String>,
}

impl EntryEdit {
    /// Whether the edit changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == EntryEdit::default()
    }

    /// Applies the edit to one descriptor: platform fields first, then annotations.
    pub fn apply(&self, entry: &mut Descriptor) {
        let touches_platform = self.os.is_some()
            || self.arch.is_some()
            || self.variant.is_some()
            || self.os_version.is_some()
            || !self.os_features.is_empty()
            || !self.features.is_empty();
        if touches_platform {
            let platform = entry.platform.get_or_insert_with(Platform::default);
            if let Some(os) = &self.os {
                platform.os = os.clone();
            }
            if let Some(arch) = &self.arch {
                platform.architecture = arch.clone();
            }
            if let Some(variant) = &self.variant {
                platform.variant = Some(variant.clone()).filter(|v| !v.is_empty());
            }
            if let Some(version) = &self.os_version {
                platform.os_version = Some(version.clone()).filter(|v| !v.is_empty());
            }
            if !self.os_features.is_empty() {
                platform.os_features = self.os_features.clone();
            }
            if !self.features.is_empty() {
                platform.features = self.features.clone();
            }
        }
        for (key, value) in &self.annotations {
            entry.annotations.insert(key.clone(), value.clone());
        }
        if let Some(artifact_type) = &self.artifact_type {
            entry.artifact_type = Some(artifact_type.clone()).filter(|t| !t.is_empty());
        }
    }
}

/// Parses `KEY=VALUE` annotations: an empty key is an error naming the whole argument, a
/// missing `=` or value one naming the key.
pub fn parse_annotations(raw: &[String]) -> Result<Vec<(String, String)>, ListError> {
    raw.iter()
        .map(|item| match item.split_once('=') {
            Some(("", _)) => Err(ListError::AnnotationWithoutKey(item.clone())),
            Some((key, "")) => Err(ListError::AnnotationWithoutValue(key.to_string())),
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None if item.is_empty() => Err(ListError::AnnotationWithoutKey(item.clone())),
            None => Err(ListError::AnnotationWithoutValue(item.clone())),
        })
        .collect()
}

/// Splits repeatable, comma-separated values (`--features a,b --features c`).
pub fn split_list_flags(raw: &[String]) -> Vec<String> {
    raw.iter()
        .flat_map(|item| item.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

impl ManifestList {
    /// Appends an entry; re-adding a digest replaces that entry and moves it to the end.
    pub fn add(&mut self, entry: Descriptor, source: String) {
        self.index.manifests.retain(|e| e.digest != entry.digest);
        self.artifact_files.remove(&entry.digest);
        self.sources.insert(entry.digest.clone(), source);
        self.index.manifests.push(entry);
    }

    /// Drops what is recorded about `digest` once no entry has it (only a hand-made list has
    /// one digest twice).
    fn forget_unless_listed(&mut self, digest: &Digest) {
        if !self.contains(digest) {
            self.sources.remove(digest);
            self.artifact_files.remove(digest);
        }
    }

    pub(crate) fn find_mut(&mut self, digest: &Digest) -> Option<&mut Descriptor> {
        self.index
            .manifests
            .iter_mut()
            .find(|e| &e.digest == digest)
    }

    /// Whether the list has an entry with this exact digest.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.index.manifests.iter().any(|e| &e.digest == digest)
    }

    /// The entry an `annotate`/`remove` INSTANCE argument names, decided from the list alone:
    /// a full digest (even one that is not an entry: the edit then says so), or a digest
    /// prefix, `sha256:` + hex or 3 or more bare hex digits, that must match exactly one entry.
    /// `Ok(None)`: the argument is not a digest at all (it may name an image).
    pub fn resolve_instance(
        &self,
        text: &str,
        list_name: &str,
    ) -> Result<Option<Digest>, ListError> {
        if let Ok(digest) = Digest::parse(text) {
            return Ok(Some(digest));
        }
        let Some((algorithm, hex)) = digest_prefix(text) else {
            return Ok(None);
        };
        let mut candidates: Vec<&Digest> = self
            .index
            .manifests
            .iter()
            .map(|entry| &entry.digest)
            .filter(|d| algorithm.is_none_or(|a| d.algorithm() == a) && d.hex().starts_with(hex))
            .collect();
        candidates.dedup();
        match candidates.as_slice() {
            [only] => Ok(Some((*only).clone())),
            [] => Err(ListError::UnknownInstance {
                digest: text.to_string(),
                list: list_name.to_string(),
            }),
            several => Err(ListError::AmbiguousInstance {
                prefix: text.to_string(),
                list: list_name.to_string(),
                candidates: several.iter().map(|d| d.to_string()).collect(),
            }),
        }
    }

    /// The entry an INSTANCE argument names, as [`ManifestList::resolve_instance`] finds it;
    /// an argument that is not a digest at all is an error here (`remove` takes nothing else).
    pub fn instance(&self, text: &str, list_name: &str) -> Result<Digest, ListError> {
        self.resolve_instance(text, list_name)?.ok_or_else(|| {
            let reason = match Digest::parse(text) {
                Err(error) if text.contains(':') => error.reason.to_string(),
                _ => "not a digest (sha256:…) or a prefix of an entry's digest".to_string(),
            };
            ListError::InvalidInstance {
                text: text.to_string(),
                reason,
            }
        })
    }

    /// Removes the entry with `digest` and its source record.
    pub fn remove(&mut self, digest: &Digest, list_name: &str) -> Result<(), ListError> {
        let before = self.index.manifests.len();
        self.index.manifests.retain(|e| &e.digest != digest);
        if self.index.manifests.len() == before {
            return Err(ListError::UnknownInstance {
                digest: digest.to_string(),
                list: list_name.to_string(),
            });
        }
        // Another entry may still name the same digest only if the list was hand-made; keep
        // the source while anything refers to it.
        self.forget_unless_listed(digest);
        Ok(())
    }

    /// Removes the entries of the platforms `filter` names, with their attestations; returns
    /// the digests removed, in list order. Nothing matching is an error naming the platforms
    /// the list has.
    pub fn remove_platforms(
        &mut self,
        filter: &PlatformFilter,
        list_name: &str,
    ) -> Result<Vec<Digest>, ListError> {
        let doomed = crate::platform::selected(&self.index.manifests, filter);
        if doomed.is_empty() {
            return Err(ListError::NoSuchPlatform {
                wanted: filter.display(),
                list: list_name.to_string(),
                available: crate::terminal::shortened_list(crate::platform::platforms(
                    &self.index.manifests,
                )),
            });
        }
        let removed: Vec<Digest> = doomed
            .iter()
            .map(|&at| self.index.manifests[at].digest.clone())
            .collect();
        let mut position = 0;
        self.index.manifests.retain(|_| {
            position += 1;
            !doomed.contains(&(position - 1))
        });
        for digest in &removed {
            self.forget_unless_listed(digest);
        }
        Ok(removed)
    }

    /// Applies an edit to the entry with `digest`.
    pub fn annotate(
        &mut self,
        digest: &Digest,
        edit: &EntryEdit,
        list_name: &str,
    ) -> Result<(), ListError> {
        let entry = self
            .find_mut(digest)
            .ok_or_else(|| ListError::UnknownInstance {
                digest: digest.to_string(),
                list: list_name.to_string(),
            })?;
        edit.apply(entry);
        Ok(())
    }

    /// Sets annotations on the index itself.
    pub fn annotate_index(&mut self, annotations: &[(String, String)]) {
        for (key, value) in annotations {
            self.index.annotations.insert(key.clone(), value.clone());
        }
    }
}

/// `(algorithm, hex)` when `text` is the start of a digest: `sha256:` or `sha512:` and at least
/// one lowercase hex digit, or 3 or more bare lowercase hex digits (any algorithm).
fn digest_prefix(text: &str) -> Option<(Option<&str>, &str)> {
    let is_hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match text.split_once(':') {
        Some((algorithm @ ("sha256" | "sha512"), hex))
            if !hex.is_empty() && hex.len() <= 128 && is_hex(hex) =>
        {
            Some((Some(algorithm), hex))
        }
        Some(_) => None,
        None if (3..=128).contains(&text.len()) && is_hex(text) => Some((None, text)),
        None => None,
    }
}

mod artifacts;

/// Picking one image out of an index lives with the other platform rules.
pub use crate::platform::PlatformWanted;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::OCI_MANIFEST;

    fn entry(n: u8, os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        let mut d = Descriptor::new(OCI_MANIFEST, Digest::sha256_of(&[n]), 500 + n as u64);
        d.platform = Some(Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(str::to_string),
            ..Platform::default()
        });
        d
    }

    fn digests(list: &ManifestList) -> Vec<Digest> {
        list.index
            .manifests
            .iter()
            .map(|e| e.digest.clone())
            .collect()
    }

    #[test]
    fn re_adding_moves_entry_to_the_end() {
        let mut list = ManifestList::default();
        list.add(entry(1, "linux", "amd64", None), "docker://a".into());
        list.add(entry(2, "linux", "arm64", None), "docker://b".into());
        list.add(entry(1, "linux", "amd64", None), "docker://c".into());
        assert_eq!(
            digests(&list),
            vec![Digest::sha256_of(&[2]), Digest::sha256_of(&[1])]
        );
        assert_eq!(list.sources[&Digest::sha256_of(&[1])], "docker://c");
    }

    #[test]
    fn remove_platforms_takes_attestations_along() {
        use crate::platform::{ATTESTATION_MANIFEST, REFERENCE_DIGEST, REFERENCE_TYPE};
        let mut list = ManifestList::default();
        let images = [
            entry(1, "linux", "amd64", None),
            entry(2, "linux", "arm", Some("v7")),
            entry(3, "linux", "arm", Some("v6")),
        ];
        for image in &images {
            list.add(image.clone(), format!("docker://r/{}", image.digest));
        }
        for (n, image) in [(11, &images[0]), (12, &images[1])] {
            let mut a = entry(n, "unknown", "unknown", None);
            a.annotations
                .insert(REFERENCE_TYPE.into(), ATTESTATION_MANIFEST.into());
            a.annotations
                .insert(REFERENCE_DIGEST.into(), image.digest.to_string());
            list.add(a, "docker://r/a".into());
        }
        let filter = PlatformFilter::parse(&["linux/arm/v7".into()]).unwrap();
        let removed = list.remove_platforms(&filter, "l").unwrap();
        assert_eq!(
            removed,
            [images[1].digest.clone(), Digest::sha256_of(&[12])]
        );
        assert_eq!(list.index.manifests.len(), 3);
        assert!(!list.sources.contains_key(&images[1].digest));
        let err = list.remove_platforms(&filter, "l").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no entry of list l is for platform linux/arm/v7 (it has: linux/amd64, linux/arm/v6)"
        );
    }

    #[test]
    fn remove_known_and_unknown() {
        let mut list = ManifestList::default();
        list.add(entry(1, "linux", "amd64", None), "docker://a".into());
        assert_eq!(
            list.remove(&Digest::sha256_of(&[9]), "localhost/l:latest"),
            Err(ListError::UnknownInstance {
                digest: Digest::sha256_of(&[9]).to_string(),
                list: "localhost/l:latest".into()
            })
        );
        list.remove(&Digest::sha256_of(&[1]), "l").unwrap();
        assert!(list.index.manifests.is_empty());
        assert!(list.sources.is_empty());
    }

    #[test]
    fn annotate_table() {
        struct Case {
            edit: EntryEdit,
            check: fn(&Descriptor) -> bool,
        }
        let cases = [
            Case {
                edit: EntryEdit {
                    variant: Some("v8".into()),
                    ..Default::default()
                },
                check: |d| d.platform.as_ref().unwrap().variant.as_deref() == Some("v8"),
            },
            Case {
                edit: EntryEdit {
                    os: Some("windows".into()),
                    os_version: Some("10.0.1".into()),
                    ..Default::default()
                },
                check: |d| {
                    let p = d.platform.as_ref().unwrap();
                    p.os == "windows"
                        && p.os_version.as_deref() == Some("10.0.1")
                        && p.architecture == "amd64"
                },
            },
            Case {
                edit: EntryEdit {
                    features: vec!["sse4".into()],
                    os_features: vec!["win32k".into()],
                    ..Default::default()
                },
                check: |d| {
                    let p = d.platform.as_ref().unwrap();
                    p.features == ["sse4"] && p.os_features == ["win32k"]
                },
            },
            Case {
                edit: EntryEdit {
                    annotations: vec![("b".into(), "2".into()), ("a".into(), "1".into())],
                    ..Default::default()
                },
                check: |d| d.annotations.keys().collect::<Vec<_>>() == ["a", "b"],
            },
            Case {
                edit: EntryEdit {
                    artifact_type: Some("application/vnd.example.sbom+json".into()),
                    ..Default::default()
                },
                check: |d| d.artifact_type.as_deref() == Some("application/vnd.example.sbom+json"),
            },
            Case {
                edit: EntryEdit {
                    artifact_type: Some(String::new()),
                    ..Default::default()
                },
                check: |d| d.artifact_type.is_none(),
            },
            Case {
                edit: EntryEdit::default(),
                check: |d| {
                    d.platform.as_ref().unwrap().architecture == "amd64" && d.annotations.is_empty()
                },
            },
        ];
        for (i, case) in cases.iter().enumerate() {
            let mut list = ManifestList::default();
            list.add(entry(1, "linux", "amd64", None), "s".into());
            list.annotate(&Digest::sha256_of(&[1]), &case.edit, "l")
                .unwrap();
            assert!((case.check)(&list.index.manifests[0]), "case {i}");
        }
        let mut list = ManifestList::default();
        assert!(list
            .annotate(&Digest::sha256_of(&[1]), &EntryEdit::default(), "l")
            .is_err());
    }

    #[test]
    fn instances_resolve_from_the_list_alone() {
        let digest = |head: &str, fill: &str| {
            Digest::parse(&format!("sha256:{head}{}", fill.repeat(64 - head.len()))).unwrap()
        };
        let first = digest("0907f27d", "a");
        let twin = digest("0907aaaa", "b");
        let lonely = digest("c0ffee00", "c");
        let mut list = ManifestList::default();
        for d in [&first, &twin, &lonely] {
            let mut entry = entry(0, "linux", "amd64", None);
            entry.digest = d.clone();
            list.add(entry, "s".into());
        }
        let resolve = |text: &str| list.resolve_instance(text, "localhost/l:latest");

        for (text, want) in [
            (first.as_str(), &first),
            ("0907f27d", &first),
            ("0907f", &first),
            ("sha256:0907f", &first),
            ("c0f", &lonely),
            ("sha256:c", &lonely),
            (lonely.hex(), &lonely),
        ] {
            assert_eq!(resolve(text), Ok(Some(want.clone())), "{text}");
        }
        // A full digest that is no entry is returned as it is: the edit then names it.
        let other = Digest::sha256_of(b"other");
        assert_eq!(resolve(other.as_str()), Ok(Some(other.clone())));

        for text in ["0907", "sha256:0"] {
            assert_eq!(
                resolve(text),
                Err(ListError::AmbiguousInstance {
                    prefix: text.into(),
                    list: "localhost/l:latest".into(),
                    candidates: vec![first.to_string(), twin.to_string()],
                }),
                "{text}"
            );
        }
        for text in ["fff", "sha256:1", "sha512:0907", "0907f27e"] {
            assert_eq!(
                resolve(text),
                Err(ListError::UnknownInstance {
                    digest: text.into(),
                    list: "localhost/l:latest".into(),
                }),
                "{text}"
            );
        }
        assert_eq!(
            resolve("fff").unwrap_err().to_string(),
            "fff: image not known (no entry of list localhost/l:latest has that digest)"
        );
        // Not digests at all: image names, short or odd words, other algorithms.
        for text in [
            "busybox",
            "ab",
            "0907F27D",
            "sha256:",
            "sha256:xyz",
            "md5:0907",
            "docker://r/x:1",
            "",
        ] {
            assert_eq!(resolve(text), Ok(None), "{text:?}");
        }
        // `remove` takes a digest only: the same words are errors saying why.
        assert_eq!(list.instance("0907f", "l"), Ok(first.clone()));
        for (text, reason) in [
            (
                "busybox",
                "not a digest (sha256:…) or a prefix of an entry's digest",
            ),
            (
                "",
                "not a digest (sha256:…) or a prefix of an entry's digest",
            ),
            ("md5:0907", "unsupported algorithm"),
            ("sha256:xyz", "wrong length"),
        ] {
            let error = list.instance(text, "l").unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("invalid instance {text:?}: "))
                    && error.contains(reason),
                "{text:?}: {error}"
            );
        }
    }

    #[test]
    fn annotation_parsing() {
        let ok = parse_annotations(&["a=b".into(), "c=d=e".into()]).unwrap();
        assert_eq!(
            ok,
            vec![("a".into(), "b".into()), ("c".into(), "d=e".into())]
        );
        let cases = [
            ("foo", ListError::AnnotationWithoutValue("foo".into())),
            ("foo=", ListError::AnnotationWithoutValue("foo".into())),
            ("=v", ListError::AnnotationWithoutKey("=v".into())),
            ("=", ListError::AnnotationWithoutKey("=".into())),
            ("==v", ListError::AnnotationWithoutKey("==v".into())),
            ("", ListError::AnnotationWithoutKey("".into())),
        ];
        for (bad, expected) in cases {
            assert_eq!(parse_annotations(&[bad.into()]), Err(expected), "{bad:?}");
        }
        assert_eq!(
            ListError::AnnotationWithoutValue("foo".into()).to_string(),
            "no value given for annotation \"foo\" (use KEY=VALUE)"
        );
        assert_eq!(
            ListError::AnnotationWithoutKey("=value".into()).to_string(),
            "no key given for annotation \"=value\" (use KEY=VALUE)"
        );
    }

    #[test]
    fn split_flags() {
        assert_eq!(
            split_list_flags(&["a,b".into(), "c".into(), " ,d".into()]),
            ["a", "b", "c", "d"]
        );
    }
}
