//! Registry credentials: where they are looked up (the podman/buildah order), how an auth file
//! entry is matched to a registry, and a credential type that never prints its password.
//!
//! Order (BEHAVIOUR.md, "Registry flags"): `--creds`; `--authfile`; `$REGISTRY_AUTH_FILE`;
//! `$XDG_RUNTIME_DIR/containers/auth.json`; `$XDG_CONFIG_HOME/containers/auth.json` (default
//! `~/.config/containers/auth.json`); `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`,
//! including its `credHelpers` / `credsStore` helpers. The first source that has an entry for the
//! registry wins. Files are only ever read, never written.
//!
//! Unlike containers/image, an `--authfile` without an entry for the registry does not stop the
//! search: the contract lists every source in one order, so the later ones are still tried.
//! Not supported (each is an error or is skipped, never a silent wrong credential): identity
//! tokens (OAuth refresh tokens) and `credHelpers` inside a containers auth.json (only docker's
//! config.json runs helpers here).

mod docker_config;

use crate::boundary::fsutil::{self, caps, FileError};
use crate::boundary::terminal::quote;
use crate::model::reference::host;
use base64::Engine as _;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// A user name and password for one registry. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Credential {
    username: String,
    password: String,
}

impl Credential {
    pub(crate) fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    pub(crate) fn username(&self) -> &str {
        &self.username
    }

    /// The secret. Callers pass it to the HTTP client and nowhere else (no logs, no messages).
    pub(crate) fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The outcome of a lookup: the credential, if any, and where it was looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lookup {
    pub credential: Option<Credential>,
    /// The source that supplied the credential, e.g. `--creds` or `/run/user/1000/containers/auth.json`.
    pub source: Option<String>,
    /// Every place consulted, in order, for messages: `--creds, /a/auth.json, /b/config.json (used)`.
    pub searched: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    #[error(
        "--creds {user:?} has no password: an interactive password prompt is not supported, \
         pass --creds USER:PASS"
    )]
    NoPassword { user: String },
    #[error("--creds has an empty user name; pass --creds USER:PASS")]
    EmptyUser,
    // The cause is in the message, not the chain: the registry layer shows messages only.
    #[error("{what}: {}", crate::error_chain(cause))]
    Read {
        what: String,
        path: PathBuf,
        cause: FileError,
    },
    #[error("{path} is not a valid auth file: {detail}")]
    Malformed { path: PathBuf, detail: String },
    #[error(
        "{path}: the entry {key} has an invalid \"auth\" value (expected base64 of USER:PASSWORD)"
    )]
    BadEntry { path: PathBuf, key: String },
    #[error(
        "{path}: the credential for {registry} is an identity token, which is not supported; \
         log in with a user name and password, or pass --creds USER:PASS"
    )]
    IdentityToken { path: PathBuf, registry: String },
    #[error(
        "{path}: credential helper docker-credential-{helper} failed for {registry}: {detail}"
    )]
    Helper {
        path: PathBuf,
        helper: String,
        registry: String,
        detail: String,
    },
}

/// Parses `--creds USER[:PASS]`. A missing password is an error: there is no prompt.
pub(crate) fn parse_creds(creds: &str) -> Result<Credential, AuthError> {
    let Some((user, pass)) = creds.split_once(':') else {
        return Err(AuthError::NoPassword {
            user: creds.to_string(),
        });
    };
    if user.is_empty() {
        return Err(AuthError::EmptyUser);
    }
    Ok(Credential::new(user, pass))
}

/// Where credentials are looked for. Built from the environment by `AuthSources::from_env`;
/// tests build it by hand so they never read the real home directory.
#[derive(Clone, Default)]
pub struct AuthSources {
    /// `--creds USER[:PASS]`; default none.
    pub creds: Option<String>,
    /// `--authfile PATH`; default none. Must exist when given.
    pub authfile: Option<PathBuf>,
    /// `$REGISTRY_AUTH_FILE`; default none. Must exist when set (as in buildah).
    pub registry_auth_file: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, else `/run/containers/$UID/auth.json`.
    pub runtime_auth_file: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME/containers/auth.json`, else `~/.config/containers/auth.json`.
    pub user_auth_file: Option<PathBuf>,
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
}

impl fmt::Debug for AuthSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSources")
            .field("creds", &self.creds.as_ref().map(|c| redact_creds(c)))
            .field("authfile", &self.authfile)
            .field("registry_auth_file", &self.registry_auth_file)
            .field("runtime_auth_file", &self.runtime_auth_file)
            .field("user_auth_file", &self.user_auth_file)
            .field("docker_config", &self.docker_config)
            .finish()
    }
}

/// `user:secret` → `user:<redacted>`, for `Debug` output of option structs.
pub(crate) fn redact_creds(creds: &str) -> String {
    match creds.split_once(':') {
        Some((user, _)) => format!("{user}:<redacted>"),
        None => creds.to_string(),
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl AuthSources {
    /// The sources podman and buildah use, from the process environment.
    pub(crate) fn from_env(creds: Option<String>, authfile: Option<PathBuf>) -> Self {
        let home = env_path("HOME");
        let runtime_auth_file = match env_path("XDG_RUNTIME_DIR") {
            Some(dir) => Some(dir.join("containers/auth.json")),
            // containers/image's fallback when XDG_RUNTIME_DIR is unset (e.g. a root cron job).
            None => {
                // SAFETY: getuid has no preconditions and cannot fail.
                let uid = unsafe { libc::getuid() };
                Some(PathBuf::from(format!("/run/containers/{uid}/auth.json")))
            }
        };
        let user_auth_file = env_path("XDG_CONFIG_HOME")
            .or_else(|| home.as_ref().map(|h| h.join(".config")))
            .map(|d| d.join("containers/auth.json"));
        let docker_config = env_path("DOCKER_CONFIG")
            .map(|d| d.join("config.json"))
            .or_else(|| home.as_ref().map(|h| h.join(".docker/config.json")));
        Self {
            creds,
            authfile,
            registry_auth_file: env_path("REGISTRY_AUTH_FILE"),
            runtime_auth_file,
            user_auth_file,
            docker_config,
        }
    }

    /// Finds the credential for `registry` (host[:port], as the user wrote it) and `repository`.
    /// No entry anywhere is not an error: the registry is then accessed anonymously.
    ///
    /// May run a credential helper process, so call it from a blocking context.
    pub(crate) fn lookup(&self, registry: &str, repository: &str) -> Result<Lookup, AuthError> {
        let mut searched: Vec<String> = Vec::new();
        let found = |searched: &mut Vec<String>, source: String, credential: Credential| {
            searched.push(format!("{source} (used)"));
            Lookup {
                credential: Some(credential),
                source: Some(source),
                searched: searched.join(", "),
            }
        };

        searched.push("--creds".to_string());
        if let Some(creds) = &self.creds {
            let credential = parse_creds(creds)?;
            searched.pop();
            return Ok(found(&mut searched, "--creds".into(), credential));
        }

        let auth_files = [
            (&self.authfile, "--authfile", true),
            (&self.registry_auth_file, "$REGISTRY_AUTH_FILE", true),
            (&self.runtime_auth_file, "", false),
            (&self.user_auth_file, "", false),
        ];
        for (path, what, must_exist) in auth_files {
            let Some(path) = path else { continue };
            searched.push(path.display().to_string());
            let Some(text) = read_optional(path, what, must_exist)? else {
                continue;
            };
            let value = parse(path, &text)?;
            if let Some(credential) = find_in_auths(path, &value, registry, repository)? {
                searched.pop();
                return Ok(found(&mut searched, path.display().to_string(), credential));
            }
        }

        if let Some(path) = &self.docker_config {
            searched.push(path.display().to_string());
            if let Some(text) = read_optional(path, "", false)? {
                let value = parse(path, &text)?;
                if let Some(credential) = docker_config::find(path, &value, registry, repository)? {
                    searched.pop();
                    return Ok(found(&mut searched, path.display().to_string(), credential));
                }
            }
        }

        Ok(Lookup {
            credential: None,
            source: None,
            searched: searched.join(", "),
        })
    }
}

/// An auth file's JSON.
fn parse(path: &Path, text: &str) -> Result<Value, AuthError> {
    serde_json::from_str(text).map_err(|e| AuthError::Malformed {
        path: path.to_path_buf(),
        // The position only: serde's message may quote a value, which may be a secret.
        detail: format!("not valid JSON (line {}, column {})", e.line(), e.column()),
    })
}

/// Reads an auth file (a regular file within [`caps::AUTH_FILE`]; a symlink to one is
/// followed); a missing file is `None` unless the user named it explicitly.
fn read_optional(path: &Path, what: &str, must_exist: bool) -> Result<Option<String>, AuthError> {
    let error = |cause: FileError| AuthError::Read {
        what: if what.is_empty() {
            "cannot read auth file".to_string()
        } else {
            format!("cannot read the auth file given by {what}")
        },
        path: path.to_path_buf(),
        cause,
    };
    match fsutil::read_text(path, caps::AUTH_FILE) {
        Ok(None) if must_exist => Err(error(FileError::Io {
            context: "opening",
            path: path.display().to_string(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })),
        Ok(text) => Ok(text),
        Err(source) => Err(error(source)),
    }
}

/// Docker Hub has several names; auth files use any of them.
fn normalize_registry(host: &str) -> &str {
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    }
}

/// An auth file key in the form it is compared in: its host in canonical form (Docker Hub's
/// names as `docker.io`) and its repository path as written. A key with a URL scheme
/// (`https://index.docker.io/v1/`, `http://reg:5000/x`) is a legacy key for the host alone, as
/// containers/image reads it: `(host, true)`.
fn key_form(key: &str) -> (String, bool) {
    let stripped = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"));
    let (name, legacy) = match stripped {
        Some(rest) => (rest.split('/').next().unwrap_or(rest), true),
        None => (key, false),
    };
    let canonical = host::canonical_name(name);
    let (host_part, path) = canonical.split_at(canonical.find('/').unwrap_or(canonical.len()));
    (format!("{}{path}", normalize_registry(host_part)), legacy)
}

/// Looks `registry/repository` up in the `auths` of a containers auth.json or a docker
/// config.json (`{"auths": {KEY: {"auth": …}}}`): the most specific repository-scoped key
/// first (`reg/a/b`, then `reg/a`), then the host, then legacy keys with a scheme. Keys are
/// compared with their host in canonical form, so `LOCALHOST:05000` is `localhost:5000`; when
/// several keys spell one name, the first in name order is used.
fn find_in_auths(
    path: &Path,
    value: &Value,
    registry: &str,
    repository: &str,
) -> Result<Option<Credential>, AuthError> {
    let Some(auths) = value.get("auths") else {
        return Ok(None);
    };
    let auths = auths.as_object().ok_or_else(|| AuthError::Malformed {
        path: path.to_path_buf(),
        detail: "\"auths\" is not an object".into(),
    })?;
    let mut keys: Vec<&String> = auths.keys().collect();
    keys.sort();
    let forms: Vec<(String, bool, &String)> = keys
        .into_iter()
        .map(|key| {
            let (form, legacy) = key_form(key);
            (form, legacy, key)
        })
        .collect();

    let host = key_form(registry).0;
    let mut scope = format!("{host}/{repository}");
    loop {
        for (form, legacy, key) in &forms {
            if !legacy && *form == scope {
                if let Some(c) = decode_entry(path, key, &auths[key.as_str()], registry)? {
                    return Ok(Some(c));
                }
            }
        }
        match scope.rsplit_once('/') {
            Some((parent, _)) => scope = parent.to_string(),
            None => break,
        }
    }
    for (form, legacy, key) in &forms {
        if *legacy && *form == host {
            if let Some(c) = decode_entry(path, key, &auths[key.as_str()], registry)? {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

fn decode_entry(
    path: &Path,
    key: &str,
    entry: &Value,
    registry: &str,
) -> Result<Option<Credential>, AuthError> {
    let text = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or("");
    let auth = text("auth");
    if auth.is_empty() {
        if !text("identitytoken").is_empty() {
            return Err(AuthError::IdentityToken {
                path: path.to_path_buf(),
                registry: registry.to_string(),
            });
        }
        // docker's config.json may hold the two fields instead of `auth`.
        if !text("username").is_empty() && !text("password").is_empty() {
            return Ok(Some(Credential::new(text("username"), text("password"))));
        }
        // An empty entry (docker writes `{}` when a helper holds the secret) is no credential.
        return Ok(None);
    }
    let bad = || AuthError::BadEntry {
        path: path.to_path_buf(),
        key: quote(key),
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (user, pass) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Some(Credential::new(user, pass)))
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
