//! `containers-storage:[DRIVER@GRAPHROOT+RUNROOT:OPTIONS]NAME[:TAG][@ID]` (containers-transports(5)):
//! the typed reference and its parser; which image it names is decided by the storage transport.

use super::{is_lower_hex, parse_registry, shown, Defaults, RegistryRef};
use crate::model::digest::Digest;
use std::fmt;
use std::path::PathBuf;

/// The transport prefix, with its colon.
pub(crate) const PREFIX: &str = "containers-storage:";

/// The store a reference names in brackets: which driver and directories to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreSpec {
    /// `overlay` or `vfs`; `None` = the configured driver.
    pub driver: Option<String>,
    /// The store's graph root (`/var/lib/containers/storage`).
    pub graph_root: PathBuf,
    /// The store's run root (`/run/containers/storage`); `None` = the configured one.
    pub run_root: Option<PathBuf>,
    /// Driver options (`overlay.mountopt=…`), as given.
    pub options: Vec<String>,
}

/// An image in containers-storage, by name, by ID (or a unique ID prefix), or both.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StorageRef {
    /// The bracketed store; `None` = the global flags, then storage.conf.
    pub store: Option<StoreSpec>,
    /// The name as typed (`localhost/app:v1`, `app`); matched against the store's names.
    pub name: Option<String>,
    /// A manifest digest the name is pinned to (`NAME@sha256:…`).
    pub digest: Option<Digest>,
    /// An image ID or a unique prefix of one (`@3b1ab2865737`).
    pub id: Option<String>,
}

impl fmt::Display for StoreSpec {
    /// `DRIVER@GRAPHROOT+RUNROOT:OPTIONS`, each part only when set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(driver) = &self.driver {
            write!(f, "{driver}@")?;
        }
        write!(f, "{}", self.graph_root.display())?;
        if let Some(run_root) = &self.run_root {
            write!(f, "+{}", run_root.display())?;
        }
        if !self.options.is_empty() {
            write!(f, ":{}", self.options.join(","))?;
        }
        Ok(())
    }
}

impl fmt::Display for StorageRef {
    /// The re-parseable form, `containers-storage:[STORE]NAME@ID`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        if let Some(store) = &self.store {
            write!(f, "[{store}]")?;
        }
        if let Some(name) = &self.name {
            f.write_str(name)?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        if let Some(id) = &self.id {
            write!(f, "@{id}")?;
        }
        Ok(())
    }
}

impl StorageRef {
    /// The same image pinned to its full ID (what a list records as an entry's source).
    pub(crate) fn pinned(&self, store: StoreSpec, id: &str) -> StorageRef {
        StorageRef {
            store: Some(store),
            name: self.name.clone(),
            digest: None,
            id: Some(id.to_string()),
        }
    }

    /// The names in the store this reference may mean, most specific first: the name as
    /// normalised by containers/image (`docker.io/library/app:latest`), then for a name without
    /// a registry host the `localhost/` one buildah gives local builds (`localhost/app:latest`).
    pub(crate) fn candidate_names(&self) -> Vec<String> {
        self.name
            .as_deref()
            .map(candidate_names)
            .unwrap_or_default()
    }
}

/// The store names a typed image name may mean (see [`StorageRef::candidate_names`]).
pub(crate) fn candidate_names(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(r) = parse_registry(name, Defaults::DockerHub) {
        out.push(r.to_string());
        if r.registry == "docker.io" && !name.starts_with("docker.io/") {
            let local = parse_registry(name, Defaults::Localhost).map(|l| l.to_string());
            if let Ok(local) = local {
                if !out.contains(&local) {
                    out.push(local);
                }
            }
        }
    }
    out
}

/// A store name without its tag or digest (`127.0.0.1:5000/app:v1` → `127.0.0.1:5000/app`).
pub(crate) fn repository_of(name: &str) -> &str {
    let name = name
        .split_once('@')
        .map_or(name, |(repository, _)| repository);
    match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    }
}

/// Parses what follows `containers-storage:`.
pub(super) fn parse_storage(rest: &str) -> Result<StorageRef, String> {
    let (store, image) = match rest.strip_prefix('[') {
        Some(bracketed) => {
            let (spec, image) = bracketed
                .split_once(']')
                .ok_or("the store part has no closing \"]\"")?;
            (Some(parse_store_spec(spec)?), image)
        }
        None => (None, rest),
    };
    if image.is_empty() {
        return Err("no image name or ID".into());
    }
    let (name, suffix) = match image.rsplit_once('@') {
        Some((name, suffix)) => (name, Some(suffix)),
        None => (image, None),
    };
    let mut reference = StorageRef {
        store,
        name: None,
        digest: None,
        id: None,
    };
    match suffix {
        Some(suffix) if suffix.contains(':') => {
            let digest = Digest::parse(suffix)
                .map_err(|e| format!("invalid digest {:?}: {}", shown(suffix), e.reason))?;
            reference.digest = Some(digest);
        }
        Some(id) => {
            if !is_id_prefix(id) {
                return Err(format!(
                    "invalid image ID {:?} (lowercase hexadecimal, at most 64 characters)",
                    shown(id)
                ));
            }
            reference.id = Some(id.to_string());
        }
        None => {}
    }
    if name.is_empty() {
        if reference.id.is_none() {
            return Err("a digest needs an image name before it".into());
        }
    } else if name.len() == 64 && name.bytes().all(is_lower_hex) && reference.id.is_none() {
        // A full ID on its own, as `podman images --no-trunc` prints it.
        reference.id = Some(name.to_string());
    } else {
        check_name(name)?;
        reference.name = Some(name.to_string());
    }
    Ok(reference)
}

fn parse_store_spec(spec: &str) -> Result<StoreSpec, String> {
    let (driver, rest) = match spec.split_once('@') {
        Some((driver, rest)) => {
            if driver.is_empty() || !driver.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!("invalid storage driver {:?}", shown(driver)));
            }
            (Some(driver.to_string()), rest)
        }
        None => (None, spec),
    };
    let (roots, options) = match rest.split_once(':') {
        Some((roots, options)) => (
            roots,
            options
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        None => (rest, Vec::new()),
    };
    let (graph_root, run_root) = match roots.split_once('+') {
        Some((graph, run)) => (graph, Some(run)),
        None => (roots, None),
    };
    let absolute = |what: &str, path: &str| {
        if path.starts_with('/') {
            Ok(PathBuf::from(path))
        } else {
            Err(format!(
                "the store's {what} must be an absolute path (got {:?})",
                shown(path)
            ))
        }
    };
    Ok(StoreSpec {
        driver,
        graph_root: absolute("graph root", graph_root)?,
        run_root: run_root.map(|r| absolute("run root", r)).transpose()?,
        options,
    })
}

fn check_name(name: &str) -> Result<RegistryRef, String> {
    parse_registry(name, Defaults::DockerHub).map_err(|fault| fault.into_reason())
}

/// 1 to 64 lowercase hex characters.
pub(crate) fn is_id_prefix(text: &str) -> bool {
    (1..=64).contains(&text.len()) && text.bytes().all(is_lower_hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        let id = "3b1ab286573775d66663aa0e36442afcedda512aa815f35bbcedc9ab4dc74957";
        /// Input, and the store part, name and ID it parses to.
        type Case<'a> = (String, Option<&'a str>, Option<&'a str>, Option<&'a str>);
        let cases: Vec<Case> = vec![
            ("localhost/app".into(), None, Some("localhost/app"), None),
            ("app:v1".into(), None, Some("app:v1"), None),
            (format!("@{id}"), None, None, Some(id)),
            (id.to_string(), None, None, Some(id)),
            ("@3b1ab2".into(), None, None, Some("3b1ab2")),
            (format!("localhost/app:v1@{id}"), None, Some("localhost/app:v1"), Some(id)),
            (
                format!("[vfs@/tmp/root+/tmp/run]@{id}"),
                Some("vfs@/tmp/root+/tmp/run"),
                None,
                Some(id),
            ),
            (
                "[overlay@/var/lib/x+/run/x:overlay.mountopt=nodev,overlay.ignore_chown_errors=true]app".into(),
                Some("overlay@/var/lib/x+/run/x:overlay.mountopt=nodev,overlay.ignore_chown_errors=true"),
                Some("app"),
                None,
            ),
            ("[/srv/store]app".into(), Some("/srv/store"), Some("app"), None),
        ];
        for (input, store, name, want_id) in cases {
            let parsed = parse_storage(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                parsed.store.as_ref().map(|s| s.to_string()).as_deref(),
                store,
                "{input}"
            );
            assert_eq!(parsed.name.as_deref(), name, "{input}");
            assert_eq!(parsed.id.as_deref(), want_id, "{input}");
            let shown = parsed.to_string();
            let again = parse_storage(shown.strip_prefix(PREFIX).unwrap()).unwrap();
            assert_eq!(again, parsed, "{input} → {shown}");
        }
    }

    #[test]
    fn digest_pins_a_name() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let parsed = parse_storage(&format!("localhost/app@{digest}")).unwrap();
        assert_eq!(parsed.name.as_deref(), Some("localhost/app"));
        assert_eq!(parsed.digest.unwrap().as_str(), digest);
    }

    #[test]
    fn rejects_bad_input() {
        for (input, reason) in [
            ("", "no image name"),
            ("[vfs@/tmp/root", "no closing"),
            ("[vfs@relative+/run]app", "absolute path"),
            ("[vfs@/root+run]app", "absolute path"),
            ("[v-fs@/root]app", "invalid storage driver"),
            ("[/root]", "no image name"),
            ("App", "lowercase"),
            ("app@XYZ", "invalid image ID"),
            ("app@sha256:zz", "invalid digest"),
            ("@sha256:abc", "invalid digest"),
        ] {
            let err = parse_storage(input).expect_err(input);
            assert!(err.contains(reason), "{input}: {err}");
        }
    }

    #[test]
    fn repositories_drop_tags_and_digests_not_ports() {
        let digest = format!("sha256:{}", "a".repeat(64));
        for (name, repository) in [
            ("docker.io/library/app:latest", "docker.io/library/app"),
            ("127.0.0.1:5000/app:v1", "127.0.0.1:5000/app"),
            ("127.0.0.1:5000/app", "127.0.0.1:5000/app"),
            (
                &format!("127.0.0.1:5000/app@{digest}"),
                "127.0.0.1:5000/app",
            ),
            (&format!("localhost/app:v1@{digest}"), "localhost/app"),
        ] {
            assert_eq!(repository_of(name), repository, "{name}");
        }
    }

    #[test]
    fn short_names_also_mean_localhost() {
        assert_eq!(
            candidate_names("app"),
            ["docker.io/library/app:latest", "localhost/app:latest"]
        );
        assert_eq!(candidate_names("localhost/app:v1"), ["localhost/app:v1"]);
        assert_eq!(
            candidate_names("labring/x:v1"),
            ["docker.io/labring/x:v1", "localhost/labring/x:v1"]
        );
        assert_eq!(
            candidate_names("docker.io/x"),
            ["docker.io/library/x:latest"]
        );
    }
}
