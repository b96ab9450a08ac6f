//! Which containers-storage store to read: the reference's `[DRIVER@GRAPHROOT+RUNROOT:OPTIONS]`,
//! else the global `--root/--runroot/--storage-driver/--storage-opt` flags, else storage.conf,
//! else c/storage's defaults (root: `/var/lib/containers/storage`; rootless:
//! `$HOME/.local/share/containers/storage`).

use crate::boundary::fsutil::{self, caps, FileError};
use crate::boundary::terminal::cut_quoted;
use crate::model::reference::StoreSpec;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The drivers whose on-disk layout this tool reads.
pub(crate) const SUPPORTED_DRIVERS: &[&str] = &["overlay", "vfs"];

/// The global storage flags, as given (each `None`/empty when not given).
#[derive(Debug, Clone, Default)]
pub struct StorageOptions {
    /// `--root`: the graph root.
    pub root: Option<PathBuf>,
    /// `--runroot`: the run root.
    pub run_root: Option<PathBuf>,
    /// `--storage-driver` (or `$STORAGE_DRIVER`).
    pub driver: Option<String>,
    /// `--storage-opt` (repeatable, or `$STORAGE_OPTS` comma-separated).
    pub options: Vec<String>,
}

/// A store, fully decided: what the storage transport opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreLocation {
    /// `overlay` or `vfs`.
    pub driver: String,
    /// Where images, layers and their metadata live.
    pub graph_root: PathBuf,
    /// Where c/storage keeps runtime state (recorded in sources; not read).
    pub run_root: PathBuf,
    /// Driver options, as given (recorded in sources; reading needs none).
    pub options: Vec<String>,
}

/// Why the store could not be decided.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("reading the containers-storage configuration")]
    Read {
        path: String,
        #[source]
        source: FileError,
    },
    #[error("{path}: {detail}")]
    Parse { path: String, detail: String },
    #[error("storage driver {driver:?} is not supported (this tool reads overlay and vfs stores)")]
    Driver { driver: String },
}

#[derive(Debug, Default, Deserialize)]
struct ConfFile {
    #[serde(default)]
    storage: ConfStorage,
}

#[derive(Debug, Default, Deserialize)]
struct ConfStorage {
    driver: Option<String>,
    graphroot: Option<String>,
    runroot: Option<String>,
    rootless_storage_path: Option<String>,
}

/// The process environment the defaults depend on; a struct so tests need not change it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Environment {
    pub uid: u32,
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub xdg_data_home: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    pub storage_conf: Option<PathBuf>,
    pub storage_driver: Option<String>,
    pub storage_opts: Option<String>,
    /// The system-wide storage.conf candidates, first found wins.
    pub system_confs: Vec<PathBuf>,
}

impl Environment {
    /// This process's environment.
    pub(crate) fn current() -> Self {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let text = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            // SAFETY: getuid has no preconditions and cannot fail.
            uid: unsafe { libc::getuid() },
            home: path("HOME"),
            xdg_config_home: path("XDG_CONFIG_HOME"),
            xdg_data_home: path("XDG_DATA_HOME"),
            xdg_runtime_dir: path("XDG_RUNTIME_DIR"),
            storage_conf: path("CONTAINERS_STORAGE_CONF"),
            storage_driver: text("STORAGE_DRIVER"),
            storage_opts: text("STORAGE_OPTS"),
            system_confs: vec![
                "/etc/containers/storage.conf".into(),
                "/usr/share/containers/storage.conf".into(),
            ],
        }
    }

    fn home(&self) -> PathBuf {
        self.home.clone().unwrap_or_else(|| PathBuf::from("/"))
    }

    /// The storage.conf that applies, and whether it is the user's own (rootless) file.
    fn conf_path(&self) -> Option<(PathBuf, bool)> {
        if let Some(path) = &self.storage_conf {
            return Some((path.clone(), self.uid != 0));
        }
        if self.uid != 0 {
            let config = self
                .xdg_config_home
                .clone()
                .unwrap_or_else(|| self.home().join(".config"));
            let user = config.join("containers/storage.conf");
            if user.is_file() {
                return Some((user, true));
            }
        }
        self.system_confs
            .iter()
            .find(|p| p.is_file())
            .map(|p| (p.clone(), false))
    }

    /// `$HOME`, `$UID` and `$USER` in rootless_storage_path, as c/storage expands them.
    fn expand(&self, text: &str) -> PathBuf {
        let user = std::env::var("USER").unwrap_or_default();
        PathBuf::from(
            text.replace("$HOME", &self.home().to_string_lossy())
                .replace("$UID", &self.uid.to_string())
                .replace("$USER", &user),
        )
    }
}

/// Decides the store for a reference: its bracket part first, then the flags, then storage.conf.
pub(crate) fn resolve(
    spec: Option<&StoreSpec>,
    flags: &StorageOptions,
    env: &Environment,
) -> Result<StoreLocation, ConfigError> {
    let conf = match env.conf_path() {
        Some((path, users_own)) => Some((read_conf(&path)?, users_own)),
        None => None,
    };
    let conf_storage = conf.as_ref().map(|(c, _)| &c.storage);
    let rootless = env.uid != 0;
    let graph_root = spec
        .map(|s| s.graph_root.clone())
        .or_else(|| flags.root.clone())
        .or_else(|| match &conf {
            // A rootless user reading the system file gets rootless_storage_path, not the
            // system's graphroot (which it could not write to).
            Some((c, false)) if rootless => c
                .storage
                .rootless_storage_path
                .as_deref()
                .map(|p| env.expand(p)),
            Some((c, _)) => c.storage.graphroot.as_deref().map(|p| env.expand(p)),
            None => None,
        })
        .unwrap_or_else(|| default_graph_root(env));
    let graph_root = absolute(graph_root);
    let run_root = spec
        .and_then(|s| s.run_root.clone())
        .or_else(|| flags.run_root.clone())
        .or_else(|| match &conf {
            Some((c, users_own)) if !rootless || *users_own => {
                c.storage.runroot.as_deref().map(|p| env.expand(p))
            }
            _ => None,
        })
        .unwrap_or_else(|| default_run_root(env));
    let run_root = absolute(run_root);
    let driver = spec
        .and_then(|s| s.driver.clone())
        .or_else(|| flags.driver.clone())
        .or_else(|| env.storage_driver.clone())
        .or_else(|| {
            conf_storage
                .and_then(|c| c.driver.clone())
                .filter(|d| !d.is_empty())
        })
        .unwrap_or_else(|| detect_driver(&graph_root));
    let driver = match driver.as_str() {
        // c/storage's alias for overlay.
        "overlay2" => "overlay".to_string(),
        _ => driver,
    };
    if !SUPPORTED_DRIVERS.contains(&driver.as_str()) {
        return Err(ConfigError::Driver { driver });
    }
    let options = match spec {
        Some(s) if !s.options.is_empty() => s.options.clone(),
        _ if !flags.options.is_empty() => flags.options.clone(),
        _ => env
            .storage_opts
            .as_deref()
            .map(|o| {
                o.split(',')
                    .filter(|o| !o.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    };
    Ok(StoreLocation {
        driver,
        graph_root,
        run_root,
        options,
    })
}

/// `path` from the working directory, as c/storage takes a relative `--root`: the store is
/// recorded in each list entry's source, which must name it wherever a later command runs.
fn absolute(path: PathBuf) -> PathBuf {
    // Fails only without a working directory; the path as given then names no store and
    // reading it says so.
    std::path::absolute(&path).unwrap_or(path)
}

fn read_conf(path: &Path) -> Result<ConfFile, ConfigError> {
    let shown = path.display().to_string();
    let text = fsutil::read_text(path, caps::CONFIG)
        .and_then(|text| {
            text.ok_or_else(|| FileError::Io {
                context: "opening",
                path: shown.clone(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            })
        })
        .map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: shown,
        detail: cut_quoted(e.message()),
    })
}

fn default_graph_root(env: &Environment) -> PathBuf {
    if env.uid == 0 {
        return PathBuf::from("/var/lib/containers/storage");
    }
    env.xdg_data_home
        .clone()
        .unwrap_or_else(|| env.home().join(".local/share"))
        .join("containers/storage")
}

fn default_run_root(env: &Environment) -> PathBuf {
    if env.uid == 0 {
        return PathBuf::from("/run/containers/storage");
    }
    env.xdg_runtime_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/run/user/{}", env.uid)))
        .join("containers")
}

/// With no driver configured, c/storage uses the one whose directories the store already has.
fn detect_driver(graph_root: &Path) -> String {
    SUPPORTED_DRIVERS
        .iter()
        .find(|d| graph_root.join(format!("{d}-images")).is_dir())
        .unwrap_or(&"overlay")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(dir: &Path, uid: u32, conf: Option<&str>) -> Environment {
        let storage_conf = conf.map(|text| {
            let path = dir.join("storage.conf");
            std::fs::write(&path, text).unwrap();
            path
        });
        Environment {
            uid,
            home: Some(dir.join("home")),
            storage_conf,
            ..Environment::default()
        }
    }

    #[test]
    fn spec_beats_flags_beats_conf() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_with(
            dir.path(),
            0,
            Some("[storage]\ndriver = \"vfs\"\ngraphroot = \"/conf/root\"\nrunroot = \"/conf/run\"\n"),
        );
        let from_conf = resolve(None, &StorageOptions::default(), &env).unwrap();
        assert_eq!(from_conf.driver, "vfs");
        assert_eq!(from_conf.graph_root, PathBuf::from("/conf/root"));
        assert_eq!(from_conf.run_root, PathBuf::from("/conf/run"));
        let flags = StorageOptions {
            root: Some("/flag/root".into()),
            run_root: None,
            driver: Some("overlay".into()),
            options: vec!["overlay.mountopt=nodev".into()],
        };
        let from_flags = resolve(None, &flags, &env).unwrap();
        assert_eq!(from_flags.graph_root, PathBuf::from("/flag/root"));
        assert_eq!(from_flags.run_root, PathBuf::from("/conf/run"));
        assert_eq!(from_flags.driver, "overlay");
        assert_eq!(from_flags.options, ["overlay.mountopt=nodev"]);
        let spec = StoreSpec {
            driver: Some("vfs".into()),
            graph_root: "/spec/root".into(),
            run_root: Some("/spec/run".into()),
            options: vec![],
        };
        let from_spec = resolve(Some(&spec), &flags, &env).unwrap();
        assert_eq!(from_spec.graph_root, PathBuf::from("/spec/root"));
        assert_eq!(from_spec.run_root, PathBuf::from("/spec/run"));
        assert_eq!(from_spec.driver, "vfs");
        assert_eq!(from_spec.options, ["overlay.mountopt=nodev"]);
    }

    #[test]
    fn a_relative_root_is_taken_from_the_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_with(dir.path(), 0, Some("[storage]\ndriver = \"vfs\"\n"));
        let flags = StorageOptions {
            root: Some("./containers/storage".into()),
            run_root: Some("run".into()),
            ..StorageOptions::default()
        };
        let located = resolve(None, &flags, &env).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(located.graph_root, cwd.join("containers/storage"));
        assert_eq!(located.run_root, cwd.join("run"));
    }

    #[test]
    fn defaults_for_root_and_rootless() {
        let dir = tempfile::tempdir().unwrap();
        let none = StorageOptions::default();
        let mut env = env_with(dir.path(), 0, None);
        env.storage_conf = Some(dir.path().join("missing.conf"));
        assert!(
            resolve(None, &none, &env).is_err(),
            "a named conf that is missing is an error"
        );
        let rootless = env_with(dir.path(), 1000, Some("[storage]\n"));
        let located = resolve(None, &none, &rootless).unwrap();
        assert_eq!(
            located.graph_root,
            dir.path().join("home/.local/share/containers/storage")
        );
        assert_eq!(located.driver, "overlay");
        let root = env_with(dir.path(), 0, Some("[storage]\n"));
        let located = resolve(None, &none, &root).unwrap();
        assert_eq!(
            located.graph_root,
            PathBuf::from("/var/lib/containers/storage")
        );
        assert_eq!(located.run_root, PathBuf::from("/run/containers/storage"));
    }

    #[test]
    fn rootless_users_of_the_system_file_get_rootless_storage_path() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("system.conf");
        std::fs::write(
            &system,
            "[storage]\ngraphroot = \"/var/lib/x\"\nrunroot = \"/run/x\"\nrootless_storage_path = \"$HOME/store\"\n",
        )
        .unwrap();
        let rootless = Environment {
            uid: 1000,
            home: Some(dir.path().join("home")),
            system_confs: vec![system.clone()],
            ..Environment::default()
        };
        let located = resolve(None, &StorageOptions::default(), &rootless).unwrap();
        assert_eq!(located.graph_root, dir.path().join("home/store"));
        assert_eq!(located.run_root, PathBuf::from("/run/user/1000/containers"));
        // The user's own file wins over the system one, and its graphroot applies.
        let own = dir.path().join("home/.config/containers");
        std::fs::create_dir_all(&own).unwrap();
        std::fs::write(
            own.join("storage.conf"),
            "[storage]\ngraphroot = \"/home/x/mine\"\n",
        )
        .unwrap();
        let located = resolve(None, &StorageOptions::default(), &rootless).unwrap();
        assert_eq!(located.graph_root, PathBuf::from("/home/x/mine"));
        // root reads the system file's graphroot and runroot.
        let root = Environment { uid: 0, ..rootless };
        let located = resolve(None, &StorageOptions::default(), &root).unwrap();
        assert_eq!(located.graph_root, PathBuf::from("/var/lib/x"));
        assert_eq!(located.run_root, PathBuf::from("/run/x"));
    }

    #[test]
    fn unsupported_driver_and_bad_conf_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_with(dir.path(), 0, Some("[storage]\ndriver = \"btrfs\"\n"));
        let err = resolve(None, &StorageOptions::default(), &env).unwrap_err();
        assert!(
            err.to_string().contains("\"btrfs\" is not supported"),
            "{err}"
        );
        let env = env_with(dir.path(), 0, Some("[storage\n"));
        let err = resolve(None, &StorageOptions::default(), &env).unwrap_err();
        assert!(err.to_string().contains("storage.conf"), "{err}");
    }

    #[test]
    fn driver_is_detected_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("vfs-images")).unwrap();
        assert_eq!(detect_driver(dir.path()), "vfs");
        assert_eq!(detect_driver(&dir.path().join("none")), "overlay");
    }
}
