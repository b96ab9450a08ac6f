//! The clap types: every flag and command of `manifest`, grouped by the commands that take
//! them. No I/O happens here.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

mod artifact;
mod flags;
mod help;
mod lists;
mod push;

pub use artifact::{AddCompression, ArtifactFlags};
pub use flags::{
    parse_duration, EntryFlags, PlatformFlags, RegistryFlags, StorageFlags, WaitFlags,
};
pub use lists::{
    AddArgs, AnnotateArgs, CreateArgs, ExistsArgs, InspectArgs, InspectFormat, PruneArgs,
    RemoveArgs, RmArgs,
};
pub use push::{
    ApplyArgs, CompressionFormat, CopyFlags, PushArgs, PushFormat, VerifyArgs, VerifyFormat,
};

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
