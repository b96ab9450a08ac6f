//! Per-registry configuration as podman and buildah users already have it: registries.conf
//! (which registry is insecure, blocked, remapped or mirrored, and what short names mean),
//! certs.d directories, storage.conf, and credentials (auth files, docker's config.json and its
//! helpers).
//!
//! Everything here is data and its lookup: nothing opens a network connection or verifies a
//! peer. The registry layer asks [`registries::RegistriesConf`] where to send a request,
//! [`certs`] what a host's certs.d holds (the TLS verification built from it is
//! `crate::transport::tls`) and [`auth`] which credentials to offer.

mod aliases;
pub mod auth;
pub mod certs;
pub(crate) mod endpoints;
mod entries;
mod parse;
pub mod registries;
pub(crate) mod short_names;
pub mod sources;
pub mod storage;

use crate::model::reference::ReferenceError;
use std::path::PathBuf;

/// Why registries.conf could not be read, or refuses what was asked of it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A configuration file that had to be read could not be.
    #[error("cannot read registries configuration {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration file or drop-in directory that is not what it must be (a regular file
    /// within its cap, a directory within its entry limit), or cannot be read.
    #[error("cannot read registries configuration")]
    File {
        /// The file or directory.
        path: PathBuf,
        /// Which rule it breaks, or the operating system's error.
        #[source]
        source: crate::boundary::fsutil::FileError,
    },
    /// More drop-in files than are read.
    #[error(
        "the registries.conf drop-in directories hold {count} *.conf files, more than the {limit}          that are read ({})",
        dirs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    TooManyDropIns {
        /// How many there are.
        count: usize,
        /// The most that are read.
        limit: usize,
        /// The directories.
        dirs: Vec<PathBuf>,
    },
    /// The file is not TOML (the message has the line and column; long lines are cut).
    #[error("{} is not valid TOML: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message.
        message: String,
    },
    /// The file is TOML but breaks a rule of containers-registries.conf(5).
    #[error("invalid registries configuration {}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Which rule it breaks.
        reason: String,
    },
    /// The image's registry is `blocked = true`, and no mirror that is not blocked serves it.
    #[error("registry {prefix} is blocked (blocked = true in {})", origin.display())]
    Blocked {
        /// The `prefix` of the matching `[[registry]]` table.
        prefix: String,
        /// The file that table is in.
        origin: PathBuf,
    },
    /// `location` remapping produced something that is not an image reference.
    #[error(
        "{reference} is remapped by {} to {rewritten:?}, which is not a valid image reference: {reason}",
        origin.display()
    )]
    BadRewrite {
        /// The image as named.
        reference: String,
        /// What the `location` rewrite made of it.
        rewritten: String,
        /// The file of the `[[registry]]` table that rewrote it.
        origin: PathBuf,
        /// Why the result is not a reference.
        reason: String,
    },
    /// The name (or a candidate built from it) is not a valid image reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A short name with no alias and no unqualified-search registries to complete it.
    #[error(
        "short name {name:?} did not resolve to an alias and no unqualified-search-registries are \
         defined in {}; use a fully qualified name (HOST/REPOSITORY[:TAG])",
        origins.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoSearchRegistries {
        /// The short name, as given.
        name: String,
        /// Every file that was read, none of which defines a search registry.
        origins: Vec<PathBuf>,
    },
    /// A short name that several unqualified-search registries could complete.
    #[error(
        "short name {name:?} is ambiguous: the unqualified-search-registries of {} give {} \
         candidates ({}); use a fully qualified name such as {:?}, or define an alias for it \
         in [aliases]",
        origin.display(),
        candidates.len(),
        candidates.join(", "),
        candidates.first().map(String::as_str).unwrap_or_default()
    )]
    AmbiguousShortName {
        /// The short name, as given.
        name: String,
        /// Every candidate, in the order of `unqualified-search-registries`.
        candidates: Vec<String>,
        /// The file whose `unqualified-search-registries` were used.
        origin: PathBuf,
    },
}
