//! Fuzzes reference parsing: never panics, accepted list names are never paths, and every
//! accepted image reference prints to a form that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use manifest::model::reference::{normalize_list_name, parse_image};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = normalize_list_name(text) {
        assert!(!name.contains(".."), "{name:?}");
        assert!(!name.starts_with('/') && !name.contains("//"), "{name:?}");
        assert!(!name.contains('\0') && !name.contains('@'), "{name:?}");
        assert_eq!(normalize_list_name(&name).as_ref(), Ok(&name), "normalising is idempotent");
    }
    if let Ok(image) = parse_image(text) {
        let printed = image.to_string();
        assert_eq!(parse_image(&printed).as_ref(), Ok(&image), "{text:?} → {printed:?}");
    }
});
