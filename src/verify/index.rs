//! What the entries alone show, without reading anything: attestations that describe no image
//! of the index, and platforms `--require-platform` asks for that are missing or doubled.

use super::{Problem, ProblemKind};
use crate::model::oci::Descriptor;
use crate::model::platform::{attested, is_attestation, shortfall, PlatformFilter};

/// The faults of `entries`, in entry order.
pub(super) fn check(entries: &[Descriptor], required: Option<&PlatformFilter>) -> Vec<Problem> {
    let mut problems = Vec::new();
    for entry in entries.iter().filter(|entry| is_attestation(entry)) {
        let detail = match attested(entry) {
            Some(image)
                if entries
                    .iter()
                    .any(|e| e.digest == image && !is_attestation(e)) =>
            {
                continue
            }
            Some(image) => format!("it describes {image}, which is not an image of the index"),
            None => "its vnd.docker.reference.digest annotation names no digest".to_string(),
        };
        problems.push(Problem::new(
            ProblemKind::OrphanAttestation,
            Some(&entry.digest),
            None,
            detail,
        ));
    }
    if let Some(required) = required {
        let found = shortfall(entries, required);
        for platform in &found.missing {
            problems.push(Problem::new(
                ProblemKind::MissingPlatform,
                None,
                Some(platform),
                format!("no image of the index is for {platform} (--require-platform)"),
            ));
        }
        for (platform, digests) in &found.duplicates {
            let listed: Vec<&str> = digests.iter().map(|d| d.as_str()).collect();
            problems.push(Problem::new(
                ProblemKind::DuplicatePlatform,
                None,
                Some(platform),
                format!(
                    "{} images are for {platform}: {} (--require-platform wants one)",
                    digests.len(),
                    listed.join(", ")
                ),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::digest::Digest;
    use crate::model::oci::{Platform, OCI_MANIFEST};
    use crate::model::platform::{ATTESTATION_MANIFEST, REFERENCE_DIGEST, REFERENCE_TYPE};

    fn image(n: u8, arch: &str) -> Descriptor {
        let mut d = Descriptor::new(OCI_MANIFEST, Digest::sha256_of(&[n]), 100);
        d.platform = Some(Platform {
            os: "linux".into(),
            architecture: arch.into(),
            ..Platform::default()
        });
        d
    }

    fn attestation(n: u8, of: Option<&Digest>) -> Descriptor {
        let mut d = image(n, "unknown");
        d.annotations
            .insert(REFERENCE_TYPE.into(), ATTESTATION_MANIFEST.into());
        if let Some(of) = of {
            d.annotations
                .insert(REFERENCE_DIGEST.into(), of.to_string());
        }
        d
    }

    #[test]
    fn orphans_and_required_platforms() {
        let amd64 = image(1, "amd64");
        let entries = vec![
            amd64.clone(),
            attestation(2, Some(&amd64.digest)),
            attestation(3, Some(&Digest::sha256_of(b"gone"))),
            attestation(4, None),
        ];
        let required = PlatformFilter::parse(&["linux/amd64,linux/arm64".into()]).unwrap();
        let found = check(&entries, Some(&required));
        let kinds: Vec<(ProblemKind, Option<Digest>, Option<String>)> = found
            .iter()
            .map(|p| (p.kind, p.digest.clone(), p.platform.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                (
                    ProblemKind::OrphanAttestation,
                    Some(Digest::sha256_of(&[3])),
                    None
                ),
                (
                    ProblemKind::OrphanAttestation,
                    Some(Digest::sha256_of(&[4])),
                    None
                ),
                (
                    ProblemKind::MissingPlatform,
                    None,
                    Some("linux/arm64".into())
                ),
            ]
        );
        assert!(check(&entries[..2], None).is_empty());
    }
}
