//! What the command tests share: a store of their own, command lines parsed as `manifest`
//! parses them, and small OCI layouts written through the layout transport. No network, no
//! binary: each command runs in-process and writes to a buffer.

use super::Ctx;
use crate::config::storage::StorageOptions;
use crate::model::digest::Digest;
use crate::model::oci::{Descriptor, Index, ListFormat, OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST};
use crate::model::reference::{LayoutKind, LayoutRef};
use crate::store::Store;
use crate::transport::layout::LayoutTransport;
use crate::transport::{BlobStream, ManifestRef, RawManifest, Transport};
use bytes::Bytes;
use clap::{Args, FromArgMatches};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A command as the tests call it: typed arguments and a context in, a result out.
pub(crate) type CommandFn<A, T> = fn(&mut Ctx, A) -> anyhow::Result<T>;

/// A temporary directory holding a store (`store/`), an empty registries.conf, an empty
/// containers-storage store and layouts.
pub(crate) struct TestEnv {
    dir: tempfile::TempDir,
}

impl TestEnv {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("registries.conf"), "").unwrap();
        TestEnv { dir }
    }

    /// `rel` inside the environment's directory.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub(crate) fn store(&self) -> Store {
        Store::open(self.path("store")).unwrap()
    }

    /// Runs `command` on the arguments `line` parses to (with this environment's empty
    /// registries.conf, for commands that read one): its result and what it wrote to `ctx.out`.
    pub(crate) fn call<A: Args + FromArgMatches, T>(
        &self,
        command: CommandFn<A, T>,
        line: &[&str],
    ) -> (anyhow::Result<T>, String) {
        let args = self.parse::<A>(line);
        let mut out = Vec::new();
        let mut ctx = Ctx::new(self.path("store"), &mut out);
        // A containers-storage store of the test's own (empty): local names find nothing.
        ctx.storage = StorageOptions {
            root: Some(self.path("containers/storage")),
            run_root: Some(self.path("containers/run")),
            driver: Some("vfs".into()),
            options: Vec::new(),
        };
        let result = command(&mut ctx, args);
        (
            result,
            String::from_utf8(out).expect("commands print UTF-8"),
        )
    }

    /// [`TestEnv::call`] of a command that must succeed: what it printed.
    pub(crate) fn run<A: Args + FromArgMatches>(
        &self,
        command: CommandFn<A, ()>,
        line: &[&str],
    ) -> String {
        let (result, out) = self.call(command, line);
        if let Err(error) = result {
            panic!("{line:?} failed: {error:#}");
        }
        out
    }

    /// [`TestEnv::call`] of a command that must fail, print nothing and leave the store as it
    /// was: the error chain, as `main` prints it after `Error: `.
    pub(crate) fn fails<A: Args + FromArgMatches, T: std::fmt::Debug>(
        &self,
        command: CommandFn<A, T>,
        line: &[&str],
    ) -> String {
        let before = self.snapshot();
        let (result, out) = self.call(command, line);
        let error = match result {
            Ok(value) => panic!("{line:?} succeeded: {value:?}, printed {out:?}"),
            Err(error) => format!("{error:#}"),
        };
        assert_eq!(out, "", "{line:?} printed something before failing");
        assert!(self.snapshot() == before, "{line:?} changed the store");
        error
    }

    /// Creates the list `name` with `create` and returns its ID.
    pub(crate) fn create_list(&self, name: &str) -> String {
        let out = self.run(super::create::run, &[name]);
        out.trim_end().to_string()
    }

    /// The entries of a list, in order: `(digest, os/arch[/variant], annotations)`.
    pub(crate) fn entries(&self, list: &str) -> Vec<(Digest, String, BTreeMap<String, String>)> {
        let list = self.store().find(list).unwrap();
        list.list
            .index
            .manifests
            .iter()
            .map(|entry| {
                let annotations = entry.annotations.clone().into_iter().collect();
                let platform = entry.platform.as_ref().map_or(String::new(), |p| {
                    [Some(&p.os), Some(&p.architecture), p.variant.as_ref()]
                        .into_iter()
                        .flatten()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("/")
                });
                (entry.digest.clone(), platform, annotations)
            })
            .collect()
    }

    /// Writes a one-layer image of `platform` (`os/arch[/variant]`) into the OCI layout
    /// `layout` (a directory of the environment) under `tag`: `oci:<dir>:<tag>` and the
    /// manifest's digest.
    pub(crate) fn image(&self, layout: &str, tag: &str, platform: &str) -> (String, Digest) {
        let dir = self.path(layout);
        let (descriptor, bytes) = block_on(write_image(&dir, platform));
        block_on(put_manifest(&dir, tag, &bytes));
        (format!("oci:{}:{tag}", dir.display()), descriptor.digest)
    }

    /// Writes one image per platform and an OCI index of them into the layout `layout` under
    /// `tag`: `oci:<dir>:<tag>`, the index's digest, and the images' digests in order.
    pub(crate) fn index(
        &self,
        layout: &str,
        tag: &str,
        platforms: &[&str],
    ) -> (String, Digest, Vec<Digest>) {
        let dir = self.path(layout);
        let images: Vec<Descriptor> = platforms
            .iter()
            .map(|platform| block_on(write_image(&dir, platform)).0)
            .collect();
        let index = Index {
            manifests: images.clone(),
            ..Index::default()
        };
        let bytes = Bytes::from(index.to_bytes(ListFormat::Oci));
        let digest = Digest::sha256_of(&bytes);
        block_on(put_manifest(&dir, tag, &bytes));
        let digests = images.into_iter().map(|image| image.digest).collect();
        (format!("oci:{}:{tag}", dir.display()), digest, digests)
    }

    /// The arguments `line` parses to, as `manifest` parses them (Go-style booleans).
    fn parse<A: Args + FromArgMatches>(&self, line: &[&str]) -> A {
        let command = crate::cli::go_flags::go_style_booleans(A::augment_args(clap::Command::new(
            "manifest",
        )));
        let reads_registries_conf = command
            .get_arguments()
            .any(|arg| arg.get_id() == "registries_conf");
        let conf = self.path("registries.conf").display().to_string();
        let hermetic: &[&str] = if reads_registries_conf {
            &["--registries-conf", &conf]
        } else {
            &[]
        };
        let words = std::iter::once("manifest")
            .chain(hermetic.iter().copied())
            .chain(line.iter().copied());
        let mut matches = command
            .try_get_matches_from(words)
            .unwrap_or_else(|error| panic!("{line:?}: {error}"));
        A::from_arg_matches_mut(&mut matches).unwrap()
    }

    /// Every file of the store but its lock, with its content.
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.map(Result::unwrap) {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, files);
                } else if entry.file_name() != "lock" {
                    files.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        let mut files = BTreeMap::new();
        walk(&self.path("store"), &mut files);
        files
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn layout(dir: &Path) -> LayoutTransport {
    LayoutTransport::open_for_write(&LayoutRef {
        kind: LayoutKind::Directory,
        path: dir.to_path_buf(),
        name: None,
    })
    .unwrap()
}

async fn put_blob(layout: &LayoutTransport, media_type: &str, bytes: Bytes) -> Descriptor {
    let descriptor = Descriptor::new(media_type, Digest::sha256_of(&bytes), bytes.len() as u64);
    let stream: BlobStream = Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
    layout.blob_put(&descriptor, stream).await.unwrap();
    descriptor
}

/// Writes an image's config, layer and manifest (not tagged): the manifest's descriptor with
/// its platform (as an index lists it), and the manifest's bytes.
async fn write_image(dir: &Path, platform: &str) -> (Descriptor, Bytes) {
    let layout = layout(dir);
    let mut parts = platform.split('/');
    let (os, arch, variant) = (parts.next().unwrap(), parts.next().unwrap(), parts.next());
    let layer = put_blob(
        &layout,
        OCI_LAYER_TAR,
        Bytes::from(format!("layer of {platform}")),
    )
    .await;
    let mut config = json!({
        "architecture": arch,
        "os": os,
        "rootfs": {"type": "layers", "diff_ids": [layer.digest.to_string()]},
    });
    if let Some(variant) = variant {
        config["variant"] = json!(variant);
    }
    let config = put_blob(
        &layout,
        OCI_CONFIG,
        Bytes::from(serde_json::to_vec(&config).unwrap()),
    )
    .await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_value(ListFormat::Oci),
        "layers": [layer.to_value(ListFormat::Oci)],
    });
    let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    let mut descriptor = put_blob(&layout, OCI_MANIFEST, bytes.clone()).await;
    descriptor.platform = Some(crate::model::oci::Platform {
        os: os.into(),
        architecture: arch.into(),
        variant: variant.map(str::to_string),
        ..Default::default()
    });
    (descriptor, bytes)
}

/// Points `tag` of the layout's `index.json` at the manifest `bytes`.
async fn put_manifest(dir: &Path, tag: &str, bytes: &Bytes) {
    let manifest = RawManifest::from_bytes(bytes.clone());
    layout(dir)
        .manifest_put(&ManifestRef::Tag(tag.to_string()), &manifest)
        .await
        .unwrap();
}
