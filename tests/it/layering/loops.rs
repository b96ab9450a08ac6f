//! Inside every folder of `src/`, the modules do not import each other in a loop. Unit tests
//! stand aside (a module's tests may go through a module above it, as parse's through the merged
//! configuration), and so does the folder's own file (`mod.rs`, or `NAME.rs` beside `NAME/`): it
//! declares its modules and re-exports from them, and they take its shared types in return.
//! A subfolder counts as one module of its folder.

use super::scanner::{sources, written_tree, SourceFile};
use std::collections::{BTreeMap, BTreeSet};

/// Every folder module below the top of `src/` (the top is the layers' own check), each once.
fn folders(files: &[SourceFile]) -> BTreeSet<Vec<String>> {
    let mut folders = BTreeSet::new();
    for file in files {
        let module = without_tests(&file.module);
        for depth in 1..module.len() {
            folders.insert(module[..depth].to_vec());
        }
    }
    folders
}

/// A unit-test file's module is its tested module's, for the loops of a folder.
fn without_tests(module: &[String]) -> &[String] {
    match module.split_last() {
        Some((last, tested)) if last == "tests" => tested,
        _ => module,
    }
}

/// Which modules of `folder` use which others, from every file inside it.
fn uses_in(folder: &[String], files: &[SourceFile]) -> BTreeMap<String, BTreeSet<String>> {
    let member = |module: &[String]| {
        let module = without_tests(module);
        (module.len() > folder.len() && module[..folder.len()] == *folder)
            .then(|| module[folder.len()].clone())
    };
    let members: BTreeSet<String> = files.iter().filter_map(|f| member(&f.module)).collect();
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(from) = member(&file.module) else {
            continue;
        };
        for import in file.imports().into_iter().filter(|i| !i.in_tests) {
            let Some(to) = member(&import.path) else {
                continue;
            };
            // A name the folder's own file defines or re-exports is no module of the folder.
            if to != from && members.contains(&to) {
                uses.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    uses
}

/// The modules `from` reaches through `uses`, itself excluded unless a loop leads back.
fn reached(from: &str, uses: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut next: Vec<&String> = uses.get(from).into_iter().flatten().collect();
    while let Some(module) = next.pop() {
        if seen.insert(module.clone()) {
            next.extend(uses.get(module).into_iter().flatten());
        }
    }
    seen
}

/// Every loop among the modules of one folder, as `FOLDER: A, B import each other in a loop`.
pub(super) fn loops_in(files: &[SourceFile]) -> Vec<String> {
    let mut wrong = Vec::new();
    for folder in folders(files) {
        let uses = uses_in(&folder, files);
        let reach: BTreeMap<&String, BTreeSet<String>> =
            uses.keys().map(|m| (m, reached(m, &uses))).collect();
        let mut reported = BTreeSet::new();
        for (module, reached) in &reach {
            if reported.contains(*module) || !reached.contains(*module) {
                continue;
            }
            let in_loop: BTreeSet<&String> = reached
                .iter()
                .filter(|other| reach.get(other).is_some_and(|back| back.contains(*module)))
                .collect();
            reported.extend(in_loop.iter().map(|m| (*m).clone()));
            let names: Vec<&str> = in_loop.iter().map(|m| m.as_str()).collect();
            wrong.push(format!(
                "{}: {} import each other in a loop",
                folder.join("/"),
                names.join(", ")
            ));
        }
    }
    wrong
}

#[test]
fn no_modules_of_one_folder_import_each_other_in_a_loop() {
    let wrong = loops_in(&sources(&[]));
    assert!(wrong.is_empty(), "loops inside folders: {wrong:#?}");
}

#[test]
fn loops_are_found_and_what_is_no_loop_is_left_alone() {
    let files = written_tree(
        r"
        // A loop of three.
        config/parse.rs          use super::registries::Alias;\nuse super::entries::Mirror;
        config/registries.rs     use super::aliases::check;
        config/aliases.rs        fn f() { super::parse::f(); }
        // Unit tests that go through a module above theirs: no loop.
        config/entries_tests.rs  use super::super::parse;
        config/entries.rs        #[cfg(test)]\nmod tests {\n    use crate::config::registries;\n}
        // The folder's own file and its modules: no loop.
        config/mod.rs            pub use self::parse::Parsed;
        config/sources.rs        use super::ConfigError;
        // A subfolder is one module of its folder; inside it, its own modules.
        transport/layout.rs         use super::registry::Host;
        transport/registry/wire.rs  use crate::transport::layout;
        transport/registry/host.rs  use super::wire::Wire;
        // One way only.
        model/list.rs    use super::digest::Digest;
        model/digest.rs  use super::*;
        ",
    );
    assert_eq!(
        loops_in(&files),
        [
            "config: aliases, parse, registries import each other in a loop",
            "transport: layout, registry import each other in a loop",
        ]
    );
}
