//! Compressing a layer while it is sent (gzip or zstd, as buildah's `--compression-format` and
//! `--compression-level`), on a blocking thread, with memory flat in the layer's size.

mod gzip_parallel;

use crate::model::oci;
use crate::transport::blocking_stream::stream_from_blocking;
use crate::transport::{BlobStream, TransportError};
use futures_util::StreamExt;
use std::io::Write;

/// A layer compression algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// gzip (`tar+gzip` layers), which every registry and runtime reads.
    Gzip,
    /// zstd (`tar+zstd` layers), OCI manifests only.
    Zstd,
}

/// How to compress layers that are sent uncompressed by their source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Compression {
    /// Default gzip, as buildah.
    pub algorithm: Algorithm,
    /// `None` = the algorithm's default (gzip 6, zstd 3).
    pub level: Option<i32>,
}

impl Default for Compression {
    fn default() -> Self {
        Self {
            algorithm: Algorithm::Gzip,
            level: None,
        }
    }
}

/// A `--compression-level` the algorithm does not have.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("compression level {level} is out of range for {algorithm} ({min} to {max})")]
pub struct LevelError {
    /// The level asked for.
    pub level: i32,
    /// The algorithm's name.
    pub algorithm: &'static str,
    /// Its lowest level.
    pub min: i32,
    /// Its highest level.
    pub max: i32,
}

impl Compression {
    /// Checks the level against the algorithm's range.
    pub fn new(algorithm: Algorithm, level: Option<i32>) -> Result<Self, LevelError> {
        let (min, max) = match algorithm {
            Algorithm::Gzip => (0, 9),
            Algorithm::Zstd => (1, 22),
        };
        if let Some(level) = level {
            if !(min..=max).contains(&level) {
                return Err(LevelError {
                    level,
                    algorithm: algorithm.name(),
                    min,
                    max,
                });
            }
        }
        Ok(Self { algorithm, level })
    }

    /// The level actually used.
    pub(crate) fn effective_level(&self) -> i32 {
        self.level.unwrap_or(match self.algorithm {
            Algorithm::Gzip => 6,
            Algorithm::Zstd => 3,
        })
    }

    /// The compressed layer's media type in a manifest of `manifest_type`; `None` when that
    /// manifest type cannot name this compression (zstd in a Docker v2s2 manifest).
    pub(crate) fn layer_media_type(&self, manifest_type: &str) -> Option<&'static str> {
        let docker = manifest_type == oci::DOCKER_MANIFEST;
        match (self.algorithm, docker) {
            (Algorithm::Gzip, false) => Some(oci::OCI_LAYER_GZIP),
            (Algorithm::Zstd, false) => Some(oci::OCI_LAYER_ZSTD),
            (Algorithm::Gzip, true) => Some(oci::DOCKER_LAYER_GZIP),
            (Algorithm::Zstd, true) => None,
        }
    }

    /// Compresses `input` into a new stream (gzip on every core, like buildah's pgzip).
    pub(crate) fn compress(&self, mut input: BlobStream) -> BlobStream {
        let compression = *self;
        let runtime = tokio::runtime::Handle::current();
        stream_from_blocking(move |out| {
            let fail = |e: std::io::Error| TransportError::io("compressing a layer", e);
            // An error from the source is carried through the encoder and given back as it was.
            let source_error: std::sync::Mutex<Option<TransportError>> = Default::default();
            let to_io = |e: TransportError| {
                let text = e.to_string();
                *source_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                std::io::Error::other(text)
            };
            let result = match compression.algorithm {
                Algorithm::Gzip => gzip_parallel::compress(
                    compression.effective_level() as u32,
                    workers(),
                    || runtime.block_on(input.next()),
                    out,
                    to_io,
                ),
                Algorithm::Zstd => (|| {
                    let mut encoder =
                        zstd::stream::write::Encoder::new(out, compression.effective_level())?;
                    encoder.multithread(workers() as u32)?;
                    while let Some(chunk) = runtime.block_on(input.next()) {
                        encoder.write_all(&chunk.map_err(to_io)?)?;
                    }
                    encoder.finish().map(|_| ())
                })(),
            };
            let carried = source_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            match (result, carried) {
                (Ok(()), _) => Ok(()),
                (Err(_), Some(source)) => Err(source),
                (Err(e), None) => Err(fail(e)),
            }
        })
    }
}

/// Decompresses `input` (a gzip or zstd layer) into a new stream, on a blocking thread, with
/// memory flat in the layer's size; an error of `input` is given back as it was.
pub(crate) fn decompress(input: BlobStream, algorithm: Algorithm) -> BlobStream {
    let runtime = tokio::runtime::Handle::current();
    stream_from_blocking(move |out| {
        let mut reader = StreamReader {
            input,
            runtime,
            chunk: bytes::Bytes::new(),
            error: None,
        };
        let copied = match algorithm {
            Algorithm::Gzip => {
                std::io::copy(&mut flate2::read::MultiGzDecoder::new(&mut reader), out)
            }
            Algorithm::Zstd => zstd::stream::read::Decoder::new(&mut reader)
                .and_then(|mut decoder| std::io::copy(&mut decoder, out)),
        };
        match (copied, reader.error.take()) {
            (Ok(_), _) => Ok(()),
            (Err(_), Some(source)) => Err(source),
            (Err(e), None) => Err(TransportError::io(
                format!("decompressing a {} layer", algorithm.name()),
                e,
            )),
        }
    })
}

/// A blob stream read as `Read` from a blocking thread; a stream error is kept to be given
/// back as it was.
struct StreamReader {
    input: BlobStream,
    runtime: tokio::runtime::Handle,
    chunk: bytes::Bytes,
    error: Option<TransportError>,
}

impl std::io::Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.runtime.block_on(self.input.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => {
                    let text = e.to_string();
                    self.error = Some(e);
                    return Err(std::io::Error::other(text));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// The compression of a layer of this media type: `Some(None)` for a plain tar, `None` for a
/// type that is no tar layer this tool can read (an artifact's blob, a foreign format).
pub(crate) fn layer_compression(media_type: &str) -> Option<Option<Algorithm>> {
    match media_type {
        oci::OCI_LAYER_TAR | "application/vnd.docker.image.rootfs.diff.tar" => Some(None),
        oci::OCI_LAYER_GZIP
        | oci::DOCKER_LAYER_GZIP
        | oci::OCI_LAYER_NONDIST_GZIP
        | oci::DOCKER_LAYER_FOREIGN_GZIP => Some(Some(Algorithm::Gzip)),
        oci::OCI_LAYER_ZSTD | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
            Some(Some(Algorithm::Zstd))
        }
        _ => None,
    }
}

/// A compression `push --add-compression` asks for, as podman names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddedCompression {
    /// `gzip`
    Gzip,
    /// `zstd`
    Zstd,
    /// `zstd:chunked`, written as plain zstd (see docs/ci.md): readable by every zstd client.
    ZstdChunked,
}

impl AddedCompression {
    /// The algorithm the variant's layers are compressed with.
    pub(crate) fn algorithm(self) -> Algorithm {
        match self {
            AddedCompression::Gzip => Algorithm::Gzip,
            AddedCompression::Zstd | AddedCompression::ZstdChunked => Algorithm::Zstd,
        }
    }

    /// The name podman gives it (`gzip`, `zstd`, `zstd:chunked`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            AddedCompression::Gzip => "gzip",
            AddedCompression::Zstd => "zstd",
            AddedCompression::ZstdChunked => "zstd:chunked",
        }
    }
}

/// Compression threads: the machine's cores (buildah's pgzip uses them all too).
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Algorithm {
    /// `gzip` or `zstd`, as the flag spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::Gzip => "gzip",
            Algorithm::Zstd => "zstd",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::collect;
    use bytes::Bytes;
    use std::io::Read;

    fn input(data: &[u8]) -> BlobStream {
        let chunks: Vec<Result<Bytes, TransportError>> = data
            .chunks(100_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Box::pin(futures_util::stream::iter(chunks))
    }

    #[tokio::test]
    async fn gzip_and_zstd_round_trip() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let gz = collect(Compression::default().compress(input(&data))).await;
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == data);
        let zstd = Compression::new(Algorithm::Zstd, Some(19)).unwrap();
        let z = collect(zstd.compress(input(&data))).await;
        assert!(zstd::decode_all(&z[..]).unwrap() == data);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn gzip_and_zstd_layers_decompress_and_source_errors_pass_through() {
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 241) as u8).collect();
        for algorithm in [Algorithm::Gzip, Algorithm::Zstd] {
            let compression = Compression::new(algorithm, None).unwrap();
            let packed = collect(compression.compress(input(&data))).await;
            let back = collect(decompress(input(&packed), algorithm)).await;
            assert!(back == data, "{algorithm:?}");
        }
        let broken: BlobStream = Box::pin(futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"\x1f\x8b\x08\x00")),
            Err(TransportError::Invalid("the source broke".into())),
        ]));
        let mut out = decompress(broken, Algorithm::Gzip);
        let mut last = None;
        while let Some(item) = out.next().await {
            last = Some(item);
        }
        let error = last.unwrap().unwrap_err().to_string();
        assert_eq!(error, "the source broke");
        assert_eq!(
            layer_compression(oci::OCI_LAYER_ZSTD),
            Some(Some(Algorithm::Zstd))
        );
        assert_eq!(layer_compression(oci::OCI_LAYER_TAR), Some(None));
        assert_eq!(layer_compression("image/png"), None);
    }

    #[test]
    fn levels_are_checked_and_media_types_follow_the_manifest() {
        assert!(Compression::new(Algorithm::Gzip, Some(10)).is_err());
        assert!(Compression::new(Algorithm::Zstd, Some(0)).is_err());
        assert_eq!(
            Compression::new(Algorithm::Zstd, None)
                .unwrap()
                .effective_level(),
            3
        );
        let zstd = Compression::new(Algorithm::Zstd, None).unwrap();
        assert_eq!(zstd.layer_media_type(oci::DOCKER_MANIFEST), None);
        assert_eq!(
            Compression::default().layer_media_type(oci::DOCKER_MANIFEST),
            Some("application/vnd.docker.image.rootfs.diff.tar.gzip")
        );
    }
}
