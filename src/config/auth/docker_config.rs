//! docker's `config.json`: `credHelpers` (a helper per registry), `auths` (looked up as in an
//! auth.json) and `credsStore` (a helper for every other registry), in the order docker's
//! credential store uses them. Helpers speak the docker-credential-helpers protocol
//! (`docker-credential-NAME get`, the server on stdin, `{"Username":…,"Secret":…}` on stdout)
//! and run through [`crate::boundary::helper`]: within a time limit, their output capped, killed
//! and named when they overrun. Their stdout holds secrets and is never quoted; their stderr is,
//! cut.

use super::{find_in_auths, key_form, AuthError, Credential};
use crate::boundary::helper::{self, HelperError, Limits};
use crate::boundary::terminal::quote;
use crate::error_chain;
use serde_json::Value;
use std::path::Path;

/// Looks `registry/repository` up in a docker config.json already parsed.
pub(super) fn find(
    path: &Path,
    config: &Value,
    registry: &str,
    repository: &str,
) -> Result<Option<Credential>, AuthError> {
    let malformed = |detail: String| AuthError::Malformed {
        path: path.to_path_buf(),
        detail,
    };
    let host = key_form(registry).0;
    if let Some(helpers) = config.get("credHelpers") {
        let helpers = helpers
            .as_object()
            .ok_or_else(|| malformed("\"credHelpers\" is not an object".into()))?;
        let mut keys: Vec<&String> = helpers.keys().collect();
        keys.sort();
        if let Some(key) = keys.into_iter().find(|key| key_form(key).0 == host) {
            let helper = helpers[key.as_str()].as_str().ok_or_else(|| {
                malformed(format!("\"credHelpers\" of {} is not a string", quote(key)))
            })?;
            if !helper.is_empty() {
                return ask(path, helper, &[key.as_str()], registry);
            }
        }
    }
    if let Some(credential) = find_in_auths(path, config, registry, repository)? {
        return Ok(Some(credential));
    }
    match config.get("credsStore") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(store)) if store.is_empty() => Ok(None),
        Some(Value::String(store)) => {
            // Docker keys Docker Hub as `https://index.docker.io/v1/` for its stores.
            let servers: &[&str] = if host == "docker.io" {
                &["https://index.docker.io/v1/", "docker.io"]
            } else {
                &[registry]
            };
            ask(path, store, servers, registry)
        }
        Some(_) => Err(malformed("\"credsStore\" is not a string".into())),
    }
}

/// What a helper answers with.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    username: String,
    secret: String,
}

/// Asks `docker-credential-{helper}` for each server in turn; "credentials not found" goes on
/// to the next, and after the last is no credential.
fn ask(
    path: &Path,
    helper: &str,
    servers: &[&str],
    registry: &str,
) -> Result<Option<Credential>, AuthError> {
    let failed = |detail: String| AuthError::Helper {
        path: path.to_path_buf(),
        helper: helper.to_string(),
        registry: registry.to_string(),
        detail,
    };
    // A helper is a program name, never a path: `credHelpers` must not run an arbitrary file.
    let plain = helper
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !plain {
        return Err(AuthError::Malformed {
            path: path.to_path_buf(),
            detail: format!(
                "the credential helper name {} is not a plain name (letters, digits, '.', '_', '-')",
                quote(helper)
            ),
        });
    }
    let program = format!("docker-credential-{helper}");
    for server in servers {
        let output = match helper::run(&program, &["get"], server.as_bytes(), &Limits::default()) {
            Ok(output) => output,
            Err(HelperError::NotRun { .. }) => {
                return Err(failed(
                    "it could not be run (is it installed and on $PATH?)".to_string(),
                ))
            }
            Err(e) => return Err(failed(error_chain(&e))),
        };
        if !output.status.success() {
            if is_not_found_message(&output.stdout) || is_not_found_message(&output.stderr) {
                continue;
            }
            return Err(failed(format!(
                "it exited with {}: {}",
                output.status,
                output.stderr_shown()
            )));
        }
        let answer: Answer = serde_json::from_slice(&output.stdout).map_err(|e| {
            // Not the parser's message: it may quote what was printed, a secret perhaps.
            failed(format!(
                "it printed something that is not a credential (JSON with \"Username\" and \
                 \"Secret\"; the problem is at line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if answer.username == "<token>" {
            return Err(AuthError::IdentityToken {
                path: path.to_path_buf(),
                registry: registry.to_string(),
            });
        }
        return Ok(Some(Credential::new(answer.username, answer.secret)));
    }
    Ok(None)
}

/// The docker-credential-helpers protocol says "credentials not found in native keychain".
fn is_not_found_message(text: &[u8]) -> bool {
    String::from_utf8_lossy(text)
        .to_ascii_lowercase()
        .contains("credentials not found")
}
