//! The arguments of the commands that push and check: push, apply (and the flags they share)
//! and verify.

use super::{help, AddCompression, RegistryFlags};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// The formats `push --format` converts to.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PushFormat {
    /// OCI image index and OCI image manifests
    Oci,
    /// Docker manifest list and Docker v2 schema 2 manifests
    V2s2,
}

/// The compressions `push --compression-format` offers for layers stored uncompressed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompressionFormat {
    /// Read by every registry and runtime
    Gzip,
    /// Smaller and quicker to decompress; needs OCI manifests (not with --format v2s2)
    Zstd,
}

/// Arguments of `manifest push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// List name or ID
    pub list: String,
    /// Destination: docker://REG/REPO[:TAG], REG/REPO[:TAG], oci:DIR[:REF], oci-archive:FILE[:REF]
    /// [default: docker:// + the list's name]
    pub destination: Option<String>,
    /// Push every referenced image before the index (--all=false pushes the index only)
    #[arg(long, default_value_t = true)]
    pub all: bool,
    /// Delete the local list after a successful push, if it is still as it was pushed (a list
    /// changed meanwhile is kept, with a warning); --purge and -p (podman) are the same
    #[arg(long, alias = "purge", short_alias = 'p')]
    pub rm: bool,
    /// Accepted for compatibility: nothing is signed (--referrers copies existing signatures)
    #[arg(long)]
    pub remove_signatures: bool,
    /// Refused: signing is not supported
    #[arg(long, value_name = "FINGERPRINT")]
    pub sign_by: Option<String>,
    /// Refused: signature policies are not supported
    #[arg(long, value_name = "PATH", hide = true)]
    pub signature_policy: Option<PathBuf>,
    /// What is pushed and how: tags, platforms, format, compression, progress.
    #[command(flatten)]
    pub copy: CopyFlags,
    /// How registries are reached: the destination's, and those the images are read from.
    #[command(flatten)]
    pub registry: RegistryFlags,
}

/// How a list is pushed: shared by `push` and `apply`.
#[derive(Debug, Args)]
pub struct CopyFlags {
    /// Also write the index to this tag of the destination's repository, or to a reference in
    /// it (repeatable); every tag is written last, after every image is there
    #[arg(long, short = 't', value_name = "TAG")]
    pub tag: Vec<String>,
    /// Push only the images of these platforms, with their attestations (OS/ARCH[/VARIANT],
    /// comma-separated or repeated); the list itself is not changed
    #[arg(long, value_name = "PLATFORMS", help_heading = help::PLATFORM)]
    pub platform: Vec<String>,
    /// Refuse the push, before anything is written, unless each of these platforms has exactly
    /// one image (OS/ARCH[/VARIANT], comma-separated or repeated; attestations do not count)
    #[arg(long, value_name = "PLATFORMS", help_heading = help::PLATFORM)]
    pub require_platform: Vec<String>,
    /// Also copy each image's referrers (signatures, SBOMs, attestations) through the referrers
    /// API, or the sha256-<hex> tag where a registry has no such API
    #[arg(long)]
    pub referrers: bool,
    /// Write nothing: print what would be pushed (per image skip or copy, per blob already
    /// there, mount or copy with its size), the index and its digest
    #[arg(long)]
    pub dry_run: bool,
    /// Order the entries by platform (os, architecture, variant, os.version, then digest), each
    /// attestation after its image, so the same images always give the same index digest
    #[arg(long)]
    pub sort: bool,
    /// After the index is written, check that the destination holds every manifest and blob
    /// it names (as `manifest verify` does); exit 1 when it does not
    #[arg(long)]
    pub verify: bool,
    /// How many blobs to transfer at once
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// Convert the list and its images to this format; refused when it would lose data
    #[arg(long, help_heading = help::FORMAT, short = 'f', value_enum)]
    pub format: Option<PushFormat>,
    /// With --format: drop what the format cannot hold (annotations, subject, artifactType,
    /// features), naming every dropped field on stderr, instead of refusing the push
    #[arg(long, help_heading = help::FORMAT, requires = "format")]
    pub allow_lossy: bool,
    /// Compression of layers read from containers-storage (which keeps them uncompressed); other
    /// layers are pushed as they are
    #[arg(long, help_heading = help::FORMAT, value_enum, value_name = "FORMAT", default_value = "gzip")]
    pub compression_format: CompressionFormat,
    /// Compression level (gzip 0-9, default 6; zstd 1-22, default 3)
    #[arg(long, help_heading = help::FORMAT, value_name = "N")]
    pub compression_level: Option<i32>,
    /// Also push, beside each image, a variant whose layers use this compression (repeatable
    /// or comma-separated), as podman does: same platform, after the originals, zstd ones
    /// annotated io.github.containers.compression.zstd=true; none for a platform that already
    /// has one. zstd:chunked is written as plain zstd (no chunked table of contents)
    #[arg(long, help_heading = help::FORMAT, value_enum, value_name = "FORMAT", value_delimiter = ',')]
    pub add_compression: Vec<AddCompression>,
    /// Write the result as JSON to this file (schemas/push-metadata.json): the index digest,
    /// the tags written, each image's digest and platform, the bytes copied, mounted, skipped
    #[arg(long, value_name = "FILE", help_heading = help::OUTPUT)]
    pub metadata_file: Option<PathBuf>,
    /// Write the pushed list's digest to this file after the push succeeded
    #[arg(long, value_name = "FILE", help_heading = help::OUTPUT)]
    pub digestfile: Option<PathBuf>,
    /// Print no progress
    #[arg(long, short = 'q', help_heading = help::OUTPUT)]
    pub quiet: bool,
}

/// Arguments of `manifest apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A spec file (YAML or JSON): image (the destination), tags, manifests (each an image
    /// with an optional platform and annotations) and annotations of the index; manifest-tool's
    /// format works as it is
    pub file: PathBuf,
    /// What is pushed and how: tags, platforms, format, compression, progress.
    #[command(flatten)]
    pub copy: CopyFlags,
    /// How the destination registry and the spec's images are reached.
    #[command(flatten)]
    pub registry: RegistryFlags,
}

/// Output formats of `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerifyFormat {
    /// One line per problem, then a summary (the default)
    Text,
    /// One document: `ok`, `problems` (kind, digest, platform, detail), what was checked
    Json,
}

/// Arguments of `manifest verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A local list (name or ID), or an image: docker://REF, REG/REPO[:TAG|@DIGEST],
    /// oci:DIR[:REF], oci-archive:FILE[:REF], containers-storage:NAME
    pub target: String,
    /// Also read every layer (its digest checked) and check the machine of every executable in
    /// it (ELF, PE, Mach-O headers) against its image's platform
    #[arg(long)]
    pub deep: bool,
    /// Fail unless each of these platforms has exactly one image (OS/ARCH[/VARIANT],
    /// comma-separated or repeated)
    #[arg(long, value_name = "PLATFORMS", help_heading = help::PLATFORM)]
    pub require_platform: Vec<String>,
    /// Fail for each image without a referrer of this artifact type (a signature, an SBOM);
    /// repeatable
    #[arg(long, value_name = "ARTIFACT_TYPE")]
    pub require_referrer: Vec<String>,
    /// text: one line per problem and a summary; json: one document for scripts
    /// (schemas/verify.json)
    #[arg(long, value_enum, default_value = "text", help_heading = help::OUTPUT)]
    pub format: VerifyFormat,
    /// How many requests (and layers, with --deep) at once
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// Print no progress
    #[arg(long, short = 'q', help_heading = help::OUTPUT)]
    pub quiet: bool,
    /// How registries are reached.
    #[command(flatten)]
    pub registry: RegistryFlags,
}
