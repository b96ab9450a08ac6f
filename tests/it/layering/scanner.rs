//! The one import scanner of every test over the source tree: each `.rs` file of `src/` as the
//! module the compiler makes of it, and every path it names from the crate (`crate::…`,
//! `super::…`, `self::…`, groups included) resolved to a path from the crate root.

use std::path::{Path, PathBuf};

/// One `.rs` file of `src/`.
pub(crate) struct SourceFile {
    /// The file, relative to `src/`.
    pub(crate) path: PathBuf,
    /// Its module from the crate root: `copy/blobs.rs` and `copy/blobs/mod.rs` are
    /// `["copy", "blobs"]`, `copy/mod.rs` and `copy.rs` are `["copy"]`, a unit-test file
    /// (`copy/steps_tests.rs`, `copy/steps/tests.rs`) is `["copy", "steps", "tests"]`, and the
    /// crate roots (`lib.rs`, `main.rs`) are `[]`.
    pub(crate) module: Vec<String>,
    /// The text as written.
    pub(crate) text: String,
}

/// A path that code names from the crate, from the crate root: `crate::copy::steps::Plan`, or
/// `super::steps::Plan` written in `copy/blobs.rs`, is `["copy", "steps", "Plan"]`;
/// `use super::*` in `copy/blobs.rs` is `["copy"]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Import {
    /// The path's segments.
    pub(crate) path: Vec<String>,
    /// Whether it is named by unit tests (a `tests` module, inline or a file of its own).
    pub(crate) in_tests: bool,
}

/// The `src/` folder.
pub(crate) fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file of `src/` whose module is `under` or inside it (`&[]`: every file, the
/// binary's `main.rs` too), in path order.
pub(crate) fn sources(under: &[&str]) -> Vec<SourceFile> {
    let root = src();
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&root).unwrap().to_path_buf();
                let module = module_of(&relative);
                if module.len() >= under.len() && module[..under.len()] == *under {
                    let text = std::fs::read_to_string(&path).unwrap();
                    files.push(SourceFile {
                        path: relative,
                        module,
                        text,
                    });
                }
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The files of the folder module `folder`, each as (the name of the module of `folder` it is or
/// is inside, the file): `mod` is the folder's own file.
pub(crate) fn modules_of(folder: &[&str]) -> Vec<(String, SourceFile)> {
    sources(folder)
        .into_iter()
        .map(|file| {
            let module = file.module.get(folder.len()).map_or("mod", String::as_str);
            (module.to_string(), file)
        })
        .collect()
}

/// What the code of `file` names inside the folder module `folder`: the segment after `folder`
/// of each path, module or not, each once; with `tests`, its unit tests' paths too.
pub(crate) fn names_used_in(file: &SourceFile, folder: &[&str], tests: bool) -> Vec<String> {
    let mut used: Vec<String> = Vec::new();
    for import in file.imports() {
        let inside = import.path.len() > folder.len() && import.path[..folder.len()] == *folder;
        if inside && (tests || !import.in_tests) {
            let name = &import.path[folder.len()];
            if !used.contains(name) {
                used.push(name.clone());
            }
        }
    }
    used
}

/// The module a file under `src/` is, by the compiler's rules and the project's one for unit
/// tests (`NAME_tests.rs` is `NAME`'s `tests` module, declared with `#[path]`).
fn module_of(relative: &Path) -> Vec<String> {
    let mut module: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    let file = module.pop().unwrap();
    let stem = file.trim_end_matches(".rs");
    if module.is_empty() && (stem == "lib" || stem == "main") {
        return module;
    }
    match stem.strip_suffix("_tests") {
        _ if stem == "mod" => {}
        Some(tested) => {
            module.push(tested.to_string());
            module.push("tests".to_string());
        }
        None => module.push(stem.to_string()),
    }
    module
}

/// Files for the tests of a check, one a line: the path (relative to `src/`), spaces, then the
/// text, `\n` marking its line breaks. Blank lines and `//` lines are comments.
pub(crate) fn written_tree(lines: &str) -> Vec<SourceFile> {
    lines
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .map(|line| {
            let (path, text) = line.split_once(' ').expect("a path, then its text");
            SourceFile::written(path, &format!("{}\n", text.trim().replace("\\n", "\n")))
        })
        .collect()
}

impl SourceFile {
    /// A file of `text` at `path` (relative to `src/`), for the tests of a check.
    pub(crate) fn written(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: PathBuf::from(path),
            module: module_of(Path::new(path)),
            text: text.to_string(),
        }
    }

    /// Whether this is the binary's root (`main.rs`), which names the library `manifest::`.
    pub(crate) fn is_binary(&self) -> bool {
        self.path == Path::new("main.rs")
    }

    /// The text before the file's unit tests (an inline `mod tests` comes last); empty for a
    /// file of unit tests.
    pub(crate) fn without_unit_tests(&self) -> &str {
        if self.module.iter().any(|m| m == "tests") {
            return "";
        }
        match self.text.find("#[cfg(test)]\nmod tests {") {
            Some(at) => &self.text[..at],
            None => &self.text,
        }
    }

    /// Every path the code of this file names from the crate (comments and literals are not
    /// code), in the order written, each once.
    pub(crate) fn imports(&self) -> Vec<Import> {
        let code = code_only(&self.text);
        // The module each line is in: an inline module (`mod tests {` at the start of a line,
        // as rustfmt leaves it) lasts to the first `}` at the start of a line.
        let mut lines: Vec<(usize, Vec<String>)> = Vec::new();
        let mut inline: Option<String> = None;
        let mut start = 0;
        for line in code.split_inclusive('\n') {
            if inline.is_some() && line.starts_with('}') {
                inline = None;
            }
            let mut module = self.module.clone();
            module.extend(inline.clone());
            lines.push((start, module));
            if inline.is_none() {
                inline = inline_module(line.trim_end());
            }
            start += line.len();
        }
        let prefixes: &[&str] = if self.is_binary() {
            &["manifest::"]
        } else {
            &["crate::", "super::", "self::"]
        };
        let mut starts: Vec<(usize, &str)> = prefixes
            .iter()
            .flat_map(|prefix| code.match_indices(prefix))
            .collect();
        starts.sort();
        let mut found: Vec<Import> = Vec::new();
        for (at, prefix) in starts {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || "_:$".contains(c)) {
                continue;
            }
            let line = lines.partition_point(|(start, _)| *start <= at) - 1;
            let module = &lines[line].1;
            let base = match prefix {
                "super::" => module[..module.len().saturating_sub(1)].to_vec(),
                "self::" => module.clone(),
                _ => Vec::new(),
            };
            let mut rest = &code.as_bytes()[at + prefix.len()..];
            let mut paths = Vec::new();
            tree(&mut rest, base, &mut paths);
            let in_tests = module.iter().any(|m| m == "tests");
            for path in paths {
                let import = Import { path, in_tests };
                if !found.contains(&import) {
                    found.push(import);
                }
            }
        }
        found
    }
}

/// The name of the inline module a line opens (`mod tests {`, `pub(crate) mod caps {`).
fn inline_module(line: &str) -> Option<String> {
    let rest = line.strip_prefix("pub ").unwrap_or(line);
    let rest = match rest.strip_prefix("pub(") {
        Some(visibility) => visibility.split_once(") ")?.1,
        None => rest,
    };
    let name = rest.strip_prefix("mod ")?.strip_suffix(" {")?;
    Some(name.to_string())
}

/// Reads one path (and the paths of its `{…}` group, over several lines if need be) from the
/// start of `rest`, each segment added to `base`.
fn tree(rest: &mut &[u8], mut base: Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        skip_spaces(rest);
        match rest.first() {
            Some(b'{') => {
                *rest = &rest[1..];
                loop {
                    skip_spaces(rest);
                    match rest.first() {
                        None => return,
                        Some(b'}') => {
                            *rest = &rest[1..];
                            return;
                        }
                        Some(b',') => *rest = &rest[1..],
                        Some(_) => {
                            let before = rest.len();
                            tree(rest, base.clone(), out);
                            if rest.len() == before {
                                return;
                            }
                        }
                    }
                }
            }
            Some(b'*') => {
                *rest = &rest[1..];
                out.push(base);
                return;
            }
            _ => {}
        }
        let length = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        let ident = String::from_utf8_lossy(&rest[..length]).to_string();
        *rest = &rest[length..];
        match ident.as_str() {
            "" | "self" => {}
            "super" => {
                base.pop();
            }
            _ => base.push(ident),
        }
        if rest.starts_with(b"::") {
            *rest = &rest[2..];
        } else {
            // `PATH as NAME`: the name is no segment.
            let mut after = *rest;
            skip_spaces(&mut after);
            if let Some(alias) = after.strip_prefix(b"as ") {
                *rest = alias;
                skip_spaces(rest);
                let length = rest
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
                *rest = &rest[length..];
            }
            out.push(base);
            return;
        }
    }
}

fn skip_spaces(rest: &mut &[u8]) {
    while rest.first().is_some_and(|b| b.is_ascii_whitespace()) {
        *rest = &rest[1..];
    }
}

/// `text` with comments and the insides of string and character literals made spaces (lines
/// kept), so that only code is scanned.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let starts_word = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if starts_word && (c == 'r' || (c == 'b' && next == Some('r'))) && {
            let at = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = chars[at.min(chars.len())..]
                .iter()
                .take_while(|h| **h == '#')
                .count();
            chars.get(at + hashes) == Some(&'"')
        } {
            // A raw string: r"…", r#"…"#, br"…".
            let at = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = chars[at..].iter().take_while(|h| **h == '#').count();
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let body = at + hashes + 1;
            let end = (body..chars.len())
                .find(|&j| chars[j..].starts_with(&close))
                .map_or(chars.len(), |j| j + close.len());
            for &skipped in &chars[i..end] {
                out.push(blank(skipped));
            }
            i = end;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let step = if chars[i] == '\\' { 2 } else { 1 };
                for &skipped in &chars[i..(i + step).min(chars.len())] {
                    out.push(blank(skipped));
                }
                i += step;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\u{1F600}'); a lifetime has no closing quote.
            let end = (i + 2..chars.len())
                .find(|&j| chars[j] == '\'')
                .map_or(chars.len(), |j| j + 1);
            for _ in i..end {
                out.push(' ');
            }
            i = end;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

#[path = "scanner_tests.rs"]
mod tests;
