//! `oci-archive:` tar files, never unpacked: reading locates each entry in the tar and reads it
//! in place; writing packs a new tar beside the old one, under a lock on its directory, and
//! renames it over the old one.

use super::TransportError;
use crate::boundary::fsutil::{self, FileError, Region, RootDir, TEMP_PREFIX};
use crate::model::oci::LAYOUT_FILE;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Archives with more entries than this are refused (the index of entries is kept in memory).
pub(crate) const MAX_ARCHIVE_ENTRIES: u64 = 1_000_000;

/// One entry of the tar that a layout may read.
#[derive(Debug, Clone)]
enum Entry {
    File {
        offset: u64,
        size: u64,
    },
    /// A hard link to another entry of the archive.
    Link(String),
    /// A symlink, device, FIFO or sparse file: never read.
    Other(&'static str),
}

/// An `oci-archive:` file opened for reading: where each layout file is inside the tar.
pub(crate) struct Archive {
    path: PathBuf,
    file: Arc<File>,
    entries: HashMap<String, Entry>,
}

impl Archive {
    /// Indexes the archive at `path`; `None` if there is no file there. The archive itself must
    /// be a regular file (a FIFO or device is refused unread).
    pub(crate) fn open(path: &Path) -> Result<Option<Self>, TransportError> {
        let Some(region) = fsutil::open_regular(path)? else {
            return Ok(None);
        };
        let file = region.file();
        let broken = |e: io::Error| {
            TransportError::Invalid(format!(
                "{} is not a readable tar archive: {e}",
                path.display()
            ))
        };
        let mut tar = tar::Archive::new(&*file);
        let mut entries = HashMap::new();
        for (count, entry) in tar.entries_with_seek().map_err(broken)?.enumerate() {
            if count as u64 >= MAX_ARCHIVE_ENTRIES {
                return Err(TransportError::Invalid(format!(
                    "{} has more than {MAX_ARCHIVE_ENTRIES} entries",
                    path.display()
                )));
            }
            let entry = entry.map_err(broken)?;
            let Some(name) = entry.path().ok().and_then(|p| layout_name(p.as_ref())) else {
                continue;
            };
            let kind = entry.header().entry_type();
            let recorded = match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => Entry::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
                tar::EntryType::Directory => continue,
                tar::EntryType::Link => match entry.link_name().ok().flatten() {
                    Some(target) => match layout_name(target.as_ref()) {
                        Some(target) => Entry::Link(target),
                        None => Entry::Other("a hard link to outside the layout"),
                    },
                    None => Entry::Other("a hard link without a target"),
                },
                tar::EntryType::Symlink => Entry::Other("a symbolic link"),
                tar::EntryType::Char => Entry::Other("a character device"),
                tar::EntryType::Block => Entry::Other("a block device"),
                tar::EntryType::Fifo => Entry::Other("a FIFO"),
                tar::EntryType::GNUSparse => Entry::Other("a sparse file"),
                _ => Entry::Other("an unknown kind of entry"),
            };
            // Later entries replace earlier ones of the same name, as when a tar is unpacked.
            entries.insert(name, recorded);
        }
        let end = file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| TransportError::io(format!("reading {}", path.display()), e))?;
        if let Some(name) = entries.iter().find_map(|(name, entry)| match entry {
            Entry::File { offset, size } if offset.saturating_add(*size) > end => Some(name),
            _ => None,
        }) {
            return Err(TransportError::Invalid(format!(
                "{} is truncated: its entry {name} ends past the end of the file",
                path.display()
            )));
        }
        Ok(Some(Self {
            path: path.to_path_buf(),
            file,
            entries,
        }))
    }

    /// The regular file `rel` of the layout packed in the archive; `None` if there is none.
    pub(crate) fn open_file(&self, rel: &str) -> Result<Option<Region>, FileError> {
        let mut name = rel;
        // One level of hard link: tar writers link a file to the first entry with its inode.
        for _ in 0..2 {
            match self.entries.get(name) {
                None => return Ok(None),
                Some(Entry::File { offset, size }) => {
                    return Ok(Some(Region::within(
                        self.file.clone(),
                        *offset,
                        *size,
                        format!("{} (entry {rel})", self.path.display()),
                    )))
                }
                Some(Entry::Link(target)) => name = target,
                Some(Entry::Other(kind)) => {
                    return Err(FileError::NotRegular {
                        path: format!("{} (entry {rel})", self.path.display()),
                        kind,
                    })
                }
            }
        }
        Err(FileError::NotRegular {
            path: format!("{} (entry {rel})", self.path.display()),
            kind: "a hard link to a hard link",
        })
    }

    /// Every blob of the archive, by its path inside the layout.
    fn blobs(&self) -> impl Iterator<Item = (String, Region)> + '_ {
        self.entries
            .keys()
            .filter(|name| is_blob_name(name))
            .filter_map(|name| Some((name.clone(), self.open_file(name).ok()??)))
    }
}

/// The layout path of a tar entry (`./blobs/sha256/ab…` → `blobs/sha256/ab…`), or `None` for
/// names that are not part of a layout or could point outside it.
fn layout_name(path: &Path) -> Option<String> {
    let text = path.to_str()?;
    let parts: Vec<&str> = text
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if text.starts_with('/') || parts.is_empty() || parts.contains(&"..") {
        return None;
    }
    let name = parts.join("/");
    (name == LAYOUT_FILE || name == "index.json" || is_blob_name(&name)).then_some(name)
}

fn is_blob_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    parts.len() == 3 && parts[0] == "blobs" && !parts[2].starts_with(TEMP_PREFIX)
}

/// Writes the archive at `path` again under a lock on its directory: the blobs of the archive
/// as it is now (another push may have changed it since this one began), of `earlier` (the
/// archive as this push first read it) and of `staged` (what this push wrote), with the
/// `index.json` that `edit` makes from the current one.
pub(crate) fn repack(
    path: &Path,
    earlier: Option<&Archive>,
    staged: &RootDir,
    layout_file: &[u8],
    edit: impl FnOnce(Option<Region>) -> Result<Vec<u8>, TransportError>,
) -> Result<(), TransportError> {
    let context = |e: io::Error| TransportError::io(format!("writing {}", path.display()), e);
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| TransportError::Invalid(format!("{} names no file", path.display())))?;
    let parent_dir = RootDir::open(parent)?;
    let _lock = parent_dir.lock()?;
    let current = Archive::open(path)?;
    let index_json = edit(
        current
            .as_ref()
            .map(|a| a.open_file("index.json"))
            .transpose()?
            .flatten(),
    )?;

    let mut blobs: BTreeMap<String, Region> = BTreeMap::new();
    for archive in [earlier, current.as_ref()].into_iter().flatten() {
        blobs.extend(archive.blobs());
    }
    for name in staged_blobs(staged)? {
        if let Some(region) = staged.open_file(&name)? {
            blobs.insert(name, region);
        }
    }

    let mut temp = parent_dir.temp_file("")?;
    let mut builder = tar::Builder::new(temp.take_file());
    let mut append = |name: &str, size: u64, data: &mut dyn io::Read, dir: bool| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(if dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        header.set_mode(if dir { 0o755 } else { 0o644 });
        header.set_size(size);
        header.set_mtime(0);
        builder.append_data(&mut header, name, data)
    };
    append(
        LAYOUT_FILE,
        layout_file.len() as u64,
        &mut &*layout_file,
        false,
    )
    .map_err(context)?;
    append(
        "index.json",
        index_json.len() as u64,
        &mut index_json.as_slice(),
        false,
    )
    .map_err(context)?;
    append("blobs/", 0, &mut io::empty(), true).map_err(context)?;
    let mut last_dir = String::new();
    for (name, region) in &blobs {
        let dir = &name[..name.rfind('/').expect("blob names have directories") + 1];
        if dir != last_dir {
            append(dir, 0, &mut io::empty(), true).map_err(context)?;
            last_dir = dir.to_string();
        }
        append(name, region.size(), &mut region.reader(), false).map_err(context)?;
    }
    let file = builder.into_inner().map_err(context)?;
    file.sync_all().map_err(context)?;
    drop(file);
    temp.persist(file_name)?;
    Ok(())
}

/// The blobs a push wrote to its staging directory (`blobs/<algorithm>/<encoded>`).
fn staged_blobs(root: &RootDir) -> Result<Vec<String>, FileError> {
    let mut out = Vec::new();
    for algorithm in root
        .list("blobs", fsutil::caps::DIR_ENTRIES)?
        .unwrap_or_default()
    {
        let Some(alg) = algorithm.name.to_str() else {
            continue;
        };
        let dir = format!("blobs/{alg}");
        for blob in root.list(&dir, usize::MAX)?.unwrap_or_default() {
            if let Some(name) = blob.name.to_str() {
                let rel = format!("{dir}/{name}");
                if is_blob_name(&rel) {
                    out.push(rel);
                }
            }
        }
    }
    Ok(out)
}
