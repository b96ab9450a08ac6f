//! Platforms as users name them (`linux/arm64/v8`) and the filters built from them: which entries
//! of an index `--platform` keeps or removes. buildx attestation entries (platform
//! `unknown/unknown`, annotated `vnd.docker.reference.type: attestation-manifest`) follow the
//! image they describe and are never a platform of their own. Pure functions only.

use crate::model::digest::Digest;
use crate::model::oci::{Descriptor, Platform};

mod required;
pub(crate) use required::shortfall;
pub use required::Shortfall;

/// The annotation buildx puts on an attestation entry, with [`ATTESTATION_MANIFEST`].
pub(crate) const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// The annotation naming the digest of the image an attestation entry describes.
pub(crate) const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
/// The value of [`REFERENCE_TYPE`] on attestation entries.
pub(crate) const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// Why a `--platform` value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// Not `OS/ARCH[/VARIANT]` (the value, as given).
    #[error("invalid platform {0:?}: use OS/ARCH[/VARIANT], e.g. linux/arm64 or linux/arm/v7")]
    Invalid(String),
    /// An empty `--platform` list.
    #[error("no platform given")]
    Empty,
}

/// One platform a user asked for; a part not given matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformSpec {
    /// The operating system, when given.
    pub os: Option<String>,
    /// The architecture, when given (in OCI names).
    pub arch: Option<String>,
    /// The variant, when given.
    pub variant: Option<String>,
}

impl PlatformSpec {
    /// Parses `OS/ARCH[/VARIANT]`, with the architecture names other tools use mapped to the
    /// OCI ones (`x86_64` → `amd64`, `aarch64` → `arm64`, `armhf` → `arm/v7`).
    pub(crate) fn parse(text: &str) -> Result<Self, PlatformError> {
        let invalid = || PlatformError::Invalid(text.to_string());
        let parts: Vec<&str> = text.trim().split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| !is_name(p)) {
            return Err(invalid());
        }
        let (arch, implied_variant) = normalized_arch(parts[1]);
        let variant = parts.get(2).map(|v| v.to_ascii_lowercase());
        if variant.is_some() && implied_variant.is_some() && variant != implied_variant {
            return Err(invalid());
        }
        Ok(Self {
            os: Some(parts[0].to_ascii_lowercase()),
            arch: Some(arch),
            variant: variant.or(implied_variant),
        })
    }

    /// The spec `--os/--arch/--variant` make; `None` when none of them is given.
    pub fn from_flags(os: Option<&str>, arch: Option<&str>, variant: Option<&str>) -> Option<Self> {
        if os.is_none() && arch.is_none() && variant.is_none() {
            return None;
        }
        let (arch, implied_variant) = match arch.map(normalized_arch) {
            Some((arch, implied)) => (Some(arch), implied),
            None => (None, None),
        };
        Some(Self {
            os: os.map(str::to_ascii_lowercase),
            arch,
            variant: variant.map(str::to_ascii_lowercase).or(implied_variant),
        })
    }

    /// Whether `platform` is this one. A variant is compared as containerd normalises it
    /// (`arm64` means `arm64/v8`, `arm` means `arm/v7`, `amd64` means `amd64/v1`).
    pub(crate) fn matches(&self, platform: &Platform) -> bool {
        let arch = normalized_arch(&platform.architecture).0;
        let same = |want: &Option<String>, have: &str| {
            want.as_deref()
                .is_none_or(|want| want.eq_ignore_ascii_case(have))
        };
        if !same(&self.os, &platform.os) || !same(&self.arch, &arch) {
            return false;
        }
        match &self.variant {
            None => true,
            Some(want) => {
                let have = platform.variant.as_deref().filter(|v| !v.is_empty());
                default_variant(&arch, have)
                    .eq_ignore_ascii_case(&default_variant(&arch, Some(want)))
            }
        }
    }

    /// `os/arch[/variant]`, with `*` for a part not given.
    pub(crate) fn display(&self) -> String {
        let part = |p: &Option<String>| p.clone().unwrap_or_else(|| "*".into());
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", part(&self.os), part(&self.arch)),
            None => format!("{}/{}", part(&self.os), part(&self.arch)),
        }
    }
}

/// Names are what OCI allows in os/architecture/variant: letters, digits, `.`, `_`, `-`.
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The OCI name of an architecture and the variant its alias implies.
fn normalized_arch(arch: &str) -> (String, Option<String>) {
    let arch = arch.to_ascii_lowercase();
    match arch.as_str() {
        "x86_64" | "x86-64" => ("amd64".into(), None),
        "aarch64" => ("arm64".into(), None),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "i386" | "i686" => ("386".into(), None),
        _ => (arch, None),
    }
}

/// The variant an architecture has when none is named.
fn default_variant(arch: &str, variant: Option<&str>) -> String {
    match (arch, variant) {
        (_, Some(v)) => v.to_ascii_lowercase(),
        ("arm64", None) => "v8".into(),
        ("arm", None) => "v7".into(),
        ("amd64", None) => "v1".into(),
        (_, None) => String::new(),
    }
}

/// Whether two platforms name the same target: the same OS and architecture (aliases mapped),
/// the same variant once defaults are filled in (`arm64` is `arm64/v8`), and the same
/// `os.version` when either has one.
pub(crate) fn same_platform(a: &Platform, b: &Platform) -> bool {
    let (arch_a, arch_b) = (
        normalized_arch(&a.architecture).0,
        normalized_arch(&b.architecture).0,
    );
    let variant = |p: &Platform, arch: &str| {
        default_variant(arch, p.variant.as_deref().filter(|v| !v.is_empty()))
    };
    let version = |p: &Platform| p.os_version.clone().filter(|v| !v.is_empty());
    a.os.eq_ignore_ascii_case(&b.os)
        && arch_a == arch_b
        && variant(a, &arch_a) == variant(b, &arch_b)
        && version(a) == version(b)
}

/// The OCI name of an architecture as users and tools spell it (`aarch64` is `arm64`).
pub(crate) fn oci_arch(arch: &str) -> String {
    normalized_arch(arch).0
}

/// What a user asked for when picking one image out of an index (`add --os/--arch/--variant`,
/// the host platform by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformWanted {
    /// The operating system (`--os`, else the host's).
    pub os: String,
    /// The architecture (`--arch`, else the host's).
    pub arch: String,
    /// The variant (`--variant`); `None` takes the first entry of that OS and architecture.
    pub variant: Option<String>,
}

impl PlatformWanted {
    /// The platform this program runs on, in Go/OCI names.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "arm" => "arm",
            other => other,
        };
        Self {
            os: std::env::consts::OS.to_string(),
            arch: arch.to_string(),
            variant: None,
        }
    }

    /// What `--os/--arch/--variant` ask to pick, filled from the host where they are silent;
    /// `None` when all three are (the host's platform is then picked by default).
    pub fn from_flags(os: Option<&str>, arch: Option<&str>, variant: Option<&str>) -> Option<Self> {
        if os.is_none() && arch.is_none() && variant.is_none() {
            return None;
        }
        let host = Self::host();
        Some(Self {
            os: os.map_or(host.os, str::to_string),
            arch: arch.map_or(host.arch, str::to_string),
            variant: variant.map(str::to_string),
        })
    }

    /// `os/arch[/variant]`.
    pub(crate) fn display(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.arch, v),
            None => format!("{}/{}", self.os, self.arch),
        }
    }

    /// The first image (never an attestation) of this platform, by the rules of
    /// [`PlatformSpec::matches`].
    pub(crate) fn pick<'a>(&self, entries: &'a [Descriptor]) -> Option<&'a Descriptor> {
        let filter = PlatformFilter::of(PlatformSpec {
            os: Some(self.os.clone()),
            arch: Some(normalized_arch(&self.arch).0),
            variant: self.variant.clone(),
        });
        entries.iter().find(|entry| filter.matches(entry))
    }
}

/// Several platforms: an entry matches when it is any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformFilter {
    specs: Vec<PlatformSpec>,
}

impl PlatformFilter {
    /// Parses `--platform` values: each may be a comma-separated list (`linux/amd64,linux/arm64`).
    pub fn parse(values: &[String]) -> Result<Self, PlatformError> {
        let specs = values
            .iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(PlatformSpec::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if specs.is_empty() {
            return Err(PlatformError::Empty);
        }
        Ok(Self { specs })
    }

    /// A filter of one spec.
    pub fn of(spec: PlatformSpec) -> Self {
        Self { specs: vec![spec] }
    }

    /// Whether an entry is one of these platforms (never an attestation or an entry without a
    /// platform).
    pub(crate) fn matches(&self, entry: &Descriptor) -> bool {
        if is_attestation(entry) {
            return false;
        }
        entry
            .platform
            .as_ref()
            .is_some_and(|p| self.specs.iter().any(|spec| spec.matches(p)))
    }

    /// The platforms, as given (`linux/amd64, linux/arm64`).
    pub(crate) fn display(&self) -> String {
        self.specs
            .iter()
            .map(PlatformSpec::display)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether an entry is a buildx attestation manifest.
pub(crate) fn is_attestation(entry: &Descriptor) -> bool {
    entry.annotations.get(REFERENCE_TYPE).map(String::as_str) == Some(ATTESTATION_MANIFEST)
}

/// The image an attestation entry describes.
pub(crate) fn attested(entry: &Descriptor) -> Option<Digest> {
    if !is_attestation(entry) {
        return None;
    }
    Digest::parse(entry.annotations.get(REFERENCE_DIGEST)?).ok()
}

/// The positions of the entries `filter` selects: the images of its platforms, and the
/// attestations of those images (wherever they are in the list).
pub(crate) fn selected(entries: &[Descriptor], filter: &PlatformFilter) -> Vec<usize> {
    let images: Vec<&Digest> = entries
        .iter()
        .filter(|entry| filter.matches(entry))
        .map(|entry| &entry.digest)
        .collect();
    entries
        .iter()
        .enumerate()
        .filter(|(_, entry)| {
            filter.matches(entry) || attested(entry).is_some_and(|d| images.contains(&&d))
        })
        .map(|(position, _)| position)
        .collect()
}

/// The platforms of a list's images, as users name them (attestations are not platforms).
pub(crate) fn platforms(entries: &[Descriptor]) -> Vec<String> {
    entries
        .iter()
        .filter(|entry| !is_attestation(entry))
        .filter_map(|entry| entry.platform.as_ref().map(Platform::display))
        .collect()
}

/// How an entry is shown: its platform, or what an attestation or artifact is.
pub(crate) fn describe(entry: &Descriptor) -> String {
    if let Some(subject) = attested(entry) {
        return format!("attestation of {subject}");
    }
    match &entry.platform {
        Some(p) => p.display(),
        None => "-".into(),
    }
}

#[cfg(test)]
#[path = "platform_tests.rs"]
mod tests;
