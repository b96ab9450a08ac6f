//! Where a request for an image goes, by registries.conf: which `[[registry]]` applies (the
//! longest matching prefix), the mirrors and the remapped primary for reads, the unremapped
//! registry for writes, and `insecure` / `blocked`.
//!
//! As in containers/image, `blocked` and `insecure` are decided per physical endpoint: a mirror
//! has its own `insecure`, and a blocked registry that has mirrors is still read through them
//! (the way disconnected sites block the upstream); only when no endpoint is left is the
//! image refused. Writes never use mirrors or `location` (containers-registries.conf(5):
//! "processed only when reading").

use super::registries::{PullFromMirror, RegistriesConf, Registry};
use super::ConfigError;
use crate::model::reference::{self, ImageRef, RegistryRef};

/// One place to send requests for an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `host[:port]` to connect to.
    pub host_port: String,
    /// The repository on that host.
    pub repository: String,
    /// Plain HTTP, or HTTPS without verification, is allowed here.
    pub insecure: bool,
    /// A `[[registry.mirror]]`, not the primary location.
    pub is_mirror: bool,
}

impl Endpoint {
    /// `requested` as found at this endpoint (same tag and digest, this host and repository).
    pub(crate) fn reference(&self, requested: &RegistryRef) -> RegistryRef {
        RegistryRef {
            registry: self.host_port.clone(),
            repository: self.repository.clone(),
            ..requested.clone()
        }
    }

    fn at(reference: &RegistryRef, insecure: bool, is_mirror: bool) -> Endpoint {
        Endpoint {
            host_port: reference.registry.clone(),
            repository: reference.repository.clone(),
            insecure,
            is_mirror,
        }
    }
}

impl RegistriesConf {
    /// The `[[registry]]` for `name` (`host[:port][/repository]`): the longest matching
    /// prefix; the first of equal length (in prefix order) when several match.
    pub(crate) fn find(&self, name: &str) -> Option<&Registry> {
        let mut best: Option<&Registry> = None;
        for registry in &self.registries {
            let longer = best.is_none_or(|b| registry.prefix.len() > b.prefix.len());
            if longer && matching_prefix_len(name, &registry.prefix).is_some() {
                best = Some(registry);
            }
        }
        best
    }

    /// Where to read `image` from, in order: the mirrors that serve this kind of reference
    /// (tag or digest), then the primary location. Blocked endpoints are left out; none left
    /// is [`ConfigError::Blocked`].
    pub(crate) fn pull_endpoints(&self, image: &RegistryRef) -> Result<Vec<Endpoint>, ConfigError> {
        let name = image.repository_path();
        let Some(registry) = self.find(&name) else {
            return Ok(vec![Endpoint::at(image, false, false)]);
        };
        let by_digest = image.digest.is_some();
        let mirrors = registry.mirrors.iter().filter(|m| {
            if registry.mirror_by_digest_only {
                return by_digest;
            }
            match m.pull_from_mirror {
                PullFromMirror::All => true,
                PullFromMirror::DigestOnly => by_digest,
                PullFromMirror::TagOnly => !by_digest,
            }
        });
        let sources = mirrors
            .map(|m| (m.location.as_str(), m.insecure, true))
            .chain([(registry.location.as_str(), registry.insecure, false)]);

        let mut endpoints = Vec::new();
        let mut blocked_by = None;
        for (location, insecure, is_mirror) in sources {
            let physical = rewrite(image, registry, location)?;
            match self.find(&physical.repository_path()) {
                Some(blocker) if blocker.blocked => blocked_by = blocked_by.or(Some(blocker)),
                _ => endpoints.push(Endpoint::at(&physical, insecure, is_mirror)),
            }
        }
        match (endpoints.is_empty(), blocked_by) {
            (true, Some(blocker)) => Err(blocked(blocker)),
            _ => Ok(endpoints),
        }
    }

    /// Where to write `image`: its own registry and repository (no mirrors, no remapping),
    /// with that registry's `insecure`; a blocked registry is an error.
    pub(crate) fn push_endpoint(&self, image: &RegistryRef) -> Result<Endpoint, ConfigError> {
        match self.find(&image.repository_path()) {
            Some(registry) if registry.blocked => Err(blocked(registry)),
            Some(registry) => Ok(Endpoint::at(image, registry.insecure, false)),
            None => Ok(Endpoint::at(image, false, false)),
        }
    }

    /// Whether `host` (`host[:port]`) is marked `insecure` (for requests about the registry as
    /// a whole, such as a login check).
    #[cfg(test)]
    pub(crate) fn is_insecure(&self, host: &str) -> bool {
        self.find(host).is_some_and(|r| r.insecure)
    }
}

fn blocked(registry: &Registry) -> ConfigError {
    ConfigError::Blocked {
        prefix: registry.prefix.clone(),
        origin: registry.origin.clone(),
    }
}

/// `image` with `registry.prefix` replaced by `location` (an empty location, allowed only
/// with a wildcard prefix, keeps the image as it is).
fn rewrite(
    image: &RegistryRef,
    registry: &Registry,
    location: &str,
) -> Result<RegistryRef, ConfigError> {
    if location.is_empty() {
        return Ok(image.clone());
    }
    let name = image.repository_path();
    let matched = matching_prefix_len(&name, &registry.prefix).unwrap_or(name.len());
    let rewritten_name = format!("{location}{}", &name[matched..]);
    let mut rewritten = rewritten_name.clone();
    if let Some(tag) = &image.tag {
        rewritten.push(':');
        rewritten.push_str(tag);
    }
    if let Some(digest) = &image.digest {
        rewritten.push('@');
        rewritten.push_str(&digest.to_string());
    }
    let bad = |reason: String| ConfigError::BadRewrite {
        reference: image.to_string(),
        rewritten: rewritten.clone(),
        origin: registry.origin.clone(),
        reason,
    };
    // Without a host the parser would quietly put the image on Docker Hub.
    if reference::split_host(&rewritten_name).0.is_none() {
        return Err(bad("it does not start with a registry host".into()));
    }
    match reference::parse_image(&rewritten) {
        Ok(ImageRef::Registry(r)) => Ok(r),
        Ok(_) => Err(bad("it is not a registry image".into())),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// The length of `name` that `prefix` matches, if it does: the whole prefix followed by the end
/// or `/`, `:`, `@`; for `*.example.com`, any subdomains of `example.com` in the host part.
fn matching_prefix_len(name: &str, prefix: &str) -> Option<usize> {
    if let Some(domain) = prefix.strip_prefix('*') {
        // `domain` is `.example.com`; its first occurrence must end the host part.
        let index = name.find(domain)?;
        if name[..index].contains('/') {
            return None;
        }
        let end = index + domain.len();
        return ends_at_boundary(name, end).then_some(end);
    }
    // containers/image lets `example.com` match `example.com:5000/…` too (the `:` boundary),
    // and podman users' configurations rely on what it does; keep it.
    (name.starts_with(prefix) && ends_at_boundary(name, prefix.len())).then_some(prefix.len())
}

fn ends_at_boundary(name: &str, at: usize) -> bool {
    matches!(name.as_bytes().get(at), None | Some(b'/' | b':' | b'@'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn conf(text: &str) -> RegistriesConf {
        RegistriesConf::parse(Path::new("/r.conf"), text).unwrap()
    }

    fn image(text: &str) -> RegistryRef {
        match reference::parse_image(text).unwrap() {
            ImageRef::Registry(r) => r,
            other => unreachable!("{other}"),
        }
    }

    /// `pull_endpoints` as `["host/repo:tag (mirror, insecure)", …]`.
    fn pulls(conf: &RegistriesConf, text: &str) -> Vec<String> {
        let requested = image(text);
        conf.pull_endpoints(&requested)
            .unwrap()
            .iter()
            .map(|e| {
                let mut s = e.reference(&requested).to_string();
                if e.is_mirror {
                    s.push_str(" mirror");
                }
                if e.insecure {
                    s.push_str(" insecure");
                }
                s
            })
            .collect()
    }

    #[test]
    fn prefix_matching_table() {
        for (name, prefix, want) in [
            ("example.com", "example.com", Some(11)),
            ("example.com/foo", "example.com", Some(11)),
            ("example.com:5000/foo", "example.com", Some(11)),
            ("example.com.evil/foo", "example.com", None),
            ("example.community/foo", "example.com", None),
            ("example.com/foobar", "example.com/foo", None),
            ("example.com/foo/bar", "example.com/foo", Some(15)),
            ("example.co", "example.com", None),
            ("a.example.com/x", "*.example.com", Some(13)),
            ("a.b.example.com:5000/x", "*.example.com", Some(15)),
            ("example.com/x", "*.example.com", None),
            ("a.example.community/x", "*.example.com", None),
            ("other.io/a.example.com", "*.example.com", None),
        ] {
            assert_eq!(matching_prefix_len(name, prefix), want, "{name} ~ {prefix}");
        }
    }

    #[test]
    fn every_spelling_of_a_blocked_host_is_blocked() {
        // The prefixes spelled oddly too: both sides are compared in canonical form.
        let c = conf(
            "[[registry]]\nlocation = 'LocalHost:5408'\nblocked = true\n\
             [[registry]]\nlocation = '127.000.0.1:05408'\nblocked = true\n\
             [[registry]]\nlocation = '[0::1]:5408'\nblocked = true\n\
             [[registry]]\nprefix = '*.Example.COM.'\nblocked = true\n",
        );
        for spelled in [
            "localhost:5408/app:v1",
            "LOCALHOST:5408/app:v1",
            "Localhost:5408/app:v1",
            "localhost.:5408/app:v1",
            "localhost:05408/app:v1",
            "127.0.0.1:5408/app:v1",
            "127.0.0.1:05408/app:v1",
            "0x7f.0.0.1:5408/app:v1",
            "[::1]:5408/app:v1",
            "[0:0::1]:5408/app:v1",
            "[0000::0001]:5408/app:v1",
            "reg.EXAMPLE.com/app:v1",
        ] {
            let err = c.push_endpoint(&image(spelled)).unwrap_err();
            assert!(
                matches!(err, ConfigError::Blocked { .. }),
                "{spelled}: {err}"
            );
            assert!(c.pull_endpoints(&image(spelled)).is_err(), "{spelled}");
        }
        assert!(c.push_endpoint(&image("localhost:5409/app:v1")).is_ok());
    }

    #[test]
    fn the_longest_prefix_wins() {
        let c = conf(
            "[[registry]]\nlocation = 'reg.io'\ninsecure = true\n\
             [[registry]]\nlocation = 'reg.io/team'\n\
             [[registry]]\nprefix = '*.reg.io'\nblocked = true\n\
             [[registry]]\nlocation = 'reg.io/team/app'\ninsecure = true\n",
        );
        let prefix = |name: &str| c.find(name).map(|r| r.prefix.as_str());
        assert_eq!(prefix("reg.io/x"), Some("reg.io"));
        assert_eq!(prefix("reg.io/team/x"), Some("reg.io/team"));
        assert_eq!(prefix("reg.io/team/app"), Some("reg.io/team/app"));
        assert_eq!(prefix("reg.io/team/application"), Some("reg.io/team"));
        assert_eq!(prefix("eu.reg.io/x"), Some("*.reg.io"));
        assert_eq!(prefix("other.io/x"), None);
        assert!(c.is_insecure("reg.io"));
        assert!(!c.is_insecure("eu.reg.io"));
        assert!(!c.is_insecure("other.io"));
    }

    #[test]
    fn location_remaps_reads_but_not_writes() {
        let c = conf(
            "[[registry]]\nprefix = 'example.com/foo'\nlocation = 'internal.io:5000/mirror/foo'\n\
             [[registry]]\nprefix = 'hub.io'\nlocation = 'docker.io'\n",
        );
        assert_eq!(
            pulls(&c, "example.com/foo/app:v1"),
            ["internal.io:5000/mirror/foo/app:v1"]
        );
        assert_eq!(
            pulls(&c, "example.com/foobar:v1"),
            ["example.com/foobar:v1"]
        );
        // A single-component name on Docker Hub is normalised to library/.
        assert_eq!(
            pulls(&c, "hub.io/alpine"),
            ["docker.io/library/alpine:latest"]
        );
        let push = c.push_endpoint(&image("example.com/foo/app:v1")).unwrap();
        assert_eq!(
            (push.host_port.as_str(), push.repository.as_str()),
            ("example.com", "foo/app")
        );
    }

    #[test]
    fn a_wildcard_without_location_keeps_the_name() {
        let c = conf("[[registry]]\nprefix = '*.corp.io'\ninsecure = true\n");
        assert_eq!(pulls(&c, "a.corp.io/x:1"), ["a.corp.io/x:1 insecure"]);
        let c = conf("[[registry]]\nprefix = '*.corp.io'\nlocation = 'cache.io/corp'\n");
        assert_eq!(pulls(&c, "a.corp.io/x:1"), ["cache.io/corp/x:1"]);
    }

    #[test]
    fn mirrors_come_first_as_pull_from_mirror_allows() {
        let c = conf(
            "[[registry]]\nlocation = 'reg.io'\n\
             [[registry.mirror]]\nlocation = 'all.io'\ninsecure = true\n\
             [[registry.mirror]]\nlocation = 'digests.io/cache'\npull-from-mirror = 'digest-only'\n\
             [[registry.mirror]]\nlocation = 'tags.io'\npull-from-mirror = 'tag-only'\n",
        );
        assert_eq!(
            pulls(&c, "reg.io/app:v1"),
            [
                "all.io/app:v1 mirror insecure",
                "tags.io/app:v1 mirror",
                "reg.io/app:v1"
            ]
        );
        let d = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        assert_eq!(
            pulls(&c, &format!("reg.io/app@{d}")),
            [
                format!("all.io/app@{d} mirror insecure"),
                format!("digests.io/cache/app@{d} mirror"),
                format!("reg.io/app@{d}"),
            ]
        );
        let by_digest = conf(
            "[[registry]]\nlocation = 'reg.io'\nmirror-by-digest-only = true\n\
             [[registry.mirror]]\nlocation = 'm.io'\n",
        );
        assert_eq!(pulls(&by_digest, "reg.io/app:v1"), ["reg.io/app:v1"]);
        assert_eq!(
            pulls(&by_digest, &format!("reg.io/app@{d}")),
            [format!("m.io/app@{d} mirror"), format!("reg.io/app@{d}")]
        );
        // Writes never go to a mirror.
        let push = c.push_endpoint(&image("reg.io/app:v1")).unwrap();
        assert!(!push.is_mirror && push.host_port == "reg.io");
    }

    #[test]
    fn blocked_is_an_error_unless_a_mirror_serves_the_image() {
        let c = conf(
            "[[registry]]\nlocation = 'blocked.io'\nblocked = true\n\
             [[registry]]\nlocation = 'only-mirrors.io'\nblocked = true\n\
             [[registry.mirror]]\nlocation = 'mirror.io'\n\
             [[registry]]\nlocation = 'open.io'\n\
             [[registry.mirror]]\nlocation = 'blocked.io/cache'\n",
        );
        let err = c.pull_endpoints(&image("blocked.io/app:v1")).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Blocked { prefix, .. } if prefix == "blocked.io"),
            "{err}"
        );
        assert!(err.to_string().contains("/r.conf"), "{err}");
        assert!(matches!(
            c.push_endpoint(&image("blocked.io/app:v1")),
            Err(ConfigError::Blocked { .. })
        ));
        assert_eq!(
            pulls(&c, "only-mirrors.io/app:v1"),
            ["mirror.io/app:v1 mirror"]
        );
        // A mirror inside a blocked registry is skipped.
        assert_eq!(pulls(&c, "open.io/app:v1"), ["open.io/app:v1"]);
        assert!(c.push_endpoint(&image("only-mirrors.io/app:v1")).is_err());
    }

    #[test]
    fn an_unconfigured_image_goes_where_it_says() {
        let c = RegistriesConf::default();
        assert_eq!(
            pulls(&c, "127.0.0.1:5000/app:v1"),
            ["127.0.0.1:5000/app:v1"]
        );
        let push = c.push_endpoint(&image("127.0.0.1:5000/app:v1")).unwrap();
        assert!(!push.insecure);
    }

    #[test]
    fn a_rewrite_that_is_not_a_reference_is_an_error() {
        let c = conf("[[registry]]\nprefix = 'reg.io'\nlocation = 'nohost'\n");
        let err = c.pull_endpoints(&image("reg.io/app:v1")).unwrap_err();
        assert!(matches!(err, ConfigError::BadRewrite { .. }), "{err}");
        let c = conf("[[registry]]\nprefix = 'reg.io'\nlocation = 'other.io/UPPER'\n");
        let err = c.pull_endpoints(&image("reg.io/app:v1")).unwrap_err();
        assert!(err.to_string().contains("lowercase"), "{err}");
    }
}
