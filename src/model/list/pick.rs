//! `annotate --platform P LIST`: the one image entry of a platform (regctl `image mod`,
//! imagetools `manifest-descriptor[P]`), never an attestation.

use super::{ListError, ManifestList};
use crate::model::digest::Digest;
use crate::model::platform::PlatformFilter;

impl ManifestList {
    /// The digest of the one image of `filter`'s platforms; none or several is an error that
    /// names what the list has.
    pub fn image_for_platform(
        &self,
        filter: &PlatformFilter,
        list_name: &str,
    ) -> Result<Digest, ListError> {
        let matches: Vec<&Digest> = self
            .index
            .manifests
            .iter()
            .filter(|entry| filter.matches(entry))
            .map(|entry| &entry.digest)
            .collect();
        match matches.as_slice() {
            [only] => Ok((*only).clone()),
            [] => Err(ListError::NoSuchPlatform {
                wanted: filter.display(),
                list: list_name.to_string(),
                available: crate::boundary::terminal::shortened_list(
                    crate::model::platform::platforms(&self.index.manifests),
                ),
            }),
            several => Err(ListError::AmbiguousPlatform {
                wanted: filter.display(),
                list: list_name.to_string(),
                candidates: several.iter().map(|d| d.to_string()).collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::list::Source;
    use crate::model::oci::{Descriptor, Platform, OCI_MANIFEST};
    use crate::model::platform::{ATTESTATION_MANIFEST, REFERENCE_DIGEST, REFERENCE_TYPE};

    fn entry(n: u8, arch: &str, variant: Option<&str>) -> Descriptor {
        let mut d = Descriptor::new(OCI_MANIFEST, Digest::sha256_of(&[n]), 100);
        d.platform = Some(Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(str::to_string),
            ..Platform::default()
        });
        d
    }

    #[test]
    fn one_image_per_platform_or_an_error_naming_the_matches() {
        let mut list = ManifestList::default();
        let amd64 = entry(1, "amd64", None);
        let armv7 = entry(2, "arm", Some("v7"));
        let armv6 = entry(3, "arm", Some("v6"));
        let mut attestation = entry(4, "amd64", None);
        attestation
            .annotations
            .insert(REFERENCE_TYPE.into(), ATTESTATION_MANIFEST.into());
        attestation
            .annotations
            .insert(REFERENCE_DIGEST.into(), amd64.digest.to_string());
        for e in [&amd64, &armv7, &armv6, &attestation] {
            list.add(e.clone(), Source::Store);
        }
        let pick = |p: &str| {
            list.image_for_platform(&PlatformFilter::parse(&[p.to_string()]).unwrap(), "l")
        };
        assert_eq!(pick("linux/amd64"), Ok(amd64.digest.clone()));
        assert_eq!(pick("linux/x86_64"), Ok(amd64.digest.clone()));
        assert_eq!(pick("linux/arm/v6"), Ok(armv6.digest.clone()));
        assert_eq!(
            pick("linux/arm"),
            Err(ListError::AmbiguousPlatform {
                wanted: "linux/arm".into(),
                list: "l".into(),
                candidates: vec![armv7.digest.to_string(), armv6.digest.to_string()],
            })
        );
        let missing = pick("linux/s390x").unwrap_err().to_string();
        assert_eq!(
            missing,
            "no entry of list l is for platform linux/s390x (it has: linux/amd64, linux/arm/v7, linux/arm/v6)"
        );
    }
}
