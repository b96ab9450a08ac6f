//! Deterministic OCI image layouts, made without any external tool.
//!
//! Every byte written here is a function of the [`ImageSpec`]s only, so the same spec always gives
//! the same digests. Layer content is pseudo-random (splitmix64) and therefore incompressible: a
//! layer of `layer_size` bytes is about `layer_size` bytes on disk and on the wire.
//!
//! Layer `i` of a spec depends on `(seed, i, layer_size)` only, not on the platform: two specs with
//! the same seed share layer blobs (as real images built from one base do). Give each platform its
//! own seed (as [`five_platforms`] does) when blobs must differ.
//!
//! This file is also compiled into `examples/mkimage.rs` through `#[path]`, so it uses only crates
//! that are normal dependencies of the package (sha2, hex, tar, flate2, serde_json).

#![allow(dead_code)]

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// What one single-platform image looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSpec {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
    pub layers: usize,
    pub layer_size: usize,
    pub seed: u64,
}

impl ImageSpec {
    /// `platform` is `OS/ARCH[/VARIANT]`, e.g. `linux/arm64/v8`.
    pub fn new(platform: &str, layers: usize, layer_size: usize, seed: u64) -> Self {
        let parts: Vec<&str> = platform.split('/').collect();
        assert!(
            (2..=3).contains(&parts.len()) && parts.iter().all(|p| !p.is_empty()),
            "platform must be OS/ARCH[/VARIANT], got {platform:?}"
        );
        Self {
            os: parts[0].to_string(),
            arch: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
            layers,
            layer_size,
            seed,
        }
    }

    /// `os/arch[/variant]`.
    pub fn platform_string(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.arch, v),
            None => format!("{}/{}", self.os, self.arch),
        }
    }

    /// The OCI `platform` object for this spec (keys: architecture, os, variant).
    pub fn platform_json(&self) -> Value {
        let mut p = serde_json::Map::new();
        p.insert("architecture".into(), json!(self.arch));
        p.insert("os".into(), json!(self.os));
        if let Some(v) = &self.variant {
            p.insert("variant".into(), json!(v));
        }
        Value::Object(p)
    }
}

/// What [`write_image_layout`] / [`write_image_blobs`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltImage {
    /// `sha256:<hex>` of `manifest_bytes`.
    pub manifest_digest: String,
    /// The exact manifest bytes (compact JSON), as stored in the layout.
    pub manifest_bytes: Vec<u8>,
    pub config_digest: String,
    /// Compressed (blob) digests, in manifest order.
    pub layer_digests: Vec<String>,
    /// Sum of the compressed layer blob sizes.
    pub total_layer_bytes: u64,
}

/// Linux amd64, arm64/v8, arm/v7, ppc64le, s390x; one 4 KiB layer each, a distinct seed each.
pub fn five_platforms() -> Vec<ImageSpec> {
    [
        "linux/amd64",
        "linux/arm64/v8",
        "linux/arm/v7",
        "linux/ppc64le",
        "linux/s390x",
    ]
    .iter()
    .enumerate()
    .map(|(i, p)| ImageSpec::new(p, 1, 4096, 1000 + i as u64))
    .collect()
}

/// Writes (or adds to) an OCI image layout at `dir`: the image's blobs, and an `index.json` entry
/// for its manifest annotated `org.opencontainers.image.ref.name = ref_name` (an existing entry
/// with that ref name is replaced; other entries are kept in order).
pub fn write_image_layout(dir: &Path, spec: &ImageSpec, ref_name: &str) -> BuiltImage {
    let built = write_image_blobs(dir, spec);
    let desc = descriptor(
        OCI_MANIFEST,
        &built.manifest_digest,
        built.manifest_bytes.len() as u64,
    );
    set_ref(dir, desc, ref_name);
    built
}

/// Five per-arch layouts under `dir` (the [`five_platforms`]), named `img-N`; returns their
/// manifest digests.
pub fn make_images(dir: &Path) -> Vec<String> {
    five_platforms()
        .iter()
        .enumerate()
        .map(|(n, spec)| {
            write_image_layout(&dir.join(format!("img-{n}")), spec, "latest").manifest_digest
        })
        .collect()
}

/// Writes every spec's blobs plus one OCI image index listing them (with platforms) and points
/// `index.json`'s `ref_name` entry at that index. Returns the index digest and the images.
pub fn write_index_layout(
    dir: &Path,
    specs: &[ImageSpec],
    ref_name: &str,
) -> (String, Vec<BuiltImage>) {
    let (images, entries) = write_images(dir, specs);
    (write_index(dir, entries, ref_name), images)
}

/// Writes every spec's blobs; returns the images and their index entries (with platforms).
fn write_images(dir: &Path, specs: &[ImageSpec]) -> (Vec<BuiltImage>, Vec<Value>) {
    let mut images = Vec::new();
    let mut entries = Vec::new();
    for spec in specs {
        let built = write_image_blobs(dir, spec);
        let mut d = descriptor(
            OCI_MANIFEST,
            &built.manifest_digest,
            built.manifest_bytes.len() as u64,
        );
        d["platform"] = spec.platform_json();
        entries.push(d);
        images.push(built);
    }
    (images, entries)
}

/// Writes an OCI image index of `entries` and points `index.json`'s `ref_name` at it; returns
/// its digest.
fn write_index(dir: &Path, entries: Vec<Value>, ref_name: &str) -> String {
    let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries });
    write_document(dir, OCI_INDEX, &index, ref_name)
}

/// Like [`write_index_layout`], with a buildx-style attestation entry after the images, one per
/// image (platform `unknown/unknown`, annotated `vnd.docker.reference.type:
/// attestation-manifest` and the image's digest). Returns the index digest, the images and
/// the attestation manifests' digests (in the same order).
pub fn write_attested_index_layout(
    dir: &Path,
    specs: &[ImageSpec],
    ref_name: &str,
) -> (String, Vec<BuiltImage>, Vec<String>) {
    let (images, mut entries) = write_images(dir, specs);
    let mut attestations = Vec::new();
    for image in &images {
        let statement = serde_json::to_vec(&json!({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "subject": [{"digest": {"sha256": image.manifest_digest.trim_start_matches("sha256:")}}],
        }))
        .unwrap();
        let layer = write_blob_bytes(dir, &statement);
        let config = br#"{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let config_digest = write_blob_bytes(dir, config);
        let mut layer_desc = descriptor(
            "application/vnd.in-toto+json",
            &layer,
            statement.len() as u64,
        );
        layer_desc["annotations"] =
            json!({"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"});
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &config_digest, config.len() as u64),
            "layers": [layer_desc],
        }))
        .unwrap();
        let digest = write_blob_bytes(dir, &manifest);
        let mut d = descriptor(OCI_MANIFEST, &digest, manifest.len() as u64);
        d["annotations"] = json!({
            "vnd.docker.reference.digest": image.manifest_digest,
            "vnd.docker.reference.type": "attestation-manifest",
        });
        d["platform"] = json!({"architecture": "unknown", "os": "unknown"});
        entries.push(d);
        attestations.push(digest);
    }
    (write_index(dir, entries, ref_name), images, attestations)
}

/// Writes one image's layers, config and manifest into `dir/blobs/sha256/` (creating the
/// `oci-layout` file and an empty `index.json` if missing) without referencing it from
/// `index.json`.
pub fn write_image_blobs(dir: &Path, spec: &ImageSpec) -> BuiltImage {
    init_layout(dir);
    let mut layer_descs = Vec::new();
    let mut layer_digests = Vec::new();
    let mut diff_ids = Vec::new();
    let mut total = 0u64;
    for i in 0..spec.layers {
        let (digest, size, diff_id) = write_layer(dir, spec.seed, i, spec.layer_size);
        layer_descs.push(descriptor(OCI_LAYER_GZIP, &digest, size));
        layer_digests.push(digest);
        diff_ids.push(diff_id);
        total += size;
    }

    let mut config = serde_json::Map::new();
    config.insert("created".into(), json!("1970-01-01T00:00:00Z"));
    config.insert("architecture".into(), json!(spec.arch));
    config.insert("os".into(), json!(spec.os));
    if let Some(v) = &spec.variant {
        config.insert("variant".into(), json!(v));
    }
    config.insert("config".into(), json!({}));
    config.insert(
        "rootfs".into(),
        json!({ "type": "layers", "diff_ids": diff_ids }),
    );
    let config_bytes = serde_json::to_vec(&Value::Object(config)).unwrap();
    let config_digest = write_blob_bytes(dir, &config_bytes);

    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config_digest, config_bytes.len() as u64),
        "layers": layer_descs,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = write_blob_bytes(dir, &manifest_bytes);

    BuiltImage {
        manifest_digest,
        manifest_bytes,
        config_digest,
        layer_digests,
        total_layer_bytes: total,
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Path of a blob in a layout.
pub fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    let (alg, hex) = digest
        .split_once(':')
        .unwrap_or_else(|| panic!("bad digest {digest:?}"));
    dir.join("blobs").join(alg).join(hex)
}

/// Reads a blob of a layout.
pub fn read_blob(dir: &Path, digest: &str) -> Vec<u8> {
    let p = blob_path(dir, digest);
    fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// The parsed `index.json` of a layout.
pub fn read_index_json(dir: &Path) -> Value {
    let p = dir.join("index.json");
    let bytes = fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// The `index.json` descriptor whose ref-name annotation is `ref_name`.
pub fn find_ref(dir: &Path, ref_name: &str) -> Option<Value> {
    let index = read_index_json(dir);
    index["manifests"]
        .as_array()?
        .iter()
        .find(|d| d["annotations"][REF_NAME_ANNOTATION] == ref_name)
        .cloned()
}

/// A descriptor `{mediaType, digest, size}`.
pub fn descriptor(media_type: &str, digest: &str, size: u64) -> Value {
    json!({ "mediaType": media_type, "digest": digest, "size": size })
}

// ---------------------------------------------------------------------------------------------

fn init_layout(dir: &Path) {
    fs::create_dir_all(dir.join("blobs").join("sha256")).unwrap();
    let layout = dir.join("oci-layout");
    if !layout.exists() {
        fs::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    }
    let index = dir.join("index.json");
    if !index.exists() {
        let empty = json!({ "schemaVersion": 2, "manifests": [] });
        atomic_write(&index, &serde_json::to_vec(&empty).unwrap());
    }
}

/// Writes `document` (compact JSON) as a blob of the layout at `dir` and points `ref_name` at
/// it with a descriptor of `media_type` (which need not be the truth). Returns its digest.
pub fn write_document(dir: &Path, media_type: &str, document: &Value, ref_name: &str) -> String {
    init_layout(dir);
    let bytes = serde_json::to_vec(document).unwrap();
    let digest = write_blob_bytes(dir, &bytes);
    set_ref(
        dir,
        descriptor(media_type, &digest, bytes.len() as u64),
        ref_name,
    );
    digest
}

/// Points `ref_name` at `desc` in `dir/index.json`: replaces the entry with that ref name in
/// place, or appends one.
fn set_ref(dir: &Path, mut desc: Value, ref_name: &str) {
    init_layout(dir);
    desc["annotations"] = json!({ REF_NAME_ANNOTATION: ref_name });
    let mut index = read_index_json(dir);
    if !index["manifests"].is_array() {
        index["manifests"] = json!([]);
    }
    let manifests = index["manifests"].as_array_mut().unwrap();
    match manifests
        .iter_mut()
        .find(|d| d["annotations"][REF_NAME_ANNOTATION] == ref_name)
    {
        Some(slot) => *slot = desc,
        None => manifests.push(desc),
    }
    atomic_write(
        &dir.join("index.json"),
        &serde_json::to_vec(&index).unwrap(),
    );
}

fn atomic_write(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, bytes).unwrap();
    fs::rename(&tmp, path).unwrap();
}

fn write_blob_bytes(dir: &Path, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    let path = blob_path(dir, &digest);
    if !path.exists() {
        atomic_write(&path, bytes);
    }
    digest
}

/// Streams one gzip'd tar layer straight to a temp file under `blobs/`, hashing the tar
/// (diff_id) and the gzip stream (blob digest) on the way, then renames it into place.
/// Returns (digest, compressed size, diff_id).
fn write_layer(dir: &Path, seed: u64, index: usize, size: usize) -> (String, u64, String) {
    let blobs = dir.join("blobs").join("sha256");
    let tmp_path = blobs.join(format!(".layer-{}-{seed}-{index}.tmp", std::process::id()));
    let file = fs::File::create(&tmp_path).unwrap();
    let compressed = HashWriter::new(io::BufWriter::with_capacity(1 << 20, file));
    // No file name, mtime 0, OS "unknown": the gzip header carries nothing host-specific. Level 0
    // (stored deflate blocks, still a valid gzip stream): the content is incompressible anyway,
    // and compressing is the slowest step in an unoptimised test build.
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(compressed, flate2::Compression::none());
    let uncompressed = HashWriter::new(gz);

    let mut builder = tar::Builder::new(uncompressed);
    builder.mode(tar::HeaderMode::Deterministic);
    let mut header = tar::Header::new_ustar();
    header.set_size(size as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    let name = format!("layer-{index}.bin");
    builder
        .append_data(
            &mut header,
            &name,
            PrngReader::new(layer_seed(seed, index), size),
        )
        .unwrap();
    let uncompressed = builder.into_inner().unwrap();
    let (gz, diff_hash, _) = uncompressed.finish();
    let compressed = gz.finish().unwrap();
    let (buf, blob_hash, blob_size) = compressed.finish();
    let file = buf.into_inner().map_err(|e| e.into_error()).unwrap();
    file.sync_all().ok();
    drop(file);

    let digest = format!("sha256:{}", hex::encode(blob_hash));
    let diff_id = format!("sha256:{}", hex::encode(diff_hash));
    let final_path = blob_path(dir, &digest);
    fs::rename(&tmp_path, &final_path).unwrap();
    (digest, blob_size, diff_id)
}

fn layer_seed(seed: u64, index: usize) -> u64 {
    let mut s = seed ^ 0x6d61_6e69_6665_7374; // "manifest"
    let a = splitmix64(&mut s);
    a ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `len` pseudo-random bytes from a splitmix64 stream, produced on demand.
struct PrngReader {
    state: u64,
    remaining: usize,
    pending: [u8; 8],
    pending_len: usize,
}

impl PrngReader {
    fn new(seed: u64, len: usize) -> Self {
        Self {
            state: seed,
            remaining: len,
            pending: [0; 8],
            pending_len: 0,
        }
    }
}

impl Read for PrngReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(self.remaining);
        let mut n = 0;
        while n < want && self.pending_len > 0 {
            buf[n] = self.pending[8 - self.pending_len];
            self.pending_len -= 1;
            n += 1;
        }
        while want - n >= 8 {
            let v = splitmix64(&mut self.state).to_le_bytes();
            buf[n..n + 8].copy_from_slice(&v);
            n += 8;
        }
        if n < want {
            self.pending = splitmix64(&mut self.state).to_le_bytes();
            self.pending_len = 8;
            while n < want {
                buf[n] = self.pending[8 - self.pending_len];
                self.pending_len -= 1;
                n += 1;
            }
        }
        self.remaining -= want;
        Ok(want)
    }
}

/// A writer that hashes and counts what passes through it.
struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    fn finish(self) -> (W, [u8; 32], u64) {
        (self.inner, self.hasher.finalize().into(), self.count)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One file of a layer written by [`write_files_image`]: its path and content (a path whose
/// name starts with `.wh.` is a whiteout).
pub type LayerFile<'a> = (&'a str, &'a [u8]);

/// Writes an image of `platform` whose layers hold the given files (gzip'd tars, base layer
/// first, mode 0755) into the layout at `dir` under `ref_name`.
pub fn write_files_image(
    dir: &Path,
    platform: &str,
    layers: &[&[LayerFile<'_>]],
    ref_name: &str,
) -> BuiltImage {
    init_layout(dir);
    let spec = ImageSpec::new(platform, 0, 0, 0);
    let mut layer_descs = Vec::new();
    let mut layer_digests = Vec::new();
    let mut diff_ids = Vec::new();
    let mut total = 0u64;
    for files in layers {
        let mut builder = tar::Builder::new(Vec::new());
        builder.mode(tar::HeaderMode::Deterministic);
        for (path, data) in files.iter() {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o755);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, *data).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        diff_ids.push(sha256_digest(&tar));
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let compressed = gz.finish().unwrap();
        let digest = write_blob_bytes(dir, &compressed);
        total += compressed.len() as u64;
        layer_descs.push(descriptor(OCI_LAYER_GZIP, &digest, compressed.len() as u64));
        layer_digests.push(digest);
    }
    let mut config = serde_json::Map::new();
    config.insert("architecture".into(), json!(spec.arch));
    config.insert("os".into(), json!(spec.os));
    if let Some(v) = &spec.variant {
        config.insert("variant".into(), json!(v));
    }
    config.insert(
        "rootfs".into(),
        json!({ "type": "layers", "diff_ids": diff_ids }),
    );
    let config_bytes = serde_json::to_vec(&Value::Object(config)).unwrap();
    let config_digest = write_blob_bytes(dir, &config_bytes);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config_digest, config_bytes.len() as u64),
        "layers": layer_descs,
    }))
    .unwrap();
    let manifest_digest = write_blob_bytes(dir, &manifest);
    set_ref(
        dir,
        descriptor(OCI_MANIFEST, &manifest_digest, manifest.len() as u64),
        ref_name,
    );
    BuiltImage {
        manifest_digest,
        manifest_bytes: manifest,
        config_digest,
        layer_digests,
        total_layer_bytes: total,
    }
}
