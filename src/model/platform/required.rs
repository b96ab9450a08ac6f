//! `--require-platform` (push, apply, verify): each platform asked for must have exactly one
//! image in the index. Attestations are not platforms, and the zstd variant podman's
//! `--add-compression` writes beside an image is the same image, not a second one.

use super::{is_attestation, PlatformFilter};
use crate::model::digest::Digest;
use crate::model::oci::Descriptor;

/// The annotation podman and buildah put on an instance that is a zstd-compressed variant of
/// another instance of the same platform (containers/image `OCI1InstanceAnnotationCompressionZSTD`).
pub(crate) const COMPRESSION_VARIANT: &str = "io.github.containers.compression.zstd";

/// How an index falls short of the platforms asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shortfall {
    /// The platforms asked for that have no image, as given.
    pub missing: Vec<String>,
    /// The platforms asked for that have several images, as given, with those images' digests.
    pub duplicates: Vec<(String, Vec<Digest>)>,
}

impl Shortfall {
    /// Whether every platform asked for has exactly one image.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.duplicates.is_empty()
    }
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = self
            .missing
            .iter()
            .map(|platform| format!("{platform} is missing"))
            .collect();
        for (platform, digests) in &self.duplicates {
            let digests: Vec<&str> = digests.iter().map(Digest::as_str).collect();
            parts.push(format!(
                "{platform} has {} images ({})",
                digests.len(),
                digests.join(", ")
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

/// What `entries` lack of the platforms `required` names.
pub(crate) fn shortfall(entries: &[Descriptor], required: &PlatformFilter) -> Shortfall {
    let mut shortfall = Shortfall::default();
    for spec in &required.specs {
        let images: Vec<Digest> = entries
            .iter()
            .filter(|entry| !is_attestation(entry))
            .filter(|entry| !entry.annotations.contains_key(COMPRESSION_VARIANT))
            .filter(|entry| entry.platform.as_ref().is_some_and(|p| spec.matches(p)))
            .map(|entry| entry.digest.clone())
            .collect();
        match images.len() {
            0 => shortfall.missing.push(spec.display()),
            1 => {}
            _ => shortfall.duplicates.push((spec.display(), images)),
        }
    }
    shortfall
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::oci::{Platform, OCI_MANIFEST};
    use crate::model::platform::{ATTESTATION_MANIFEST, REFERENCE_DIGEST, REFERENCE_TYPE};

    fn image(n: u8, os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        let mut d = Descriptor::new(OCI_MANIFEST, Digest::sha256_of(&[n]), 100);
        d.platform = Some(Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(str::to_string),
            ..Platform::default()
        });
        d
    }

    fn required(text: &str) -> PlatformFilter {
        PlatformFilter::parse(&[text.to_string()]).unwrap()
    }

    #[test]
    fn each_platform_once() {
        let amd64 = image(1, "linux", "amd64", None);
        let arm64 = image(2, "linux", "arm64", Some("v8"));
        let mut attestation = image(3, "unknown", "unknown", None);
        attestation
            .annotations
            .insert(REFERENCE_TYPE.into(), ATTESTATION_MANIFEST.into());
        attestation
            .annotations
            .insert(REFERENCE_DIGEST.into(), amd64.digest.to_string());
        let mut zstd = image(4, "linux", "amd64", None);
        zstd.annotations
            .insert(COMPRESSION_VARIANT.into(), "true".into());
        let second_amd64 = image(5, "linux", "amd64", None);

        struct Case {
            entries: Vec<Descriptor>,
            required: &'static str,
            missing: Vec<&'static str>,
            duplicated: Vec<(&'static str, usize)>,
        }
        let cases = [
            Case {
                entries: vec![amd64.clone(), arm64.clone()],
                required: "linux/amd64,linux/arm64",
                missing: vec![],
                duplicated: vec![],
            },
            Case {
                entries: vec![amd64.clone(), attestation.clone()],
                required: "linux/amd64,linux/arm64",
                missing: vec!["linux/arm64"],
                duplicated: vec![],
            },
            // An attestation is never the platform asked for.
            Case {
                entries: vec![attestation.clone()],
                required: "unknown/unknown",
                missing: vec!["unknown/unknown"],
                duplicated: vec![],
            },
            // arm64 means arm64/v8, and aarch64 is arm64.
            Case {
                entries: vec![arm64.clone()],
                required: "linux/aarch64/v8",
                missing: vec![],
                duplicated: vec![],
            },
            Case {
                entries: vec![amd64.clone(), zstd.clone()],
                required: "linux/amd64",
                missing: vec![],
                duplicated: vec![],
            },
            Case {
                entries: vec![amd64.clone(), arm64.clone(), second_amd64.clone()],
                required: "linux/amd64,linux/s390x",
                missing: vec!["linux/s390x"],
                duplicated: vec![("linux/amd64", 2)],
            },
        ];
        for (n, case) in cases.iter().enumerate() {
            let found = shortfall(&case.entries, &required(case.required));
            assert_eq!(found.missing, case.missing, "case {n}");
            let duplicated: Vec<(&str, usize)> = found
                .duplicates
                .iter()
                .map(|(p, d)| (p.as_str(), d.len()))
                .collect();
            assert_eq!(duplicated, case.duplicated, "case {n}");
            assert_eq!(
                found.is_empty(),
                case.missing.is_empty() && case.duplicated.is_empty()
            );
        }
        let found = shortfall(
            &[amd64.clone(), second_amd64.clone()],
            &required("linux/amd64,linux/arm64"),
        );
        assert_eq!(
            found.to_string(),
            format!(
                "linux/arm64 is missing; linux/amd64 has 2 images ({}, {})",
                amd64.digest, second_amd64.digest
            )
        );
    }
}
