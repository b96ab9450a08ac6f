//! Which registries.conf files are read, and in which order, as containers/image decides it.
//!
//! - The main file: `--registries-conf FILE` if given, else `$CONTAINERS_REGISTRIES_CONF`, else
//!   the first that exists of `$XDG_CONFIG_HOME/containers/registries.conf` (or
//!   `$HOME/.config/…`), `/etc/containers/registries.conf`, `/usr/share/containers/registries.conf`.
//!   A file named by the flag or the variable must exist.
//! - Then the drop-ins: every `*.conf` in `<user>/registries.conf.d`,
//!   `/etc/containers/registries.rootless.conf.d/UID` and `registries.rootless.conf.d` (non-root;
//!   `registries.rootful.conf.d` for root), `/etc/containers/registries.conf.d` and the same under
//!   `/usr/share/containers`, sorted by file name; a name in an earlier directory hides the same
//!   name in a later one. `$CONTAINERS_REGISTRIES_CONF` turns the drop-ins off (the variable names
//!   the whole configuration); the flag does not.
//! - Last, `$CONTAINERS_REGISTRIES_CONF_OVERRIDE` if set (it must exist).
//!
//! This is the order of containers/image 5.40 (go.podman.io/image, storage's `configfile`).

use super::ConfigError;
use crate::boundary::fsutil::{self, caps};
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The main file's name, and the drop-in directories' name before `.d`.
const FILE_NAME: &str = "registries.conf";
const ENV: &str = "CONTAINERS_REGISTRIES_CONF";
const ENV_OVERRIDE: &str = "CONTAINERS_REGISTRIES_CONF_OVERRIDE";

/// Where the configuration comes from. Tests build one pointing into a temp dir; the tool
/// builds it with [`ConfSources::from_env`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfSources {
    /// `--registries-conf FILE`: replaces the main file; must exist. Default `None`.
    pub explicit: Option<PathBuf>,
    /// `$CONTAINERS_REGISTRIES_CONF`: replaces the main file when there is no flag, must
    /// exist, and turns the drop-ins off. Default `None`.
    pub env: Option<PathBuf>,
    /// `$CONTAINERS_REGISTRIES_CONF_OVERRIDE`: read after everything else; must exist.
    pub env_override: Option<PathBuf>,
    /// The user's `containers` config directory (`$XDG_CONFIG_HOME/containers`, else
    /// `$HOME/.config/containers`); `None` when neither variable is set.
    pub user_dir: Option<PathBuf>,
    /// The administrator's directory, `/etc/containers`.
    pub system_dir: PathBuf,
    /// The distribution's defaults, `/usr/share/containers`.
    pub vendor_dir: PathBuf,
    /// The effective user ID: root reads `*.rootful.conf.d`, others `*.rootless.conf.d[/UID]`.
    pub uid: u32,
}

/// One file to parse, in merge order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfFile {
    /// Where it was read from (for messages and origins).
    pub path: PathBuf,
    /// Its content.
    pub text: String,
}

impl ConfSources {
    /// The sources of this process: `flag` is `--registries-conf`, the rest comes from the
    /// environment and the user ID.
    pub fn from_env(flag: Option<&Path>) -> ConfSources {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let user_dir = match (var("XDG_CONFIG_HOME"), var("HOME")) {
            (Some(xdg), _) => Some(PathBuf::from(xdg).join("containers")),
            (None, Some(home)) => Some(PathBuf::from(home).join(".config/containers")),
            (None, None) => None,
        };
        ConfSources {
            explicit: flag.map(Path::to_path_buf),
            env: var(ENV).map(PathBuf::from),
            env_override: var(ENV_OVERRIDE).map(PathBuf::from),
            user_dir,
            system_dir: PathBuf::from("/etc/containers"),
            vendor_dir: PathBuf::from("/usr/share/containers"),
            // SAFETY: geteuid has no preconditions and cannot fail.
            uid: unsafe { libc::geteuid() },
        }
    }

    /// Sources that read nothing but `file` (and no drop-ins): what `$CONTAINERS_REGISTRIES_CONF`
    /// does, for tests and callers that want one exact file.
    #[cfg(test)]
    pub(crate) fn only(file: &Path) -> ConfSources {
        ConfSources {
            explicit: None,
            env: Some(file.to_path_buf()),
            env_override: None,
            user_dir: None,
            system_dir: PathBuf::new(),
            vendor_dir: PathBuf::new(),
            uid: 0,
        }
    }

    /// The main file candidates, highest priority first, and whether the first must exist.
    pub(crate) fn main_files(&self) -> (Vec<PathBuf>, bool) {
        if let Some(path) = self.explicit.as_ref().or(self.env.as_ref()) {
            return (vec![path.clone()], true);
        }
        let defaults = self
            .user_dir
            .iter()
            .chain([&self.system_dir, &self.vendor_dir])
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(|dir| dir.join(FILE_NAME))
            .collect();
        (defaults, false)
    }

    /// The drop-in directories, highest priority first (empty when the variable names the
    /// whole configuration).
    pub(crate) fn drop_in_dirs(&self) -> Vec<PathBuf> {
        if self.explicit.is_none() && self.env.is_some() {
            return Vec::new();
        }
        let mut dirs = Vec::new();
        if let Some(user) = &self.user_dir {
            dirs.push(user.join(format!("{FILE_NAME}.d")));
        }
        for dir in [&self.system_dir, &self.vendor_dir] {
            if dir.as_os_str().is_empty() {
                continue;
            }
            if self.uid == 0 {
                dirs.push(dir.join("registries.rootful.conf.d"));
            } else {
                let rootless = dir.join("registries.rootless.conf.d");
                dirs.push(rootless.join(self.uid.to_string()));
                dirs.push(rootless);
            }
            dirs.push(dir.join(format!("{FILE_NAME}.d")));
        }
        dirs
    }

    /// What the sources are, for messages: the main file candidates and drop-in directories.
    pub fn describe(&self) -> String {
        let (main, _) = self.main_files();
        main.iter()
            .chain(self.drop_in_dirs().iter())
            .chain(self.env_override.iter())
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Reads every file of the configuration, in merge order: the main file, the drop-ins,
    /// the override file.
    pub(crate) fn read(&self) -> Result<Vec<ConfFile>, ConfigError> {
        let mut files = Vec::new();
        let (main, must_exist) = self.main_files();
        for path in main {
            match read_file(&path)? {
                Some(text) => {
                    files.push(ConfFile { path, text });
                    break;
                }
                None if must_exist => return Err(not_found(path)),
                None => continue,
            }
        }
        for path in drop_in_files(&self.drop_in_dirs())? {
            // A drop-in removed between the listing and the read is a race, not an error.
            if let Some(text) = read_file(&path)? {
                files.push(ConfFile { path, text });
            }
        }
        if let Some(path) = &self.env_override {
            let text = read_file(path)?.ok_or_else(|| not_found(path.clone()))?;
            files.push(ConfFile {
                path: path.clone(),
                text,
            });
        }
        Ok(files)
    }
}

/// The file's text, `None` if it does not exist; any other failure (not a regular file, over
/// the cap, not UTF-8) is an error naming it.
fn read_file(path: &Path) -> Result<Option<String>, ConfigError> {
    fsutil::read_text(path, caps::CONFIG).map_err(|source| ConfigError::File {
        path: path.to_path_buf(),
        source,
    })
}

fn not_found(path: PathBuf) -> ConfigError {
    ConfigError::Read {
        path,
        source: std::io::Error::from(ErrorKind::NotFound),
    }
}

/// Every `*.conf` file of `dirs` (highest priority first), one per file name, sorted by name.
/// At most this many drop-in files are read, all directories together.
pub(crate) const MAX_DROP_INS: usize = 1000;

fn drop_in_files(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, ConfigError> {
    let mut by_name = BTreeMap::new();
    for dir in dirs.iter().rev() {
        let listed =
            fsutil::list_dir(dir, caps::DIR_ENTRIES).map_err(|source| ConfigError::File {
                path: dir.clone(),
                source,
            })?;
        for entry in listed.unwrap_or_default() {
            let is_dir = entry.kind == rustix::fs::FileType::Directory;
            if !is_dir && entry.name.to_string_lossy().ends_with(".conf") {
                by_name.insert(entry.name.clone(), dir.join(&entry.name));
            }
        }
    }
    if by_name.len() > MAX_DROP_INS {
        return Err(ConfigError::TooManyDropIns {
            count: by_name.len(),
            limit: MAX_DROP_INS,
            dirs: dirs.to_vec(),
        });
    }
    Ok(by_name.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Sources rooted in a temp dir: `<tmp>/home/.config/containers`, `<tmp>/etc`, `<tmp>/usr`.
    fn sources(tmp: &Path, uid: u32) -> ConfSources {
        ConfSources {
            explicit: None,
            env: None,
            env_override: None,
            user_dir: Some(tmp.join("home/.config/containers")),
            system_dir: tmp.join("etc"),
            vendor_dir: tmp.join("usr"),
            uid,
        }
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn names(files: &[ConfFile], tmp: &Path) -> Vec<String> {
        files
            .iter()
            .map(|f| f.path.strip_prefix(tmp).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn the_first_existing_main_file_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let src = sources(t, 1000);
        assert!(
            src.read().unwrap().is_empty(),
            "nothing exists: nothing read"
        );
        write(&t.join("usr/registries.conf"), "# vendor");
        assert_eq!(names(&src.read().unwrap(), t), ["usr/registries.conf"]);
        write(&t.join("etc/registries.conf"), "# admin");
        assert_eq!(names(&src.read().unwrap(), t), ["etc/registries.conf"]);
        write(&t.join("home/.config/containers/registries.conf"), "# user");
        assert_eq!(
            names(&src.read().unwrap(), t),
            ["home/.config/containers/registries.conf"]
        );
    }

    #[test]
    fn drop_ins_are_sorted_by_name_and_higher_directories_hide_lower_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        write(&t.join("etc/registries.conf"), "");
        write(&t.join("usr/registries.conf.d/10-a.conf"), "vendor");
        write(&t.join("usr/registries.conf.d/30-c.conf"), "vendor");
        write(&t.join("etc/registries.conf.d/30-c.conf"), "admin");
        write(&t.join("etc/registries.conf.d/notes.txt"), "ignored");
        write(
            &t.join("etc/registries.rootless.conf.d/20-b.conf"),
            "rootless",
        );
        write(
            &t.join("etc/registries.rootless.conf.d/1000/20-b.conf"),
            "uid",
        );
        write(
            &t.join("etc/registries.rootful.conf.d/40-root.conf"),
            "root",
        );
        write(
            &t.join("home/.config/containers/registries.conf.d/10-a.conf"),
            "user",
        );
        fs::create_dir_all(t.join("etc/registries.conf.d/sub.conf")).unwrap();

        let files = sources(t, 1000).read().unwrap();
        assert_eq!(
            names(&files, t),
            [
                "etc/registries.conf",
                "home/.config/containers/registries.conf.d/10-a.conf",
                "etc/registries.rootless.conf.d/1000/20-b.conf",
                "etc/registries.conf.d/30-c.conf",
            ]
        );
        let root = sources(t, 0).read().unwrap();
        assert_eq!(
            names(&root, t),
            [
                "etc/registries.conf",
                "home/.config/containers/registries.conf.d/10-a.conf",
                "etc/registries.conf.d/30-c.conf",
                "etc/registries.rootful.conf.d/40-root.conf",
            ]
        );
    }

    #[test]
    fn flag_and_variable_replace_the_main_file() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        write(&t.join("etc/registries.conf"), "");
        write(&t.join("etc/registries.conf.d/a.conf"), "");
        write(&t.join("env.conf"), "");
        write(&t.join("flag.conf"), "");
        write(&t.join("override.conf"), "");

        let mut src = sources(t, 1000);
        src.env = Some(t.join("env.conf"));
        src.env_override = Some(t.join("override.conf"));
        // The variable names the whole configuration: no drop-ins; the override still applies.
        assert_eq!(
            names(&src.read().unwrap(), t),
            ["env.conf", "override.conf"]
        );

        // The flag wins over the variable, and the drop-ins are read again.
        src.explicit = Some(t.join("flag.conf"));
        assert_eq!(
            names(&src.read().unwrap(), t),
            ["flag.conf", "etc/registries.conf.d/a.conf", "override.conf"]
        );
    }

    #[test]
    fn named_files_must_exist_and_unreadable_ones_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        for field in ["explicit", "env", "env_override"] {
            let mut src = sources(t, 1000);
            let missing = Some(t.join("missing.conf"));
            match field {
                "explicit" => src.explicit = missing,
                "env" => src.env = missing,
                _ => src.env_override = missing,
            }
            let err = src.read().unwrap_err();
            assert!(
                matches!(&err, ConfigError::Read { path, .. } if path.ends_with("missing.conf")),
                "{field}: {err}"
            );
        }
        // A main file that is a directory is not "missing": it is an error.
        fs::create_dir_all(t.join("etc/registries.conf")).unwrap();
        let err = sources(t, 1000).read().unwrap_err();
        assert!(matches!(err, ConfigError::File { .. }), "{err}");
    }

    #[test]
    fn from_env_takes_the_flag_and_falls_back_to_home() {
        let src = ConfSources::from_env(Some(Path::new("/x/flag.conf")));
        assert_eq!(src.explicit.as_deref(), Some(Path::new("/x/flag.conf")));
        assert_eq!(src.system_dir, Path::new("/etc/containers"));
        assert_eq!(src.vendor_dir, Path::new("/usr/share/containers"));
        let only = ConfSources::only(Path::new("/x/one.conf"));
        assert_eq!(
            only.main_files(),
            (vec![PathBuf::from("/x/one.conf")], true)
        );
        assert!(only.drop_in_dirs().is_empty());
        assert_eq!(only.describe(), "/x/one.conf");
    }
}
