//! The command line and what people see: the clap types, help texts and examples (no I/O
//! happens in them), Go-style booleans ([`go_flags`]), progress on stderr ([`progress`]),
//! `inspect --format table` ([`table`]), man pages and completions ([`manpages`]), and the
//! password of `--creds` hidden from `ps` ([`process_title`]).

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

/// The command line as parsed: clap's derive, with every boolean flag made Go-style
/// (`crate::cli::go_flags`). Use this (or [`try_parse_from`]), never `Cli::parse`.
pub fn command() -> clap::Command {
    crate::cli::go_flags::go_style_booleans(Cli::command())
}

/// Parses the process's arguments; prints help or the usage error and exits on failure.
pub fn parse() -> Cli {
    try_parse_from(std::env::args_os()).unwrap_or_else(|error| error.exit())
}

/// Parses `args` (the first one is the program name).
pub fn try_parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut command = command();
    command.build();
    if let Some(spaced) = crate::cli::go_flags::spaced_boolean_value(&command, &args) {
        let message = format!(
            "`{}`: a boolean flag takes its value after `=`, so the next word would be read as \
             an argument; did you mean {}?",
            spaced.written, spaced.meant
        );
        let given_to = match &spaced.subcommand {
            Some(name) => command.find_subcommand_mut(name),
            None => None,
        };
        let error = match given_to {
            Some(sub) => sub.error(clap::error::ErrorKind::InvalidValue, message),
            None => command.error(clap::error::ErrorKind::InvalidValue, message),
        };
        return Err(error);
    }
    let mut matches = command.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches_mut(&mut matches).map_err(|error| error.format(&mut command))
}

/// Every flag and command of `manifest`, as clap parses them.
#[derive(Debug, Parser)]
#[command(
    name = "manifest",
    version,
    about = "Create, annotate, inspect and push multi-architecture manifest lists",
    long_about = "Create, annotate, inspect and push multi-architecture manifest lists (OCI image \
indexes and Docker manifest lists), a standalone twin of `sealos manifest` / `buildah manifest`.\n\n\
Lists live in a local store; `push` copies the list and every image it references to a registry \
or an OCI layout, children first and the index last.",
    after_help = help::MANIFEST
)]
pub struct Cli {
    // Global options come after a command's own in its help, in the order declared here.
    /// Where containers-storage images are read from (`--root`, `--runroot`, `--storage-*`).
    #[command(flatten)]
    pub storage: StorageFlags,

    /// Directory of the local list store [env: MANIFEST_STORE] [default: ~/.local/share/manifest]
    // Read from the environment by main, not by clap: clap's usage lines list every argument
    // that came from the environment, which made `--store` look required.
    #[arg(long, global = true, value_name = "DIR", help_heading = help::GLOBAL)]
    pub store: Option<PathBuf>,

    /// Log every registry request to stderr (credentials are never logged)
    #[arg(long, global = true, help_heading = help::GLOBAL)]
    pub debug: bool,

    /// How long locks held by other processes and helper processes are waited for.
    #[command(flatten)]
    pub waits: WaitFlags,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands, one variant each with its own arguments.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a manifest list, optionally adding images to it; prints the list ID
    #[command(after_help = help::CREATE)]
    Create(CreateArgs),
    /// Add an image (or every image of an index, with --all) to a list; prints `<id>: <digest>`
    #[command(after_help = help::ADD)]
    Add(AddArgs),
    /// Set platform fields or annotations on an entry (or the index itself, with --index)
    #[command(after_help = help::ANNOTATE)]
    Annotate(AnnotateArgs),
    /// Print a local list as it will be pushed, or a remote/layout image's manifest
    #[command(after_help = help::INSPECT)]
    Inspect(InspectArgs),
    /// Push a list, and by default every image it references, to a registry or an OCI layout
    #[command(after_help = help::PUSH)]
    Push(PushArgs),
    /// Remove an entry from a list; prints `<id>: <digest>`
    #[command(after_help = help::REMOVE)]
    Remove(RemoveArgs),
    /// Delete lists (never the images they refer to)
    #[command(after_help = help::RM)]
    Rm(RmArgs),
    /// Exit 0 if the list exists, 1 if it does not
    #[command(after_help = help::EXISTS)]
    Exists(ExistsArgs),
    /// Remove the cached manifests and configs no list uses (what `rm` and `remove` leave)
    #[command(after_help = help::PRUNE)]
    Prune(PruneArgs),
    /// Build a list from a spec file (YAML or JSON, manifest-tool's format) and push it
    #[command(after_help = help::APPLY)]
    Apply(ApplyArgs),
    /// Check that a list or a published image is complete and right; exit 1 when it is not
    #[command(after_help = help::VERIFY)]
    Verify(VerifyArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(after_help = help::COMPLETION)]
    Completion(CompletionArgs),
    /// Write a man page for manifest and each of its commands into a directory
    #[command(after_help = help::MAN)]
    Man(ManArgs),
}

/// Which containers-storage store `containers-storage:` images and local names are read from
/// (as buildah and sealos spell the flags); a reference's `[DRIVER@ROOT+RUNROOT:OPTS]` part wins,
/// and storage.conf decides what none of them says.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = help::STORAGE)]
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

/// How long the tool waits for other processes: a lock another process holds (containers-storage,
/// the store, a layout), a credential helper.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = help::GLOBAL)]
pub struct WaitFlags {
    /// How long to wait for a lock another process holds (containers-storage's locks, the
    /// store's, a layout's); a line on stderr after a second says which [default: 5m]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: Option<std::time::Duration>,
    /// How long a credential helper (docker-credential-*) may run before it is killed
    /// [default: 60s]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub helper_timeout: Option<std::time::Duration>,
}

impl WaitFlags {
    /// Makes the given limits the process's own (they apply to every wait of the command).
    pub fn install(&self) {
        if let Some(limit) = self.lock_timeout {
            crate::boundary::fsutil::wait::set_limit(limit);
        }
        if let Some(limit) = self.helper_timeout {
            crate::boundary::helper::set_timeout(limit);
        }
    }
}

/// Flags shared by every command that talks to a registry.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = help::REGISTRY)]
pub struct RegistryFlags {
    /// Path of an auth file (containers auth.json or docker config.json) [env: REGISTRY_AUTH_FILE]
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
    /// Credentials USER:PASSWORD for the registry
    #[arg(long, value_name = "USER[:PASS]")]
    pub creds: Option<String>,
    /// certs.d directory for every registry of the command: CA certificates (*.crt) and client
    /// certificates (*.cert + *.key) [default: the registry's own certs.d directory]
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// registries.conf to read instead of the default ones (containers-registries.conf(5):
    /// per-registry insecure, blocked, location, mirrors, short-name aliases)
    /// [env: CONTAINERS_REGISTRIES_CONF]
    #[arg(long, value_name = "FILE")]
    pub registries_conf: Option<PathBuf>,
    /// Require HTTPS with a verified certificate for every registry of the command; false
    /// allows unverified HTTPS, then plain HTTP [default: true]
    #[arg(long)]
    pub tls_verify: Option<bool>,
    /// The same as --tls-verify=false (sealos and buildah spelling); not together with --tls-verify
    #[arg(long, hide = true)]
    pub insecure: Option<bool>,
    /// How many times a failed request is retried (5xx, 429, dropped connections, refused
    /// connections to a registry that answered earlier in the command; a timeout or stall at
    /// most once; a first refused connection or an unknown host name never)
    #[arg(long, help_heading = help::LIMITS, value_name = "N", default_value_t = 3)]
    pub retry: u32,
    /// Delay before the first retry, doubled after each one (e.g. 500ms, 2s) [default: 1s]
    #[arg(long, help_heading = help::LIMITS, value_name = "DURATION", value_parser = parse_duration)]
    pub retry_delay: Option<std::time::Duration>,
    /// Longest wait for a connection (TCP and TLS handshake) to a registry [default: 10s]
    #[arg(long, help_heading = help::LIMITS, value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<std::time::Duration>,
    /// Longest wait for a registry to start answering a request (after an upload's last byte,
    /// one more second per 50 MiB sent) [default: 30s]
    #[arg(long, help_heading = help::LIMITS, value_name = "DURATION", value_parser = parse_duration)]
    pub response_timeout: Option<std::time::Duration>,
    /// Blobs larger than this many MiB are uploaded in chunks of this size, so that a broken
    /// connection costs at most one chunk again [default: 128]
    #[arg(long, help_heading = help::LIMITS, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub upload_chunk_size: Option<u64>,
    /// A transfer slower than 1 KiB/s for this long is abandoned and retried once
    /// [default: 30s]
    #[arg(long, help_heading = help::LIMITS, value_name = "DURATION", value_parser = parse_duration)]
    pub stall_timeout: Option<std::time::Duration>,
}

/// The longest duration a flag takes: a limit past an hour is a typo, not a wish.
const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(3600);

/// Parses a duration flag: a bare number of seconds (`2`, `0.5`), or Go-style units as
/// humantime reads them (`500ms`, `2s`, `1m30s`, `1h`); 0 to 1h.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let is_bare_number = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let duration = if is_bare_number {
        let seconds: f64 = text
            .parse()
            .map_err(|_| format!("invalid duration {text:?} (use e.g. 500ms, 2s, 1m30s)"))?;
        std::time::Duration::try_from_secs_f64(seconds).unwrap_or(std::time::Duration::MAX)
    } else {
        humantime::parse_duration(text)
            .map_err(|e| format!("invalid duration {text:?}: {e} (use e.g. 500ms, 2s, 1m30s)"))?
    };
    if duration > MAX_DURATION {
        return Err(format!("duration {text:?} is out of range (0 to 1h)"));
    }
    Ok(duration)
}

/// `--os`, `--arch`, `--variant`: a platform field by field, for every command that picks or
/// sets one (`create` and `add` pick from an index, `add` and `annotate` set an entry's,
/// `remove` removes by it). A command words the help for what it does with them.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = help::PLATFORM)]
pub struct PlatformFlags {
    /// Operating system of the entry (e.g. linux)
    #[arg(long, alias = "override-os")]
    pub os: Option<String>,
    /// Architecture of the entry (e.g. amd64, arm64)
    #[arg(long, alias = "override-arch")]
    pub arch: Option<String>,
    /// Architecture variant (e.g. v7, v8)
    #[arg(long)]
    pub variant: Option<String>,
}

/// Whether a command that flattens [`PlatformFlags`] accepts `--override-os`/`--override-arch`.
enum OverrideAliases {
    Keep,
    Drop,
}

/// Rewords the [`PlatformFlags`] a command flattens for what it does with the platform: the
/// help of `--os`, `--arch` and `--variant`, in place (completions keep the declared order).
fn platform_wording(
    help: [&'static str; 3],
    aliases: OverrideAliases,
) -> impl FnMut(clap::Arg) -> clap::Arg {
    move |arg| {
        let at = match arg.get_id().as_str() {
            "os" => 0,
            "arch" => 1,
            "variant" => 2,
            _ => return arg,
        };
        let arg = arg.help(help[at]);
        match aliases {
            OverrideAliases::Keep => arg,
            OverrideAliases::Drop => arg.alias(None),
        }
    }
}

/// Platform and annotation fields of an entry.
#[derive(Debug, Clone, Args)]
pub struct EntryFlags {
    // First: the command's own heading, before the platform flags set theirs.
    /// Annotation KEY=VALUE (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// The entry's platform (and, for `add`, the one to pick from an index).
    #[command(flatten)]
    pub platform: PlatformFlags,
    /// Operating system version (e.g. 10.0.17763.1879 for Windows)
    #[arg(long, help_heading = help::PLATFORM)]
    pub os_version: Option<String>,
    /// Required OS features (repeatable or comma-separated)
    #[arg(long, value_name = "FEATURE", help_heading = help::PLATFORM)]
    pub os_features: Vec<String>,
    /// Required CPU features (repeatable or comma-separated; Docker lists only)
    #[arg(long, value_name = "FEATURE", help_heading = help::PLATFORM)]
    pub features: Vec<String>,
}

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

/// Shells `manifest completion` writes a script for.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// bash, zsh, fish, elvish or powershell
    pub shell: clap_complete::Shell,
}

/// Arguments of `manifest man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the man pages to (manifest.1, manifest-push.1, …); created if missing
    pub dir: PathBuf,
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

mod artifact;
pub use artifact::{AddCompression, ArtifactFlags};
pub(crate) mod go_flags;
mod help;
pub mod manpages;
pub mod process_title;
pub mod progress;
pub mod table;

#[cfg(test)]
mod tests;
