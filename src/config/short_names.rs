//! What a short image name (`alpine`, `library/alpine:3.20`) means, decided as podman decides
//! it when it cannot prompt: an `[aliases]` entry wins; else the `unqualified-search-registries`
//! complete it, and exactly one candidate is used; several are an error that lists them (a
//! manifest list records the image it was given, so guessing would be recorded too). With
//! `short-name-mode = "disabled"` every candidate is returned, in order, for the caller to try.
//!
//! When no registries.conf exists at all, a short name means Docker Hub, as `docker://NAME`
//! does and as buildah's `manifest add` does.

use super::registries::{Alias, RegistriesConf, ShortNameMode};
use super::ConfigError;
use crate::model::reference::{self, ImageRef, ReferenceError, RegistryRef};
use std::path::PathBuf;

/// One image a name may mean, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// The fully qualified reference (with `:latest` when no tag or digest was given).
    pub reference: RegistryRef,
    /// How the name was resolved to it.
    pub resolution: Resolution,
}

/// How a name was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// The name was already fully qualified (or had the `docker://` transport).
    Qualified,
    /// An `[aliases]` entry of this file.
    Alias { origin: PathBuf },
    /// An `unqualified-search-registries` entry of this file.
    SearchRegistry { origin: PathBuf },
    /// No registries.conf was found: Docker Hub, as `docker://NAME`.
    DockerHubDefault,
}

impl RegistriesConf {
    /// The images `input` (as typed: `NAME[:TAG|@DIGEST]`, `HOST/NAME…` or `docker://…`) may
    /// mean. More than one candidate only with `short-name-mode = "disabled"`; try them in order.
    pub(crate) fn resolve_short_name(&self, input: &str) -> Result<Vec<Candidate>, ConfigError> {
        let parsed = registry_ref(input)?;
        let name = input.split('@').next().unwrap_or(input);
        let qualified = input.starts_with("docker://") || reference::split_host(name).0.is_some();
        if qualified {
            return Ok(vec![Candidate {
                reference: parsed,
                resolution: Resolution::Qualified,
            }]);
        }
        let repository = name.rsplit_once(':').map_or(name, |(repo, _tag)| repo);
        if let Some(Alias {
            value: Some(value),
            origin,
        }) = self.aliases.get(repository)
        {
            return Ok(vec![Candidate {
                reference: RegistryRef {
                    tag: parsed.tag,
                    digest: parsed.digest,
                    ..value.clone()
                },
                resolution: Resolution::Alias {
                    origin: origin.clone(),
                },
            }]);
        }
        if self.unqualified_search.is_empty() {
            if self.files.is_empty() {
                return Ok(vec![Candidate {
                    reference: parsed,
                    resolution: Resolution::DockerHubDefault,
                }]);
            }
            return Err(ConfigError::NoSearchRegistries {
                name: input.to_string(),
                origins: self.files.clone(),
            });
        }
        let origin = self
            .unqualified_search_origin
            .clone()
            .unwrap_or_else(|| self.files.last().cloned().unwrap_or_default());
        let candidates = self
            .unqualified_search
            .iter()
            .map(|registry| {
                Ok(Candidate {
                    reference: registry_ref(&format!("{registry}/{input}"))?,
                    resolution: Resolution::SearchRegistry {
                        origin: origin.clone(),
                    },
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        if candidates.len() == 1 || self.short_name_mode == ShortNameMode::Disabled {
            return Ok(candidates);
        }
        Err(ConfigError::AmbiguousShortName {
            name: input.to_string(),
            candidates: candidates.iter().map(|c| c.reference.to_string()).collect(),
            origin,
        })
    }
}

/// `input` parsed as a registry image (a layout is not a registry image).
fn registry_ref(input: &str) -> Result<RegistryRef, ConfigError> {
    match reference::parse_image(input)? {
        ImageRef::Registry(r) => Ok(r),
        _ => Err(ReferenceError::InvalidImage {
            input: input.to_string(),
            reason: "a layout or a local image is not a registry image".into(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::sources::ConfFile;
    use std::path::Path;

    fn conf(files: &[(&str, &str)]) -> RegistriesConf {
        let files: Vec<ConfFile> = files
            .iter()
            .map(|(path, text)| ConfFile {
                path: PathBuf::from(path),
                text: text.to_string(),
            })
            .collect();
        RegistriesConf::from_files(&files).unwrap()
    }

    fn resolved(conf: &RegistriesConf, input: &str) -> Vec<String> {
        conf.resolve_short_name(input)
            .unwrap()
            .iter()
            .map(|c| c.reference.to_string())
            .collect()
    }

    #[test]
    fn qualified_names_are_returned_as_they_are() {
        let c = conf(&[(
            "/r.conf",
            "unqualified-search-registries = ['a.io', 'b.io']",
        )]);
        for (input, want) in [
            ("quay.io/x/y:1", "quay.io/x/y:1"),
            ("localhost/app", "localhost/app:latest"),
            ("127.0.0.1:5000/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
             "127.0.0.1:5000/app@sha256:0000000000000000000000000000000000000000000000000000000000000000"),
            ("docker://alpine", "docker.io/library/alpine:latest"),
        ] {
            let got = c.resolve_short_name(input).unwrap();
            assert_eq!(got.len(), 1, "{input}");
            assert_eq!(got[0].reference.to_string(), want, "{input}");
            assert_eq!(got[0].resolution, Resolution::Qualified, "{input}");
        }
    }

    #[test]
    fn an_alias_wins_and_keeps_the_tag_or_digest() {
        let c = conf(&[(
            "/r.conf",
            "unqualified-search-registries = ['a.io', 'b.io']\n\
             [aliases]\n\"app\" = \"quay.io/team/app\"\n\"hub\" = \"docker.io/alpine\"\n",
        )]);
        assert_eq!(resolved(&c, "app"), ["quay.io/team/app:latest"]);
        assert_eq!(resolved(&c, "app:v2"), ["quay.io/team/app:v2"]);
        let digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        assert_eq!(
            resolved(&c, &format!("app@{digest}")),
            [format!("quay.io/team/app@{digest}")]
        );
        assert_eq!(resolved(&c, "hub"), ["docker.io/library/alpine:latest"]);
        let got = c.resolve_short_name("app").unwrap();
        assert_eq!(
            got[0].resolution,
            Resolution::Alias {
                origin: PathBuf::from("/r.conf")
            }
        );
    }

    #[test]
    fn search_registries_decide_by_count_and_mode() {
        let none = conf(&[("/r.conf", "[[registry]]\nlocation = 'x.io'\n")]);
        let err = none.resolve_short_name("app").unwrap_err();
        assert!(
            matches!(err, ConfigError::NoSearchRegistries { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("/r.conf"), "{err}");

        let one = conf(&[("/r.conf", "unqualified-search-registries = ['docker.io']")]);
        assert_eq!(resolved(&one, "alpine:3"), ["docker.io/library/alpine:3"]);

        let two = conf(&[(
            "/r.conf",
            "unqualified-search-registries = ['a.io', 'b.io:5000']",
        )]);
        let err = two.resolve_short_name("team/app").unwrap_err();
        let ConfigError::AmbiguousShortName { candidates, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(
            candidates,
            &["a.io/team/app:latest", "b.io:5000/team/app:latest"]
        );
        let text = err.to_string();
        assert!(
            text.contains("ambiguous") && text.contains("[aliases]"),
            "{text}"
        );

        for mode in ["enforcing", "permissive"] {
            let c = conf(&[(
                "/r.conf",
                &format!(
                    "short-name-mode = '{mode}'\nunqualified-search-registries = ['a.io', 'b.io']"
                ),
            )]);
            assert!(c.resolve_short_name("app").is_err(), "{mode}");
        }
        let disabled = conf(&[(
            "/r.conf",
            "short-name-mode = 'disabled'\nunqualified-search-registries = ['a.io', 'b.io']",
        )]);
        assert_eq!(
            resolved(&disabled, "app"),
            ["a.io/app:latest", "b.io/app:latest"]
        );
    }

    #[test]
    fn no_configuration_at_all_means_docker_hub() {
        let c = RegistriesConf::default();
        let got = c.resolve_short_name("alpine").unwrap();
        assert_eq!(
            got[0].reference.to_string(),
            "docker.io/library/alpine:latest"
        );
        assert_eq!(got[0].resolution, Resolution::DockerHubDefault);
    }

    #[test]
    fn later_files_override_and_reset_aliases() {
        let c = conf(&[
            (
                "/main.conf",
                "unqualified-search-registries = ['a.io']\n[aliases]\n'app' = 'a.io/app'\n'tool' = 'a.io/tool'\n",
            ),
            ("/d/10.conf", "[aliases]\n'app' = 'b.io/app'\n'tool' = ''\n"),
        ]);
        assert_eq!(resolved(&c, "app"), ["b.io/app:latest"]);
        // The reset alias falls back to the search registries.
        assert_eq!(resolved(&c, "tool"), ["a.io/tool:latest"]);
    }

    #[test]
    fn bad_aliases_are_all_reported() {
        let text = "[aliases]\n'quay.io/x' = 'quay.io/x'\n'a:1' = 'quay.io/a'\n\
                    'b' = 'b'\n'c' = 'quay.io/c:1'\n'd' = 'quay.io/d@sha256:00'\n'ok' = 'quay.io/ok'\n";
        let err = RegistriesConf::parse(Path::new("/r.conf"), text).unwrap_err();
        let msg = err.to_string();
        for needle in [
            "\"quay.io/x\": must not contain a registry",
            "\"a:1\": must not contain a tag",
            "\"b\": must contain a registry",
            "\"quay.io/c:1\": must not contain a tag",
            "\"quay.io/d@sha256:00\": must not contain a digest",
        ] {
            assert!(msg.contains(needle), "{needle} not in {msg}");
        }
        assert!(!msg.contains("quay.io/ok"), "{msg}");
    }

    #[test]
    fn invalid_names_are_reference_errors() {
        let c = RegistriesConf::default();
        for input in ["Alpine", "a b", "oci:/tmp/x"] {
            let err = c.resolve_short_name(input).unwrap_err();
            assert!(matches!(err, ConfigError::Reference(_)), "{input}: {err}");
        }
    }
}
