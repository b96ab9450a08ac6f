//! The command line: clap types, help texts and examples. No I/O happens here.

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "manifest",
    version,
    about = "Create, annotate, inspect and push multi-architecture manifest lists",
    long_about = "Create, annotate, inspect and push multi-architecture manifest lists (OCI image \
indexes and Docker manifest lists), a standalone twin of `sealos manifest` / `buildah manifest`.\n\n\
Lists live in a local store; `push` copies the list and every image it references to a registry \
or an OCI layout, children first and the index last.",
    after_help = "Example:\n  manifest create myapp\n  manifest add myapp docker://registry.example/app:amd64\n  \
manifest add myapp oci:./arm64-layout\n  manifest annotate myapp sha256:… --variant v8\n  \
manifest push myapp docker://registry.example/app:v1"
)]
pub struct Cli {
    /// Directory of the local list store [default: ~/.local/share/manifest]
    #[arg(long, global = true, env = "MANIFEST_STORE", value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// Log every registry request to stderr (credentials are never logged)
    #[arg(long, global = true)]
    pub debug: bool,

    #[command(flatten)]
    pub storage: StorageFlags,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a manifest list, optionally adding images to it; prints the list ID
    #[command(after_help = "Example:\n  manifest create myapp\n  \
manifest create --all myapp docker://127.0.0.1:5000/app:v1")]
    Create(CreateArgs),
    /// Add an image (or every image of an index, with --all) to a list; prints `<id>: <digest>`
    #[command(
        after_help = "Example:\n  manifest add myapp docker://127.0.0.1:5000/app:arm64\n  \
manifest add --arch arm64 --variant v8 myapp oci:./layout:arm64\n  \
manifest add --all myapp docker://127.0.0.1:5000/base:latest"
    )]
    Add(AddArgs),
    /// Set platform fields or annotations on an entry (or the index itself, with --index)
    #[command(
        after_help = "Example:\n  manifest annotate --variant v8 --annotation org.example.flavor=arm64 myapp sha256:c96d…\n  \
manifest annotate --index --annotation org.opencontainers.image.source=https://example.org myapp"
    )]
    Annotate(AnnotateArgs),
    /// Print a local list as it will be pushed, or a remote/layout image's manifest
    #[command(after_help = "Example:\n  manifest inspect myapp\n  \
manifest inspect --raw docker://127.0.0.1:5000/app:v1")]
    Inspect(InspectArgs),
    /// Push a list, and by default every image it references, to a registry or an OCI layout
    #[command(
        after_help = "Example:\n  manifest push myapp docker://127.0.0.1:5000/app:v1\n  \
manifest push --format v2s2 --digestfile digest.txt myapp 127.0.0.1:5000/app:v1\n  \
manifest push myapp oci:./out:v1"
    )]
    Push(PushArgs),
    /// Remove an entry from a list; prints `<id>: <digest>`
    #[command(after_help = "Example:\n  manifest remove myapp sha256:c96d…")]
    Remove(RemoveArgs),
    /// Delete lists (never the images they refer to)
    #[command(after_help = "Example:\n  manifest rm myapp otherlist")]
    Rm(RmArgs),
    /// Exit 0 if the list exists, 1 if it does not
    #[command(after_help = "Example:\n  manifest exists myapp && echo present")]
    Exists(ExistsArgs),
}

/// Which containers-storage store `containers-storage:` images and local names are read from
/// (as buildah and sealos spell the flags); a reference's `[DRIVER@ROOT+RUNROOT:OPTS]` part wins,
/// and storage.conf decides what none of them says.
#[derive(Debug, Clone, Args)]
pub struct StorageFlags {
    /// containers-storage graph root [default: storage.conf, else /var/lib/containers/storage
    /// for root, ~/.local/share/containers/storage otherwise]
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// containers-storage run root [default: storage.conf, else /run/containers/storage]
    #[arg(long, global = true, value_name = "DIR")]
    pub runroot: Option<PathBuf>,
    /// containers-storage driver: overlay or vfs [env: STORAGE_DRIVER] [default: storage.conf,
    /// else the one the store uses]
    #[arg(long, global = true, value_name = "DRIVER")]
    pub storage_driver: Option<String>,
    /// containers-storage driver option (repeatable) [env: STORAGE_OPTS]
    #[arg(long, global = true, value_name = "OPTION")]
    pub storage_opt: Vec<String>,
}

/// Flags shared by every command that talks to a registry.
#[derive(Debug, Clone, Args)]
pub struct RegistryFlags {
    /// Path of an auth file (containers auth.json or docker config.json) [env: REGISTRY_AUTH_FILE]
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
    /// Credentials USER:PASSWORD for the registry
    #[arg(long, value_name = "USER[:PASS]")]
    pub creds: Option<String>,
    /// Directory of CA certificates (*.crt); a directory with client certificates (*.cert +
    /// *.key) is refused: they are not supported yet
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Require HTTPS with a verified certificate; false allows unverified HTTPS, then plain HTTP
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
    /// How many times a failed request is retried (5xx, 429, dropped connections)
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retry: u32,
    /// Delay before the first retry, doubled after each one (e.g. 500ms, 2s) [default: 200ms]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub retry_delay: Option<std::time::Duration>,
}

/// Parses `500ms`, `2s`, `1m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?} (use e.g. 500ms, 2s, 1m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {text:?} (use ms, s or m)"
            ))
        }
    };
    if !(0.0..=3600.0).contains(&seconds) {
        return Err(format!("duration {text:?} is out of range (0 to 1h)"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// Platform and annotation fields of an entry.
#[derive(Debug, Clone, Args)]
pub struct EntryFlags {
    /// Operating system of the entry (e.g. linux)
    #[arg(long)]
    pub os: Option<String>,
    /// Architecture of the entry (e.g. amd64, arm64)
    #[arg(long)]
    pub arch: Option<String>,
    /// Architecture variant (e.g. v7, v8)
    #[arg(long)]
    pub variant: Option<String>,
    /// Operating system version (e.g. 10.0.17763.1879 for Windows)
    #[arg(long)]
    pub os_version: Option<String>,
    /// Required OS features (repeatable or comma-separated)
    #[arg(long, value_name = "FEATURE")]
    pub os_features: Vec<String>,
    /// Required CPU features (repeatable or comma-separated; Docker lists only)
    #[arg(long, value_name = "FEATURE")]
    pub features: Vec<String>,
    /// Annotation KEY=VALUE (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Name of the new list (e.g. myapp → localhost/myapp:latest)
    pub list: String,
    /// Images to add right away; a bare name that names a local image (containers-storage)
    /// means that image, else the registry's
    pub images: Vec<String>,
    /// An image that is an index contributes all of its entries
    #[arg(long)]
    pub all: bool,
    /// If the list exists, add to it instead of failing
    #[arg(long)]
    pub amend: bool,
    /// Annotation KEY=VALUE on the index itself (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// Operating system to pick from an index image (without --all)
    #[arg(long)]
    pub os: Option<String>,
    /// Architecture to pick from an index image (without --all)
    #[arg(long)]
    pub arch: Option<String>,
    /// Variant to pick from an index image (without --all)
    #[arg(long)]
    pub variant: Option<String>,
    #[command(flatten)]
    pub registry: RegistryFlags,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// List name or ID
    pub list: String,
    /// Image to add: docker://REF, REG/REPO[:TAG|@DIGEST], oci:DIR[:REF], oci-archive:FILE[:REF],
    /// containers-storage:NAME; a bare name is tried at the registry, then as a local image
    pub image: String,
    /// The image is an index: add every entry with its platform
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub entry: EntryFlags,
    #[command(flatten)]
    pub registry: RegistryFlags,
}

#[derive(Debug, Args)]
pub struct AnnotateArgs {
    /// List name or ID
    pub list: String,
    /// Entry digest (or an image reference whose digest is in the list); omitted with --index
    pub instance: Option<String>,
    /// Apply --annotation to the index itself
    #[arg(long)]
    pub index: bool,
    /// Set the index's subject to this image's descriptor (implies --index)
    #[arg(long, value_name = "IMAGE")]
    pub subject: Option<String>,
    #[command(flatten)]
    pub entry: EntryFlags,
    #[command(flatten)]
    pub registry: RegistryFlags,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A local list (name or ID), or an image reference
    pub target: String,
    /// Print the exact bytes instead of re-indenting
    #[arg(long)]
    pub raw: bool,
    #[command(flatten)]
    pub registry: RegistryFlags,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PushFormat {
    /// OCI image index and OCI image manifests
    Oci,
    /// Docker manifest list and Docker v2 schema 2 manifests
    V2s2,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompressionFormat {
    Gzip,
    Zstd,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// List name or ID
    pub list: String,
    /// Destination: docker://REG/REPO[:TAG], REG/REPO[:TAG], oci:DIR[:REF], oci-archive:FILE[:REF]
    /// [default: docker:// + the list's name]
    pub destination: Option<String>,
    /// Push every referenced image before the index (--all=false pushes the index only)
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub all: bool,
    /// Convert the list and its images to this format; refused when it would lose data
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<PushFormat>,
    /// Write the pushed list's digest to this file after the push succeeded
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
    /// Delete the local list after a successful push
    #[arg(long)]
    pub rm: bool,
    /// Print no progress
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// How many blobs to transfer at once
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// Compression of layers read from containers-storage (which keeps them uncompressed); other
    /// layers are pushed as they are
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "gzip")]
    pub compression_format: CompressionFormat,
    /// Compression level (gzip 0-9, default 6; zstd 1-22, default 3)
    #[arg(long, value_name = "N")]
    pub compression_level: Option<i32>,
    #[command(flatten)]
    pub registry: RegistryFlags,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// List name or ID
    pub list: String,
    /// Digest of the entry to remove
    pub digest: String,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// List names or IDs
    #[arg(required = true)]
    pub lists: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExistsArgs {
    /// List name or ID
    pub list: String,
}
