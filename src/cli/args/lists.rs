//! The arguments of the commands that make, change and read lists: create, add, annotate,
//! inspect, remove, rm, exists and prune.

use super::flags::{platform_wording, OverrideAliases};
use super::{help, ArtifactFlags, EntryFlags, PlatformFlags, RegistryFlags};
use clap::{Args, ValueEnum};

/// Arguments of `manifest create`.
#[derive(Debug, Args)]
#[command(mut_args(platform_wording(
    [
        "Operating system to pick from an index image (without --all)",
        "Architecture to pick from an index image (without --all)",
        "Variant to pick from an index image (without --all)",
    ],
    OverrideAliases::Keep
)))]
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
    #[arg(long, short = 'a')]
    pub amend: bool,
    /// If the name is taken, delete that list and start an empty one (not with --amend)
    #[arg(long)]
    pub replace: bool,
    /// Annotation KEY=VALUE on the index itself (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// The index's own artifactType (OCI image-spec 1.1), a media type such as
    /// application/vnd.example.bundle.v1; the list is then an OCI index
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,
    /// The platform to pick from an index image.
    #[command(flatten)]
    pub platform: PlatformFlags,
    /// How registries are reached for the images added.
    #[command(flatten)]
    pub registry: RegistryFlags,
}

/// Arguments of `manifest add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// List name or ID
    pub list: String,
    /// Image to add: docker://REF, REG/REPO[:TAG|@DIGEST], oci:DIR[:REF], oci-archive:FILE[:REF],
    /// containers-storage:NAME; a bare name is tried at the registry, then as a local image.
    /// With --artifact: the files (one or more) the artifact is made of
    #[arg(value_name = "IMAGE_OR_FILE", required = true)]
    pub images: Vec<String>,
    /// The image is an index: add every entry with its platform
    #[arg(long)]
    pub all: bool,
    /// Add only the entries of these platforms, with their attestations (OS/ARCH[/VARIANT],
    /// comma-separated or repeated); a single image must be one of them
    #[arg(long, value_name = "PLATFORMS", conflicts_with_all = ["os", "arch", "variant"],
          help_heading = help::PLATFORM)]
    pub platform: Vec<String>,
    /// The platform fields and annotations to record on the entry.
    #[command(flatten)]
    pub entry: EntryFlags,
    /// The artifact to make from files (`--artifact` and its `--artifact-*` flags).
    #[command(flatten)]
    pub artifact: ArtifactFlags,
    /// How registries are reached for the image.
    #[command(flatten)]
    pub registry: RegistryFlags,
}

/// Arguments of `manifest annotate`.
#[derive(Debug, Args)]
pub struct AnnotateArgs {
    /// List name or ID
    pub list: String,
    /// An entry's digest or a unique prefix of it (looked up in the list, never on the network),
    /// or an image reference with its registry or transport; omitted with --index or --platform
    pub instance: Option<String>,
    /// Annotate the one image of this platform (OS/ARCH[/VARIANT]) instead of naming INSTANCE
    #[arg(long, value_name = "PLATFORM", conflicts_with_all = ["instance", "index", "subject"],
          help_heading = help::PLATFORM)]
    pub platform: Option<String>,
    /// Apply --annotation to the index itself
    #[arg(long)]
    pub index: bool,
    /// Set the index's subject to this image's descriptor (implies --index)
    #[arg(long, value_name = "IMAGE")]
    pub subject: Option<String>,
    /// Set the entry's artifactType (with --index: the index's), a media type such as
    /// application/vnd.example.sbom.v1+json; an empty value removes it
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,
    /// The platform fields and annotations to set on the entry.
    #[command(flatten)]
    pub entry: EntryFlags,
    /// How registries are reached for `--subject` or an image INSTANCE.
    #[command(flatten)]
    pub registry: RegistryFlags,
}

/// Arguments of `manifest inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A local list (name or ID), or an image reference
    pub target: String,
    /// Print the exact bytes instead of re-indenting. They are written as they are, control
    /// characters included (that is what makes them exact); without --raw, every control
    /// character in a string is printed as a JSON escape
    #[arg(long, help_heading = help::OUTPUT)]
    pub raw: bool,
    /// Accepted for podman and docker compatibility; changes nothing
    #[arg(long, short = 'v', hide = true)]
    pub verbose: bool,
    /// json: the document (the default); table: one row per entry for people
    #[arg(long, value_enum, default_value = "json", conflicts_with = "raw", help_heading = help::OUTPUT)]
    pub format: InspectFormat,
    /// How registries are reached when the target is an image reference.
    #[command(flatten)]
    pub registry: RegistryFlags,
}

/// Output formats of `inspect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InspectFormat {
    /// The document, indented (the default)
    Json,
    /// One row per entry: platform, digest, media type, size, annotations
    Table,
}

/// Arguments of `manifest remove`.
#[derive(Debug, Args)]
#[command(mut_args(platform_wording(
    [
        "Remove the images of this operating system (with --arch/--variant: of that platform)",
        "Remove the images of this architecture",
        "Remove the images of this variant",
    ],
    OverrideAliases::Drop
)))]
pub struct RemoveArgs {
    /// List name or ID
    pub list: String,
    /// The entry's digest, or a unique prefix of it (`0907f27d`, `sha256:0907f27d`); or
    /// --platform / --os / --arch / --variant instead
    #[arg(required_unless_present_any = ["platform", "os", "arch", "variant"],
          conflicts_with_all = ["platform", "os", "arch", "variant"])]
    pub digest: Option<String>,
    /// Remove the images of these platforms, with their attestations (OS/ARCH[/VARIANT],
    /// comma-separated or repeated)
    #[arg(long, value_name = "PLATFORMS", conflicts_with_all = ["os", "arch", "variant"],
          help_heading = help::PLATFORM)]
    pub platform: Vec<String>,
    /// The platform whose images are removed, field by field.
    #[command(flatten)]
    pub by_platform: PlatformFlags,
}

/// Arguments of `manifest rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// List names or IDs
    #[arg(required = true)]
    pub lists: Vec<String>,
    /// Say nothing about names that are not lists
    #[arg(long, short = 'i')]
    pub ignore: bool,
}

/// Arguments of `manifest exists`.
#[derive(Debug, Args)]
pub struct ExistsArgs {
    /// List name or ID
    pub list: String,
}

/// Arguments of `manifest prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Print what would be removed, and remove nothing
    #[arg(long)]
    pub dry_run: bool,
}
