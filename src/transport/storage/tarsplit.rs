//! Regenerates a layer's exact uncompressed tar stream from its tar-split data (gzipped JSON
//! lines: raw header/padding segments and file entries) and the file contents in the layer's
//! directory, checking the result against the layer's diff digest as it goes.

use crate::digest::{Digest, Verifier};
use base64::Engine;
use serde::Deserialize;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// tar-split's entry kinds.
const FILE_ENTRY: u8 = 1;
const SEGMENT_ENTRY: u8 = 2;
/// A tar-split line longer than this is not one c/storage wrote (segments are a few KiB).
const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;

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
        source: std::io::Error,
    },
    #[error("file {path} of the layer is shorter ({actual} bytes) than when it was stored ({expected}); the layer changed")]
    Truncated {
        path: String,
        expected: u64,
        actual: u64,
    },
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

/// Writes the layer's tar stream to `out`, returning its size; fails (after writing what it
/// had) if the bytes do not hash to `expected`, so a consumer never commits a wrong layer.
pub(crate) fn regenerate(
    tar_split: &Path,
    layer_dir: &Path,
    expected: &Digest,
    out: &mut dyn Write,
) -> Result<u64, RegenerateError> {
    let shown = tar_split.display().to_string();
    let damaged = |detail: String| RegenerateError::Damaged {
        path: shown.clone(),
        detail,
    };
    let file = File::open(tar_split).map_err(|source| RegenerateError::TarSplit {
        path: shown.clone(),
        source,
    })?;
    let mut lines = BufReader::new(flate2::read::GzDecoder::new(file));
    let mut verifier = Verifier::new(expected);
    let mut written = 0u64;
    let mut emit = |bytes: &[u8]| -> Result<(), RegenerateError> {
        verifier.update(bytes);
        written += bytes.len() as u64;
        out.write_all(bytes).map_err(RegenerateError::Write)
    };
    let mut checked_dirs = HashSet::new();
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
                let path = inside(layer_dir, &name, &mut checked_dirs)?;
                let shown_path = name.display().to_string();
                let mut file = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(|source| RegenerateError::File {
                        path: shown_path.clone(),
                        source,
                    })?;
                let expected_size = entry.size as u64;
                let mut remaining = expected_size;
                while remaining > 0 {
                    let want = remaining.min(buffer.len() as u64) as usize;
                    let got =
                        file.read(&mut buffer[..want])
                            .map_err(|source| RegenerateError::File {
                                path: shown_path.clone(),
                                source,
                            })?;
                    if got == 0 {
                        return Err(RegenerateError::Truncated {
                            path: shown_path,
                            expected: expected_size,
                            actual: expected_size - remaining,
                        });
                    }
                    emit(&buffer[..got])?;
                    remaining -= got as u64;
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

/// `name` inside `root`: no `..`, no absolute escape, and no symlinked directory on the way,
/// so a tampered layer cannot make the tool read files outside it.
fn inside(
    root: &Path,
    name: &Path,
    checked: &mut HashSet<PathBuf>,
) -> Result<PathBuf, RegenerateError> {
    let refuse = |detail: &str| RegenerateError::Damaged {
        path: name.display().to_string(),
        detail: detail.to_string(),
    };
    let mut path = root.to_path_buf();
    let mut parts = Vec::new();
    for component in name.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(refuse("the entry's path leaves the layer"))
            }
        }
    }
    let Some((file, dirs)) = parts.split_last() else {
        return Err(refuse("the entry has an empty path"));
    };
    for dir in dirs {
        path.push(dir);
        if checked.contains(&path) {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).map_err(|source| RegenerateError::File {
            path: name.display().to_string(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(refuse("a directory on the entry's path is not a directory"));
        }
        checked.insert(path.clone());
    }
    path.push(file);
    Ok(path)
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
            File::create(&split).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(lines.as_bytes()).unwrap();
        gz.finish().unwrap();
        (tar, split, layer)
    }

    #[test]
    fn regenerates_the_exact_tar() {
        let dir = tempfile::tempdir().unwrap();
        let (tar, split, layer) = fixture(dir.path());
        let mut out = Vec::new();
        let size = regenerate(&split, &layer, &Digest::sha256_of(&tar), &mut out).unwrap();
        assert_eq!(size as usize, tar.len());
        assert!(out == tar, "regenerated bytes differ");
    }

    #[test]
    fn changed_or_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (tar, split, layer) = fixture(dir.path());
        let digest = Digest::sha256_of(&tar);
        std::fs::write(layer.join("d/a.txt"), b"HELLO").unwrap();
        let err = regenerate(&split, &layer, &digest, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, RegenerateError::Mismatch { .. }), "{err}");
        std::fs::write(layer.join("d/a.txt"), b"he").unwrap();
        let err = regenerate(&split, &layer, &digest, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, RegenerateError::Truncated { .. }), "{err}");
        std::fs::remove_file(layer.join("d/a.txt")).unwrap();
        let err = regenerate(&split, &layer, &digest, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("d/a.txt"), "{err}");
    }

    #[test]
    fn paths_stay_inside_the_layer() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let mut checked = HashSet::new();
        for bad in ["../x", "a/../../x", "link/passwd"] {
            assert!(
                inside(&root, Path::new(bad), &mut checked).is_err(),
                "{bad}"
            );
        }
        std::fs::create_dir_all(root.join("ok")).unwrap();
        assert_eq!(
            inside(&root, Path::new("./ok/f"), &mut checked).unwrap(),
            root.join("ok/f")
        );
    }
}
