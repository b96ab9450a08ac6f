//! Fuzzes index and manifest parsing: never panics, and a parsed index written in either
//! format parses back to an index that writes the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use manifest::model::media_type::manifest_kind;
use manifest::model::oci::{ImageManifest, Index, ListFormat};

fuzz_target!(|data: &[u8]| {
    let _ = manifest_kind(data, None);
    let _ = ImageManifest::parse(data);
    if let Ok(index) = Index::parse(data) {
        for format in [ListFormat::Oci, ListFormat::Docker] {
            let bytes = index.to_bytes(format);
            let again = Index::parse(&bytes).expect("our own output parses");
            assert_eq!(again.to_bytes(format), bytes);
        }
        let _ = index.auto_format();
    }
});
