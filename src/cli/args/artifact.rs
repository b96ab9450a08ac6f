//! The flags of OCI artifacts and compression variants: `add --artifact` (buildah's and
//! podman's `--artifact-*`) and `push --add-compression` (podman's).

use clap::{Args, ValueEnum};

/// `add --artifact FILE…`: an OCI artifact manifest made from files, with buildah's and
/// podman's flags.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = super::help::ARTIFACT)]
pub struct ArtifactFlags {
    /// Make an OCI artifact of the FILEs (an image manifest with one layer per file, kept in
    /// the store and pushed with the list) and add it, instead of an image
    #[arg(long)]
    pub artifact: bool,
    /// The artifact's artifactType, also recorded on its entry [default:
    /// application/vnd.unknown.artifact.v1]; an empty value sets none
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,
    /// Media type of the artifact's config [default: application/vnd.oci.empty.v1+json, the
    /// empty config `{}`; application/vnd.oci.image.config.v1+json with --artifact-config]
    #[arg(long, value_name = "TYPE")]
    pub artifact_config_type: Option<String>,
    /// A file whose content is the artifact's config (an empty file, or none: the empty
    /// config `{}`)
    // An OsString, not a PathBuf: `--artifact-config=` (empty) must parse, as in podman.
    #[arg(long, value_name = "FILE")]
    pub artifact_config: Option<std::ffi::OsString>,
    /// Media type of every layer [default: guessed per file, as buildah does: from its name's
    /// extension, else from its first 512 bytes; application/octet-stream when nothing matches]
    #[arg(long, value_name = "TYPE")]
    pub artifact_layer_type: Option<String>,
    /// Leave out the org.opencontainers.image.title annotation (the file's name) on each layer
    #[arg(long)]
    pub artifact_exclude_titles: bool,
    /// The image (or artifact) the artifact refers to: its descriptor becomes the artifact's
    /// subject, so that registries list the artifact among that image's referrers
    #[arg(long, value_name = "IMAGE")]
    pub artifact_subject: Option<String>,
    /// Annotation KEY=VALUE on the artifact manifest itself (repeatable; --annotation sets
    /// the list entry's)
    #[arg(long, value_name = "KEY=VALUE")]
    pub artifact_annotation: Vec<String>,
}

/// The compressions `push --add-compression` adds variants in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AddCompression {
    /// gzip layers (for a list of zstd images)
    Gzip,
    /// zstd layers
    Zstd,
    /// podman's zstd:chunked, written as plain zstd
    #[value(name = "zstd:chunked")]
    ZstdChunked,
}
