//! The registry modules (`src/transport/registry/`) as a one-way stack, checked on the source
//! tree: each module uses only modules below it (so none imports another in a loop), and only the
//! session decides what credentials a request carries.

use crate::layering::SourceFile;

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

/// Every file of the registry folder as (module, file): a file in a module's folder (its unit
/// tests) counts as that module.
fn sources() -> Vec<(String, SourceFile)> {
    crate::layering::modules_of(&["transport", "registry"])
}

/// The registry modules `file` (its unit tests too) uses: the name after
/// `transport::registry::` of each path it names that is a module of the stack.
fn uses(file: &SourceFile) -> Vec<String> {
    let mut used = crate::layering::names_used_in(file, &["transport", "registry"], true);
    used.retain(|name| STACK.iter().any(|level| level.contains(&name.as_str())));
    used
}

/// Whether `file` uses the credentials module (`crate::config::auth`).
fn uses_credentials(file: &SourceFile) -> bool {
    file.imports().iter().any(|import| {
        import
            .path
            .starts_with(&["config".to_string(), "auth".to_string()])
    })
}

#[test]
fn each_registry_module_uses_only_modules_below_it() {
    let mut wrong = Vec::new();
    for (module, file) in sources() {
        for used in uses(&file) {
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
    for (module, file) in sources() {
        if module == "session" {
            continue;
        }
        for needle in forbidden {
            if file.text.contains(needle) {
                wrong.push(format!("{module}: {needle}"));
            }
        }
        let looks_up = uses_credentials(&file) || file.text.contains(".lookup(");
        if looks_up && module != "client" {
            wrong.push(format!("{module} looks credentials up"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn the_checks_see_what_they_check() {
    // The scanner (tested on every spelling of an import in `crate::layering`) finds what the
    // registry modules use, so the checks above cannot pass vacuously.
    let found = sources();
    let session = &found.iter().find(|(m, _)| m == "session").unwrap().1;
    assert!(uses(session).contains(&"host".to_string()));
    let client = &found.iter().find(|(m, _)| m == "client").unwrap().1;
    assert!(uses_credentials(client));
    assert!(found.len() >= STACK.len());
}
