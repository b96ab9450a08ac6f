//! The registry modules as a one-way stack, checked on the source tree: each module uses only
//! modules below it (so none imports another in a loop), and only the session decides what
//! credentials a request carries.

use std::path::Path;

/// Top to bottom. A module may use those after it in this list, never those before it (modules
/// on one line share a level and may not use each other).
const STACK: &[&[&str]] = &[
    &["mod"],
    &["mirrors"],
    &["repository"],
    &["referrers", "mount", "chunked"],
    &["upload"],
    &["exists"],
    &["client"],
    &["session"],
    &["host"],
    &["wire"],
    &["error"],
    &["challenge"],
];

fn level(module: &str) -> usize {
    STACK
        .iter()
        .position(|level| level.contains(&module))
        .unwrap_or_else(|| panic!("registry module {module} is not in the stack"))
}

/// Every `.rs` file of the registry folder (tests beside a module count as that module), as
/// (module, text).
fn sources() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/transport/registry");
    let mut found = Vec::new();
    let mut dirs = vec![dir.clone()];
    while let Some(current) = dirs.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let relative = path.strip_prefix(&dir).unwrap();
            let module = relative
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            // This test names every module; it is no layer of the stack.
            if module != "layering" {
                found.push((module, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    found
}

/// The registry modules `text` uses: `super::NAME`, `crate::transport::registry::NAME`, and
/// the names in `use super::{…}` groups.
fn uses(text: &str) -> Vec<String> {
    let modules: Vec<&str> = STACK
        .iter()
        .flat_map(|level| level.iter().copied())
        .collect();
    let mut used = Vec::new();
    for prefix in ["super::", "crate::transport::registry::", "registry::"] {
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
                if modules.contains(&name) && !used.iter().any(|u| u == name) {
                    used.push(name.to_string());
                }
            }
        }
    }
    used
}

#[test]
fn each_registry_module_uses_only_modules_below_it() {
    let mut wrong = Vec::new();
    for (module, text) in sources() {
        // A folder's tests (`wire/tests.rs`) use their own module through `super::`.
        let text = text.replace(&format!("super::{module}"), "");
        for used in uses(&text) {
            if used != module && level(&used) <= level(&module) {
                wrong.push(format!("{module} uses {used}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the stack: {wrong:?}");
}

#[test]
fn only_the_session_puts_credentials_on_a_request() {
    // What attaches or fetches credentials; none of it may appear outside session.rs (and the
    // client, which looks credentials up for the session's own host).
    let forbidden = [
        "AUTHORIZATION",
        "basic_auth(",
        "bearer_auth(",
        ".credentials(",
        ".token(",
        "fetch_token(",
        "Credentials::",
    ];
    let mut wrong = Vec::new();
    for (module, text) in sources() {
        if module == "session" {
            continue;
        }
        for needle in forbidden {
            if text.contains(needle) {
                wrong.push(format!("{module}: {needle}"));
            }
        }
        let looks_up = text.contains("crate::auth") || text.contains(".lookup(");
        if looks_up && module != "client" {
            wrong.push(format!("{module} looks credentials up"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn the_checks_see_what_they_check() {
    // The scanner finds both spellings of an import, so the checks above cannot pass vacuously.
    let text =
        "use super::wire::{self, Request};\nuse super::{chunked, mount};\nsuper::error::clip";
    assert_eq!(uses(text), ["wire", "chunked", "mount", "error"]);
    assert!(sources().iter().any(|(module, _)| module == "session"));
    assert!(sources().len() >= STACK.len());
}
