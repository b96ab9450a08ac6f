//! The copy engine's modules as a one-way stack, checked on the source tree: each module uses
//! only modules below it (so none imports another in a loop, and planning and running never
//! use each other), names the module of every item it uses from the engine, and reaches the
//! store only through what `copy()` is given. One module converts child manifests and words
//! what `--allow-lossy` dropped.

use std::path::{Path, PathBuf};

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
];

fn level(module: &str) -> usize {
    STACK
        .iter()
        .position(|level| level.contains(&module))
        .unwrap_or_else(|| panic!("engine module {module} is not in the stack"))
}

/// The engine's folder, wherever the source tree puts it (this file is in it).
fn folder() -> PathBuf {
    let this = Path::new(env!("CARGO_MANIFEST_DIR")).join(file!());
    this.parent().unwrap().to_path_buf()
}

/// Every module of the engine as (module, text without its unit tests): `mod` is the folder's
/// own file (`copy.rs` beside the folder).
fn sources() -> Vec<(String, String)> {
    let dir = folder();
    let mut files = vec![("mod".to_string(), dir.with_extension("rs"))];
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert!(
            path.extension().is_some_and(|e| e == "rs"),
            "{}: the engine's modules are files",
            path.display()
        );
        let module = path.file_stem().unwrap().to_string_lossy().to_string();
        // This test names every module; it is no layer of the stack.
        if module != "layering" {
            files.push((module, path));
        }
    }
    files
        .into_iter()
        .map(|(module, path)| {
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests come last and use their own module (`use super::*`).
            let code = match text.find("#[cfg(test)]\nmod tests {") {
                Some(at) => text[..at].to_string(),
                None => text,
            };
            (module, code)
        })
        .collect()
}

/// What `text` uses from the engine through `super::` or `crate::copy::`: each name that
/// follows (in `use super::{…}` groups too), module or not.
fn uses(text: &str) -> Vec<String> {
    let mut used = Vec::new();
    for prefix in ["super::", "crate::copy::"] {
        for (at, _) in text.match_indices(prefix) {
            let rest = &text[at + prefix.len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|n| n.trim().split("::").next().unwrap_or("").trim())
                    .collect(),
                None => vec![rest
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("")],
            };
            for name in names {
                if !name.is_empty() && !used.iter().any(|u| u == name) {
                    used.push(name.to_string());
                }
            }
        }
    }
    used
}

fn is_module(name: &str) -> bool {
    STACK.iter().any(|level| level.contains(&name))
}

#[test]
fn each_engine_module_uses_only_modules_below_it() {
    let mut wrong = Vec::new();
    let found = sources();
    for (module, text) in &found {
        level(module);
        for used in uses(text) {
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
    for (module, text) in sources() {
        for needle in forbidden {
            if text.contains(needle) {
                wrong.push(format!("{module}: {needle}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn one_module_converts_children_and_words_what_was_dropped() {
    let mut wrong = Vec::new();
    for (module, text) in sources() {
        if module == "format" {
            continue;
        }
        for needle in ["convert_manifest", "(--allow-lossy)", "Dropping "] {
            if text.contains(needle) {
                wrong.push(format!("{module}: {needle}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn the_checks_see_what_they_check() {
    // The scanner finds every spelling of an import, so the checks above cannot pass vacuously.
    let text = "use super::steps::{self, Plan};\nuse super::{gather, blobs::send};\n\
                super::error::PushError\ncrate::copy::Observer";
    assert_eq!(
        uses(text),
        ["steps", "gather", "blobs", "error", "Observer"]
    );
    let found = sources();
    let plan = &found.iter().find(|(m, _)| m == "plan").unwrap().1;
    assert!(uses(plan).contains(&"steps".to_string()));
    assert!(found
        .iter()
        .any(|(m, text)| m == "format" && text.contains("convert_manifest")));
    assert_eq!(found.len(), STACK.iter().map(|l| l.len()).sum::<usize>());
}
