//! The copy engine's modules (`src/copy/`) as a one-way stack, checked on the source tree: each
//! module uses only modules below it (so none imports another in a loop, and planning and
//! running never use each other), names the module of every item it uses from the engine, and
//! reaches the store only through what `copy()` is given. One module converts child manifests
//! and words what `--allow-lossy` dropped.

use crate::layering::{file_of, words_outside, Stack};

const STACK: Stack = Stack {
    folder: &["copy"],
    order: &[
        &["mod"],
        &["plan", "run"],
        &["variants", "referrers", "blobs"],
        &["children"],
        &["gather", "recompress"],
        &["steps"],
        &["tags", "format"],
        &["report", "inputs", "error"],
        &["convert", "compress"],
    ],
    unit_tests: false,
    names_modules: true,
};

#[test]
fn each_engine_module_uses_only_modules_below_it() {
    let wrong = STACK.against_the_order();
    assert!(wrong.is_empty(), "imports against the stack: {wrong:?}");
}

#[test]
fn the_engine_reaches_the_store_only_through_what_it_is_given() {
    // `inputs::LocalStore` is all of the store the engine sees; the caller makes the one layer
    // cache and opens the store's blob area.
    let forbidden = [
        "crate::store",
        "Store::",
        "layer_cache",
        "LayerCache",
        "StoreBlobs",
    ];
    let wrong = words_outside(&STACK.files(), &forbidden, &[], false);
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn one_module_converts_children_and_words_what_was_dropped() {
    // `convert` is the conversion; `format` is the one module that calls it.
    let words = ["convert_manifest", "(--allow-lossy)", "Dropping "];
    let wrong = words_outside(&STACK.files(), &words, &["format", "convert"], false);
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn the_checks_see_what_they_check() {
    // The scanner (tested on every spelling of an import in `crate::layering`) finds what the
    // engine's modules use, so the checks above cannot pass vacuously.
    let found = STACK.files();
    assert!(STACK
        .uses(file_of(&found, "plan"))
        .contains(&"steps".to_string()));
    let format = file_of(&found, "format").without_unit_tests();
    assert!(format.contains("convert_manifest"));
    STACK.assert_every_module_is_there(&found);
}
