//! [`Region`]: the bytes of one regular file (or of one entry of an archive), read positionally,
//! never past the size measured when it was opened, failing when the file changes under it.

use super::{io_error, kind_name, Cap, FileError};
use bytes::Bytes;
use futures_util::Stream;
use rustix::fs::FileType;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Bytes of one regular file to read: a whole file, or one entry of a tar archive. Reads are
/// positional, so several streams can read one open file at once.
#[derive(Debug, Clone)]
pub(crate) struct Region {
    file: Arc<File>,
    offset: u64,
    size: u64,
    /// A whole file must end at `size` (it did not grow since it was measured); an archive
    /// entry is followed by other entries.
    whole_file: bool,
    label: String,
}

impl Region {
    /// `size` bytes at `offset` of `file` (an entry of an archive that was checked to be a
    /// regular file).
    pub(crate) fn within(file: Arc<File>, offset: u64, size: u64, label: String) -> Self {
        Self {
            file,
            offset,
            size,
            whole_file: false,
            label,
        }
    }

    pub(super) fn whole(file: File, label: String) -> Result<Self, FileError> {
        let meta = rustix::fs::fstat(&file).map_err(|e| FileError::Io {
            context: "reading",
            path: label.clone(),
            source: e.into(),
        })?;
        let file_type = FileType::from_raw_mode(meta.st_mode);
        if file_type != FileType::RegularFile {
            return Err(FileError::NotRegular {
                path: label,
                kind: kind_name(file_type),
            });
        }
        Ok(Self {
            file: Arc::new(file),
            offset: 0,
            size: meta.st_size as u64,
            whole_file: true,
            label,
        })
    }

    /// The size the file had when it was opened (or the archive entry's size).
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The open file the region is part of.
    pub(crate) fn file(&self) -> Arc<File> {
        self.file.clone()
    }

    /// The path (or `archive (entry …)`) this region is read from, for messages.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    fn changed(&self, detail: String) -> FileError {
        FileError::Changed {
            path: self.label.clone(),
            detail,
        }
    }

    /// Reads up to `buf.len()` bytes at `pos` (relative to the region), stopping only at the end
    /// of the file.
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<usize, FileError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self
                .file
                .read_at(&mut buf[filled..], self.offset + pos + filled as u64)
            {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error("reading", &self.label)(e)),
            }
        }
        Ok(filled)
    }

    /// The chunk at `pos`; fails if the file ends before the region does, and, at the end of a
    /// whole file, if the file has grown.
    fn chunk(&self, pos: u64, max: usize) -> Result<Bytes, FileError> {
        let want = (self.size - pos).min(max as u64) as usize;
        let mut buf = vec![0u8; want];
        let got = self.read_at(pos, &mut buf)?;
        if got < want {
            return Err(self.changed(format!(
                "it ended after {} of {} bytes",
                pos + got as u64,
                self.size
            )));
        }
        if self.whole_file
            && pos + got as u64 == self.size
            && self.read_at(self.size, &mut [0])? > 0
        {
            return Err(self.changed(format!("it grew past {} bytes", self.size)));
        }
        Ok(buf.into())
    }

    /// The whole region, refused without reading when it is larger than `limit`.
    pub(crate) fn read_all(&self, limit: u64) -> Result<Vec<u8>, FileError> {
        self.read_capped(Cap::new("", limit))
    }

    /// The whole region, refused without reading when it is larger than the cap of its kind.
    pub(crate) fn read_capped(&self, cap: Cap) -> Result<Vec<u8>, FileError> {
        if self.size > cap.bytes {
            return Err(FileError::TooLarge {
                path: self.label.clone(),
                size: self.size,
                limit: cap.bytes,
                what: cap.what,
            });
        }
        if self.size == 0 {
            self.chunk(0, 0)?;
            return Ok(Vec::new());
        }
        Ok(self.chunk(0, self.size as usize)?.to_vec())
    }

    /// A blocking reader of exactly the region's bytes (for copying into an archive).
    pub(crate) fn reader(&self) -> RegionReader {
        RegionReader {
            region: self.clone(),
            pos: 0,
        }
    }

    /// The region as a stream of chunks of at most `chunk` bytes, read on the blocking pool.
    pub(crate) fn stream(
        self,
        chunk: usize,
    ) -> impl Stream<Item = Result<Bytes, FileError>> + Send {
        let region = Arc::new(self);
        futures_util::stream::unfold((region, 0u64, false), move |(region, pos, done)| {
            async move {
                if done || (pos == region.size && pos > 0) {
                    return None;
                }
                let reader = region.clone();
                let result = tokio::task::spawn_blocking(move || reader.chunk(pos, chunk))
                    .await
                    .unwrap_or_else(|e| {
                        Err(io_error("reading", &region.label)(io::Error::other(e)))
                    });
                match result {
                    // An empty file yields no chunk, once its size is confirmed.
                    Ok(bytes) if bytes.is_empty() => None,
                    Ok(bytes) => {
                        let next = pos + bytes.len() as u64;
                        Some((Ok(bytes), (region, next, false)))
                    }
                    Err(e) => Some((Err(e), (region, pos, true))),
                }
            }
        })
    }
}

/// [`Region::reader`]: `Read` over a region, failing if the file ends early.
pub(crate) struct RegionReader {
    region: Region,
    pos: u64,
}

impl Read for RegionReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.region.size || buf.is_empty() {
            return Ok(0);
        }
        let chunk = self
            .region
            .chunk(self.pos, buf.len())
            .map_err(io::Error::other)?;
        buf[..chunk.len()].copy_from_slice(&chunk);
        self.pos += chunk.len() as u64;
        Ok(chunk.len())
    }
}
