//! The store's metadata as c/storage writes it: `<driver>-images/images.json` (names, IDs, the
//! top layer, "big data" items such as the manifest and config), `<driver>-layers/layers.json`
//! (each layer's parent and digests), read under the store's shared locks.

use super::lock::SharedLock;
use crate::boundary::fsutil::{caps, FileError, RootDir};
use crate::config::storage::StoreLocation;
use crate::model::digest::Digest;
use crate::model::reference::{repository_of, StorageRef};
use base64::Engine;
use serde::Deserialize;
use std::collections::HashMap;

/// Why the store could not tell which image, or which layer, a reference means.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MetadataError {
    /// A file of the store that is not a regular file inside it within its cap, a lock not
    /// released in time, or an operating system error.
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{path} is not what containers-storage writes: {detail}")]
    Malformed { path: String, detail: String },
    #[error("no image {wanted} in containers-storage at {store}")]
    NoImage { wanted: String, store: String },
    #[error("{wanted} is ambiguous in containers-storage at {store}: it matches images {matches}")]
    Ambiguous {
        wanted: String,
        store: String,
        matches: String,
    },
}

/// One entry of images.json.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ImageRecord {
    /// 64 hex characters (the config's digest, for images buildah commits).
    pub id: String,
    /// The digest of the image's manifest.
    #[serde(default)]
    pub digest: Option<Digest>,
    /// Full names (`localhost/app:latest`).
    #[serde(default)]
    pub names: Vec<String>,
    /// The image's top layer; its parents are the rest of the chain.
    #[serde(default)]
    pub layer: Option<String>,
    /// The keys of the image's big-data items (`manifest`, `sha256:<config>`, …).
    #[serde(default, rename = "big-data-names")]
    pub big_data_names: Vec<String>,
    /// The digest c/storage recorded for each big-data item.
    #[serde(default, rename = "big-data-digests")]
    pub big_data_digests: HashMap<String, Digest>,
}

/// One entry of layers.json.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct LayerRecord {
    /// The layer's ID (its directory and tar-split file names).
    pub id: String,
    /// The layer below it; `None` for a base layer.
    #[serde(default)]
    pub parent: Option<String>,
    /// The digest of the compressed blob it was pulled as, if it was pulled.
    #[serde(default, rename = "compressed-diff-digest")]
    pub compressed_digest: Option<Digest>,
    /// The digest of its uncompressed tar (the config's diff_id).
    #[serde(default, rename = "diff-digest")]
    pub diff_digest: Option<Digest>,
    /// The size of its uncompressed tar (c/storage writes `-1`, or nothing, when unknown).
    #[serde(default, rename = "diff-size")]
    pub diff_size: Option<i64>,
    /// c/storage's flags (`incomplete`).
    #[serde(default)]
    pub flags: HashMap<String, serde_json::Value>,
}

impl LayerRecord {
    /// c/storage marks a layer `incomplete` while it is being created or deleted.
    pub(crate) fn is_incomplete(&self) -> bool {
        self.flags
            .get("incomplete")
            .is_some_and(|v| v.as_bool() == Some(true))
    }
}

/// Where one store keeps its files.
#[derive(Debug, Clone)]
pub(crate) struct StorePaths {
    /// The store these paths are in.
    pub location: StoreLocation,
}

impl StorePaths {
    /// The store's graph root, through which every file of the store is reached: one path
    /// component at a time, never through a symlink (the graph root's own path may have them:
    /// the configuration or the user named it). `None` when it does not exist (an empty store).
    pub(crate) fn root(&self) -> Result<Option<RootDir>, FileError> {
        match RootDir::open(&self.location.graph_root) {
            Ok(root) => Ok(Some(root)),
            Err(FileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn driver_dir(&self, kind: &str) -> String {
        format!("{}-{kind}", self.location.driver)
    }

    /// The store's top-level lock, taken by every c/storage user around its metadata reads.
    pub(crate) fn storage_lock(&self) -> String {
        "storage.lock".to_string()
    }

    pub(crate) fn images_lock(&self) -> String {
        format!("{}/images.lock", self.driver_dir("images"))
    }

    /// Held by c/storage writers while they add, change or delete layers.
    pub(crate) fn layers_lock(&self) -> String {
        format!("{}/layers.lock", self.driver_dir("layers"))
    }

    /// A big-data item's file: the key as is when it is only `[0-9a-z.]`, else `=` + base64.
    pub(crate) fn big_data(&self, image_id: &str, key: &str) -> String {
        let plain = !key.is_empty()
            && key
                .bytes()
                .all(|b| b == b'.' || b.is_ascii_digit() || b.is_ascii_lowercase());
        let file = if plain {
            key.to_string()
        } else {
            format!(
                "={}",
                base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
            )
        };
        format!("{}/{image_id}/{file}", self.driver_dir("images"))
    }

    /// The layer's tar-split data: the tar headers and padding, and the list of file entries.
    pub(crate) fn tar_split(&self, layer_id: &str) -> String {
        format!("{}/{layer_id}.tar-split.gz", self.driver_dir("layers"))
    }

    /// The directory holding the layer's files.
    pub(crate) fn layer_dir(&self, layer_id: &str) -> String {
        match self.location.driver.as_str() {
            "vfs" => format!("vfs/dir/{layer_id}"),
            driver => format!("{driver}/{layer_id}/diff"),
        }
    }

    /// `vfs at /var/lib/containers/storage`, for messages.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} ({})",
            self.location.graph_root.display(),
            self.location.driver
        )
    }
}

/// images.json and layers.json read at one moment, under the store's shared locks.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// images.json's entries.
    pub images: Vec<ImageRecord>,
    /// layers.json's entries.
    pub layers: Vec<LayerRecord>,
}

impl Snapshot {
    /// Reads both files with `storage.lock`, `layers.lock` and `images.lock` held shared (in
    /// c/storage's order).
    pub(crate) fn load(paths: &StorePaths) -> Result<Snapshot, MetadataError> {
        Self::load_holding_layers(paths).map(|(snapshot, _)| snapshot)
    }

    /// Like [`Snapshot::load`], and keeps `layers.lock` held: while the caller holds it, no
    /// layer of the snapshot can be deleted or rewritten.
    pub(crate) fn load_holding_layers(
        paths: &StorePaths,
    ) -> Result<(Snapshot, Option<SharedLock>), MetadataError> {
        let Some(root) = paths.root()? else {
            let empty = Snapshot {
                images: Vec::new(),
                layers: Vec::new(),
            };
            return Ok((empty, None));
        };
        let store = SharedLock::acquire(&root, &paths.storage_lock())?;
        let layers_lock = SharedLock::acquire(&root, &paths.layers_lock())?;
        let layers = read_json(
            &root,
            &format!("{}/layers.json", paths.driver_dir("layers")),
        )?;
        let images = {
            let _images = SharedLock::acquire(&root, &paths.images_lock())?;
            read_json(
                &root,
                &format!("{}/images.json", paths.driver_dir("images")),
            )?
        };
        drop(store);
        let mut snapshot = Snapshot { images, layers };
        // IDs become file names below the store: anything but c/storage's 64 hex characters is
        // not an image or layer this tool will read.
        snapshot.images.retain(|i| is_storage_id(&i.id));
        snapshot.layers.retain(|l| is_storage_id(&l.id));
        Ok((snapshot, Some(layers_lock)))
    }

    /// The image `reference` names: by ID or unique ID prefix, by name (and digest), or by a
    /// name that is itself an ID prefix, as buildah looks images up.
    pub(crate) fn find_image(
        &self,
        reference: &StorageRef,
        store: &str,
    ) -> Result<&ImageRecord, MetadataError> {
        let wanted = reference.to_string();
        let names = reference.candidate_names();
        let repositories: Vec<&str> = names.iter().map(|n| repository_of(n)).collect();
        let by_name = |image: &&ImageRecord| {
            let named = names.is_empty()
                || match reference.digest {
                    // A digest names the content, so any name of the same repository will do:
                    // another tag, or the `REPO@DIGEST` a pull by digest leaves (containers/image
                    // resolves `NAME@DIGEST` the same way).
                    Some(_) => image
                        .names
                        .iter()
                        .any(|n| repositories.contains(&repository_of(n))),
                    None => names.iter().any(|n| image.names.contains(n)),
                };
            let pinned = reference
                .digest
                .as_ref()
                .is_none_or(|d| image.manifest_digests().any(|m| &m == d));
            named && pinned
        };
        let matches: Vec<&ImageRecord> = match &reference.id {
            Some(prefix) => self
                .images
                .iter()
                .filter(|i| i.id.starts_with(prefix.as_str()))
                .filter(by_name)
                .collect(),
            None => {
                // Names first; a name nothing carries may be an ID prefix.
                let named: Vec<&ImageRecord> = self.images.iter().filter(by_name).collect();
                match (named.is_empty(), reference.name.as_deref()) {
                    (true, Some(name)) if crate::model::reference::is_id_prefix(name) => self
                        .images
                        .iter()
                        .filter(|i| i.id.starts_with(name))
                        .collect(),
                    _ => named,
                }
            }
        };
        match matches.as_slice() {
            [only] => Ok(only),
            [] => Err(MetadataError::NoImage {
                wanted,
                store: store.to_string(),
            }),
            many => Err(MetadataError::Ambiguous {
                wanted,
                store: store.to_string(),
                matches: many
                    .iter()
                    .map(|i| i.id.chars().take(12).collect::<String>())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The image whose stored manifest has this digest.
    pub(crate) fn image_with_manifest(&self, digest: &Digest) -> Option<&ImageRecord> {
        self.images
            .iter()
            .find(|i| i.manifest_digests().any(|m| &m == digest))
    }

    /// The image's layers from the top down to its base.
    pub(crate) fn chain(&self, image: &ImageRecord) -> Vec<&LayerRecord> {
        let by_id: HashMap<&str, &LayerRecord> =
            self.layers.iter().map(|l| (l.id.as_str(), l)).collect();
        let mut out = Vec::new();
        let mut next = image.layer.as_deref();
        while let Some(id) = next {
            let Some(layer) = by_id.get(id) else { break };
            if out.len() > by_id.len() {
                break; // a parent cycle; c/storage never writes one
            }
            out.push(*layer);
            next = layer.parent.as_deref();
        }
        out
    }
}

impl ImageRecord {
    /// Every manifest digest the image has stored: `digest`, `manifest`, `manifest-<digest>`.
    pub(crate) fn manifest_digests(&self) -> impl Iterator<Item = Digest> + '_ {
        self.digest.iter().cloned().chain(
            self.big_data_digests
                .iter()
                .filter(|(k, _)| k.as_str() == "manifest" || k.starts_with("manifest-"))
                .map(|(_, d)| d.clone()),
        )
    }

    /// The big-data key holding the manifest with `digest`, if the image has it.
    pub(crate) fn manifest_key(&self, digest: &Digest) -> Option<String> {
        let specific = format!("manifest-{digest}");
        if self.big_data_names.contains(&specific) {
            return Some(specific);
        }
        (self.big_data_digests.get("manifest") == Some(digest)).then(|| "manifest".to_string())
    }
}

/// c/storage's IDs: 64 lowercase hexadecimal characters.
fn is_storage_id(id: &str) -> bool {
    id.len() == 64 && crate::model::reference::is_id_prefix(id)
}

/// A missing file is an empty store, as in c/storage.
fn read_json<T: serde::de::DeserializeOwned>(
    root: &RootDir,
    rel: &str,
) -> Result<Vec<T>, MetadataError> {
    let path = root.path().join(rel);
    let Some(bytes) = root.read(rel, caps::STORAGE_METADATA)? else {
        return Ok(Vec::new());
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| MetadataError::Malformed {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, names: &[&str]) -> ImageRecord {
        ImageRecord {
            id: id.into(),
            digest: None,
            names: names.iter().map(|n| n.to_string()).collect(),
            layer: None,
            big_data_names: vec![],
            big_data_digests: HashMap::new(),
        }
    }

    fn storage_ref(text: &str) -> StorageRef {
        match crate::model::reference::parse_image(&format!("containers-storage:{text}")).unwrap() {
            crate::model::reference::ImageRef::Storage(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn finds_images_by_name_id_and_prefix() {
        let a = format!("aaa1{}", "0".repeat(60));
        let b = format!("aab2{}", "0".repeat(60));
        let snapshot = Snapshot {
            images: vec![
                image(&a, &["localhost/app:latest"]),
                image(&b, &["docker.io/library/base:v1", "localhost/other:v2"]),
            ],
            layers: vec![],
        };
        let find = |text: &str| {
            snapshot
                .find_image(&storage_ref(text), "s")
                .map(|i| i.id.clone())
        };
        assert_eq!(find("localhost/app").unwrap(), a);
        assert_eq!(find("app").unwrap(), a, "short names mean localhost/ too");
        assert_eq!(find("base:v1").unwrap(), b);
        assert_eq!(find("other:v2").unwrap(), b);
        assert_eq!(find(&format!("@{a}")).unwrap(), a);
        assert_eq!(find("@aab").unwrap(), b);
        assert_eq!(
            find("aab2").unwrap(),
            b,
            "a name nothing carries may be an ID prefix"
        );
        assert!(matches!(
            snapshot.find_image(&storage_ref("@aa"), "s"),
            Err(MetadataError::Ambiguous { .. })
        ));
        assert!(matches!(
            snapshot.find_image(&storage_ref("missing"), "s"),
            Err(MetadataError::NoImage { .. })
        ));
        assert!(
            find(&format!("localhost/other:v2@{a}")).is_err(),
            "name and ID must agree"
        );
    }

    #[test]
    fn a_digest_pins_any_name_of_the_repository() {
        let pulled = format!("aaa1{}", "0".repeat(60));
        let tagged = format!("bbb2{}", "0".repeat(60));
        let (one, two) = (
            Digest::sha256_of(b"by digest"),
            Digest::sha256_of(b"by tag"),
        );
        let mut by_digest = image(&pulled, &[&format!("127.0.0.1:5000/pause@{one}")]);
        by_digest.digest = Some(one.clone());
        let mut by_tag = image(&tagged, &["127.0.0.1:5000/pause:3.1", "localhost/app:v1"]);
        by_tag.digest = Some(two.clone());
        let snapshot = Snapshot {
            images: vec![by_digest, by_tag],
            layers: vec![],
        };
        let find = |text: &str| {
            snapshot
                .find_image(&storage_ref(text), "s")
                .map(|i| i.id.clone())
        };
        assert_eq!(
            find(&format!("127.0.0.1:5000/pause@{one}")).unwrap(),
            pulled
        );
        assert_eq!(
            find(&format!("127.0.0.1:5000/pause@{two}")).unwrap(),
            tagged
        );
        assert_eq!(
            find(&format!("127.0.0.1:5000/pause:3.1@{two}")).unwrap(),
            tagged
        );
        assert_eq!(
            find(&format!("app@{two}")).unwrap(),
            tagged,
            "localhost/ too"
        );
        assert!(
            find(&format!("127.0.0.1:5000/other@{one}")).is_err(),
            "another repository"
        );
        assert!(
            find(&format!("app@{one}")).is_err(),
            "the digest must match"
        );
        assert!(find("127.0.0.1:5000/pause").is_err(), "no name :latest");
    }

    #[test]
    fn records_whose_ids_are_not_c_storage_ids_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let paths = StorePaths {
            location: StoreLocation {
                driver: "vfs".into(),
                graph_root: dir.path().into(),
                run_root: dir.path().join("run"),
                options: vec![],
            },
        };
        let good = "a".repeat(64);
        std::fs::create_dir_all(dir.path().join("vfs-images")).unwrap();
        std::fs::write(
            dir.path().join("vfs-images/images.json"),
            format!(r#"[{{"id":"{good}","names":["localhost/ok:latest"]}},{{"id":"../../etc","names":["localhost/bad:latest"]}}]"#),
        )
        .unwrap();
        let snapshot = Snapshot::load(&paths).unwrap();
        assert_eq!(snapshot.images.len(), 1);
        assert_eq!(snapshot.images[0].id, good);
    }

    #[test]
    fn big_data_file_names_follow_c_storage() {
        let paths = StorePaths {
            location: StoreLocation {
                driver: "vfs".into(),
                graph_root: "/g".into(),
                run_root: "/r".into(),
                options: vec![],
            },
        };
        assert_eq!(paths.big_data("id", "manifest"), "vfs-images/id/manifest");
        assert_eq!(
            paths.big_data("id", "sha256:ab"),
            "vfs-images/id/=c2hhMjU2OmFi"
        );
        assert_eq!(
            paths.big_data("id", "instances.json"),
            "vfs-images/id/instances.json"
        );
        assert_eq!(paths.layer_dir("l"), "vfs/dir/l");
    }
}
