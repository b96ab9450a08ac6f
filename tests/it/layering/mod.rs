//! The layers of `src/`, checked on the source tree: each folder uses only the folders below it,
//! so no import runs back up and no two folders import each other in a loop; inside a folder,
//! no modules import each other in a loop either (`loops`), and the copy engine's and the
//! registry's modules keep a full order (`copy_stack`, `registry_stack`). `scanner` is the one
//! import scanner all of them read the tree with.

mod copy_stack;
mod loops;
mod registry_stack;
mod scanner;
mod stack;

pub(crate) use scanner::{sources, src, written_tree, SourceFile};
pub(crate) use stack::{file_of, words_outside, Stack};

/// The folders of `src/`, top to bottom (`main` is the binary, `main.rs`). A folder's code, its
/// unit tests included, may use the folders after it in this list, never those before it;
/// folders on one line share a level and may not use each other.
const LAYERS: &[&[&str]] = &[
    &["main"],
    &["commands"],
    &["cli", "verify"],
    &["copy", "ingest"],
    &["transport"],
    &["config", "store"],
    &["model"],
    &["boundary"],
];

/// What `lib.rs` holds besides the folders, which every layer may use.
const ROOT: &[&str] = &["error_chain"];

/// The files at the top of `src/` besides the folders.
const ROOT_FILES: &[&str] = &["lib.rs", "main.rs"];

fn level(folder: &str) -> Option<usize> {
    LAYERS.iter().position(|level| level.contains(&folder))
}

/// Every import of `files` against the layers, as `FILE uses PATH` (or why it is in no layer).
fn against_the_layers(files: &[SourceFile]) -> Vec<String> {
    let mut wrong = Vec::new();
    for file in files {
        let from = match (file.is_binary(), file.module.first()) {
            (true, _) => "main",
            (false, Some(folder)) if level(folder).is_some() => folder.as_str(),
            // The crate root.
            _ => continue,
        };
        for import in file.imports() {
            let Some(to) = import.path.first() else {
                continue;
            };
            let used = import.path.join("::");
            match (level(from), level(to)) {
                (Some(below), Some(above)) if to != from && above <= below => {
                    wrong.push(format!("{} uses {used}", file.path.display()));
                }
                (_, None) if !ROOT.contains(&to.as_str()) => {
                    wrong.push(format!(
                        "{} uses {used}, which is in no layer",
                        file.path.display()
                    ));
                }
                _ => {}
            }
        }
    }
    wrong
}

#[test]
fn each_folder_uses_only_folders_below_it() {
    let wrong = against_the_layers(&sources(&[]));
    assert!(wrong.is_empty(), "imports against the layers: {wrong:#?}");
}

#[test]
fn the_top_of_src_is_the_layers() {
    let mut found: Vec<String> = std::fs::read_dir(src())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    found.sort();
    let mut expected: Vec<String> = LAYERS
        .iter()
        .flat_map(|level| level.iter())
        .filter(|folder| **folder != "main")
        .map(|folder| folder.to_string())
        .chain(ROOT_FILES.iter().map(|file| file.to_string()))
        .collect();
    expected.sort();
    assert_eq!(
        found, expected,
        "a new top-level module takes its place in LAYERS"
    );
}

#[test]
fn the_layer_check_sees_what_it_checks() {
    let files = written_tree(
        r"
        model/list.rs        use crate::store::Store;\nuse crate::boundary::terminal;
        store/mod.rs         use crate::model::list;\nfn f() { crate::error_chain(e); }
        copy/plan.rs         use crate::ingest::source;\nuse crate::nowhere::X;
        model/list_tests.rs  use crate::commands::testing;
        main.rs              use manifest::commands;
        lib.rs               pub mod commands;
        ",
    );
    assert_eq!(
        against_the_layers(&files),
        [
            "model/list.rs uses store::Store",
            "copy/plan.rs uses ingest::source",
            "copy/plan.rs uses nowhere::X, which is in no layer",
            "model/list_tests.rs uses commands::testing",
        ]
    );
    // The tree's own imports are seen: commands use the copy engine, which uses transports.
    let all = sources(&[]);
    let uses = |folder: &str, used: &str| {
        all.iter().any(|f| {
            f.module.first().is_some_and(|m| m == folder)
                && f.imports().iter().any(|i| i.path[0] == used)
        })
    };
    assert!(uses("commands", "copy") && uses("copy", "transport"));
}
