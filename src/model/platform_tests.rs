use super::*;
use crate::model::oci::OCI_MANIFEST;

fn platform(os: &str, arch: &str, variant: Option<&str>) -> Platform {
    Platform {
        os: os.into(),
        architecture: arch.into(),
        variant: variant.map(str::to_string),
        ..Platform::default()
    }
}

fn image(n: u8, os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
    let mut d = Descriptor::new(OCI_MANIFEST, Digest::sha256_of(&[n]), 100);
    d.platform = Some(platform(os, arch, variant));
    d
}

fn attestation(n: u8, of: &Descriptor) -> Descriptor {
    let mut d = image(n, "unknown", "unknown", None);
    d.annotations
        .insert(REFERENCE_TYPE.into(), ATTESTATION_MANIFEST.into());
    d.annotations
        .insert(REFERENCE_DIGEST.into(), of.digest.to_string());
    d
}

#[test]
fn specs_parse_and_match() {
    struct Case {
        spec: &'static str,
        platform: Platform,
        matches: bool,
    }
    let cases = [
        Case {
            spec: "linux/amd64",
            platform: platform("linux", "amd64", None),
            matches: true,
        },
        Case {
            spec: "linux/amd64",
            platform: platform("linux", "arm64", None),
            matches: false,
        },
        Case {
            spec: "linux/arm64",
            platform: platform("linux", "arm64", Some("v8")),
            matches: true,
        },
        Case {
            spec: "linux/arm64/v8",
            platform: platform("linux", "arm64", None),
            matches: true,
        },
        Case {
            spec: "linux/arm/v7",
            platform: platform("linux", "arm", Some("v7")),
            matches: true,
        },
        Case {
            spec: "linux/arm/v7",
            platform: platform("linux", "arm", None),
            matches: true,
        },
        Case {
            spec: "linux/arm/v7",
            platform: platform("linux", "arm", Some("v6")),
            matches: false,
        },
        Case {
            spec: "linux/arm",
            platform: platform("linux", "arm", Some("v6")),
            matches: true,
        },
        Case {
            spec: "linux/amd64/v1",
            platform: platform("linux", "amd64", None),
            matches: true,
        },
        Case {
            spec: "linux/x86_64",
            platform: platform("linux", "amd64", None),
            matches: true,
        },
        Case {
            spec: "linux/aarch64",
            platform: platform("linux", "arm64", Some("v8")),
            matches: true,
        },
        Case {
            spec: "linux/armhf",
            platform: platform("linux", "arm", Some("v7")),
            matches: true,
        },
        Case {
            spec: "Linux/AMD64",
            platform: platform("linux", "amd64", None),
            matches: true,
        },
        Case {
            spec: "windows/amd64",
            platform: platform("linux", "amd64", None),
            matches: false,
        },
    ];
    for case in cases {
        let spec = PlatformSpec::parse(case.spec).unwrap();
        assert_eq!(
            spec.matches(&case.platform),
            case.matches,
            "{} vs {:?}",
            case.spec,
            case.platform
        );
    }
    for bad in [
        "",
        "linux",
        "linux/",
        "/amd64",
        "linux/amd64/v8/x",
        "linux/am d64",
        "linux/armhf/v6",
    ] {
        assert!(PlatformSpec::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn flags_leave_parts_open() {
    let spec = PlatformSpec::from_flags(None, Some("arm"), Some("v7")).unwrap();
    assert!(spec.matches(&platform("linux", "arm", Some("v7"))));
    assert!(spec.matches(&platform("freebsd", "arm", Some("v7"))));
    assert!(!spec.matches(&platform("linux", "arm", Some("v6"))));
    assert_eq!(spec.display(), "*/arm/v7");
    let os_only = PlatformSpec::from_flags(Some("windows"), None, None).unwrap();
    assert!(os_only.matches(&platform("windows", "amd64", None)));
    assert!(PlatformSpec::from_flags(None, None, None).is_none());
}

#[test]
fn filter_lists_are_comma_separated_and_repeatable() {
    let filter =
        PlatformFilter::parse(&["linux/amd64,linux/arm64".into(), "linux/s390x".into()]).unwrap();
    assert_eq!(filter.display(), "linux/amd64, linux/arm64, linux/s390x");
    assert_eq!(
        PlatformFilter::parse(&[" , ".into()]),
        Err(PlatformError::Empty)
    );
    assert!(PlatformFilter::parse(&["linux/amd64,bad".into()]).is_err());
}

#[test]
fn attestations_follow_their_image() {
    let amd64 = image(1, "linux", "amd64", None);
    let arm64 = image(2, "linux", "arm64", Some("v8"));
    let armv7 = image(3, "linux", "arm", Some("v7"));
    let entries = vec![
        amd64.clone(),
        arm64.clone(),
        armv7.clone(),
        attestation(11, &amd64),
        attestation(12, &arm64),
        attestation(13, &armv7),
    ];
    let keep = |platforms: &str| {
        selected(
            &entries,
            &PlatformFilter::parse(&[platforms.into()]).unwrap(),
        )
    };
    assert_eq!(keep("linux/amd64,linux/arm64"), [0, 1, 3, 4]);
    assert_eq!(keep("linux/arm/v7"), [2, 5]);
    assert_eq!(keep("linux/arm64/v8"), [1, 4]);
    assert!(keep("linux/ppc64le").is_empty());
    // unknown/unknown is never a platform, not even when asked for.
    assert!(keep("unknown/unknown").is_empty());
    assert_eq!(
        platforms(&entries),
        ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
    );
    assert_eq!(attested(&entries[3]), Some(amd64.digest.clone()));
    assert_eq!(attested(&amd64), None);
    assert_eq!(
        describe(&entries[4]),
        format!("attestation of {}", arm64.digest)
    );
    assert_eq!(describe(&armv7), "linux/arm/v7");
}

#[test]
fn platform_picking() {
    let entries = vec![
        image(1, "linux", "amd64", None),
        image(2, "linux", "arm64", None),
        image(3, "linux", "arm", Some("v7")),
        image(4, "linux", "arm", Some("v6")),
    ];
    let want = |arch: &str, variant: Option<&str>| PlatformWanted {
        os: "linux".into(),
        arch: arch.into(),
        variant: variant.map(str::to_string),
    };
    let pick = |w: PlatformWanted| w.pick(&entries).map(|e| e.digest.clone());
    assert_eq!(pick(want("amd64", None)), Some(Digest::sha256_of(&[1])));
    assert_eq!(
        pick(want("arm64", Some("v8"))),
        Some(Digest::sha256_of(&[2]))
    );
    assert_eq!(pick(want("arm", Some("v6"))), Some(Digest::sha256_of(&[4])));
    assert_eq!(pick(want("arm", None)), Some(Digest::sha256_of(&[3])));
    assert_eq!(pick(want("s390x", None)), None);
    assert_eq!(pick(want("arm", Some("v5"))), None);
    let attested = vec![attestation(9, &entries[0]), entries[0].clone()];
    let unknown = PlatformWanted {
        os: "unknown".into(),
        arch: "unknown".into(),
        variant: None,
    };
    assert_eq!(
        unknown.pick(&attested).map(|e| &e.digest),
        None,
        "an attestation is never picked"
    );
}

#[test]
fn an_attestation_without_its_image_is_not_selected() {
    let amd64 = image(1, "linux", "amd64", None);
    let orphan = attestation(9, &image(8, "linux", "arm64", None));
    let entries = vec![amd64, orphan];
    let filter = PlatformFilter::parse(&["linux/amd64".into()]).unwrap();
    assert_eq!(selected(&entries, &filter), [0]);
}

#[test]
fn flags_fill_the_wanted_platform_from_the_host() {
    let host = PlatformWanted::host();
    assert_eq!(PlatformWanted::from_flags(None, None, None), None);
    let cases = [
        (
            (Some("windows"), None, None),
            ("windows", host.arch.as_str(), None),
        ),
        (
            (None, Some("arm"), Some("v7")),
            (host.os.as_str(), "arm", Some("v7")),
        ),
        (
            (None, None, Some("v8")),
            (host.os.as_str(), host.arch.as_str(), Some("v8")),
        ),
        (
            (Some("linux"), Some("s390x"), None),
            ("linux", "s390x", None),
        ),
    ];
    for ((os, arch, variant), (want_os, want_arch, want_variant)) in cases {
        let wanted = PlatformWanted::from_flags(os, arch, variant).unwrap();
        assert_eq!(
            (
                wanted.os.as_str(),
                wanted.arch.as_str(),
                wanted.variant.as_deref()
            ),
            (want_os, want_arch, want_variant),
            "{os:?} {arch:?} {variant:?}"
        );
    }
}
