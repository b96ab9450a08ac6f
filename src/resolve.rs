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

use crate::reference::{parse_image, ImageRef, ReferenceError, StorageRef};
use crate::source::{read_entries, Added, Selection, SourceError};
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
        text: String,
        remote: Option<ImageRef>,
        local: Option<StorageRef>,
    },
}

/// Parses an image argument; a bare name that is neither a registry reference nor a local
/// image name or ID is the registry parser's error.
pub fn parse_image_arg(text: &str) -> Result<ImageArg, ReferenceError> {
    if has_transport(text) {
        return parse_image(text).map(ImageArg::Explicit);
    }
    let remote = parse_image(text);
    let local = match parse_image(&format!("containers-storage:{text}")) {
        Ok(ImageRef::Storage(local)) => Some(local),
        _ => None,
    };
    match (remote, local) {
        (Err(e), None) => Err(e),
        (remote, local) => Ok(ImageArg::Bare {
            text: text.to_string(),
            remote: remote.ok(),
            local,
        }),
    }
}

fn has_transport(text: &str) -> bool {
    ["docker://", "oci:", "oci-archive:", "containers-storage:"]
        .iter()
        .any(|p| text.starts_with(p))
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
    let (text, remote, local) = match arg {
        ImageArg::Explicit(image) => return read(image.clone()).await,
        ImageArg::Bare {
            text,
            remote,
            local,
        } => (text, remote, local),
    };
    let local = local.clone().map(ImageRef::Storage);
    let remote = if order == BareName::LocalOnly {
        None
    } else {
        remote.clone()
    };
    let local_first = order != BareName::RegistryFirst
        || remote.is_none()
        || local
            .as_ref()
            .is_some_and(|_| crate::reference::is_id_prefix(text));
    let (first, second) = if local_first {
        (local, remote)
    } else {
        (remote, local)
    };
    let mut first_error = None;
    for image in [first, second].into_iter().flatten() {
        match read(image.clone()).await {
            Ok(done) => return Ok(done),
            Err(e) => match first_error.take() {
                None => first_error = Some((image, e)),
                Some((tried, error)) => return Err(both_failed(text, tried, error, e)),
            },
        }
    }
    match first_error {
        Some((_, e)) => Err(e),
        None => Err(SourceError::NotAnImage {
            image: text.clone(),
            reason: "it names no local image and no registry".into(),
        }),
    }
}

/// Both readings failed: the registry's error is the one reported, the local miss noted.
fn both_failed(
    text: &str,
    first: ImageRef,
    first_error: SourceError,
    second_error: SourceError,
) -> SourceError {
    let (remote_error, local_error) = if matches!(first, ImageRef::Storage(_)) {
        (second_error, first_error)
    } else {
        (first_error, second_error)
    };
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
        match parse_image_arg("localhost/image").unwrap() {
            ImageArg::Bare { remote, local, .. } => {
                assert_eq!(
                    remote.unwrap().to_string(),
                    "docker://localhost/image:latest"
                );
                assert_eq!(local.unwrap().name.as_deref(), Some("localhost/image"));
            }
            other => panic!("{other:?}"),
        }
        let id = "a".repeat(64);
        match parse_image_arg(&id).unwrap() {
            ImageArg::Bare { remote, local, .. } => {
                assert!(remote.is_none(), "a 64-hex name is an ID, not a repository");
                assert_eq!(local.unwrap().id.as_deref(), Some(id.as_str()));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_image_arg("oci:/tmp/x").unwrap(),
            ImageArg::Explicit(ImageRef::Layout(_))
        ));
        assert!(matches!(
            parse_image_arg("containers-storage:app").unwrap(),
            ImageArg::Explicit(ImageRef::Storage(_))
        ));
        assert!(parse_image_arg("ftp://x").is_err());
        assert!(parse_image_arg("Bad").is_err());
    }
}
