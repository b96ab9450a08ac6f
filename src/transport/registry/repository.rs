//! One repository of one registry as a [`Transport`]: manifests, blobs, mounts and referrers
//! over the OCI distribution API, each request through the repository's session.
//!
//! Rules:
//! - Manifests are kept as the bytes read, checked against the digest asked for
//!   (`check_manifest`) and against `Docker-Content-Digest`; their size is capped while they
//!   are read. Their media type comes from the body ([`crate::model::media_type::manifest_kind`]);
//!   the response's Content-Type only chooses between OCI and Docker for a body that does not
//!   say.
//! - Blobs are read only by digest from the repository itself, never from a descriptor's
//!   `urls`; a download that stalls is abandoned (the copy engine restarts it). A partial
//!   answer to a ranged read must start where it was asked to.

use super::client::RegistryClient;
use super::error::Op;
use super::exists::{exists, stat, stated_length};
use super::session::{Access, Session};
use super::wire::{self, content_digest, Request};
use super::{chunked, mount, referrers, upload};
use crate::boundary::retry::{RetryClass, Retryable};
use crate::config::endpoints::Endpoint;
use crate::model::digest::{Digest, Verifier};
use crate::model::oci::{Descriptor, ACCEPTED_MANIFEST_TYPES};
use crate::model::reference::RegistryRef;
use crate::transport::{
    check_manifest, BlobStat, BlobStream, ManifestRef, RawManifest, Transport, TransportError,
    MAX_MANIFEST_BYTES,
};
use async_trait::async_trait;
use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use reqwest::{Method, StatusCode, Url};
use std::fmt;

/// One repository of one registry. Made by [`RegistryClient::repository`].
pub struct RegistryTransport {
    session: Session,
    repository: String,
    /// `scheme://api-host/v2/<repository>/`.
    base: Url,
    /// Blobs larger than this go in resumable chunks.
    chunk_size: u64,
}

impl fmt::Debug for RegistryTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryTransport")
            .field("location", &self.session.errors().location)
            .field("authenticated", &self.session.has_credential())
            .finish_non_exhaustive()
    }
}

impl RegistryTransport {
    /// `requested` as found at `endpoint`, reached by `client`.
    pub(super) async fn open(
        client: &RegistryClient,
        requested: &RegistryRef,
        endpoint: &Endpoint,
    ) -> Result<Self, TransportError> {
        let session = client.session(requested, endpoint).await?;
        let repository = endpoint.reference(requested).repository;
        let base = session
            .host()
            .origin
            .join(&format!("v2/{repository}/"))
            .expect("a repository path joins the host origin");
        Ok(Self {
            session,
            repository,
            base,
            chunk_size: client.chunk_size(),
        })
    }

    /// Where credentials were looked for (and which one was used), as in 401 errors.
    pub fn credential_sources(&self) -> &str {
        &self.session.errors().searched
    }

    fn url(&self, path: &str) -> Url {
        self.base
            .join(path)
            .expect("manifest and blob paths join the repository URL")
    }

    fn manifest_url(&self, reference: &ManifestRef) -> Url {
        self.url(&format!("manifests/{}", manifest_name(reference)))
    }

    fn blob_url(&self, digest: &Digest) -> Url {
        self.url(&format!("blobs/{digest}"))
    }

    fn uploads_url(&self) -> Url {
        self.url("blobs/uploads/")
    }

    /// The digest a tag points to now, if the registry says (`HEAD`, `Docker-Content-Digest`).
    async fn tag_digest(&self, tag: &ManifestRef) -> Option<Digest> {
        let url = self.manifest_url(tag);
        let op = Op {
            method: "HEAD",
            what: "the tag",
            read: true,
        };
        let request = Request::new(Method::HEAD, &url)
            .text_header(ACCEPT, &ACCEPTED_MANIFEST_TYPES.join(", "));
        let response = self.session.send(Access::Pull, op, request).await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        content_digest(response.headers())
    }
}

/// Retries of a manifest PUT: the usual ones, and a `BLOB_UNKNOWN` / `MANIFEST_BLOB_UNKNOWN`
/// refusal, which Nexus and GHCR answer for a moment after the blobs or children the manifest
/// names were stored (eventual consistency; a rerun passes). Bounded by the policy like any
/// retry, so a child that is really missing still fails.
fn manifest_put_retry_class(error: &TransportError) -> RetryClass {
    if error.has_code("BLOB_UNKNOWN") || error.has_code("MANIFEST_BLOB_UNKNOWN") {
        return RetryClass::Transient;
    }
    error.retry_class()
}

/// A refusal to overwrite a tag, whatever it would be overwritten with.
fn is_immutable_tag_refusal(error: &TransportError) -> bool {
    error.has_code("TAG_INVALID") || matches!(error, TransportError::Status { status: 412, .. })
}

/// A manifest media type from a `Content-Type` header, without parameters; only the types we
/// asked for count (a registry may answer `application/json` or `text/plain`).
fn manifest_content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    ACCEPTED_MANIFEST_TYPES
        .contains(&essence.as_str())
        .then_some(essence)
}

/// `v1`, `sha256:…`, or `latest` for the default, in messages and URLs.
fn manifest_name(reference: &ManifestRef) -> String {
    match reference {
        ManifestRef::Default => "latest".to_string(),
        other => other.to_string(),
    }
}

/// A 206 answer to `Range: bytes=OFFSET-` of a blob of `size` bytes must be its bytes from
/// OFFSET to the end: its `Content-Range` says so, or the bytes would land at the wrong place.
fn check_partial(headers: &HeaderMap, offset: u64, size: u64) -> Result<(), String> {
    let range = headers
        .get(CONTENT_RANGE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .ok_or("a partial answer without Content-Range")?;
    let parsed = range
        .trim()
        .strip_prefix("bytes ")
        .and_then(|r| r.split_once('/'))
        .and_then(|(span, total)| Some((span.split_once('-')?, total)))
        .and_then(|((first, last), total)| {
            Some((first.parse::<u64>().ok()?, last.parse::<u64>().ok()?, total))
        });
    match parsed {
        Some((first, last, total))
            if first == offset
                && last.checked_add(1) == Some(size)
                && (total == "*" || total.parse::<u64>().ok() == Some(size)) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "asked for bytes {offset}- of {size}, the registry answered Content-Range {:?}",
            crate::boundary::terminal::escape_controls(&range)
        )),
    }
}

#[async_trait]
impl Transport for RegistryTransport {
    fn describe(&self) -> String {
        self.session.errors().location.clone()
    }

    fn checks_uploaded_digests(&self) -> bool {
        true
    }

    fn registry_repository(&self) -> Option<(String, String)> {
        Some((
            self.session.errors().registry.clone(),
            self.repository.clone(),
        ))
    }

    async fn manifest_get(&self, reference: &ManifestRef) -> Result<RawManifest, TransportError> {
        let what = format!("manifest {}", manifest_name(reference));
        let op = Op {
            method: "GET",
            what: &what,
            read: true,
        };
        let url = self.manifest_url(reference);
        let accept = ACCEPTED_MANIFEST_TYPES.join(", ");
        let stall = self.session.errors().stall;
        let (bytes, content_type, header_digest) = self
            .session
            .read(|| async {
                let request = Request::new(Method::GET, &url).text_header(ACCEPT, &accept);
                let response = self.session.send(Access::Pull, op, request).await?;
                if !response.status().is_success() {
                    return Err(self.session.refusal(response, op).await);
                }
                let content_type = manifest_content_type(response.headers());
                let header_digest = content_digest(response.headers());
                let bytes = wire::read_capped(response, MAX_MANIFEST_BYTES, stall)
                    .await
                    .map_err(|e| self.session.errors().body(e, op, &url, MAX_MANIFEST_BYTES))?;
                Ok((bytes, content_type, header_digest))
            })
            .await?;
        let located = format!("{what} in {}", self.session.errors().location);
        if let Some(expected) = header_digest {
            let mut verifier = Verifier::new(&expected);
            verifier.update(&bytes);
            let actual = verifier.finish();
            if actual != expected {
                return Err(TransportError::DigestMismatch {
                    what: format!("{located} (its Docker-Content-Digest)"),
                    expected,
                    actual,
                });
            }
        }
        check_manifest(bytes, reference, content_type.as_deref(), &located)
    }

    async fn manifest_put(
        &self,
        reference: &ManifestRef,
        manifest: &RawManifest,
    ) -> Result<(), TransportError> {
        if manifest.media_type.is_empty() {
            return Err(TransportError::Invalid(format!(
                "manifest {} has no mediaType; the registry needs one as its Content-Type",
                manifest.digest
            )));
        }
        if let ManifestRef::Digest(d) = reference {
            if !d.matches(&manifest.bytes) {
                return Err(TransportError::Invalid(format!(
                    "refusing to store manifest {} under the different digest {d}",
                    manifest.digest
                )));
            }
        }
        let content_type = HeaderValue::from_str(&manifest.media_type).map_err(|_| {
            TransportError::Invalid(format!(
                "manifest {} has a mediaType that is not a valid header value",
                manifest.digest
            ))
        })?;
        let what = format!("manifest {}", manifest_name(reference));
        let op = Op {
            method: "PUT",
            what: &what,
            read: false,
        };
        let url = self.manifest_url(reference);
        let stored = self
            .session
            .host()
            .policy
            .run_classified(
                || async {
                    let request = Request::new(Method::PUT, &url)
                        .header(CONTENT_TYPE, content_type.clone())
                        .bytes(manifest.bytes.clone());
                    let response = self.session.send(Access::Push, op, request).await?;
                    if !response.status().is_success() {
                        return Err(self.session.refusal(response, op).await);
                    }
                    Ok(content_digest(response.headers()))
                },
                manifest_put_retry_class,
            )
            .await;
        let stored = match stored {
            Ok(stored) => stored,
            // ECR immutable tags (400 TAG_INVALID) and Harbor immutability rules (412) refuse any
            // PUT to an existing tag, even of the same manifest: when the tag already holds
            // exactly this digest, the push has nothing left to do.
            Err(e) if is_immutable_tag_refusal(&e) && matches!(reference, ManifestRef::Tag(_)) => {
                match self.tag_digest(reference).await {
                    Some(current) if current == manifest.digest => return Ok(()),
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        // The registry names what it stored; with the same algorithm it must be our digest.
        match stored {
            Some(stored)
                if stored.algorithm() == manifest.digest.algorithm()
                    && stored != manifest.digest =>
            {
                Err(TransportError::DigestMismatch {
                    what: format!("{what} as stored in {}", self.session.errors().location),
                    expected: manifest.digest.clone(),
                    actual: stored,
                })
            }
            _ => Ok(()),
        }
    }

    async fn blob_exists(&self, descriptor: &Descriptor) -> Result<bool, TransportError> {
        let what = format!("blob {}", descriptor.digest);
        exists(
            &self.session,
            &self.blob_url(&descriptor.digest),
            &what,
            None,
        )
        .await
    }

    /// `HEAD`, with the size its `Content-Length` states. A size other than the descriptor's
    /// is asked again with a one-byte ranged `GET` (whose `Content-Range` states the stored
    /// length, without reading the blob): Harbor's `HEAD` can state another length than the
    /// blob's, so only the `GET`'s length is reported.
    async fn blob_stat(&self, descriptor: &Descriptor) -> Result<BlobStat, TransportError> {
        let what = format!("blob {}", descriptor.digest);
        let url = self.blob_url(&descriptor.digest);
        let Some(size) = stat(&self.session, &url, &what, None).await? else {
            return Ok(BlobStat::Absent);
        };
        if size.is_none_or(|size| size == descriptor.size) {
            return Ok(BlobStat::Present { size });
        }
        let op = Op {
            method: "GET",
            what: &what,
            read: true,
        };
        let request = || Request::new(Method::GET, &url).text_header(RANGE, "bytes=0-0");
        let response = self
            .session
            .read(|| self.session.send(Access::Pull, op, request()))
            .await?;
        let size = match response.status() {
            StatusCode::PARTIAL_CONTENT => response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|range| range.rsplit_once('/'))
                .and_then(|(_, total)| total.trim().parse::<u64>().ok()),
            status if status.is_success() => stated_length(response.headers()),
            _ => return Err(self.session.refusal(response, op).await),
        };
        // The body (one byte, or the whole blob from a registry that ignores ranges) is not
        // read: dropping the answer closes its connection.
        Ok(BlobStat::Present { size })
    }

    async fn manifest_exists(&self, digest: &Digest) -> Result<bool, TransportError> {
        let what = format!("manifest {digest}");
        let url = self.manifest_url(&ManifestRef::Digest(digest.clone()));
        let accept = ACCEPTED_MANIFEST_TYPES.join(", ");
        exists(&self.session, &url, &what, Some(&accept)).await
    }

    async fn blob_get(&self, descriptor: &Descriptor) -> Result<BlobStream, TransportError> {
        self.blob_get_from(descriptor, 0).await
    }

    /// `GET` with `Range: bytes=OFFSET-`; a registry that ignores the range (200) is read from
    /// the start with the first `offset` bytes dropped.
    async fn blob_get_from(
        &self,
        descriptor: &Descriptor,
        offset: u64,
    ) -> Result<BlobStream, TransportError> {
        let what = format!("blob {}", descriptor.digest);
        let op = Op {
            method: "GET",
            what: &what,
            read: true,
        };
        // Only the digest, never the descriptor's `urls`: no fetching from foreign URLs. Not
        // retried here: the copy engine restarts a failed transfer, stream and all.
        let url = self.blob_url(&descriptor.digest);
        let mut request = Request::new(Method::GET, &url);
        if offset > 0 {
            request = request.text_header(RANGE, &format!("bytes={offset}-"));
        }
        let response = self.session.send(Access::Pull, op, request).await?;
        if !response.status().is_success() {
            return Err(self.session.refusal(response, op).await);
        }
        let skip = match response.status() {
            StatusCode::PARTIAL_CONTENT => {
                check_partial(response.headers(), offset, descriptor.size)
                    .map_err(|why| TransportError::Invalid(format!("GET {what}: {why}")))?;
                0
            }
            _ => offset,
        };
        let errors = self.session.errors().clone();
        let stall = errors.stall;
        let stream =
            wire::guard_stream(Box::pin(response.bytes_stream()), stall).map(move |item| {
                item.map_err(|e| {
                    let op = Op {
                        method: "GET",
                        what: &what,
                        read: true,
                    };
                    errors.body(e, op, &url, u64::MAX)
                })
            });
        Ok(crate::transport::resume::skip(Box::pin(stream), skip))
    }

    async fn blob_put_from(
        &self,
        source: &dyn crate::transport::resume::BlobSource,
    ) -> Result<(), TransportError> {
        chunked::upload_from(&self.session, &self.uploads_url(), source, self.chunk_size).await
    }

    async fn blob_put(
        &self,
        descriptor: &Descriptor,
        data: BlobStream,
    ) -> Result<(), TransportError> {
        upload::upload(
            &self.session,
            &self.uploads_url(),
            data,
            upload::Expect::Known {
                digest: &descriptor.digest,
                size: descriptor.size,
            },
        )
        .await
        .map(|_| ())
    }

    /// Streams the blob in one PATCH, hashed on its way, and finishes the upload with the
    /// digest computed (as containers/image does for a layer compressed on the fly): no copy
    /// on local disk, the compressed bytes are made once. A break restarts from the source.
    async fn blob_put_hashed(
        &self,
        media_type: &str,
        data: BlobStream,
    ) -> Result<Descriptor, TransportError> {
        let (digest, size) = upload::upload(
            &self.session,
            &self.uploads_url(),
            data,
            upload::Expect::Compute,
        )
        .await?;
        Ok(Descriptor::new(media_type, digest, size))
    }

    async fn referrers(&self, digest: &Digest) -> Result<Option<Vec<Descriptor>>, TransportError> {
        referrers::list(&self.session, &self.base, digest).await
    }

    async fn blob_mount(
        &self,
        descriptor: &Descriptor,
        from_repository: &str,
    ) -> Result<bool, TransportError> {
        if from_repository == self.repository {
            return Ok(false);
        }
        Ok(mount::mount(
            &self.session,
            &self.uploads_url(),
            &descriptor.digest,
            from_repository,
        )
        .await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_types_from_headers() {
        let headers = |content_type: &str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
            h
        };
        assert_eq!(
            manifest_content_type(&headers(
                "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"
            ))
            .as_deref(),
            Some(crate::model::oci::DOCKER_MANIFEST)
        );
        assert_eq!(manifest_content_type(&headers("application/json")), None);
        assert_eq!(manifest_content_type(&HeaderMap::new()), None);

        let digest = Digest::sha256_of(b"x");
        let mut h = HeaderMap::new();
        h.insert(
            "Docker-Content-Digest",
            HeaderValue::from_str(digest.as_str()).unwrap(),
        );
        assert_eq!(content_digest(&h), Some(digest));
        h.insert("Docker-Content-Digest", HeaderValue::from_static("md5:abc"));
        assert_eq!(content_digest(&h), None);
    }

    #[test]
    fn a_partial_blob_must_start_where_it_was_asked_to() {
        let range = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_RANGE, HeaderValue::from_str(value).unwrap());
            h
        };
        assert!(check_partial(&range("bytes 10-99/100"), 10, 100).is_ok());
        assert!(check_partial(&range("bytes 10-99/*"), 10, 100).is_ok());
        for wrong in [
            "bytes 0-99/100",
            "bytes 10-98/100",
            "bytes 10-99/101",
            "bytes 10-18446744073709551615/100",
            "items 10-99/100",
            "bytes -5-99/100",
            "junk",
        ] {
            assert!(check_partial(&range(wrong), 10, 100).is_err(), "{wrong}");
        }
        assert!(check_partial(&HeaderMap::new(), 10, 100).is_err());
    }
}
