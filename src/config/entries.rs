//! The entries of registries.conf as they are kept once a file has passed its checks: a
//! `[[registry]]` table, its mirrors, `short-name-mode` and an `[aliases]` entry. Data only;
//! [`super::parse`] makes them from one file and [`super::registries`] merges the files.

use crate::model::reference::RegistryRef;
use std::path::PathBuf;

/// One `[[registry]]` table, checked, with `prefix` filled in from `location` when absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// What image names it applies to: `host[:port][/path]`, or `*.example.com`.
    pub prefix: String,
    /// Where those images really are; empty only with a wildcard prefix (no remapping).
    pub location: String,
    /// Plain HTTP, or HTTPS without certificate verification, is allowed.
    pub insecure: bool,
    /// Reading from (and writing to) this registry is refused.
    pub blocked: bool,
    /// Mirrors are used for digest references only (the older, registry-wide switch).
    pub mirror_by_digest_only: bool,
    /// Tried in order before `location` when reading.
    pub mirrors: Vec<Mirror>,
    /// The file that defined this table, for messages.
    pub origin: PathBuf,
}

/// One `[[registry.mirror]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// `host[:port][/path]` replacing the registry's prefix.
    pub location: String,
    /// As [`Registry::insecure`], for this mirror.
    pub insecure: bool,
    /// Which references this mirror serves.
    pub pull_from_mirror: PullFromMirror,
}

/// `pull-from-mirror`: which references a mirror is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullFromMirror {
    /// `all` (or unset): tag and digest references.
    #[default]
    All,
    /// `digest-only`
    DigestOnly,
    /// `tag-only`
    TagOnly,
}

/// `short-name-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShortNameMode {
    /// `enforcing`: an ambiguous short name is an error without a terminal.
    Enforcing,
    /// `permissive` (the default).
    #[default]
    Permissive,
    /// `disabled`: every unqualified-search registry is a candidate, in order.
    Disabled,
}

/// One `[aliases]` entry after merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// The fully qualified repository (no tag, no digest); `None` when a later file reset it
    /// with `""`.
    pub value: Option<RegistryRef>,
    /// The file that set it.
    pub origin: PathBuf,
}
