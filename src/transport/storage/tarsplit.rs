//! Regenerates a layer's exact uncompressed tar stream from its tar-split data (gzipped JSON
//! lines: raw header/padding segments and file entries) and the file contents in the layer's
//! directory, checking the result against the layer's diff digest as it goes.
//!
//! Every file is reached from the layer's directory one component at a time without following
//! a symlink, and must be a regular file ([`RootDir`]); the stream stops with an error before
//! it runs past the layer's recorded size, and a digest mismatch is an error at its end, after
//! the last byte and before the consumer sees the end of the stream (so an upload of it is
//! never committed).

use crate::boundary::fsutil::{FileError, Region, RootDir};
use crate::model::digest::{Digest, Verifier};
use base64::Engine;
use serde::Deserialize;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

/// tar-split's entry kinds.
const FILE_ENTRY: u8 = 1;
const SEGMENT_ENTRY: u8 = 2;
/// A tar-split line longer than this is not one c/storage wrote (segments are a few KiB).
const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;

/// The size a regenerated layer has by its records, and which record says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KnownSize {
    /// The size in bytes.
    pub bytes: u64,
    /// Where it was recorded, for messages (`diff-size in layers.json`).
    pub recorded: &'static str,
}

/// Why a layer could not be regenerated exactly.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RegenerateError {
    #[error("reading the layer's tar-split data {path}")]
    TarSplit {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the layer's tar-split data {path} is damaged: {detail}")]
    Damaged { path: String, detail: String },
    #[error("reading {path} of the layer")]
    File {
        path: String,
        #[source]
        source: FileError,
    },
    #[error("file {path} of the layer is missing")]
    Missing { path: String },
    #[error("file {path} of the layer is shorter ({actual} bytes) than when it was stored ({expected}); the layer changed")]
    Truncated {
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "the regenerated layer runs past {} bytes, its size by its {}; it was cut there",
        known.bytes,
        known.recorded
    )]
    TooLong { known: KnownSize },
    #[error("the regenerated layer does not match its diff digest {expected} (got {actual}); the layer's files changed")]
    Mismatch { expected: Digest, actual: Digest },
    #[error("writing the layer stream")]
    Write(#[source] std::io::Error),
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    name_raw: Option<String>,
    #[serde(default)]
    size: i64,
    #[serde(default)]
    payload: Option<String>,
}

/// Writes the layer's tar stream to `out`, returning its size; stops with an error before the
/// stream runs past `known` (when the size is recorded), and fails (after writing what it had)
/// if the bytes do not hash to `expected`, so a consumer never commits a wrong layer.
pub(crate) fn regenerate(
    tar_split: &Region,
    layer: &RootDir,
    expected: &Digest,
    known: Option<KnownSize>,
    out: &mut dyn Write,
) -> Result<u64, RegenerateError> {
    let shown = tar_split.label().to_string();
    let damaged = |detail: String| RegenerateError::Damaged {
        path: shown.clone(),
        detail,
    };
    let mut lines = BufReader::new(flate2::read::GzDecoder::new(tar_split.reader()));
    let mut verifier = Verifier::new(expected);
    let mut written = 0u64;
    let mut emit = |bytes: &[u8]| -> Result<(), RegenerateError> {
        if let Some(known) = known {
            if written + bytes.len() as u64 > known.bytes {
                return Err(RegenerateError::TooLong { known });
            }
        }
        verifier.update(bytes);
        written += bytes.len() as u64;
        out.write_all(bytes).map_err(RegenerateError::Write)
    };
    let mut line = Vec::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        line.clear();
        let n = (&mut lines)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut line)
            .map_err(|source| RegenerateError::TarSplit {
                path: shown.clone(),
                source,
            })?;
        if n == 0 {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let entry: Entry = serde_json::from_slice(&line).map_err(|e| damaged(e.to_string()))?;
        match entry.kind {
            SEGMENT_ENTRY => {
                let payload = decode(entry.payload.as_deref()).map_err(&damaged)?;
                emit(&payload)?;
            }
            FILE_ENTRY if entry.size > 0 => {
                let name = entry_name(&entry).map_err(&damaged)?;
                let rel = inside(&name)?;
                let shown_path = name.display().to_string();
                let file_error = |source| RegenerateError::File {
                    path: shown_path.clone(),
                    source,
                };
                let region = layer.open_file(&rel).map_err(file_error)?.ok_or_else(|| {
                    RegenerateError::Missing {
                        path: shown_path.clone(),
                    }
                })?;
                let expected_size = entry.size as u64;
                if region.size() < expected_size {
                    return Err(RegenerateError::Truncated {
                        path: shown_path,
                        expected: expected_size,
                        actual: region.size(),
                    });
                }
                let mut file = region.reader().take(expected_size);
                loop {
                    let got = file
                        .read(&mut buffer)
                        .map_err(|source| RegenerateError::File {
                            path: shown_path.clone(),
                            source: FileError::Io {
                                context: "reading",
                                path: region.label().to_string(),
                                source,
                            },
                        })?;
                    if got == 0 {
                        break;
                    }
                    emit(&buffer[..got])?;
                }
            }
            FILE_ENTRY => {}
            other => return Err(damaged(format!("unknown entry type {other}"))),
        }
    }
    let actual = verifier.finish();
    if &actual != expected {
        return Err(RegenerateError::Mismatch {
            expected: expected.clone(),
            actual,
        });
    }
    Ok(written)
}

fn decode(payload: Option<&str>) -> Result<Vec<u8>, String> {
    match payload {
        None => Ok(Vec::new()),
        Some(text) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("a payload is not base64: {e}")),
    }
}

/// The entry's path: `name`, or `name_raw` (base64 bytes) when the name is not UTF-8.
fn entry_name(entry: &Entry) -> Result<PathBuf, String> {
    if let Some(raw) = &entry.name_raw {
        let bytes = decode(Some(raw))?;
        return Ok(PathBuf::from(OsStr::from_bytes(&bytes)));
    }
    entry
        .name
        .as_deref()
        .map(PathBuf::from)
        .ok_or_else(|| "a file entry has no name".to_string())
}

/// `name` as a path relative to the layer's directory (`./a/b` and `/a/b` are `a/b`); a `..`
/// is refused. Symlinks on the way are refused when the file is opened ([`RootDir`]).
fn inside(name: &Path) -> Result<OsString, RegenerateError> {
    let refuse = |detail: &str| RegenerateError::Damaged {
        path: name.display().to_string(),
        detail: detail.to_string(),
    };
    let mut parts: Vec<&[u8]> = Vec::new();
    for component in name.components() {
        match component {
            Component::Normal(part) => parts.push(part.as_bytes()),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(refuse("the entry's path leaves the layer"))
            }
        }
    }
    if parts.is_empty() {
        return Err(refuse("the entry has an empty path"));
    }
    Ok(OsString::from_vec(parts.join(&b'/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar built with the tar crate, and the tar-split lines that describe it.
    fn fixture(dir: &Path) -> (Vec<u8>, PathBuf, PathBuf) {
        let layer = dir.join("layer");
        std::fs::create_dir_all(layer.join("d")).unwrap();
        std::fs::write(layer.join("d/a.txt"), b"hello").unwrap();
        std::fs::write(layer.join("big"), vec![7u8; 700_000]).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        builder.append_dir("d", layer.join("d")).unwrap();
        builder
            .append_path_with_name(layer.join("d/a.txt"), "d/a.txt")
            .unwrap();
        builder
            .append_path_with_name(layer.join("big"), "big")
            .unwrap();
        let tar = builder.into_inner().unwrap();
        // Split at the file payloads: headers before, 512-byte-rounded padding after.
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let mut lines = String::new();
        let mut at = 0usize;
        for (name, size) in [("d/", 0usize), ("d/a.txt", 5), ("big", 700_000)] {
            let header_end = at + 512;
            lines += &format!(
                "{{\"type\":2,\"payload\":\"{}\"}}\n",
                b64(&tar[at..header_end])
            );
            lines += &format!("{{\"type\":1,\"name\":\"{name}\",\"size\":{size}}}\n");
            let padded = size.div_ceil(512) * 512;
            let pad_end = header_end + padded;
            if padded > size {
                lines += &format!(
                    "{{\"type\":2,\"payload\":\"{}\"}}\n",
                    b64(&tar[header_end + size..pad_end])
                );
            }
            at = pad_end;
        }
        lines += &format!("{{\"type\":2,\"payload\":\"{}\"}}\n", b64(&tar[at..]));
        let split = dir.join("layer.tar-split.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&split).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(lines.as_bytes()).unwrap();
        gz.finish().unwrap();
        (tar, split, layer)
    }

    /// Regenerates the fixture's layer (`split`, `layer` as made by [`fixture`]).
    fn run(
        split: &Path,
        layer: &Path,
        digest: &Digest,
        known: Option<KnownSize>,
        out: &mut Vec<u8>,
    ) -> Result<u64, RegenerateError> {
        let split = crate::boundary::fsutil::open_regular(split)
            .unwrap()
            .unwrap();
        let layer = RootDir::open(layer).unwrap();
        regenerate(&split, &layer, digest, known, out)
    }

    #[test]
    fn regenerates_the_exact_tar() {
        let dir = tempfile::tempdir().unwrap();
        let (tar, split, layer) = fixture(dir.path());
        let mut out = Vec::new();
        let known = KnownSize {
            bytes: tar.len() as u64,
            recorded: "test",
        };
        let size = run(
            &split,
            &layer,
            &Digest::sha256_of(&tar),
            Some(known),
            &mut out,
        )
        .unwrap();
        assert_eq!(size as usize, tar.len());
        assert!(out == tar, "regenerated bytes differ");
    }

    #[test]
    fn a_layer_is_cut_at_its_known_size() {
        let dir = tempfile::tempdir().unwrap();
        let (tar, split, layer) = fixture(dir.path());
        let known = KnownSize {
            bytes: 4096,
            recorded: "diff-size in layers.json",
        };
        let mut out = Vec::new();
        let err = run(
            &split,
            &layer,
            &Digest::sha256_of(&tar),
            Some(known),
            &mut out,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("runs past 4096 bytes, its size by its diff-size in layers.json"),
            "{err}"
        );
        assert!(out.len() <= 4096, "{} bytes left before the cut", out.len());
    }

    #[test]
    fn changed_or_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (tar, split, layer) = fixture(dir.path());
        let digest = Digest::sha256_of(&tar);
        let regenerate = |out: &mut Vec<u8>| run(&split, &layer, &digest, None, out);
        std::fs::write(layer.join("d/a.txt"), b"HELLO").unwrap();
        let err = regenerate(&mut Vec::new()).unwrap_err();
        assert!(matches!(err, RegenerateError::Mismatch { .. }), "{err}");
        std::fs::write(layer.join("d/a.txt"), b"he").unwrap();
        let err = regenerate(&mut Vec::new()).unwrap_err();
        assert!(matches!(err, RegenerateError::Truncated { .. }), "{err}");
        std::fs::remove_file(layer.join("d/a.txt")).unwrap();
        let err = regenerate(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("d/a.txt"), "{err}");
    }

    #[test]
    fn files_are_regular_files_reached_without_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let (tar, split, layer) = fixture(dir.path());
        let digest = Digest::sha256_of(&tar);
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("a.txt"), b"hello").unwrap();
        // The file itself, and a directory on its way, as symlinks out of the layer.
        std::fs::remove_file(layer.join("d/a.txt")).unwrap();
        std::os::unix::fs::symlink(outside.join("a.txt"), layer.join("d/a.txt")).unwrap();
        let err = run(&split, &layer, &digest, None, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("d/a.txt of the layer"), "{err}");
        assert!(crate::error_chain(&err).contains("symbolic link"), "{err}");
        std::fs::remove_dir_all(layer.join("d")).unwrap();
        std::os::unix::fs::symlink(&outside, layer.join("d")).unwrap();
        let err = run(&split, &layer, &digest, None, &mut Vec::new()).unwrap_err();
        assert!(crate::error_chain(&err).contains("symbolic link"), "{err}");
        // A FIFO where a file was is refused, never opened (it would block).
        std::fs::remove_file(layer.join("d")).unwrap();
        std::fs::create_dir_all(layer.join("d")).unwrap();
        let fifo =
            std::ffi::CString::new(layer.join("d/a.txt").into_os_string().into_vec()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let err = run(&split, &layer, &digest, None, &mut Vec::new()).unwrap_err();
        assert!(crate::error_chain(&err).contains("is a FIFO"), "{err}");
    }

    #[test]
    fn names_that_leave_the_layer_are_refused() {
        for bad in ["../x", "a/../../x", "", "/"] {
            assert!(inside(Path::new(bad)).is_err(), "{bad}");
        }
        assert_eq!(inside(Path::new("./ok/f")).unwrap(), "ok/f");
        assert_eq!(inside(Path::new("/abs/f")).unwrap(), "abs/f");
    }
}
