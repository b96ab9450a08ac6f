//! The copy engine's modules (`src/copy/`) as a one-way stack, checked on the source tree: each
//! module uses only modules below it (so none imports another in a loop, and planning and
//! running never use each other), names the module of every item it uses from the engine, and
//! reaches the store only through what `copy()` is given. One module converts child manifests
//! and words what `--allow-lossy` dropped.

use crate::layering::SourceFile;

/// Top to bottom. A module may use those after it in this list, never those before it (modules
/// on one line share a level and may not use each other).
const STACK: &[&[&str]] = &[
    &["mod"],
    &["plan", "run"],
    &["variants", "referrers", "blobs"],
    &["children"],
    &["gather", "recompress"],
    &["steps"],
    &["tags", "format"],
    &["report", "inputs", "error"],
    &["convert", "compress"],
];

fn level(module: &str) -> usize {
    STACK
        .iter()
        .position(|level| level.contains(&module))
        .unwrap_or_else(|| panic!("engine module {module} is not in the stack"))
}

/// Every file of the engine as (module, file): `mod` is the engine's own file, and a file in a
/// module's folder counts as that module.
fn sources() -> Vec<(String, SourceFile)> {
    crate::layering::modules_of(&["copy"])
}

/// What the code of `file` (not its unit tests) uses from the engine: the name after `copy::`
/// of each path it names, module or not.
fn uses(file: &SourceFile) -> Vec<String> {
    crate::layering::names_used_in(file, &["copy"], false)
}

fn is_module(name: &str) -> bool {
    STACK.iter().any(|level| level.contains(&name))
}

#[test]
fn each_engine_module_uses_only_modules_below_it() {
    let mut wrong = Vec::new();
    let found = sources();
    for (module, file) in &found {
        level(module);
        for used in uses(file) {
            if !is_module(&used) {
                wrong.push(format!("{module} uses {used} without naming its module"));
            } else if used != *module && level(&used) <= level(module) {
                wrong.push(format!("{module} uses {used}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the stack: {wrong:?}");
    for level in STACK {
        for module in *level {
            assert!(
                found.iter().any(|(m, _)| m == module),
                "{module} is in the stack but not in the folder"
            );
        }
    }
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
    let mut wrong = Vec::new();
    for (module, file) in sources() {
        for needle in forbidden {
            if file.without_unit_tests().contains(needle) {
                wrong.push(format!("{module}: {needle}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn one_module_converts_children_and_words_what_was_dropped() {
    let mut wrong = Vec::new();
    for (module, file) in sources() {
        // `convert` is the conversion; `format` is the one module that calls it.
        if module == "format" || module == "convert" {
            continue;
        }
        for needle in ["convert_manifest", "(--allow-lossy)", "Dropping "] {
            if file.without_unit_tests().contains(needle) {
                wrong.push(format!("{module}: {needle}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn the_checks_see_what_they_check() {
    // The scanner (tested on every spelling of an import in `crate::layering`) finds what the
    // engine's modules use, so the checks above cannot pass vacuously.
    let found = sources();
    let plan = &found.iter().find(|(m, _)| m == "plan").unwrap().1;
    assert!(uses(plan).contains(&"steps".to_string()));
    assert!(found
        .iter()
        .any(|(m, file)| m == "format" && file.without_unit_tests().contains("convert_manifest")));
    let mut modules: Vec<&str> = found.iter().map(|(m, _)| m.as_str()).collect();
    modules.dedup();
    assert_eq!(modules.len(), STACK.iter().map(|l| l.len()).sum::<usize>());
}
