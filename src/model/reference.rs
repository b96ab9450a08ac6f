//! Parsing and normalising what users type: list names, `docker://` and bare registry
//! references, `oci:` and `oci-archive:` layouts, `containers-storage:` images, and the errors for
//! everything else.

pub(crate) mod host;
mod storage;

pub(crate) use storage::{is_id_prefix, repository_of};
pub use storage::{StorageRef, StoreSpec};

use crate::model::digest::Digest;
use std::fmt;
use std::path::PathBuf;

/// Why typed text is not a valid image reference or list name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// A `transport:` prefix this tool does not know.
    #[error("invalid image name {input:?}: unknown transport {transport:?}")]
    UnknownTransport {
        /// The text, as typed (shortened when long).
        input: String,
        /// The transport name, before the `:`.
        transport: String,
    },
    /// An image reference that breaks the reference grammar.
    #[error("invalid image name {input:?}: {reason}")]
    InvalidImage {
        /// The text, as typed (shortened when long).
        input: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A list name that breaks the reference grammar.
    #[error("invalid list name {input:?}: {reason}")]
    InvalidListName {
        /// The text, as typed (shortened when long).
        input: String,
        /// Which rule it breaks.
        reason: String,
    },
}

/// An image in a registry, normalised: `docker.io/library/alpine:latest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryRef {
    /// Host with optional port, e.g. `docker.io`, `127.0.0.1:5000`, `localhost`.
    pub registry: String,
    /// Path inside the registry, e.g. `library/alpine`.
    pub repository: String,
    /// The tag, when one was given.
    pub tag: Option<String>,
    /// The digest the reference is pinned to, when one was given.
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
    /// A directory or a tar archive of one.
    pub kind: LayoutKind,
    /// The layout directory or archive file.
    pub path: PathBuf,
    /// The `org.opencontainers.image.ref.name` to pick (or write); `None` = the only entry.
    pub name: Option<String>,
}

/// Any image reference a user can give to `add`, `inspect` or `push`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageRef {
    /// An image in a registry (`docker://…` or a bare reference).
    Registry(RegistryRef),
    /// An image in an OCI layout directory or archive.
    Layout(LayoutRef),
    /// An image in containers-storage (read-only).
    Storage(StorageRef),
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
            ImageRef::Storage(s) => write!(f, "{s}"),
        }
    }
}

/// The transports this tool supports, as they are written before a reference.
const TRANSPORT_PREFIXES: &[&str] = &["docker://", "oci:", "oci-archive:", "containers-storage:"];

/// Transports containers/image knows but this tool does not support; naming one is an error
/// even when the rest would also read as a docker reference (`dir:x`), as in containers/image.
const UNSUPPORTED_TRANSPORTS: &[&str] = &[
    "docker-archive",
    "docker-daemon",
    "dir",
    "ostree",
    "sif",
    "tarball",
];

/// Longest `registry/repository`, as in distribution/reference.
const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// A whole list name as typed: the longest name, `:` and the longest tag.
const LIST_INPUT_LENGTH_MAX: usize = NAME_TOTAL_LENGTH_MAX + 1 + 128;
const TAG_LENGTH_MAX: usize = 128;
/// Inputs are echoed in errors; a megabyte of garbage should not be.
const SHOWN_INPUT_MAX: usize = 256;

impl RegistryRef {
    /// What to ask the registry for: the digest if pinned, else the tag, else `latest`.
    #[cfg(test)]
    pub(crate) fn reference_str(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The same repository pinned to `digest` (the tag is dropped).
    #[cfg(test)]
    pub(crate) fn with_digest(&self, digest: Digest) -> RegistryRef {
        RegistryRef {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// `registry/repository`, without tag or digest.
    pub(crate) fn repository_path(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

/// Parses an image reference as `add`, `inspect` and `push` DEST accept it.
pub fn parse_image(input: &str) -> Result<ImageRef, ReferenceError> {
    let invalid = |reason: String| ReferenceError::InvalidImage {
        input: shown(input),
        reason,
    };
    if has_control_char(input) {
        return Err(invalid("contains a NUL or control character".into()));
    }
    if let Some(rest) = input.strip_prefix("docker://") {
        return parse_registry(rest, Defaults::DockerHub)
            .map(ImageRef::Registry)
            .map_err(|fault| invalid(fault.into_reason()));
    }
    if let Some(rest) = input.strip_prefix("oci:") {
        return parse_layout(rest, LayoutKind::Directory).map_err(invalid);
    }
    if let Some(rest) = input.strip_prefix("oci-archive:") {
        return parse_layout(rest, LayoutKind::Archive).map_err(invalid);
    }
    if let Some(rest) = input.strip_prefix(storage::PREFIX) {
        return storage::parse_storage(rest)
            .map(ImageRef::Storage)
            .map_err(invalid);
    }
    if let Some((prefix, _)) = input.split_once(':') {
        if UNSUPPORTED_TRANSPORTS.contains(&prefix) {
            return Err(unknown_transport(input, prefix));
        }
    }
    match parse_registry(input, Defaults::DockerHub) {
        Ok(r) => Ok(ImageRef::Registry(r)),
        Err(Fault::Shape(reason)) => match scheme_prefix(input) {
            Some(scheme) => Err(unknown_transport(input, scheme)),
            None => Err(invalid(reason)),
        },
        Err(Fault::Content(reason)) => Err(invalid(reason)),
    }
}

/// Normalises a local list name: `mylist` → `localhost/mylist:latest`.
///
/// The result is a name, never a path: no `..`, no leading `/`, no empty component.
pub fn normalize_list_name(input: &str) -> Result<String, ReferenceError> {
    let invalid = |reason: String| ReferenceError::InvalidListName {
        input: shown(input),
        reason,
    };
    if let Some(reason) = list_name_problem(input) {
        return Err(invalid(reason));
    }
    parse_registry(input, Defaults::Localhost)
        .map(|r| r.to_string())
        .map_err(|fault| invalid(fault.into_reason()))
}

/// Whether `text` starts with a transport this tool supports (`docker://`, `oci:`,
/// `oci-archive:`, `containers-storage:`).
pub fn has_transport_prefix(text: &str) -> bool {
    TRANSPORT_PREFIXES.iter().any(|p| text.starts_with(p))
}

/// Whether `text` names an image explicitly: with a transport, or as a registry reference whose
/// first component is a registry host (`127.0.0.1:5000/app`, `localhost/app`). Only such a name
/// may send a command to the network; a short name (`app`, `library/app`) never reaches Docker
/// Hub unasked.
pub fn is_explicit_image(text: &str) -> bool {
    has_transport_prefix(text)
        || (split_host(text).0.is_some() && matches!(parse_image(text), Ok(ImageRef::Registry(_))))
}

/// Whether `s` could be (a prefix of) a list ID: 3 to 64 lowercase hex characters.
pub(crate) fn looks_like_list_id_prefix(s: &str) -> bool {
    (3..=64).contains(&s.len()) && s.bytes().all(is_lower_hex)
}

/// Problems a docker reference may have but a list name must not, checked up front so the
/// reason names the actual mistake rather than a grammar rule.
fn list_name_problem(input: &str) -> Option<String> {
    let reason = if input.is_empty() {
        "a list name cannot be empty".to_string()
    } else if has_control_char(input) {
        "contains a NUL or control character".to_string()
    } else if input.len() > LIST_INPUT_LENGTH_MAX {
        // The 255-character rule applies to the normalised name without its tag (checked by
        // the grammar); this bound only stops absurd input early. Checking the raw input
        // against 255 made some accepted names fail when normalised again (found by fuzzing).
        format!("longer than {LIST_INPUT_LENGTH_MAX} characters")
    } else if let Some(transport) = list_transport_prefix(input) {
        format!("a list name cannot have a transport prefix ({transport:?})")
    } else if input.starts_with('/') {
        "a list name is not a path: it cannot start with \"/\"".to_string()
    } else if input.ends_with('/') {
        "cannot end with \"/\"".to_string()
    } else if input.contains("//") {
        "cannot contain an empty path component (\"//\")".to_string()
    } else if input.contains("..") {
        "cannot contain \"..\"".to_string()
    } else if input.contains('@') {
        "a list name cannot have a digest".to_string()
    } else if input.bytes().any(|b| b.is_ascii_uppercase()) {
        "must be lowercase".to_string()
    } else {
        return None;
    };
    Some(reason)
}

fn list_transport_prefix(input: &str) -> Option<&str> {
    let (prefix, rest) = input.split_once(':')?;
    let known = TRANSPORT_PREFIXES
        .iter()
        .any(|p| p.trim_end_matches(['/', ':']) == prefix)
        || UNSUPPORTED_TRANSPORTS.contains(&prefix);
    (known || rest.starts_with("//")).then_some(prefix)
}

fn parse_layout(rest: &str, kind: LayoutKind) -> Result<ImageRef, String> {
    // containers/image on Linux splits at the first colon, so a layout path never holds one.
    let (path, name) = match rest.split_once(':') {
        Some((path, name)) => (path, name),
        None => (rest, ""),
    };
    if path.is_empty() {
        return Err("the layout path is empty".into());
    }
    if !name.is_empty() && !is_oci_ref_name(name) {
        return Err(format!(
            "invalid reference name {:?} in the layout",
            shown(name)
        ));
    }
    Ok(ImageRef::Layout(LayoutRef {
        kind,
        path: PathBuf::from(path),
        name: (!name.is_empty()).then(|| name.to_string()),
    }))
}

/// Where a bare name without registry host goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Defaults {
    /// Images: `docker.io`, with `library/` for single-component repositories.
    DockerHub,
    /// List names: `localhost`, repository as typed.
    Localhost,
}

/// Why a string is not a docker reference.
enum Fault {
    /// It does not even have the shape of one (so `X:` in front may be a transport).
    Shape(String),
    /// It has the shape but breaks a rule (case, length, tag, digest).
    Content(String),
}

impl Fault {
    fn into_reason(self) -> String {
        match self {
            Fault::Shape(reason) | Fault::Content(reason) => reason,
        }
    }
}

/// Parses `[host[:port]/]path[:tag][@digest]` and normalises it like docker/containers.
fn parse_registry(input: &str, defaults: Defaults) -> Result<RegistryRef, Fault> {
    if input.is_empty() {
        return Err(Fault::Shape("the name is empty".into()));
    }
    let (name_and_tag, digest) = match input.split_once('@') {
        Some((name, digest)) => (name, Some(parse_digest(digest)?)),
        None => (input, None),
    };
    let (host, rest) = split_host(name_and_tag);
    let registry = match host {
        Some(host) => normalize_host(host)?,
        None => default_registry(defaults).to_string(),
    };
    let (path, tag) = match rest.rsplit_once(':') {
        Some((path, tag)) => (path, Some(tag)),
        None => (rest, None),
    };
    check_path(path)?;
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    if tag.is_some() && digest.is_some() {
        return Err(Fault::Content("tag and digest cannot both be given".into()));
    }
    if host.is_none() && tag.is_none() && digest.is_none() && is_image_id(path) {
        return Err(Fault::Content(
            "a name cannot be 64 hexadecimal characters (that is an ID)".into(),
        ));
    }
    let repository = normalize_repository(&registry, path, defaults);
    check_total_length(&registry, &repository)?;
    Ok(RegistryRef {
        registry,
        repository,
        tag: match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        },
        digest,
    })
}

fn parse_digest(text: &str) -> Result<Digest, Fault> {
    Digest::parse(text).map_err(|e| Fault::Content(format!("invalid digest: {}", e.reason)))
}

/// Splits off the registry host: the first component is one only if it has `.` or `:` or is
/// `localhost`, so `labring/x` is a repository on the default registry.
pub(crate) fn split_host(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first.eq_ignore_ascii_case("localhost") =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn default_registry(defaults: Defaults) -> &'static str {
    match defaults {
        Defaults::DockerHub => "docker.io",
        Defaults::Localhost => "localhost",
    }
}

/// The host in its one canonical form ([`host::canonical`]), Docker Hub's index as `docker.io`.
fn normalize_host(host: &str) -> Result<String, Fault> {
    let Some(canonical) = host::canonical(host) else {
        return Err(Fault::Shape(format!(
            "invalid registry host {:?}",
            shown(host)
        )));
    };
    Ok(match canonical.as_str() {
        "index.docker.io" => "docker.io".to_string(),
        _ => canonical,
    })
}

fn normalize_repository(registry: &str, path: &str, defaults: Defaults) -> String {
    if defaults == Defaults::DockerHub && registry == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    }
}

fn check_path(path: &str) -> Result<(), Fault> {
    if path.is_empty() {
        return Err(Fault::Shape("the repository name is empty".into()));
    }
    for component in path.split('/') {
        if is_path_component(component) {
            continue;
        }
        if is_path_component(&component.to_ascii_lowercase()) {
            return Err(Fault::Content(format!(
                "repository name must be lowercase ({:?})",
                shown(component)
            )));
        }
        return Err(Fault::Shape(format!(
            "invalid repository path component {:?}",
            shown(component)
        )));
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), Fault> {
    let mut bytes = tag.bytes();
    let first_ok = bytes.next().is_some_and(is_word_byte);
    let rest_ok = bytes.all(|b| is_word_byte(b) || b == b'.' || b == b'-');
    if first_ok && rest_ok && tag.len() <= TAG_LENGTH_MAX {
        Ok(())
    } else {
        Err(Fault::Content(format!(
            "invalid tag {:?} (letters, digits, '_', '.', '-', at most {TAG_LENGTH_MAX}, not starting with '.' or '-')",
            shown(tag)
        )))
    }
}

fn check_total_length(registry: &str, repository: &str) -> Result<(), Fault> {
    let len = registry.len() + 1 + repository.len();
    if len > NAME_TOTAL_LENGTH_MAX {
        return Err(Fault::Content(format!(
            "the name is {len} characters long, more than {NAME_TOTAL_LENGTH_MAX}"
        )));
    }
    Ok(())
}

/// `component(.component)*`, each component alphanumerics joined by runs of `-`.
fn is_domain_name(text: &str) -> bool {
    text.split('.').all(|component| {
        is_separated(
            component,
            |b| b.is_ascii_alphanumeric(),
            |sep| sep.iter().all(|&b| b == b'-'),
        )
    })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(text: &str) -> bool {
    is_separated(
        text,
        |b| b.is_ascii_lowercase() || b.is_ascii_digit(),
        |sep| matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|&b| b == b'-'),
    )
}

/// The OCI layout `ref.name` grammar containers/image enforces:
/// components of `[A-Za-z0-9]+` joined by one of `-._:@+` or `--`, separated by `/`.
fn is_oci_ref_name(text: &str) -> bool {
    text.split('/').all(|component| {
        is_separated(
            component,
            |b| b.is_ascii_alphanumeric(),
            |sep| sep == b"--" || (sep.len() == 1 && b"-._:@+".contains(&sep[0])),
        )
    })
}

/// Whether `text` is non-empty runs of `alnum` bytes joined by runs the `separator` accepts.
fn is_separated(text: &str, alnum: impl Fn(u8) -> bool, separator: impl Fn(&[u8]) -> bool) -> bool {
    let runs: Vec<&[u8]> = text
        .as_bytes()
        .chunk_by(|a, b| alnum(*a) == alnum(*b))
        .collect();
    let starts_and_ends_alnum = match (runs.first(), runs.last()) {
        (Some(first), Some(last)) => alnum(first[0]) && alnum(last[0]),
        _ => false,
    };
    starts_and_ends_alnum && runs.iter().all(|run| alnum(run[0]) || separator(run))
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn is_image_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(is_lower_hex)
}

fn has_control_char(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// The text before the first `:` if it looks like a URL scheme (`[a-zA-Z][a-zA-Z0-9+.-]*`).
fn scheme_prefix(input: &str) -> Option<&str> {
    let (scheme, _) = input.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b));
    (first_ok && rest_ok).then_some(scheme)
}

fn unknown_transport(input: &str, transport: &str) -> ReferenceError {
    ReferenceError::UnknownTransport {
        input: shown(input),
        transport: transport.chars().take(SHOWN_INPUT_MAX).collect(),
    }
}

/// The input as an error message quotes it: cut after a bounded number of characters.
pub(crate) fn shown(input: &str) -> String {
    if input.chars().count() <= SHOWN_INPUT_MAX {
        return input.to_string();
    }
    let mut text: String = input.chars().take(SHOWN_INPUT_MAX).collect();
    text.push('…');
    text
}

#[cfg(test)]
#[path = "reference_tests.rs"]
mod tests;
