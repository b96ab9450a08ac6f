//! The `[aliases]` of one registries.conf file checked as containers/image checks them: a
//! short name on the left (no registry, tag or digest), a fully qualified repository on the
//! right, `""` to reset an alias of an earlier file. Every problem is reported at once.

use super::entries::Alias;
use super::ConfigError;
use crate::boundary::terminal::{quote, LISTED_ITEMS};
use crate::model::reference::{self, ImageRef, RegistryRef};
use std::collections::BTreeMap;
use std::path::Path;

/// Checks one file's `[aliases]`: every problem is reported at once, one per line, so a user
/// fixing a file does not discover them one run at a time.
pub(super) fn check_aliases(
    path: &Path,
    raw: BTreeMap<String, String>,
) -> Result<BTreeMap<String, Alias>, ConfigError> {
    let mut aliases = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, value) in raw {
        if let Err(problem) = check_alias_name(&name) {
            problems.push(problem);
            continue;
        }
        let value = if value.is_empty() {
            None
        } else {
            match parse_alias_value(&value) {
                Ok(r) => Some(r),
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            }
        };
        aliases.insert(
            name,
            Alias {
                value,
                origin: path.to_path_buf(),
            },
        );
    }
    if problems.is_empty() {
        Ok(aliases)
    } else {
        Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            reason: format!("invalid [aliases]:\n  {}", shown_problems(&problems)),
        })
    }
}

/// The first [`LISTED_ITEMS`] problems, one per line, and how many more there are.
fn shown_problems(problems: &[String]) -> String {
    let mut text = problems[..problems.len().min(LISTED_ITEMS)].join("\n  ");
    if problems.len() > LISTED_ITEMS {
        text.push_str(&format!("\n  … and {} more", problems.len() - LISTED_ITEMS));
    }
    text
}

/// The left-hand side: a repository path without registry, tag or digest.
fn check_alias_name(name: &str) -> Result<(), String> {
    let name_q = quote(name);
    if reference::split_host(name).0.is_some() {
        return Err(format!(
            "invalid short name {name_q}: must not contain a registry"
        ));
    }
    if name.contains('@') {
        return Err(format!(
            "invalid short name {name_q}: must not contain a digest"
        ));
    }
    if name.contains(':') {
        return Err(format!(
            "invalid short name {name_q}: must not contain a tag"
        ));
    }
    match reference::parse_image(name) {
        Ok(ImageRef::Registry(_)) => Ok(()),
        _ => Err(format!(
            "invalid short name {name_q}: not a repository name"
        )),
    }
}

/// The right-hand side: `host[:port]/repository`, no tag or digest, normalised
/// (`docker.io/alpine` → `docker.io/library/alpine`).
fn parse_alias_value(value: &str) -> Result<RegistryRef, String> {
    let value_q = quote(value);
    let (host, rest) = reference::split_host(value);
    if host.is_none() {
        return Err(format!(
            "invalid alias {value_q}: must contain a registry and a repository"
        ));
    }
    if value.contains('@') {
        return Err(format!(
            "invalid alias {value_q}: must not contain a digest"
        ));
    }
    if rest.contains(':') {
        return Err(format!("invalid alias {value_q}: must not contain a tag"));
    }
    match reference::parse_image(value) {
        Ok(ImageRef::Registry(r)) => Ok(RegistryRef { tag: None, ..r }),
        Ok(_) => Err(format!("invalid alias {value_q}: not a registry image")),
        Err(e) => Err(format!("invalid alias {value_q}: {e}")),
    }
}
