//! Blob transfers that can start again part-way: a [`BlobSource`] is reopened at an offset, so
//! an upload that broke is continued where the destination says it stopped instead of being
//! sent again whole.

use super::{BlobStream, Transport, TransportError};
use crate::model::oci::Descriptor;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;

/// Where a blob's bytes come from, able to start again from any offset.
#[async_trait]
pub trait BlobSource: Send + Sync {
    /// The blob being sent.
    fn descriptor(&self) -> &Descriptor;

    /// The blob's bytes from `offset` to its end, checked to be exactly that many.
    async fn open(&self, offset: u64) -> Result<BlobStream, TransportError>;
}

/// A blob of a transport, read with [`Transport::blob_get_from`]; `wrap` adds what the caller
/// wants on every stream it opens (progress counting, say).
pub(crate) struct TransportSource {
    transport: Arc<dyn Transport>,
    descriptor: Descriptor,
    wrap: Box<dyn Fn(BlobStream) -> BlobStream + Send + Sync>,
}

impl TransportSource {
    /// Reads `descriptor` from `transport`, passing each opened stream through `wrap`.
    pub(crate) fn new(
        transport: Arc<dyn Transport>,
        descriptor: Descriptor,
        wrap: impl Fn(BlobStream) -> BlobStream + Send + Sync + 'static,
    ) -> Self {
        Self {
            transport,
            descriptor,
            wrap: Box::new(wrap),
        }
    }
}

#[async_trait]
impl BlobSource for TransportSource {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    async fn open(&self, offset: u64) -> Result<BlobStream, TransportError> {
        let stream = self
            .transport
            .blob_get_from(&self.descriptor, offset)
            .await?;
        Ok((self.wrap)(size_checked_from(
            stream,
            &self.descriptor,
            offset,
        )))
    }
}

/// `stream` without its first `n` bytes: for sources that cannot start part-way (a registry that
/// ignores `Range`), the bytes before the offset are read and dropped.
pub(crate) fn skip(stream: BlobStream, n: u64) -> BlobStream {
    if n == 0 {
        return stream;
    }
    Box::pin(futures_util::stream::unfold(
        (stream, n),
        |(mut stream, mut left)| async move {
            loop {
                let chunk = match stream.next().await? {
                    Ok(chunk) => chunk,
                    Err(e) => return Some((Err(e), (stream, left))),
                };
                if left == 0 {
                    return Some((Ok(chunk), (stream, 0)));
                }
                let len = chunk.len() as u64;
                if len <= left {
                    left -= len;
                    continue;
                }
                let rest: Bytes = chunk.slice(left as usize..);
                return Some((Ok(rest), (stream, 0)));
            }
        },
    ))
}

/// Checks that a stream of `descriptor`'s bytes from `offset` on has exactly the rest of them.
pub(crate) fn size_checked_from(
    stream: BlobStream,
    descriptor: &Descriptor,
    offset: u64,
) -> BlobStream {
    let mut rest = descriptor.clone();
    rest.size = descriptor.size.saturating_sub(offset);
    super::size_checked(stream, &rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::collect;

    fn stream_of(chunks: &[&'static [u8]]) -> BlobStream {
        let items: Vec<Result<Bytes, TransportError>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Box::pin(futures_util::stream::iter(items))
    }

    #[tokio::test]
    async fn skipping_crosses_chunk_boundaries() {
        for n in 0..=9u64 {
            let got = collect(skip(stream_of(&[b"abc", b"", b"defg", b"hi"]), n)).await;
            assert_eq!(got, b"abcdefghi"[n as usize..].to_vec(), "{n}");
        }
        assert!(collect(skip(stream_of(&[b"abc"]), 10)).await.is_empty());
    }
}
