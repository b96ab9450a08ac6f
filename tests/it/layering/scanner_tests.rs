use super::*;

fn file(path: &str, text: &str) -> SourceFile {
    SourceFile::written(path, text)
}

fn paths(file: &SourceFile) -> Vec<String> {
    file.imports().iter().map(|i| i.path.join("::")).collect()
}

#[test]
fn files_are_the_modules_the_compiler_makes() {
    for (path, module) in [
        ("lib.rs", ""),
        ("main.rs", ""),
        ("copy.rs", "copy"),
        ("copy/mod.rs", "copy"),
        ("copy/blobs.rs", "copy::blobs"),
        ("copy/steps_tests.rs", "copy::steps::tests"),
        ("copy/tests.rs", "copy::tests"),
        ("a/b/c.rs", "a::b::c"),
    ] {
        assert_eq!(module_of(Path::new(path)).join("::"), module, "{path}");
    }
}

#[test]
fn every_spelling_of_an_import_is_found() {
    let blobs = file(
        "copy/blobs.rs",
        "use super::steps::{self, Plan};\nuse super::{gather, blobs::send};\n\
         use crate::transport::{open::Transports, Transport as T};\n\
         fn f() { super::error::PushError::X; crate::copy::Observer; }\n\
         pub(crate) mod inner {\n    use super::*;\n    use self::deep::X;\n}\n\
         #[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::plan;\n}\n",
    );
    assert_eq!(
        paths(&blobs),
        [
            "copy::steps",
            "copy::steps::Plan",
            "copy::gather",
            "copy::blobs::send",
            "transport::open::Transports",
            "transport::Transport",
            "copy::error::PushError::X",
            "copy::Observer",
            "copy::blobs",
            "copy::blobs::inner::deep::X",
            "copy::blobs",
            "copy::plan",
        ]
    );
    let in_tests: Vec<bool> = blobs.imports().iter().map(|i| i.in_tests).collect();
    assert_eq!(in_tests.iter().filter(|t| **t).count(), 2, "{in_tests:?}");
    let tests = file(
        "copy/steps_tests.rs",
        "use super::*;\nuse super::super::plan;\n",
    );
    assert_eq!(paths(&tests), ["copy::steps", "copy::plan"]);
    assert!(tests.imports().iter().all(|i| i.in_tests));
    let main = file("main.rs", "use manifest::cli::{Cli, Command};\nmod x;\n");
    assert_eq!(paths(&main), ["cli::Cli", "cli::Command"]);
}

#[test]
fn comments_and_literals_are_no_imports() {
    let text = "// crate::a\n/* crate::b /* crate::c */ */ let s = \"crate::d \\\" crate::e\";\n\
                let r = r#\"crate::f \"# ; let c = '\"'; let l: &'static str = crate::g::h;\n\
                /// [`crate::i`]\nlet b = b'{'; let u = \"http://x\", crate::j;\n";
    assert_eq!(paths(&file("x.rs", text)), ["g::h", "j"]);
}

#[test]
fn a_group_over_several_lines_is_read_whole() {
    let text = "use crate::transport::{\n    open::{self, Transports},\n    Transport,\n};\n";
    assert_eq!(
        paths(&file("copy/plan.rs", text)),
        [
            "transport::open",
            "transport::open::Transports",
            "transport::Transport"
        ]
    );
}

#[test]
fn the_scanner_sees_the_whole_tree() {
    let all = sources(&[]);
    assert!(all.iter().any(|f| f.is_binary()));
    assert!(all.iter().any(|f| f.path == Path::new("lib.rs")));
    let lib = all.iter().find(|f| f.path == Path::new("lib.rs")).unwrap();
    assert!(lib.module.is_empty());
    assert!(all.len() > 100, "{}", all.len());
}
