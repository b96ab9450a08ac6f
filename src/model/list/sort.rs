//! `push --sort` (and `sort: true` in `apply` files): the same set of images always in the same
//! order, so one set gives one index digest whatever order the per-arch jobs finished in.
//! Images are ordered by platform (os, architecture, variant, os.version, then digest), each
//! attestation right after the image it describes; entries without a platform come after the
//! images, and attestations of no image of the list last, both by digest.

use crate::model::digest::Digest;
use crate::model::oci::Descriptor;
use crate::model::platform::{attested, is_attestation};

/// `entries` in platform order, each attestation after its image.
pub fn sorted_by_platform(entries: &[Descriptor]) -> Vec<Descriptor> {
    let (attestations, mut images): (Vec<&Descriptor>, Vec<&Descriptor>) =
        entries.iter().partition(|entry| is_attestation(entry));
    images.sort_by(|a, b| image_key(a).cmp(&image_key(b)));
    let attestations_of = |image: &Digest| {
        let mut found: Vec<&Descriptor> = attestations
            .iter()
            .copied()
            .filter(|a| attested(a).as_ref() == Some(image))
            .collect();
        found.sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));
        found
    };
    let mut sorted: Vec<Descriptor> = Vec::with_capacity(entries.len());
    for image in &images {
        sorted.push((*image).clone());
        sorted.extend(attestations_of(&image.digest).into_iter().cloned());
    }
    let mut orphans: Vec<&Descriptor> = attestations
        .iter()
        .copied()
        .filter(|a| {
            !images
                .iter()
                .any(|i| attested(a).as_ref() == Some(&i.digest))
        })
        .collect();
    orphans.sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));
    sorted.extend(orphans.into_iter().cloned());
    sorted
}

/// Entries with a platform first, in platform order; then those without one; the digest last.
fn image_key(entry: &Descriptor) -> (bool, [&str; 4], &str) {
    let platform = entry.platform.as_ref();
    fn field(f: Option<&str>) -> &str {
        f.unwrap_or("")
    }
    (
        platform.is_none(),
        [
            field(platform.map(|p| p.os.as_str())),
            field(platform.map(|p| p.architecture.as_str())),
            field(platform.and_then(|p| p.variant.as_deref())),
            field(platform.and_then(|p| p.os_version.as_deref())),
        ],
        entry.digest.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::oci::{Platform, OCI_MANIFEST};
    use crate::model::platform::{ATTESTATION_MANIFEST, REFERENCE_DIGEST, REFERENCE_TYPE};

    fn entry(n: u8, platform: Option<(&str, &str, Option<&str>, Option<&str>)>) -> Descriptor {
        let mut d = Descriptor::new(OCI_MANIFEST, Digest::sha256_of(&[n]), 100);
        d.platform = platform.map(|(os, arch, variant, version)| Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(str::to_string),
            os_version: version.map(str::to_string),
            ..Platform::default()
        });
        d
    }

    fn attestation(n: u8, of: &Descriptor) -> Descriptor {
        let mut d = entry(n, Some(("unknown", "unknown", None, None)));
        d.annotations
            .insert(REFERENCE_TYPE.into(), ATTESTATION_MANIFEST.into());
        d.annotations
            .insert(REFERENCE_DIGEST.into(), of.digest.to_string());
        d
    }

    fn order(entries: &[Descriptor], sorted: &[Descriptor]) -> Vec<usize> {
        sorted
            .iter()
            .map(|s| entries.iter().position(|e| e.digest == s.digest).unwrap())
            .collect()
    }

    #[test]
    fn platform_order_with_attestations_after_their_image() {
        let amd64 = entry(1, Some(("linux", "amd64", None, None)));
        let arm64 = entry(2, Some(("linux", "arm64", Some("v8"), None)));
        let armv7 = entry(3, Some(("linux", "arm", Some("v7"), None)));
        let armv6 = entry(4, Some(("linux", "arm", Some("v6"), None)));
        let win_old = entry(5, Some(("windows", "amd64", None, Some("10.0.17763.1"))));
        let win_new = entry(6, Some(("windows", "amd64", None, Some("10.0.20348.1"))));
        let artifact = entry(7, None);
        let att_amd64 = attestation(11, &amd64);
        let att_arm64 = attestation(12, &arm64);
        let orphan = attestation(13, &entry(99, None));
        struct Case {
            entries: Vec<Descriptor>,
            want: Vec<u8>,
        }
        let cases = [
            // buildx order: images, then every attestation.
            Case {
                entries: vec![
                    arm64.clone(),
                    amd64.clone(),
                    att_arm64.clone(),
                    att_amd64.clone(),
                ],
                want: vec![1, 11, 2, 12],
            },
            Case {
                entries: vec![
                    win_new.clone(),
                    artifact.clone(),
                    armv7.clone(),
                    orphan.clone(),
                    win_old.clone(),
                    armv6.clone(),
                    amd64.clone(),
                ],
                want: vec![1, 4, 3, 5, 6, 7, 13],
            },
            Case {
                entries: vec![],
                want: vec![],
            },
        ];
        for (n, case) in cases.iter().enumerate() {
            let sorted = sorted_by_platform(&case.entries);
            let want: Vec<Digest> = case.want.iter().map(|b| Digest::sha256_of(&[*b])).collect();
            let got: Vec<Digest> = sorted.iter().map(|d| d.digest.clone()).collect();
            assert_eq!(
                got,
                want,
                "case {n}: order {:?}",
                order(&case.entries, &sorted)
            );
            // Any order of the same entries gives the same result.
            let mut reversed = case.entries.clone();
            reversed.reverse();
            assert_eq!(sorted_by_platform(&reversed), sorted, "case {n} reversed");
        }
    }

    #[test]
    fn one_platform_twice_is_ordered_by_digest() {
        let a = entry(1, Some(("linux", "amd64", None, None)));
        let b = entry(2, Some(("linux", "amd64", None, None)));
        let (first, second) = if a.digest.as_str() < b.digest.as_str() {
            (&a, &b)
        } else {
            (&b, &a)
        };
        let sorted = sorted_by_platform(&[second.clone(), first.clone()]);
        assert_eq!(sorted, [first.clone(), second.clone()]);
    }
}
