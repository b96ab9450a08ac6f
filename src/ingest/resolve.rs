//! Image arguments of `add` and `create` as sealos resolves them: an explicit transport is used
//! as given; a bare name may mean a local image in containers-storage or a registry image.
//!
//! - `create LIST NAME`: a local image with that name (or ID, or unique ID prefix) wins; else
//!   the registry (sealos' `manifest create` looks locally first).
//! - `add LIST NAME`: the registry first, then a local image with that name (sealos' `manifest
//!   add` tries the registry and falls back to local storage); an image ID or unique ID prefix
//!   of a local image is that image without asking a registry first (sealos reaches the same
//!   image after the registry lookup fails). When both fail, the registry's error is reported
//!   along with the local miss.
//! - `inspect NAME` and `annotate LIST NAME` (not a list, not a digest): a local image first,
//!   then the registry (for `inspect`, only when NAME has a registry host or a transport).
//! - `sha256:ID` (what `buildah build --iidfile` writes) is the local image with that full ID and
//!   nothing else (libimage looks such a name up locally only); `annotate` and `remove` take it
//!   as an entry's digest first.
//!
//! A bare name's registry reading is what registries.conf makes of it: a name with a registry
//! host as it is; a short name completed by an `[aliases]` entry or the one
//! `unqualified-search-registries` entry (several only with `short-name-mode = "disabled"`, tried
//! in order); with no registries.conf at all, Docker Hub.

use crate::config::registries::RegistriesConf;
use crate::ingest::source::{read_entries, Added, Selection, SourceError};
use crate::model::reference::{parse_image, ImageRef, ReferenceError, StorageRef};
use crate::store::Store;
use crate::transport::open::Transports;
use crate::transport::RawManifest;

/// Which side a bare name is tried on first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareName {
    /// `create`: local image first, then the registry.
    LocalFirst,
    /// `add`: registry first (local image IDs excepted), then local.
    RegistryFirst,
    /// `inspect` of a short name: only a local image (a short name never reaches Docker Hub).
    LocalOnly,
}

/// An image argument, parsed before anything is read.
#[derive(Debug, Clone)]
pub enum ImageArg {
    /// A reference with a transport (`docker://`, `oci:`, `containers-storage:` …).
    Explicit(ImageRef),
    /// A name without one: maybe a registry image, maybe a local one.
    Bare {
        /// The name, as typed.
        text: String,
        /// The registry images the name may mean, in the order to try them.
        remote: Vec<ImageRef>,
        /// Why the name means no registry image (registries.conf could not complete it).
        unresolved: Option<String>,
        /// The local image the name may mean, when it is a valid containers-storage name or ID.
        local: Option<StorageRef>,
    },
}

/// Parses an image argument; a bare name that is neither a registry reference nor a local
/// image name or ID is the registry parser's error. `registries` completes short names.
pub fn parse_image_arg(
    text: &str,
    registries: &RegistriesConf,
) -> Result<ImageArg, ReferenceError> {
    if has_transport(text) {
        return parse_image(text).map(ImageArg::Explicit);
    }
    if let Some(id) = text.strip_prefix("sha256:") {
        return local_id(text, id);
    }
    let local = match parse_image(&format!("containers-storage:{text}")) {
        Ok(ImageRef::Storage(local)) => Some(local),
        _ => None,
    };
    let (remote, unresolved) = match parse_image(text) {
        Err(e) if local.is_none() => return Err(e),
        Err(_) => (Vec::new(), None),
        Ok(_) => match registries.resolve_short_name(text) {
            Ok(candidates) => (
                candidates
                    .into_iter()
                    .map(|c| ImageRef::Registry(c.reference))
                    .collect(),
                None,
            ),
            Err(e) => (Vec::new(), Some(e.to_string())),
        },
    };
    Ok(ImageArg::Bare {
        text: text.to_string(),
        remote,
        unresolved,
        local,
    })
}

/// `sha256:ID`: the local image with that full ID, never a registry image (a repository named
/// `sha256` with the ID as its tag is not what anyone means).
fn local_id(text: &str, id: &str) -> Result<ImageArg, ReferenceError> {
    if id.len() != 64 || !crate::model::reference::is_id_prefix(id) {
        return Err(ReferenceError::InvalidImage {
            input: crate::model::reference::shown(text),
            reason: "an image ID after \"sha256:\" must be 64 lowercase hexadecimal characters"
                .into(),
        });
    }
    let local = StorageRef {
        store: None,
        name: None,
        digest: None,
        id: Some(id.to_string()),
    };
    Ok(ImageArg::Bare {
        text: text.to_string(),
        remote: Vec::new(),
        unresolved: None,
        local: Some(local),
    })
}

fn has_transport(text: &str) -> bool {
    crate::model::reference::has_transport_prefix(text)
        || matches!(
            parse_image(text),
            Err(ReferenceError::UnknownTransport { .. })
        )
}

/// Reads the image an argument names, trying local and registry in `order` for a bare name.
pub async fn read_image_arg(
    transports: &Transports,
    store: &Store,
    arg: &ImageArg,
    selection: &Selection,
    order: BareName,
) -> Result<Added, SourceError> {
    first_readable(arg, order, |image| async move {
        read_entries(transports, store, &image, selection).await
    })
    .await
}

/// The local image a new list's name also names, with every entry when it is a list buildah
/// made: what `create --amend NAME` starts the list with when no list is called NAME (buildah
/// ≥ 1.44 turns such an image into a list). `None` when no image by that name can be opened
/// (no store, no such image): the name then only asks for a list, as before.
pub async fn read_image_named_like_list(
    transports: &Transports,
    store: &Store,
    name: &str,
) -> Result<Option<Added>, SourceError> {
    let Ok(image) = parse_image(&format!("containers-storage:{name}")) else {
        return Ok(None);
    };
    if transports.open_read(&image).await.is_err() {
        return Ok(None);
    }
    let every_entry = Selection {
        all: true,
        platform: None,
        filter: None,
    };
    read_entries(transports, store, &image, &every_entry)
        .await
        .map(Some)
}

/// The manifest an argument names (for `inspect` and `annotate`), tried in `order`.
pub async fn read_manifest_arg(
    transports: &Transports,
    arg: &ImageArg,
    order: BareName,
) -> Result<RawManifest, SourceError> {
    first_readable(arg, order, |image| async move {
        let fail = |source| SourceError::Transport {
            image: image.to_string(),
            source,
        };
        let (transport, reference) = transports.open_read(&image).await.map_err(fail)?;
        transport.manifest_get(&reference).await.map_err(fail)
    })
    .await
}

/// Runs `read` on the argument's image, or on a bare name's readings in `order` until one
/// succeeds.
async fn first_readable<T, F, Fut>(
    arg: &ImageArg,
    order: BareName,
    read: F,
) -> Result<T, SourceError>
where
    F: Fn(ImageRef) -> Fut,
    Fut: std::future::Future<Output = Result<T, SourceError>>,
{
    let (text, remote, unresolved, local) = match arg {
        ImageArg::Explicit(image) => return read(image.clone()).await,
        ImageArg::Bare {
            text,
            remote,
            unresolved,
            local,
        } => (text, remote, unresolved, local),
    };
    let local = local.clone().map(ImageRef::Storage);
    let remote: Vec<ImageRef> = if order == BareName::LocalOnly {
        Vec::new()
    } else {
        remote.clone()
    };
    let local_first = order != BareName::RegistryFirst
        || remote.is_empty()
        || local
            .as_ref()
            .is_some_and(|_| crate::model::reference::is_id_prefix(text));
    let attempts: Vec<ImageRef> = if local_first {
        local.into_iter().chain(remote).collect()
    } else {
        remote.into_iter().chain(local).collect()
    };
    let mut remote_error = None;
    let mut local_error = None;
    for image in attempts {
        match read(image.clone()).await {
            Ok(done) => return Ok(done),
            Err(e) if matches!(image, ImageRef::Storage(_)) => local_error = Some(e),
            Err(e) => remote_error = Some(e),
        }
    }
    // A short name registries.conf could not complete is an error of its own (listing the
    // candidates, say), unless only a local image was wanted.
    let remote_error = remote_error.or_else(|| {
        let why = unresolved
            .as_ref()
            .filter(|_| order != BareName::LocalOnly)?;
        Some(SourceError::NotAnImage {
            image: text.clone(),
            reason: why.clone(),
        })
    });
    let first_error = match (remote_error, local_error) {
        (Some(remote), Some(local)) => return Err(both_failed(text, remote, local)),
        (Some(e), None) | (None, Some(e)) => Some(e),
        (None, None) => None,
    };
    match first_error {
        Some(e) => Err(e),
        None => Err(SourceError::NotAnImage {
            image: text.clone(),
            reason: "it names no local image and no registry".into(),
        }),
    }
}

/// Both readings failed: the registry's error is the one reported, the local miss noted.
fn both_failed(text: &str, remote_error: SourceError, local_error: SourceError) -> SourceError {
    SourceError::NotLocalNorRemote {
        name: text.to_string(),
        local: crate::error_chain(&local_error),
        source: Box::new(remote_error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_have_both_readings() {
        let none = RegistriesConf::default();
        match parse_image_arg("localhost/image", &none).unwrap() {
            ImageArg::Bare { remote, local, .. } => {
                assert_eq!(remote[0].to_string(), "docker://localhost/image:latest");
                assert_eq!(local.unwrap().name.as_deref(), Some("localhost/image"));
            }
            other => panic!("{other:?}"),
        }
        let id = "a".repeat(64);
        match parse_image_arg(&id, &none).unwrap() {
            ImageArg::Bare { remote, local, .. } => {
                assert!(
                    remote.is_empty(),
                    "a 64-hex name is an ID, not a repository"
                );
                assert_eq!(local.unwrap().id.as_deref(), Some(id.as_str()));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_image_arg("oci:/tmp/x", &none).unwrap(),
            ImageArg::Explicit(ImageRef::Layout(_))
        ));
        assert!(matches!(
            parse_image_arg("containers-storage:app", &none).unwrap(),
            ImageArg::Explicit(ImageRef::Storage(_))
        ));
        match parse_image_arg(&format!("sha256:{id}"), &none).unwrap() {
            ImageArg::Bare { remote, local, .. } => {
                assert!(remote.is_empty(), "sha256:ID is never a registry image");
                assert_eq!(local.unwrap().id.as_deref(), Some(id.as_str()));
            }
            other => panic!("{other:?}"),
        }
        for short in [
            "sha256:aaaa",
            "sha256:",
            &format!("sha256:{}", "A".repeat(64)),
        ] {
            let err = parse_image_arg(short, &none).unwrap_err().to_string();
            assert!(err.contains("64 lowercase hexadecimal"), "{short}: {err}");
        }
        assert!(parse_image_arg("ftp://x", &none).is_err());
        assert!(parse_image_arg("Bad", &none).is_err());
    }
}
