//! Turns blocking producers (layer regeneration, compression) into async blob streams through a
//! small bounded channel, so memory stays flat whatever the blob's size.

use crate::transport::{BlobStream, TransportError};
use bytes::Bytes;
use std::io::Write;

/// Bytes reach the consumer in chunks of this size, at most [`CHANNEL_CHUNKS`] ahead of it.
pub(crate) const CHUNK_BYTES: usize = 256 * 1024;
const CHANNEL_CHUNKS: usize = 4;

/// Runs `produce` on a blocking thread; what it writes is the stream, and an error it returns
/// is the stream's last item. Dropping the stream makes the producer's writes fail.
pub(crate) fn stream_from_blocking<F>(produce: F) -> BlobStream
where
    F: FnOnce(&mut dyn Write) -> Result<(), TransportError> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(CHANNEL_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            sender: sender.clone(),
            buffer: Vec::with_capacity(CHUNK_BYTES),
        };
        let result = produce(&mut out).and_then(|()| {
            out.flush()
                .map_err(|e| TransportError::io("sending a blob", e))
        });
        if let Err(error) = result {
            let _ = sender.blocking_send(Err(error));
        }
    });
    Box::pin(futures_util::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ))
}

/// A `Write` that sends fixed-size chunks to an async receiver, blocking while it is full.
struct ChannelWriter {
    sender: tokio::sync::mpsc::Sender<Result<Bytes, TransportError>>,
    buffer: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK_BYTES - self.buffer.len();
        let n = room.min(bytes.len());
        self.buffer.extend_from_slice(&bytes[..n]);
        if self.buffer.len() == CHUNK_BYTES {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.sender.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader went away")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn chunks_arrive_in_order_and_errors_last() {
        let ok = stream_from_blocking(|out| {
            out.write_all(&vec![1u8; CHUNK_BYTES + 10])
                .map_err(|e| TransportError::io("test", e))
        });
        let sizes: Vec<usize> = ok.map(|item| item.unwrap().len()).collect().await;
        assert_eq!(sizes, [CHUNK_BYTES, 10]);
        let failing = stream_from_blocking(|out| {
            out.write_all(&vec![1u8; CHUNK_BYTES])
                .map_err(|e| TransportError::io("test", e))?;
            Err(TransportError::Invalid("boom".into()))
        });
        let items: Vec<_> = failing.collect().await;
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert!(items[1].is_err(), "the error is the last item");
    }
}
