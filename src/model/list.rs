//! Pure edits of a manifest list: add, replace, remove, annotate, and pick an entry by platform.
//! No I/O happens here, so every rule is covered by table tests.

use crate::model::digest::Digest;
use crate::model::oci::{Descriptor, Index, Platform};
use crate::model::platform::PlatformFilter;
use std::collections::BTreeMap;

mod pick;
mod sort;
mod source;
pub use sort::sorted_by_platform;
pub use source::{Source, Sources};

/// A list as the store keeps it: the index, and where each entry's content can be read from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManifestList {
    /// The list itself; its entries are in `index.manifests`.
    pub index: Index,
    /// Entry digest → where its content is read from (the image it was added from, pinned).
    pub sources: Sources,
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
    pub fn add(&mut self, entry: Descriptor, source: Source) {
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
        let doomed = crate::model::platform::selected(&self.index.manifests, filter);
        if doomed.is_empty() {
            return Err(ListError::NoSuchPlatform {
                wanted: filter.display(),
                list: list_name.to_string(),
                available: crate::boundary::terminal::shortened_list(
                    crate::model::platform::platforms(&self.index.manifests),
                ),
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
pub use crate::model::platform::PlatformWanted;

#[cfg(test)]
#[path = "list_tests.rs"]
mod tests;
