//! Blob and manifest bytes checked on the way: sizes and digests against their descriptors,
//! limits on what is read whole, and spooling for blobs whose digest is known only at the end.

use super::{BlobStream, ManifestRef, RawManifest, Transport, TransportError, MAX_MANIFEST_BYTES};
use crate::model::digest::{Digest, Verifier};
use crate::model::oci::Descriptor;
use bytes::Bytes;
use futures_util::StreamExt;

/// A stream written to a temporary file while hashed, for [`Transport::blob_put_hashed`].
pub(crate) struct Spooled {
    file: tempfile::NamedTempFile,
    /// The sha256 of what was written.
    pub digest: Digest,
    /// How many bytes were written.
    pub size: u64,
}

impl Spooled {
    /// The spooled bytes as a stream; the file is removed when the stream is dropped.
    pub(crate) async fn into_stream(self) -> Result<BlobStream, TransportError> {
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
pub(crate) async fn spool(mut data: BlobStream) -> Result<Spooled, TransportError> {
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
pub(crate) fn size_checked(stream: BlobStream, descriptor: &Descriptor) -> BlobStream {
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
/// them with [`crate::model::media_type::manifest_kind`]; `claimed` is the media type the source
/// announced (a `Content-Type`, a layout's descriptor).
pub(crate) fn check_manifest(
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
    let media_type = crate::model::media_type::manifest_kind(&bytes, claimed)
        .map_err(|e| TransportError::Invalid(format!("{what}: {e}")))?;
    Ok(RawManifest {
        bytes,
        media_type,
        digest,
    })
}
