//! registries.conf (containers-registries.conf(5), version 2): the merged configuration of the
//! files of [`ConfSources`], each parsed and checked on its own first.
//!
//! Merging follows containers/image: a `[[registry]]` replaces an earlier one with the same
//! `prefix` (the whole table, mirrors included); `unqualified-search-registries` and
//! `short-name-mode` replace earlier values when a later file sets them (an empty list counts
//! as set); `[aliases]` merge name by name, and `name = ""` removes an earlier alias. The v1
//! format (`[registries.search]` …) is refused, as containers/image 5.40 refuses it.

pub use super::entries::{Alias, Mirror, PullFromMirror, Registry, ShortNameMode};
use super::parse::{parse_file, ParsedFile};
use super::sources::{ConfFile, ConfSources};
use super::ConfigError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The merged configuration of every file that was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistriesConf {
    /// Sorted by prefix, one per prefix.
    pub registries: Vec<Registry>,
    /// `unqualified-search-registries`, in order.
    pub unqualified_search: Vec<String>,
    /// The file that set `unqualified-search-registries`.
    pub unqualified_search_origin: Option<PathBuf>,
    /// `short-name-mode`.
    pub short_name_mode: ShortNameMode,
    /// `[aliases]`, by short name.
    pub aliases: BTreeMap<String, Alias>,
    /// Every file that was read, in merge order.
    pub files: Vec<PathBuf>,
}

impl RegistriesConf {
    /// Reads and merges every file of `sources`. No file at all is an empty configuration.
    pub fn load(sources: &ConfSources) -> Result<RegistriesConf, ConfigError> {
        Self::from_files(&sources.read()?)
    }

    /// Merges already-read files, in order.
    pub(crate) fn from_files(files: &[ConfFile]) -> Result<RegistriesConf, ConfigError> {
        let mut conf = RegistriesConf::default();
        for file in files {
            conf.merge(parse_file(&file.path, &file.text)?, &file.path);
            conf.files.push(file.path.clone());
        }
        Ok(conf)
    }

    /// Parses one file's text as the whole configuration (for tests and `--registries-conf`
    /// checks).
    #[cfg(test)]
    pub(crate) fn parse(path: &Path, text: &str) -> Result<RegistriesConf, ConfigError> {
        Self::from_files(&[ConfFile {
            path: path.to_path_buf(),
            text: text.to_string(),
        }])
    }

    fn merge(&mut self, file: ParsedFile, path: &Path) {
        let mut by_prefix: BTreeMap<String, Registry> = std::mem::take(&mut self.registries)
            .into_iter()
            .map(|r| (r.prefix.clone(), r))
            .collect();
        for registry in file.registries {
            by_prefix.insert(registry.prefix.clone(), registry);
        }
        self.registries = by_prefix.into_values().collect();
        if let Some(search) = file.unqualified_search {
            self.unqualified_search_origin = Some(path.to_path_buf());
            self.unqualified_search = search;
        }
        if let Some(mode) = file.short_name_mode {
            self.short_name_mode = mode;
        }
        self.aliases.extend(file.aliases);
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<ConfFile> {
        list.iter()
            .map(|(path, text)| ConfFile {
                path: PathBuf::from(path),
                text: text.to_string(),
            })
            .collect()
    }

    #[test]
    fn later_files_replace_what_they_set() {
        let c = RegistriesConf::from_files(&files(&[
            (
                "/main.conf",
                "unqualified-search-registries = ['a.io', 'b.io']\nshort-name-mode = 'enforcing'\n\
                 [[registry]]\nlocation = 'x.io'\ninsecure = true\n[[registry.mirror]]\nlocation = 'm.io'\n\
                 [[registry]]\nlocation = 'y.io'\n",
            ),
            // Replaces x.io as a whole (its mirror goes), leaves y.io, adds z.io.
            (
                "/d/10.conf",
                "[[registry]]\nlocation = 'x.io'\nblocked = true\n[[registry]]\nlocation = 'z.io'\n",
            ),
            // Sets nothing: every earlier value stays.
            ("/d/20.conf", "# empty\n"),
            // An empty list counts as set.
            ("/d/30.conf", "unqualified-search-registries = []\nshort-name-mode = ''\n"),
        ]))
        .unwrap();
        let x = c.find("x.io/app").unwrap();
        assert!(x.blocked && !x.insecure && x.mirrors.is_empty());
        assert_eq!(x.origin, Path::new("/d/10.conf"));
        assert_eq!(c.find("y.io/app").unwrap().origin, Path::new("/main.conf"));
        assert!(c.find("z.io/app").is_some());
        let prefixes: Vec<&str> = c.registries.iter().map(|r| r.prefix.as_str()).collect();
        assert_eq!(prefixes, ["x.io", "y.io", "z.io"]);
        assert!(c.unqualified_search.is_empty());
        assert_eq!(
            c.unqualified_search_origin.as_deref(),
            Some(Path::new("/d/30.conf"))
        );
        assert_eq!(
            c.short_name_mode,
            ShortNameMode::Enforcing,
            "'' does not set it"
        );
        assert_eq!(c.files.len(), 4);
    }

    #[test]
    fn load_reads_the_sources_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let etc = tmp.path().join("etc");
        std::fs::create_dir_all(etc.join("registries.conf.d")).unwrap();
        std::fs::write(
            etc.join("registries.conf"),
            "[[registry]]\nlocation = 'a.io'\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("registries.conf.d/50-a.conf"),
            "[[registry]]\nlocation = 'a.io'\ninsecure = true\n",
        )
        .unwrap();
        let flag = tmp.path().join("flag.conf");
        std::fs::write(&flag, "[[registry]]\nlocation = 'b.io'\nblocked = true\n").unwrap();
        let mut sources = ConfSources {
            explicit: None,
            env: None,
            env_override: None,
            user_dir: None,
            system_dir: etc,
            vendor_dir: tmp.path().join("usr"),
            uid: 1000,
        };
        let c = RegistriesConf::load(&sources).unwrap();
        assert!(c.is_insecure("a.io"), "the drop-in overrides the main file");
        assert!(c.find("b.io").is_none());

        sources.explicit = Some(flag.clone());
        let c = RegistriesConf::load(&sources).unwrap();
        assert!(
            c.find("b.io").unwrap().blocked,
            "the flag's file replaces the main file"
        );
        assert!(c.is_insecure("a.io"), "drop-ins still apply with the flag");

        let c = RegistriesConf::load(&ConfSources::only(&flag)).unwrap();
        assert!(c.find("a.io").is_none());
        assert_eq!(c.files, [flag]);
    }
}
