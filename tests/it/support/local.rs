//! Local images end to end: a test's list store beside a buildah store (`manifest` run with
//! that store's flags), and what an image pulled back holds, to compare with what was copied in.

use super::buildah::{content_tree, Buildah, ContentTree};
use super::image::{read_blob, read_index_json, sha256_digest};
use super::TestEnv;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// A test's store of lists plus a buildah store, and `manifest` run with that store's flags.
pub struct Local {
    pub env: TestEnv,
    pub buildah: Buildah,
}

impl Local {
    pub fn new(driver: &'static str) -> Local {
        let env = TestEnv::new();
        let buildah = Buildah::new(env.tmp.path(), driver);
        Local { env, buildah }
    }

    /// A content tree of `seed` (with a file of `big_bytes`, see [`content_tree`]) that buildah
    /// builds from scratch as image `name` for `platform`; the tree and the image's ID.
    pub fn build_tree(
        &self,
        name: &str,
        platform: &str,
        seed: u8,
        big_bytes: usize,
    ) -> (ContentTree, String) {
        let tree = content_tree(self.env.tmp.path(), seed, big_bytes);
        let id = self.buildah.build(name, platform, &tree.root);
        (tree, id)
    }

    /// `manifest` with this store's flags and `args`.
    pub fn manifest(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = self.env.cmd();
        cmd.args(self.buildah.global_args()).args(args);
        cmd
    }

    /// Runs a command that must fail; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.manifest(args).assert().failure();
        String::from_utf8_lossy(&out.get_output().stderr).into_owned()
    }

    /// Starts `manifest push -q LIST DEST` in the background, stderr piped.
    pub fn spawn_push(&self, list: &str, destination: &str) -> std::process::Child {
        self.spawn(&["push", "--tls-verify=false", "-q", list, destination])
    }

    /// Starts `manifest` with this store's flags and `args` in the background, stderr piped.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        super::manifest_std_cmd(&self.env.store)
            .args(self.buildah.global_args())
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starting manifest")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let global = self.buildah.global_args();
        let all: Vec<&str> = global
            .iter()
            .map(String::as_str)
            .chain(args.iter().copied())
            .collect();
        self.env.run(&all)
    }
}

/// What a layer holds, by path: kind plus content hash, link target or xattr.
pub fn tree_entries(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let value = if meta.file_type().is_symlink() {
                format!("symlink {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else {
                format!("file {}", sha256_digest(&std::fs::read(&path).unwrap()))
            };
            out.insert(rel, value);
        }
    }
    out
}

/// The same view of an uncompressed layer tar; hardlinks resolve to their target's content.
pub fn tar_entries(tar: &[u8]) -> (BTreeMap<String, String>, BTreeMap<String, Vec<u8>>) {
    let mut out = BTreeMap::new();
    let mut xattrs = BTreeMap::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let path = path
            .trim_end_matches('/')
            .trim_start_matches("./")
            .to_string();
        if let Some(extensions) = entry.pax_extensions().unwrap() {
            for ext in extensions {
                let ext = ext.unwrap();
                if let Some(name) = ext.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    xattrs.insert(format!("{path} {name}"), ext.value_bytes().to_vec());
                }
            }
        }
        let kind = entry.header().entry_type();
        let value = if kind.is_symlink() {
            format!("symlink {}", entry.link_name().unwrap().unwrap().display())
        } else if kind.is_dir() {
            "dir".into()
        } else if kind.is_hard_link() {
            let target = entry.link_name().unwrap().unwrap().display().to_string();
            out.get(target.trim_start_matches("./"))
                .cloned()
                .unwrap_or_else(|| panic!("hardlink {path} to unknown {target}"))
        } else {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            format!("file {}", sha256_digest(&bytes))
        };
        out.insert(path, value);
    }
    (out, xattrs)
}

fn decompress(media_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if media_type.ends_with("zstd") {
        out = zstd::decode_all(bytes).unwrap();
    } else if media_type.ends_with("gzip") {
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
    } else {
        out = bytes.to_vec();
    }
    out
}

/// An image as it arrived somewhere: config, and each layer's media type, uncompressed digest
/// and uncompressed bytes.
pub struct Pulled {
    pub config: Value,
    pub config_digest: String,
    pub layers: Vec<(String, String, Vec<u8>)>,
}

/// The first child of the index at `repo:tag` on `registry`, copied by skopeo into the layout
/// `into` and read back.
pub fn pull_first_child(
    registry: &super::registry::Registry,
    repo: &str,
    tag: &str,
    into: &Path,
) -> Pulled {
    let (index, _, _) = super::push::get_manifest(registry, repo, tag);
    let index: Value = serde_json::from_slice(&index).unwrap();
    let child = index["manifests"][0]["digest"].as_str().unwrap();
    super::buildah::skopeo_to_layout(&registry.docker_ref(&format!("{repo}@{child}")), into, "x");
    read_pulled(into)
}

/// Reads the only image of a layout skopeo wrote.
pub fn read_pulled(layout: &Path) -> Pulled {
    let index = read_index_json(layout);
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let manifest: Value = serde_json::from_slice(&read_blob(layout, &digest)).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_string();
    let config: Value = serde_json::from_slice(&read_blob(layout, &config_digest)).unwrap();
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            let media_type = layer["mediaType"].as_str().unwrap().to_string();
            let bytes = read_blob(layout, layer["digest"].as_str().unwrap());
            let tar = decompress(&media_type, &bytes);
            (media_type, sha256_digest(&tar), tar)
        })
        .collect();
    Pulled {
        config,
        config_digest,
        layers,
    }
}
