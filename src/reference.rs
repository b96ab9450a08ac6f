//! Parsing and normalising what users type: list names, `docker://` and bare registry
//! references, `oci:` and `oci-archive:` layouts, and the errors for everything else.

use crate::digest::Digest;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid image name {input:?}: unknown transport {transport:?}")]
    UnknownTransport { input: String, transport: String },
    #[error("invalid image name {input:?}: {reason}")]
    InvalidImage { input: String, reason: String },
    #[error("invalid list name {input:?}: {reason}")]
    InvalidListName { input: String, reason: String },
}

/// An image in a registry, normalised: `docker.io/library/alpine:latest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryRef {
    /// Host with optional port, e.g. `docker.io`, `127.0.0.1:5000`, `localhost`.
    pub registry: String,
    /// Path inside the registry, e.g. `library/alpine`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

/// Which on-disk form an OCI layout has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayoutKind {
    /// `oci:DIR`
    Directory,
    /// `oci-archive:FILE.tar`
    Archive,
}

/// An image in an OCI layout: `oci:PATH[:REF]` or `oci-archive:PATH[:REF]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayoutRef {
    pub kind: LayoutKind,
    pub path: PathBuf,
    /// The `org.opencontainers.image.ref.name` to pick (or write); `None` = the only entry.
    pub name: Option<String>,
}

/// Any image reference a user can give to `add`, `inspect` or `push`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageRef {
    Registry(RegistryRef),
    Layout(LayoutRef),
}

impl fmt::Display for RegistryRef {
    /// `registry/repository[:tag][@digest]`, without a transport prefix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ImageRef {
    /// The canonical, re-parseable form: `docker://…`, `oci:PATH[:REF]`, `oci-archive:PATH[:REF]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Registry(r) => write!(f, "docker://{r}"),
            ImageRef::Layout(l) => {
                let prefix = match l.kind {
                    LayoutKind::Directory => "oci",
                    LayoutKind::Archive => "oci-archive",
                };
                write!(f, "{prefix}:{}", l.path.display())?;
                if let Some(name) = &l.name {
                    write!(f, ":{name}")?;
                }
                Ok(())
            }
        }
    }
}
