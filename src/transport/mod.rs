//! The one interface every place images live behind: a registry repository or an OCI layout.
//! After a reference is parsed, nothing asks "local or remote?"; it asks a `Transport`.

pub mod archive;
pub mod layout;
pub mod open;
pub mod registry;
pub mod resume;
pub mod storage;

use crate::digest::{Digest, Verifier};
use crate::oci::Descriptor;
use crate::reference::ImageRef;
use crate::retry::{RetryClass, Retryable};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::pin::Pin;

pub use crate::oci::{MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES};

/// A manifest exactly as it was read: its digest is the sha256 of these bytes.
#[derive(Debug, Clone)]
pub struct RawManifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
}

impl RawManifest {
    /// Wraps bytes this program made or already checked, typed by [`crate::media_type::manifest_kind`].
    pub fn from_bytes(bytes: Bytes) -> Self {
        let media_type = crate::media_type::manifest_kind(&bytes, None).unwrap_or_default();
        let digest = Digest::sha256_of(&bytes);
        Self {
            bytes,
            media_type,
            digest,
        }
    }
}

/// How a manifest is named inside one repository or layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    Tag(String),
    Digest(Digest),
    /// No tag or digest given: `latest` in a registry, the only entry in a layout.
    Default,
}

impl std::fmt::Display for ManifestRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestRef::Tag(t) => f.write_str(t),
            ManifestRef::Digest(d) => write!(f, "{d}"),
            ManifestRef::Default => f.write_str("(default)"),
        }
    }
}

pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes, TransportError>> + Send>>;

/// How a request failed below HTTP, which decides whether it is worth trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkFailure {
    /// Nothing listens there: one line, no retries.
    Refused,
    /// The connection broke or could not be made: retried.
    Dropped,
    /// No answer within the time limit (connect or response): retried once.
    Timeout,
    /// A transfer moved less than the minimum rate for a whole stall window: retried once.
    Stalled,
}

/// Every way reading or writing images can fail, for every transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The manifest, blob or image is not there.
    #[error("{what} not found in {location}")]
    NotFound { what: String, location: String },
    /// Content read does not hash to the digest it was read by.
    #[error("{what}: content does not match its digest {expected} (got {actual})")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    /// Content read is not the size its descriptor says.
    #[error("{what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    /// The destination hashed an upload and refused it.
    #[error(
        "{what}: the registry refused the content because it does not match its digest ({detail})"
    )]
    RejectedDigest { what: String, detail: String },
    /// A document or answer over a size limit of this tool.
    #[error("{what} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { what: String, size: u64, limit: u64 },
    /// A registry answered with an error status; `codes` are the spec's error codes of its body.
    #[error("{method} {url}: {status}{}", detail_suffix(.detail))]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        codes: Box<[String]>,
        detail: String,
        /// The registry's `Retry-After`, in whole seconds (the header has no finer unit).
        retry_after_secs: Option<u32>,
    },
    /// The registry or its token server did not accept the credentials (or wanted some).
    #[error(
        "{registry}: authentication failed ({detail}); credentials were looked for in {searched}"
    )]
    Unauthorized {
        registry: String,
        detail: String,
        searched: String,
    },
    /// The registry knows who we are and refuses anyway (403): permissions, quota, a locked
    /// repository. Not a wrong password.
    #[error("{registry}: the registry refused the request ({detail}); check that the account may push to this repository and that its quota is not exhausted")]
    Denied { registry: String, detail: String },
    /// The destination repository does not exist, and the registry does not create repositories
    /// on push (Amazon ECR).
    #[error("{location}: the repository does not exist on the registry ({detail}); create it first (Amazon ECR, for one, needs repositories created before a push)")]
    NoRepository { location: String, detail: String },
    /// A rule of this tool forbids the request (a blocked registry, credentials that would
    /// travel in clear text); nothing was sent.
    #[error("{registry}: {detail}")]
    Refused { registry: String, detail: String },
    /// The TLS handshake failed.
    #[error("{registry}: TLS error: {detail}")]
    Tls { registry: String, detail: String },
    /// The connection failed, timed out or stalled.
    #[error("{context}: {detail}")]
    Network {
        context: String,
        detail: String,
        kind: NetworkFailure,
    },
    /// A local file could not be read or written.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A file of a layout or archive that may not be read (not a regular file inside it, or not
    /// the size it should be).
    #[error(transparent)]
    File(#[from] crate::fsutil::FileError),
    /// Anything else that is wrong with the input or the answer.
    #[error("{0}")]
    Invalid(String),
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

impl TransportError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        TransportError::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether trying the same request again may succeed (see [`RetryClass`]).
    pub fn is_retryable(&self) -> bool {
        self.retry_class() != RetryClass::Never
    }

    /// Whether a registry refused a manifest for its media type: 415, or 400 `MANIFEST_INVALID`
    /// / `UNSUPPORTED` (Quay for an OCI index over Docker manifests, zot for Docker types).
    pub fn rejects_manifest_type(&self) -> bool {
        match self {
            TransportError::Status { status: 415, .. } => true,
            TransportError::Status { status: 400, .. } => {
                self.has_code("MANIFEST_INVALID") || self.has_code("UNSUPPORTED")
            }
            _ => false,
        }
    }

    /// Whether a registry answered with this spec error code (e.g. `BLOB_UNKNOWN`).
    pub fn has_code(&self, code: &str) -> bool {
        matches!(self, TransportError::Status { codes, .. } if codes.iter().any(|c| c == code))
    }
}

impl Retryable for TransportError {
    fn retry_class(&self) -> RetryClass {
        match self {
            TransportError::Network { kind, .. } => match kind {
                NetworkFailure::Refused => RetryClass::Never,
                NetworkFailure::Dropped => RetryClass::Transient,
                NetworkFailure::Timeout | NetworkFailure::Stalled => RetryClass::Timeout,
            },
            TransportError::Status { status, .. } if *status == 429 || *status >= 500 => {
                RetryClass::Transient
            }
            // A truncated body can be a broken connection; reading again is cheap.
            TransportError::SizeMismatch { .. } => RetryClass::Transient,
            _ => RetryClass::Never,
        }
    }

    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            TransportError::Status {
                retry_after_secs, ..
            } => retry_after_secs.map(|s| std::time::Duration::from_secs(s.into())),
            _ => None,
        }
    }

    fn gave_up(self, attempts: u32) -> Self {
        let note = format!("gave up after {attempts} attempts");
        match self {
            TransportError::Status {
                method,
                url,
                status,
                codes,
                detail,
                retry_after_secs,
            } => TransportError::Status {
                method,
                url,
                status,
                codes,
                detail: if detail.is_empty() {
                    note
                } else {
                    format!("{detail}; {note}")
                },
                retry_after_secs,
            },
            TransportError::Network {
                context,
                detail,
                kind,
            } => TransportError::Network {
                context,
                detail: format!("{detail} ({note})"),
                kind,
            },
            TransportError::SizeMismatch {
                what,
                expected,
                actual,
            } => TransportError::SizeMismatch {
                what: format!("{what} ({note})"),
                expected,
                actual,
            },
            other => other,
        }
    }
}

/// One repository of one registry, or one OCI layout.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Where this points, for messages: `127.0.0.1:5000/dst/app` or `oci:/tmp/layout`.
    fn describe(&self) -> String;

    /// `(registry host, repository)` for registries, so the copy engine can mount across
    /// repositories of the same registry; `None` for layouts.
    fn registry_repository(&self) -> Option<(String, String)> {
        None
    }

    /// Reads a manifest as its exact bytes, checked against its digest.
    async fn manifest_get(&self, reference: &ManifestRef) -> Result<RawManifest, TransportError>;

    /// Stores a manifest's exact bytes under a digest or a tag.
    async fn manifest_put(
        &self,
        reference: &ManifestRef,
        manifest: &RawManifest,
    ) -> Result<(), TransportError>;

    async fn blob_exists(&self, descriptor: &Descriptor) -> Result<bool, TransportError>;

    /// Whether a manifest with this digest is stored here. A registry accepts a manifest only
    /// once everything it references is present, so a child found here needs nothing copied.
    async fn manifest_exists(&self, digest: &Digest) -> Result<bool, TransportError> {
        match self
            .manifest_get(&ManifestRef::Digest(digest.clone()))
            .await
        {
            Ok(_) => Ok(true),
            Err(TransportError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Streams a blob. The stream is not verified here; wrap it in [`verified`].
    async fn blob_get(&self, descriptor: &Descriptor) -> Result<BlobStream, TransportError>;

    /// Streams a blob from byte `offset` to its end, to continue a transfer that broke. By
    /// default the whole blob is read and its first `offset` bytes dropped.
    async fn blob_get_from(
        &self,
        descriptor: &Descriptor,
        offset: u64,
    ) -> Result<BlobStream, TransportError> {
        Ok(resume::skip(self.blob_get(descriptor).await?, offset))
    }

    /// Stores a blob from a stream; the destination checks size and digest before committing.
    async fn blob_put(
        &self,
        descriptor: &Descriptor,
        data: BlobStream,
    ) -> Result<(), TransportError>;

    /// Stores a blob from a source it may reopen part-way: a destination that can continue an
    /// interrupted upload asks `source` for the rest instead of starting again. By default, one
    /// [`Transport::blob_put`] of the whole source.
    async fn blob_put_from(&self, source: &dyn resume::BlobSource) -> Result<(), TransportError> {
        self.blob_put(source.descriptor(), source.open(0).await?)
            .await
    }

    /// Whether `blob_put` itself refuses content that does not match the descriptor's digest.
    /// Registries must (the distribution spec requires it) and layouts do, so the copy engine
    /// then checks only sizes on the way instead of hashing every byte a second time.
    fn checks_uploaded_digests(&self) -> bool {
        false
    }

    /// Asks the registry to link a blob from another repository; `Ok(false)` means "copy it".
    async fn blob_mount(
        &self,
        _descriptor: &Descriptor,
        _from_repository: &str,
    ) -> Result<bool, TransportError> {
        Ok(false)
    }

    /// Stores a blob whose digest is known only once all of it has been read (a layer compressed while
    /// it is sent): the transport hashes what it sends and returns the descriptor it stored
    /// (`media_type`, the computed sha256 digest, the size).
    async fn blob_put_hashed(
        &self,
        media_type: &str,
        data: BlobStream,
    ) -> Result<Descriptor, TransportError> {
        let spooled = spool(data).await?;
        let descriptor = Descriptor::new(media_type, spooled.digest.clone(), spooled.size);
        let stream = spooled.into_stream().await?;
        self.blob_put(&descriptor, stream).await?;
        Ok(descriptor)
    }

    /// The manifests whose `subject` is `digest`, as this place's OCI 1.1 referrers API lists
    /// them; `None` when it has no such API (distribution 2.8, OCI layouts): the
    /// `sha256-<hex>` tag is then where referrers are listed.
    async fn referrers(&self, _digest: &Digest) -> Result<Option<Vec<Descriptor>>, TransportError> {
        Ok(None)
    }

    /// Whether this source can serve layers only as uncompressed tar streams (containers-storage):
    /// the copy engine then compresses each layer while sending it and rewrites the manifest.
    fn serves_uncompressed_layers(&self) -> bool {
        false
    }

    /// Where push should later read the manifest `digest` (one this transport served) and its
    /// blobs from, when that is not this transport's reference pinned to the digest: a local
    /// image pinned to its ID, or an instance of a list recorded elsewhere.
    fn source_of(&self, _digest: &Digest) -> Option<ImageRef> {
        None
    }
}

/// A stream written to a temporary file while hashed, for [`Transport::blob_put_hashed`].
pub struct Spooled {
    file: tempfile::NamedTempFile,
    /// The sha256 of what was written.
    pub digest: Digest,
    /// How many bytes were written.
    pub size: u64,
}

impl Spooled {
    /// The spooled bytes as a stream; the file is removed when the stream is dropped.
    pub async fn into_stream(self) -> Result<BlobStream, TransportError> {
        use tokio::io::AsyncSeekExt;
        let (file, path) = self.file.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        file.seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(|e| TransportError::io("rereading a spooled blob", e))?;
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map(move |chunk| {
                let _keep = &path;
                chunk.map_err(|e| TransportError::io("rereading a spooled blob", e))
            });
        Ok(Box::pin(stream))
    }
}

/// Writes a stream to a temporary file, hashing it (sha256) on the way.
pub async fn spool(mut data: BlobStream) -> Result<Spooled, TransportError> {
    use tokio::io::AsyncWriteExt;
    let temp = tempfile::NamedTempFile::new()
        .map_err(|e| TransportError::io("creating a temporary file", e))?;
    let mut file = tokio::fs::File::from_std(
        temp.reopen()
            .map_err(|e| TransportError::io("opening a temporary file", e))?,
    );
    let mut hasher = Verifier::new(&Digest::sha256_of(b""));
    let mut size = 0u64;
    while let Some(chunk) = data.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk)
            .await
            .map_err(|e| TransportError::io("writing a temporary file", e))?;
    }
    file.flush()
        .await
        .map_err(|e| TransportError::io("writing a temporary file", e))?;
    Ok(Spooled {
        file: temp,
        digest: hasher.finish(),
        size,
    })
}

/// Reads a small blob (a config) whole, refusing more than `limit` bytes and checking its digest.
pub async fn read_blob(
    transport: &dyn Transport,
    descriptor: &Descriptor,
    limit: u64,
) -> Result<Bytes, TransportError> {
    let what = format!("blob {}", descriptor.digest);
    if descriptor.size > limit {
        return Err(TransportError::TooLarge {
            what,
            size: descriptor.size,
            limit,
        });
    }
    let mut stream = verified(transport.blob_get(descriptor).await?, descriptor);
    let mut out = Vec::with_capacity(descriptor.size as usize);
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(Bytes::from(out))
}

/// Wraps a blob stream so that it fails, as its last item, when the bytes do not match the
/// descriptor's size or digest. A destination fed from this stream never commits bad content.
pub fn verified(stream: BlobStream, descriptor: &Descriptor) -> BlobStream {
    checked(stream, descriptor, true)
}

/// Like [`verified`] but checks only the size: for destinations that verify digests themselves
/// ([`Transport::checks_uploaded_digests`]).
pub fn size_checked(stream: BlobStream, descriptor: &Descriptor) -> BlobStream {
    checked(stream, descriptor, false)
}

fn checked(stream: BlobStream, descriptor: &Descriptor, hash: bool) -> BlobStream {
    struct State {
        inner: BlobStream,
        verifier: Option<Verifier>,
        expected: Digest,
        size: u64,
        seen: u64,
        hash: bool,
    }
    let state = State {
        hash,
        inner: stream,
        verifier: Some(Verifier::new(&descriptor.digest)),
        expected: descriptor.digest.clone(),
        size: descriptor.size,
        seen: 0,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        let verifier = s.verifier.as_mut()?;
        match s.inner.next().await {
            Some(Ok(chunk)) => {
                s.seen += chunk.len() as u64;
                if s.seen > s.size {
                    s.verifier = None;
                    let err = TransportError::SizeMismatch {
                        what: format!("blob {}", s.expected),
                        expected: s.size,
                        actual: s.seen,
                    };
                    return Some((Err(err), s));
                }
                if s.hash {
                    verifier.update(&chunk);
                }
                Some((Ok(chunk), s))
            }
            Some(Err(e)) => {
                s.verifier = None;
                Some((Err(e), s))
            }
            None => {
                let actual = s.verifier.take()?.finish();
                if s.seen != s.size {
                    let err = TransportError::SizeMismatch {
                        what: format!("blob {}", s.expected),
                        expected: s.size,
                        actual: s.seen,
                    };
                    return Some((Err(err), s));
                }
                if s.hash && actual != s.expected {
                    let err = TransportError::DigestMismatch {
                        what: format!("blob {}", s.expected),
                        expected: s.expected.clone(),
                        actual,
                    };
                    return Some((Err(err), s));
                }
                None
            }
        }
    }))
}

/// Checks manifest bytes read for `reference` against the digest asked for, if any, and types
/// them with [`crate::media_type::manifest_kind`]; `claimed` is the media type the source announced
/// (a `Content-Type`, a layout's descriptor).
pub fn check_manifest(
    bytes: Bytes,
    reference: &ManifestRef,
    claimed: Option<&str>,
    what: &str,
) -> Result<RawManifest, TransportError> {
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(TransportError::TooLarge {
            what: what.to_string(),
            size: bytes.len() as u64,
            limit: MAX_MANIFEST_BYTES,
        });
    }
    let digest = match reference {
        ManifestRef::Digest(expected) => {
            let mut verifier = Verifier::new(expected);
            verifier.update(&bytes);
            let actual = verifier.finish();
            if &actual != expected {
                return Err(TransportError::DigestMismatch {
                    what: what.to_string(),
                    expected: expected.clone(),
                    actual,
                });
            }
            expected.clone()
        }
        _ => Digest::sha256_of(&bytes),
    };
    let media_type = crate::media_type::manifest_kind(&bytes, claimed)
        .map_err(|e| TransportError::Invalid(format!("{what}: {e}")))?;
    Ok(RawManifest {
        bytes,
        media_type,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Keeps what `blob_put` got; everything else is unused here.
    #[derive(Default)]
    struct Recorder {
        put: Mutex<Vec<(Descriptor, Vec<u8>)>>,
    }

    #[async_trait]
    impl Transport for Recorder {
        fn describe(&self) -> String {
            "recorder".into()
        }
        async fn manifest_get(&self, _: &ManifestRef) -> Result<RawManifest, TransportError> {
            Err(TransportError::Invalid("unused".into()))
        }
        async fn manifest_put(
            &self,
            _: &ManifestRef,
            _: &RawManifest,
        ) -> Result<(), TransportError> {
            Err(TransportError::Invalid("unused".into()))
        }
        async fn blob_exists(&self, _: &Descriptor) -> Result<bool, TransportError> {
            Ok(false)
        }
        async fn blob_get(&self, _: &Descriptor) -> Result<BlobStream, TransportError> {
            Err(TransportError::Invalid("unused".into()))
        }
        async fn blob_put(
            &self,
            d: &Descriptor,
            mut data: BlobStream,
        ) -> Result<(), TransportError> {
            let mut bytes = Vec::new();
            while let Some(chunk) = data.next().await {
                bytes.extend_from_slice(&chunk?);
            }
            self.put.lock().unwrap().push((d.clone(), bytes));
            Ok(())
        }
    }

    #[tokio::test]
    async fn blob_put_hashed_by_default_spools_then_puts_with_the_digest() {
        let recorder = Recorder::default();
        let data: Vec<u8> = (0..600_000u32).map(|i| i as u8).collect();
        let chunks: Vec<Result<Bytes, TransportError>> = data
            .chunks(70_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let stored = recorder
            .blob_put_hashed(
                "application/x-test",
                Box::pin(futures_util::stream::iter(chunks)),
            )
            .await
            .unwrap();
        assert_eq!(stored.digest, Digest::sha256_of(&data));
        assert_eq!(stored.size, data.len() as u64);
        assert_eq!(stored.media_type, "application/x-test");
        let put = recorder.put.lock().unwrap();
        assert_eq!(put.len(), 1);
        assert_eq!(put[0].0.digest, stored.digest);
        assert!(put[0].1 == data);
    }

    #[tokio::test]
    async fn blob_put_hashed_passes_a_source_error_on() {
        let recorder = Recorder::default();
        let failing: BlobStream = Box::pin(futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(TransportError::Invalid("source broke".into())),
        ]));
        let err = recorder.blob_put_hashed("x", failing).await.unwrap_err();
        assert!(err.to_string().contains("source broke"));
        assert!(recorder.put.lock().unwrap().is_empty(), "nothing stored");
    }
}
