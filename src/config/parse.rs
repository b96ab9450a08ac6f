//! One registries.conf file: the TOML model, and the checks containers/image makes when it
//! loads a file (prefixes, locations, mirrors, conflicting settings, search registries,
//! short-name mode, aliases). The v1 format is refused.

use super::entries::{Alias, Mirror, PullFromMirror, Registry, ShortNameMode};
use super::ConfigError;
use crate::boundary::terminal::{cut_quoted, quote};
use crate::model::reference::host;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawFile {
    registry: Option<Vec<RawRegistry>>,
    unqualified_search_registries: Option<Vec<String>>,
    short_name_mode: Option<String>,
    aliases: Option<BTreeMap<String, String>>,
    /// v1 only: `[registries.search]`, `[registries.insecure]`, `[registries.block]`.
    registries: Option<RawV1>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawRegistry {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    pull_from_mirror: String,
    #[serde(default)]
    mirror: Vec<RawMirror>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawMirror {
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    pull_from_mirror: String,
}

#[derive(Deserialize)]
struct RawV1 {
    search: Option<RawV1List>,
    insecure: Option<RawV1List>,
    block: Option<RawV1List>,
}

#[derive(Deserialize)]
struct RawV1List {
    registries: Option<Vec<String>>,
}

impl RawV1 {
    fn is_set(&self) -> bool {
        [&self.search, &self.insecure, &self.block]
            .iter()
            .any(|list| list.as_ref().is_some_and(|l| l.registries.is_some()))
    }
}

/// One file, checked: what it sets (`None` = not set, so an earlier file's value stays).
#[derive(Debug, Default)]
pub(super) struct ParsedFile {
    pub registries: Vec<Registry>,
    pub unqualified_search: Option<Vec<String>>,
    pub short_name_mode: Option<ShortNameMode>,
    pub aliases: BTreeMap<String, Alias>,
}
fn invalid(path: &Path, reason: String) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        reason,
    }
}

pub(super) fn parse_file(path: &Path, text: &str) -> Result<ParsedFile, ConfigError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: cut_quoted(e.to_string().trim_end()),
    })?;
    if raw.registries.as_ref().is_some_and(RawV1::is_set) {
        return Err(invalid(
            path,
            "the v1 format ([registries.search], [registries.insecure], [registries.block]) is \
             no longer supported; write [[registry]] tables and unqualified-search-registries \
             (containers-registries.conf(5))"
                .into(),
        ));
    }
    let mut registries = Vec::new();
    for raw in raw.registry.unwrap_or_default() {
        registries.push(check_registry(path, raw)?);
    }
    check_conflicts(path, &registries)?;
    let unqualified_search = raw
        .unqualified_search_registries
        .map(|list| check_search_registries(path, list))
        .transpose()?;
    let short_name_mode = match raw.short_name_mode.as_deref() {
        None | Some("") => None,
        Some("enforcing") => Some(ShortNameMode::Enforcing),
        Some("permissive") => Some(ShortNameMode::Permissive),
        Some("disabled") => Some(ShortNameMode::Disabled),
        Some(other) => {
            let other_q = quote(other);
            return Err(invalid(
                path,
                format!("invalid short-name-mode {other_q} (enforcing, permissive or disabled)"),
            ));
        }
    };
    let aliases = super::aliases::check_aliases(path, raw.aliases.unwrap_or_default())?;
    Ok(ParsedFile {
        registries: first_per_prefix(registries),
        unqualified_search,
        short_name_mode,
        aliases,
    })
}

/// A `prefix` or `location` without the trailing `/`, its host in canonical form (so that every
/// spelling of a host matches it); a URL scheme is an error.
fn parse_location(path: &Path, input: &str) -> Result<String, ConfigError> {
    let trimmed = input.trim_end_matches('/');
    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        let input_q = quote(input);
        return Err(invalid(
            path,
            format!("invalid location {input_q}: URI schemes are not supported (write host[:port][/path])"),
        ));
    }
    Ok(host::canonical_name(trimmed))
}

fn parse_pull_from_mirror(
    path: &Path,
    value: &str,
    location: &str,
) -> Result<PullFromMirror, ConfigError> {
    match value {
        "" | "all" => Ok(PullFromMirror::All),
        "digest-only" => Ok(PullFromMirror::DigestOnly),
        "tag-only" => Ok(PullFromMirror::TagOnly),
        other => Err(invalid(
            path,
            format!(
                "unsupported pull-from-mirror value {} for mirror {} (all, digest-only or \
                 tag-only)",
                quote(other),
                quote(location)
            ),
        )),
    }
}

fn check_registry(path: &Path, raw: RawRegistry) -> Result<Registry, ConfigError> {
    let location = parse_location(path, &raw.location)?;
    let prefix = if raw.prefix.is_empty() {
        if location.is_empty() {
            return Err(invalid(
                path,
                "a [[registry]] table has neither prefix nor location".into(),
            ));
        }
        location.clone()
    } else {
        let prefix = parse_location(path, &raw.prefix)?;
        if !prefix.starts_with("*.") && location.is_empty() {
            let prefix_q = quote(&prefix);
            return Err(invalid(
                path,
                format!(
                    "[[registry]] {prefix_q} has no location; only a wildcard prefix \
                     (*.example.com) may leave it out"
                ),
            ));
        }
        prefix
    };
    let prefix_q = quote(&prefix);
    if prefix.starts_with("*.") && prefix.contains(['/', '@', ':']) {
        return Err(invalid(
            path,
            format!("wildcard prefix {prefix_q} must have the form *.example.com (no path, port, tag or digest)"),
        ));
    }
    if !raw.pull_from_mirror.is_empty() {
        return Err(invalid(
            path,
            format!(
                "pull-from-mirror is a mirror setting; it cannot be set on [[registry]] {prefix_q}"
            ),
        ));
    }
    let mut mirrors = Vec::new();
    for mirror in raw.mirror {
        let location = parse_location(path, &mirror.location)?;
        if location.is_empty() {
            return Err(invalid(
                path,
                format!("a mirror of [[registry]] {prefix_q} has no location"),
            ));
        }
        if raw.mirror_by_digest_only && !mirror.pull_from_mirror.is_empty() {
            return Err(invalid(
                path,
                format!(
                    "[[registry]] {prefix_q} sets mirror-by-digest-only and its mirror \
                     {} sets pull-from-mirror; use one of them",
                    quote(&location)
                ),
            ));
        }
        let pull_from_mirror = parse_pull_from_mirror(path, &mirror.pull_from_mirror, &location)?;
        mirrors.push(Mirror {
            location,
            insecure: mirror.insecure,
            pull_from_mirror,
        });
    }
    Ok(Registry {
        prefix,
        location,
        insecure: raw.insecure,
        blocked: raw.blocked,
        mirror_by_digest_only: raw.mirror_by_digest_only,
        mirrors,
        origin: path.to_path_buf(),
    })
}

/// The same registry (by location, or by prefix without one) listed twice must agree on
/// `insecure` and `blocked`.
fn check_conflicts(path: &Path, registries: &[Registry]) -> Result<(), ConfigError> {
    let mut seen: HashMap<&str, &Registry> = HashMap::new();
    for registry in registries {
        let key = if registry.location.is_empty() {
            registry.prefix.as_str()
        } else {
            registry.location.as_str()
        };
        let Some(other) = seen.get(key) else {
            seen.insert(key, registry);
            continue;
        };
        for (setting, a, b) in [
            ("insecure", registry.insecure, other.insecure),
            ("blocked", registry.blocked, other.blocked),
        ] {
            if a != b {
                return Err(invalid(
                    path,
                    format!(
                        "registry {} is defined several times with conflicting {setting:?} settings",
                        quote(key)
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn check_search_registries(path: &Path, list: Vec<String>) -> Result<Vec<String>, ConfigError> {
    list.into_iter()
        .map(|entry| {
            let host = parse_location(path, &entry)?;
            if let Some(host) = host::canonical(&host) {
                Ok(host)
            } else {
                let entry_q = quote(&entry);
                Err(invalid(
                    path,
                    format!(
                        "invalid unqualified-search-registries entry {entry_q} (host[:port] only)"
                    ),
                ))
            }
        })
        .collect()
}

/// The first table wins when a file repeats a prefix (later ones would never be chosen);
/// the result is sorted by prefix, as after a merge.
fn first_per_prefix(registries: Vec<Registry>) -> Vec<Registry> {
    let mut by_prefix = BTreeMap::new();
    for registry in registries {
        by_prefix.entry(registry.prefix.clone()).or_insert(registry);
    }
    by_prefix.into_values().collect()
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::registries::RegistriesConf;
    use std::path::PathBuf;

    fn parse(text: &str) -> Result<RegistriesConf, ConfigError> {
        RegistriesConf::parse(Path::new("/r.conf"), text)
    }

    #[test]
    fn a_full_file_parses() {
        let c = parse(
            "unqualified-search-registries = ['registry.fedoraproject.org', 'docker.io']\n\
             short-name-mode = 'enforcing'\n\
             credential-helpers = ['containers-auth.json']\n\
             [[registry]]\n\
             prefix = 'example.com/foo/'\n\
             location = 'internal.io/bar/'\n\
             insecure = true\n\
             [[registry.mirror]]\n\
             location = 'mirror.io'\n\
             pull-from-mirror = 'tag-only'\n\
             [[registry]]\n\
             location = 'blocked.io'\n\
             blocked = true\n\
             [aliases]\n\
             'fedora' = 'registry.fedoraproject.org/fedora'\n",
        )
        .unwrap();
        assert_eq!(
            c.unqualified_search,
            ["registry.fedoraproject.org", "docker.io"]
        );
        assert_eq!(
            c.unqualified_search_origin.as_deref(),
            Some(Path::new("/r.conf"))
        );
        assert_eq!(c.short_name_mode, ShortNameMode::Enforcing);
        assert_eq!(c.registries.len(), 2);
        let blocked = &c.registries[0];
        assert_eq!(
            (blocked.prefix.as_str(), blocked.blocked),
            ("blocked.io", true)
        );
        let remap = &c.registries[1];
        assert_eq!(remap.prefix, "example.com/foo", "the trailing / is dropped");
        assert_eq!(remap.location, "internal.io/bar");
        assert!(remap.insecure);
        assert_eq!(
            remap.mirrors,
            [Mirror {
                location: "mirror.io".into(),
                insecure: false,
                pull_from_mirror: PullFromMirror::TagOnly,
            }]
        );
        assert_eq!(remap.origin, Path::new("/r.conf"));
        assert!(c.aliases.contains_key("fedora"));
        assert_eq!(c.files, [PathBuf::from("/r.conf")]);
    }

    #[test]
    fn bad_files_give_clear_errors() {
        for (text, needle) in [
            ("[[registry]\nlocation = 'x.io'", "not valid TOML"),
            ("[[registry]]\nlocation = 1\n", "not valid TOML"),
            ("[[registry]]\ninsecure = true\n", "neither prefix nor location"),
            ("[[registry]]\nprefix = 'x.io/a'\n", "has no location"),
            ("[[registry]]\nlocation = 'https://x.io'\n", "URI schemes are not supported"),
            ("[[registry]]\nprefix = 'http://x.io'\nlocation = 'x.io'\n", "URI schemes"),
            ("[[registry]]\nprefix = '*.x.io/a'\n", "must have the form *.example.com"),
            ("[[registry]]\nprefix = '*.x.io:5000'\n", "must have the form *.example.com"),
            ("[[registry]]\nlocation = 'x.io'\npull-from-mirror = 'all'\n", "mirror setting"),
            ("[[registry]]\nlocation = 'x.io'\n[[registry.mirror]]\ninsecure = true\n", "has no location"),
            (
                "[[registry]]\nlocation = 'x.io'\n[[registry.mirror]]\nlocation = 'm.io'\npull-from-mirror = 'sometimes'\n",
                "unsupported pull-from-mirror value \"sometimes\"",
            ),
            (
                "[[registry]]\nlocation = 'x.io'\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = 'm.io'\npull-from-mirror = 'all'\n",
                "use one of them",
            ),
            (
                "[[registry]]\nprefix = 'a.io'\nlocation = 'x.io'\ninsecure = true\n[[registry]]\nprefix = 'b.io'\nlocation = 'x.io'\n",
                "conflicting \"insecure\"",
            ),
            (
                "[[registry]]\nprefix = 'a.io'\nlocation = 'x.io'\nblocked = true\n[[registry]]\nprefix = 'b.io'\nlocation = 'x.io'\n",
                "conflicting \"blocked\"",
            ),
            ("unqualified-search-registries = ['x.io/path']\n", "invalid unqualified-search-registries entry"),
            ("unqualified-search-registries = ['https://x.io']\n", "URI schemes"),
            ("short-name-mode = 'strict'\n", "invalid short-name-mode \"strict\""),
            ("[registries.search]\nregistries = ['docker.io']\n", "v1 format"),
            ("[registries.insecure]\nregistries = []\n", "v1 format"),
            ("[aliases]\n'a' = 'x.io/a'\n'a' = 'x.io/b'\n", "not valid TOML"),
        ] {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
            assert!(err.contains("/r.conf"), "{text:?}: {err}");
        }
    }

    #[test]
    fn toml_bombs_are_errors_of_bounded_length() {
        let long_line = format!(
            "unqualified-search-registries = ['{}'\n",
            "a".repeat(400_000)
        );
        let deep_arrays = format!("x = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let deep_tables = format!("x = {}1{}\n", "{a = ".repeat(100_000), "}".repeat(100_000));
        let long_value = format!("short-name-mode = '{}'\n", "z".repeat(400_000));
        let long_prefix = format!("[[registry]]\nprefix = '{}'\n", "p".repeat(400_000));
        let many_aliases: String = (0..20_000)
            .map(|n| format!("'a{n}' = 'x.io/a:{n}'\n"))
            .collect();
        let many_aliases = format!("[aliases]\n{many_aliases}");
        for (name, text) in [
            ("a long line", long_line),
            ("deep arrays", deep_arrays),
            ("deep inline tables", deep_tables),
            ("a long value", long_value),
            ("a long prefix", long_prefix),
            ("many bad aliases", many_aliases),
        ] {
            let err = parse(&text).expect_err(name).to_string();
            assert!(
                err.len() < 4000,
                "{name}: {} bytes: {}",
                err.len(),
                &err[..200]
            );
            assert!(err.contains("/r.conf"), "{name}: {err}");
        }
    }

    #[test]
    fn a_syntax_error_names_the_line() {
        let err = parse("unqualified-search-registries = ['a.io'\n").unwrap_err();
        let ConfigError::Syntax { message, .. } = &err else {
            panic!("{err}");
        };
        assert!(message.contains("line 1"), "{message}");
    }

    #[test]
    fn unknown_keys_and_empty_tables_are_accepted() {
        let c = parse(
            "additional-layer-store-auth-helper = 'x'\n[registries]\n[[registry]]\nlocation = 'x.io'\nfuture-key = 1\n",
        )
        .unwrap();
        assert_eq!(c.registries.len(), 1);
    }

    #[test]
    fn the_first_table_of_a_repeated_prefix_wins_within_a_file() {
        let c = parse(
            "[[registry]]\nprefix = 'a.io'\nlocation = 'first.io'\n\
             [[registry]]\nprefix = 'a.io'\nlocation = 'second.io'\n",
        )
        .unwrap();
        assert_eq!(c.registries.len(), 1);
        assert_eq!(c.registries[0].location, "first.io");
    }
}
