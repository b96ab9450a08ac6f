//! Fuzzes sequences of list edits: never panics, digests stay unique, every source belongs to
//! an entry, and the list always serialises (or reports the features/annotations clash).
#![no_main]

use libfuzzer_sys::fuzz_target;
use manifest::model::digest::Digest;
use manifest::model::list::{EntryEdit, ManifestList, Source};
use manifest::model::oci::{Descriptor, Index, OCI_MANIFEST};
use manifest::model::reference::parse_image;

fuzz_target!(|data: &[u8]| {
    let mut list = ManifestList::default();
    for op in data.chunks(3) {
        let [kind, which, value] = [op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0)];
        let digest = Digest::sha256_of(&[which % 8]);
        match kind % 5 {
            0 => list.add(
                Descriptor::new(OCI_MANIFEST, digest, u64::from(value)),
                Source::Image(
                    parse_image(&format!("docker://r/x@{}", Digest::sha256_of(&[which % 8])))
                        .expect("a valid reference"),
                ),
            ),
            1 => {
                let _ = list.remove(&digest, "l");
            }
            2 => {
                let edit = EntryEdit {
                    annotations: vec![(format!("k{value}"), "v".into())],
                    ..EntryEdit::default()
                };
                let _ = list.annotate(&digest, &edit, "l");
            }
            3 => {
                let edit = EntryEdit {
                    features: vec![format!("f{value}")],
                    arch: Some(format!("a{value}")),
                    ..EntryEdit::default()
                };
                let _ = list.annotate(&digest, &edit, "l");
            }
            _ => list.annotate_index(&[(format!("i{value}"), "v".into())]),
        }
        let digests: Vec<_> = list.index.manifests.iter().map(|e| &e.digest).collect();
        let mut unique = digests.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), digests.len(), "a digest appears twice");
        assert!(list.sources.keys().all(|d| list.contains(d)), "a source outlived its entry");
        if let Ok(format) = list.index.auto_format() {
            let bytes = list.index.to_bytes(format);
            assert_eq!(Index::parse(&bytes).unwrap().to_bytes(format), bytes);
        }
    }
});
