//! The registry modules (`src/transport/registry/`) as a one-way stack, checked on the source
//! tree: each module uses only modules below it (so none imports another in a loop), and only the
//! session decides what credentials a request carries.

use crate::layering::{file_of, words_outside, SourceFile, Stack};

const STACK: Stack = Stack {
    folder: &["transport", "registry"],
    order: &[
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
    ],
    unit_tests: true,
    names_modules: false,
};

/// Whether `file` uses the credentials module (`crate::config::auth`).
fn uses_credentials(file: &SourceFile) -> bool {
    file.imports().iter().any(|import| {
        import
            .path
            .starts_with(&["config".to_string(), "auth".to_string()])
    })
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
    let found = STACK.files();
    let mut wrong = words_outside(&found, &forbidden, &["session"], true);
    for (module, file) in &found {
        let looks_up = uses_credentials(file) || file.text.contains(".lookup(");
        if looks_up && module != "client" && module != "session" {
            wrong.push(format!("{module} looks credentials up"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn each_registry_module_uses_only_modules_below_it() {
    let wrong = STACK.against_the_order();
    assert!(wrong.is_empty(), "imports against the stack: {wrong:?}");
}

#[test]
fn the_checks_see_what_they_check() {
    // The scanner (tested on every spelling of an import in `crate::layering`) finds what the
    // registry modules use, so the checks above cannot pass vacuously.
    let found = STACK.files();
    assert!(STACK
        .uses(file_of(&found, "session"))
        .contains(&"host".to_string()));
    assert!(uses_credentials(file_of(&found, "client")));
    STACK.assert_every_module_is_there(&found);
}
