//! One layer, streamed once from its source: hashed on the way (a wrong digest is a problem,
//! found once the last byte is in), decompressed (gzip, zstd or a plain tar, told by its first
//! bytes), and walked entry by entry on a blocking thread with flat memory: only the first
//! [`HEADER_BYTES`] of each file are looked at. Long names (GNU and PAX) are read under a limit,
//! not by the tar crate, which would read any length.

use super::machine::{fits, machine, Machine, HEADER_BYTES};
use super::whiteout::{change, hides, is_whiteout, normalise};
use crate::copy::Observer;
use crate::transport::{BlobStream, TransportError};
use crate::verify::ProblemKind;
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use tar::EntryType;

/// A long name (GNU `L` entry or PAX `path`) longer than this makes the layer invalid.
const MAX_NAME_BYTES: u64 = 64 * 1024;
/// PAX extended headers larger than this make the layer invalid.
const MAX_PAX_BYTES: u64 = 1024 * 1024;
/// Files of other machines recorded per layer; more are counted, not listed.
pub(super) const MAX_FINDINGS: usize = 1000;

/// What a walk looks for.
pub(super) enum Look<'a> {
    /// Executables that do not run on at least one of these `(os, arch)` platforms.
    Executables(&'a [(String, String)]),
    /// Which of these paths (normalised) the layer takes away from the layers below it.
    Hides(&'a [String]),
}

/// What a walk found.
#[derive(Debug, Default)]
pub(super) struct Walked {
    /// Path → machine of each executable that does not fit one of the platforms, at most
    /// [`MAX_FINDINGS`].
    pub(super) findings: BTreeMap<String, Machine>,
    /// How many more there were.
    pub(super) more: u64,
    /// Executables whose machine was read.
    pub(super) executables: u64,
    /// The paths asked about that the layer takes away.
    pub(super) hidden: BTreeSet<String>,
    /// Compressed bytes read.
    pub(super) bytes: u64,
}

/// Why a walk did not finish.
#[derive(Debug)]
pub(super) enum WalkError {
    /// The layer's content is at fault.
    Fault(ProblemKind, String),
    /// Reading it failed: nothing can be said about it.
    Transport(TransportError),
}

/// Walks the layer `stream` (already wrapped in [`crate::transport::verified`]) on the calling
/// thread, which must be one that may block (the stream is polled through `handle`).
pub(super) fn walk(
    stream: BlobStream,
    handle: tokio::runtime::Handle,
    look: Look<'_>,
    progress: Option<Arc<dyn Observer>>,
) -> Result<Walked, WalkError> {
    let mut source = Source {
        stream,
        handle,
        current: Bytes::new(),
        ended: false,
        failed: None,
        bytes: 0,
        progress,
    };
    let walked = walk_tar(&mut source, &look);
    // The digest is known only at the end: read what the walk left, then judge.
    let drained = std::io::copy(&mut source, &mut std::io::sink());
    if let Some(failure) = source.failed.take() {
        return Err(match failure {
            e @ (TransportError::DigestMismatch { .. } | TransportError::SizeMismatch { .. }) => {
                WalkError::Fault(ProblemKind::DigestMismatch, e.to_string())
            }
            e => WalkError::Transport(e),
        });
    }
    let mut walked = walked.map_err(|e| {
        WalkError::Fault(
            ProblemKind::InvalidLayer,
            format!("not a readable tar layer: {e}"),
        )
    })?;
    drained.map_err(|e| WalkError::Transport(TransportError::io("reading a layer", e)))?;
    walked.bytes = source.bytes;
    Ok(walked)
}

fn walk_tar(source: &mut Source, look: &Look<'_>) -> std::io::Result<Walked> {
    let mut buffered = BufReader::with_capacity(64 * 1024, source);
    let magic = buffered
        .fill_buf()?
        .get(..4)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let decoded: Box<dyn Read + '_> = match magic.as_slice() {
        [0x1f, 0x8b, ..] => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        [0x28, 0xb5, 0x2f, 0xfd] => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
        _ => Box::new(buffered),
    };
    let mut archive = tar::Archive::new(decoded);
    let mut walked = Walked::default();
    let mut long_name: Option<String> = None;
    let mut pax_path: Option<String> = None;
    let mut head = Vec::with_capacity(HEADER_BYTES);
    for entry in archive.entries()?.raw(true) {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        let size = entry.header().size()?;
        if kind.is_gnu_longname() {
            long_name = Some(read_name(&mut entry, size, MAX_NAME_BYTES, "long name")?);
            continue;
        }
        if kind.is_pax_local_extensions() {
            let data = read_name(&mut entry, size, MAX_PAX_BYTES, "PAX header")?;
            pax_path = pax_path_of(&data)?;
            continue;
        }
        if kind.is_gnu_longlink() || kind.is_pax_global_extensions() {
            continue;
        }
        let named = pax_path.take();
        let long = long_name.take();
        let raw = match named.or(long) {
            Some(name) => name,
            None => String::from_utf8_lossy(&entry.header().path_bytes()).into_owned(),
        };
        let path = normalise(&raw).to_string();
        match look {
            Look::Executables(platforms) => {
                walked.findings.remove(&path);
                let is_file =
                    kind.is_file() || kind == EntryType::Continuous || kind.is_gnu_sparse();
                if !is_file || is_whiteout(&path) {
                    continue;
                }
                head.clear();
                (&mut entry)
                    .take(HEADER_BYTES as u64)
                    .read_to_end(&mut head)?;
                let Some(found) = machine(&head) else {
                    continue;
                };
                walked.executables += 1;
                let foreign = platforms
                    .iter()
                    .any(|(os, arch)| fits(&found, os, arch) == Some(false));
                if foreign {
                    if walked.findings.len() < MAX_FINDINGS {
                        walked.findings.insert(path, found);
                    } else {
                        walked.more += 1;
                    }
                }
            }
            Look::Hides(paths) => {
                let change = change(&path, kind.is_dir());
                for asked in paths.iter() {
                    if hides(&change, asked) {
                        walked.hidden.insert(asked.clone());
                    }
                }
            }
        }
    }
    // The gzip trailer (its CRC) comes after the tar's end: read it too.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink())?;
    Ok(walked)
}

/// The data of a name-carrying entry, refused past `limit` bytes.
fn read_name(entry: &mut impl Read, size: u64, limit: u64, what: &str) -> std::io::Result<String> {
    if size > limit {
        return Err(std::io::Error::other(format!(
            "a {what} of {size} bytes, over the limit of {limit} bytes"
        )));
    }
    let mut data = Vec::with_capacity(size as usize);
    entry.take(size).read_to_end(&mut data)?;
    while data.last() == Some(&0) {
        data.pop();
    }
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// The `path` record of a PAX header, if it has one.
fn pax_path_of(data: &str) -> std::io::Result<Option<String>> {
    for extension in tar::PaxExtensions::new(data.as_bytes()) {
        let extension = extension?;
        if extension.key_bytes() == b"path" {
            return Ok(Some(
                String::from_utf8_lossy(extension.value_bytes()).into_owned(),
            ));
        }
    }
    Ok(None)
}

/// A blob stream read as a blocking `Read`; the first failure of the stream is kept so that
/// the walk can tell a wrong digest from a broken connection.
struct Source {
    stream: BlobStream,
    handle: tokio::runtime::Handle,
    current: Bytes,
    /// The stream has ended (it may not be polled again).
    ended: bool,
    failed: Option<TransportError>,
    bytes: u64,
    progress: Option<Arc<dyn Observer>>,
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            if self.failed.is_some() {
                return Err(std::io::Error::other("the layer could not be read"));
            }
            if self.ended {
                return Ok(0);
            }
            match self.handle.block_on(self.stream.next()) {
                Some(Ok(chunk)) => {
                    self.bytes += chunk.len() as u64;
                    if let Some(progress) = &self.progress {
                        progress.add_bytes(chunk.len() as u64);
                    }
                    self.current = chunk;
                }
                Some(Err(e)) => {
                    let message = e.to_string();
                    self.failed = Some(e);
                    return Err(std::io::Error::other(message));
                }
                None => {
                    self.ended = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
#[path = "layer_tests.rs"]
mod tests;
