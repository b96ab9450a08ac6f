//! Unit tests of `oci`.

use super::*;

const GOLDEN: &[u8] = include_bytes!("../../tests/data/skopeo-inspect.out");
const GOLDEN_DIGEST: &str = include_str!("../../tests/data/push-1.digest");

#[test]
fn golden_index_round_trips_byte_for_byte() {
    let index = Index::parse(GOLDEN).unwrap();
    assert_eq!(index.manifests.len(), 5);
    assert_eq!(index.auto_format().unwrap(), ListFormat::Oci);
    let bytes = index.to_bytes(ListFormat::Oci);
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(GOLDEN)
    );
    assert_eq!(Digest::sha256_of(&bytes).as_str(), GOLDEN_DIGEST.trim());
}

#[test]
fn golden_index_built_from_entries_matches() {
    let parsed = Index::parse(GOLDEN).unwrap();
    let mut built = Index::default();
    for entry in &parsed.manifests {
        let mut d = Descriptor::new(&entry.media_type, entry.digest.clone(), entry.size);
        d.platform = entry.platform.clone();
        // annotations inserted in reverse to prove they are sorted on output
        for (k, v) in entry.annotations.iter().rev() {
            d.annotations.insert(k.clone(), v.clone());
        }
        built.manifests.push(d);
    }
    assert_eq!(built.to_bytes(ListFormat::Oci), GOLDEN);
}

fn entry(n: u8) -> Descriptor {
    let mut d = Descriptor::new(OCI_MANIFEST, Digest::sha256_of(&[n]), 100);
    d.platform = Some(Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
        ..Platform::default()
    });
    d
}

#[test]
fn auto_format_rule() {
    let mut index = Index::default();
    assert_eq!(index.auto_format().unwrap(), ListFormat::Docker);
    index.manifests.push(entry(1));
    assert_eq!(index.auto_format().unwrap(), ListFormat::Oci);
    index.manifests[0].platform.as_mut().unwrap().features = vec!["sse4".into()];
    assert_eq!(index.auto_format().unwrap(), ListFormat::Docker);
    index.annotations.insert("a".into(), "b".into());
    assert_eq!(index.auto_format(), Err(DocumentError::FormatClash));
    index.manifests[0]
        .platform
        .as_mut()
        .unwrap()
        .features
        .clear();
    assert_eq!(index.auto_format().unwrap(), ListFormat::Oci);
}

#[test]
fn empty_list_is_docker_with_empty_array() {
    let text = pretty(&Index::default().to_value(ListFormat::Docker));
    assert_eq!(
        text,
        "{\n    \"schemaVersion\": 2,\n    \"mediaType\": \"application/vnd.docker.distribution.manifest.list.v2+json\",\n    \"manifests\": []\n}\n"
    );
}

#[test]
fn key_order_follows_each_spec() {
    let mut d = entry(2);
    d.urls = vec!["https://x".into()];
    d.annotations.insert("z".into(), "1".into());
    d.annotations.insert("a".into(), "2".into());
    d.artifact_type = Some("t".into());
    let p = d.platform.as_mut().unwrap();
    p.variant = Some("v8".into());
    p.os_version = Some("10".into());
    p.os_features = vec!["f".into()];
    let oci = serde_json::to_string(&d.to_value(ListFormat::Oci)).unwrap();
    let keys: Vec<_> = [
        "mediaType",
        "digest",
        "size",
        "urls",
        "annotations",
        "\"a\"",
        "\"z\"",
        "platform",
        "architecture",
        "\"os\"",
        "os.version",
        "os.features",
        "variant",
        "artifactType",
    ]
    .iter()
    .map(|k| {
        oci.find(k)
            .unwrap_or_else(|| panic!("{k} missing in {oci}"))
    })
    .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{oci}");
    let docker = serde_json::to_string(&d.to_value(ListFormat::Docker)).unwrap();
    assert!(docker.find("size").unwrap() < docker.find("digest").unwrap());
    assert!(!docker.contains("annotations"));
}

#[test]
fn unknown_fields_survive() {
    let doc = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"m","digest":"sha256:e8e5c466ed695669861aa18654f47483f5a9abe4286597f308c0827e12fe9a83","size":1,"x-future":{"k":1}}],"x-top":true}"#;
    let index = Index::parse(doc).unwrap();
    assert_eq!(index.to_bytes(ListFormat::Oci), doc.to_vec());
}

#[test]
fn unknown_top_level_fields_keep_their_order() {
    // Found by fuzzing: removing schemaVersion reordered the unknown fields after it.
    let doc = br#"{"schemaVersion":2,"manifests":[],"x-b":1,"x-a":2,"x-c":3}"#;
    let once = Index::parse(doc).unwrap().to_bytes(ListFormat::Oci);
    let text = String::from_utf8(once.clone()).unwrap();
    assert!(text.ends_with(r#""x-b":1,"x-a":2,"x-c":3}"#), "{text}");
    assert_eq!(Index::parse(&once).unwrap().to_bytes(ListFormat::Oci), once);
}

#[test]
fn single_manifest_is_not_an_index() {
    let doc = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:e8e5c466ed695669861aa18654f47483f5a9abe4286597f308c0827e12fe9a83","size":1},"layers":[]}"#;
    assert!(matches!(
        Index::parse(doc),
        Err(DocumentError::NotAnIndex(_))
    ));
}
