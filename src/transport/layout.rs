//! OCI image layouts as a transport: `oci:DIR` read and written in place, `oci-archive:FILE`
//! read in place and repacked when a push completes. Every file of a layout is read through
//! [`crate::boundary::fsutil`]: regular files inside the layout only, never past their size or a
//! cap.

use super::archive::{self, Archive};
use super::{check_manifest, BlobStream, ManifestRef, RawManifest, Transport, TransportError};
use crate::boundary::fsutil::{self, FileError, Region, RootDir, TEMP_PREFIX};
use crate::boundary::terminal::shortened_list;
use crate::model::digest::{Digest, Verifier};
use crate::model::oci::{Descriptor, Index, ListFormat, LAYOUT_FILE, MAX_INDEX_JSON_BYTES};
use crate::model::reference::{LayoutKind, LayoutRef};
use async_trait::async_trait;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// The annotation that names an entry of `index.json` (`oci:DIR:NAME`).
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";
const LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// Blobs are streamed in chunks of this size.
const CHUNK: usize = 256 * 1024;

/// Where the files of a layout are.
enum Files {
    /// An `oci:` directory, read and written in place.
    Dir(RootDir),
    /// An `oci-archive:` read in place.
    Archive(Archive),
    /// An `oci-archive:` being pushed to: new blobs go to a private staging directory, and the
    /// archive is repacked with them when the index is written.
    ArchiveWrite {
        path: PathBuf,
        earlier: Option<Archive>,
        staging: RootDir,
        /// Removed on drop; it holds only files this process created.
        _staging_dir: tempfile::TempDir,
    },
    /// A layout a push would create: nothing is there yet.
    Missing,
}

impl Files {
    fn open_file(&self, rel: &str) -> Result<Option<Region>, FileError> {
        match self {
            Files::Dir(root) => root.open_file(rel),
            Files::Archive(archive) => archive.open_file(rel),
            Files::ArchiveWrite {
                earlier, staging, ..
            } => match staging.open_file(rel)? {
                Some(region) => Ok(Some(region)),
                None => earlier
                    .as_ref()
                    .map(|a| a.open_file(rel))
                    .transpose()
                    .map(Option::flatten),
            },
            Files::Missing => Ok(None),
        }
    }

    /// The directory new blobs are written to.
    fn writable(&self) -> Result<&RootDir, TransportError> {
        match self {
            Files::Dir(root) => Ok(root),
            Files::ArchiveWrite { staging, .. } => Ok(staging),
            Files::Archive(_) | Files::Missing => Err(TransportError::Invalid(
                "a layout opened to plan a push cannot be written".into(),
            )),
        }
    }
}

pub(crate) struct LayoutTransport {
    files: Files,
    label: String,
}

impl LayoutTransport {
    /// Opens a layout to read from; it must exist and be a layout.
    pub(crate) fn open_for_read(reference: &LayoutRef) -> Result<Self, TransportError> {
        let label = label_of(reference);
        let not_a_layout = || {
            TransportError::Invalid(format!(
                "{label} is not an OCI image layout (it has no {LAYOUT_FILE} file)"
            ))
        };
        let files = match reference.kind {
            LayoutKind::Directory => match RootDir::open(&reference.path) {
                Ok(root) => Files::Dir(root),
                Err(FileError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    return Err(not_a_layout())
                }
                Err(e) => return Err(e.into()),
            },
            LayoutKind::Archive => match Archive::open(&reference.path)? {
                Some(archive) => Files::Archive(archive),
                None => {
                    return Err(TransportError::NotFound {
                        what: "archive".into(),
                        location: label,
                    })
                }
            },
        };
        if files.open_file(LAYOUT_FILE)?.is_none() {
            return Err(not_a_layout());
        }
        Ok(Self { files, label })
    }

    /// Opens a layout to write to: an existing layout, an empty or missing directory, or (for
    /// `oci-archive:`) a tar file that is created or replaced when the push completes.
    /// Concurrent writers of one directory are serialised by a lock on it.
    pub(crate) fn open_for_write(reference: &LayoutRef) -> Result<Self, TransportError> {
        let label = label_of(reference);
        let files = match reference.kind {
            LayoutKind::Directory => Files::Dir(init_layout_dir(&reference.path, &label)?),
            LayoutKind::Archive => {
                let earlier = Archive::open(&reference.path)?;
                if let Some(archive) = &earlier {
                    if archive.open_file(LAYOUT_FILE)?.is_none() {
                        return Err(TransportError::Invalid(format!(
                            "{label} exists and is not an OCI archive (it has no {LAYOUT_FILE}); \
                             choose a new file name"
                        )));
                    }
                }
                let staging_dir = tempfile::Builder::new()
                    .prefix("manifest-oci-archive-")
                    .tempdir()
                    .map_err(|e| TransportError::io("creating a temporary directory", e))?;
                Files::ArchiveWrite {
                    path: reference.path.clone(),
                    earlier,
                    staging: RootDir::open(staging_dir.path())?,
                    _staging_dir: staging_dir,
                }
            }
        };
        Ok(Self { files, label })
    }

    /// Opens a push destination to plan with, writing nothing: a layout as it is, a missing or
    /// empty directory (or a missing archive) as an empty layout; what
    /// [`LayoutTransport::open_for_write`] would refuse is refused the same way.
    pub(crate) fn open_for_probe(reference: &LayoutRef) -> Result<Self, TransportError> {
        let label = label_of(reference);
        let files = match reference.kind {
            LayoutKind::Directory => match RootDir::open(&reference.path) {
                Ok(root) if root.open_file(LAYOUT_FILE)?.is_some() => Files::Dir(root),
                Ok(_) => {
                    check_no_foreign_files(&reference.path, &label)?;
                    Files::Missing
                }
                Err(FileError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    Files::Missing
                }
                Err(e) => return Err(e.into()),
            },
            LayoutKind::Archive => match Archive::open(&reference.path)? {
                Some(archive) if archive.open_file(LAYOUT_FILE)?.is_some() => {
                    Files::Archive(archive)
                }
                Some(_) => {
                    return Err(TransportError::Invalid(format!(
                        "{label} exists and is not an OCI archive (it has no {LAYOUT_FILE}); \
                         choose a new file name"
                    )))
                }
                None => Files::Missing,
            },
        };
        Ok(Self { files, label })
    }

    /// The regular file `rel` of the layout, or `None`.
    fn open_file(&self, rel: &str) -> Result<Option<Region>, TransportError> {
        Ok(self.files.open_file(rel)?)
    }

    fn read_index_json(&self) -> Result<Index, TransportError> {
        parse_index_json(self.open_file("index.json")?, &self.label)
    }

    /// The `index.json` entry `reference` names.
    fn find_entry(&self, reference: &ManifestRef) -> Result<Descriptor, TransportError> {
        let index = self.read_index_json()?;
        let name_of = |d: &Descriptor| d.annotations.get(REF_NAME).cloned();
        let found = match reference {
            ManifestRef::Tag(tag) => index
                .manifests
                .iter()
                .find(|d| name_of(d).as_deref() == Some(tag.as_str()))
                .cloned(),
            ManifestRef::Digest(digest) => {
                match index.manifests.iter().find(|d| &d.digest == digest) {
                    Some(entry) => Some(entry.clone()),
                    // Any blob of the layout can be read by digest, not only top-level entries.
                    None => self
                        .open_file(&blob_name(digest))?
                        .map(|blob| Descriptor::new("", digest.clone(), blob.size())),
                }
            }
            ManifestRef::Default => match index.manifests.as_slice() {
                [only] => Some(only.clone()),
                [] => None,
                many => {
                    let names = shortened_list(
                        many.iter()
                            .map(|d| name_of(d).unwrap_or_else(|| d.digest.to_string())),
                    );
                    return Err(TransportError::Invalid(format!(
                        "{} holds {} images ({names}); name one as {}:NAME",
                        self.label,
                        many.len(),
                        self.label
                    )));
                }
            },
        };
        found.ok_or_else(|| TransportError::NotFound {
            what: format!("image {reference}"),
            location: self.label.clone(),
        })
    }

    /// Adds or replaces the `index.json` entry for `reference`, under the layout's lock.
    fn tag(&self, reference: &ManifestRef, manifest: &RawManifest) -> Result<(), TransportError> {
        let name = match reference {
            ManifestRef::Tag(tag) => Some(tag.clone()),
            _ => None,
        };
        let edit = |current: Option<Region>| {
            let mut index = parse_index_json(current, &self.label)?;
            index
                .manifests
                .retain(|d| d.annotations.get(REF_NAME) != name.as_ref());
            let mut entry = Descriptor::new(
                &manifest.media_type,
                manifest.digest.clone(),
                manifest.bytes.len() as u64,
            );
            if let Some(name) = &name {
                entry.annotations.insert(REF_NAME.into(), name.clone());
            }
            index.manifests.push(entry);
            Ok(index.to_bytes(ListFormat::Oci))
        };
        match &self.files {
            Files::Dir(root) => {
                let _lock = root.lock()?;
                let bytes = edit(root.open_file("index.json")?)?;
                Ok(root.write_atomic("index.json", &bytes)?)
            }
            Files::ArchiveWrite {
                path,
                earlier,
                staging,
                ..
            } => archive::repack(path, earlier.as_ref(), staging, LAYOUT_CONTENT, edit),
            Files::Archive(_) | Files::Missing => Err(TransportError::Invalid(format!(
                "{} was opened for reading and cannot be written",
                self.label
            ))),
        }
    }

    async fn write_blob(
        &self,
        descriptor: &Descriptor,
        data: BlobStream,
    ) -> Result<(), TransportError> {
        if self.has_blob(&descriptor.digest, Some(descriptor.size)) {
            return Ok(());
        }
        let (temp, actual, written) = self
            .write_temp(data, Some(descriptor.size), &descriptor.digest)
            .await?;
        if written != descriptor.size {
            return Err(TransportError::SizeMismatch {
                what: format!("blob {}", descriptor.digest),
                expected: descriptor.size,
                actual: written,
            });
        }
        if actual != descriptor.digest {
            return Err(TransportError::DigestMismatch {
                what: format!("blob {}", descriptor.digest),
                expected: descriptor.digest.clone(),
                actual,
            });
        }
        temp.persist(descriptor.digest.hex())?;
        Ok(())
    }

    /// Writes a stream to a temp file in the layout's `blobs/<algorithm>/` (the algorithm of
    /// `algorithm_of`), hashing it on the way; stops reading once more than `limit` bytes came.
    /// Returns the file (synced when persisted), the digest of what was written and its size.
    async fn write_temp(
        &self,
        mut data: BlobStream,
        limit: Option<u64>,
        algorithm_of: &Digest,
    ) -> Result<(crate::boundary::fsutil::TempFile, Digest, u64), TransportError> {
        let root = self.files.writable()?;
        let dir = format!("blobs/{}", algorithm_of.algorithm());
        let mut temp = root.temp_file(&dir)?;
        let context = || format!("writing in {}", root.path().join(&dir).display());
        let mut file = tokio::fs::File::from_std(temp.take_file());
        let mut verifier = Verifier::new(algorithm_of);
        let mut written = 0u64;
        while let Some(chunk) = data.next().await {
            let chunk = chunk?;
            written += chunk.len() as u64;
            if limit.is_some_and(|limit| written > limit) {
                break;
            }
            verifier.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| TransportError::io(context(), e))?;
        }
        file.sync_all()
            .await
            .map_err(|e| TransportError::io(context(), e))?;
        Ok((temp, verifier.finish(), written))
    }

    /// Whether the layout holds the blob as a regular file (of `size` bytes, when given). A
    /// symlink or special file in its place counts as absent: a push then replaces it.
    fn has_blob(&self, digest: &Digest, size: Option<u64>) -> bool {
        matches!(self.files.open_file(&blob_name(digest)),
            Ok(Some(blob)) if size.is_none_or(|size| blob.size() == size))
    }
}

/// `oci:DIR` or `oci-archive:FILE`, without the image name, for messages.
fn label_of(reference: &LayoutRef) -> String {
    crate::model::reference::ImageRef::Layout(LayoutRef {
        name: None,
        ..reference.clone()
    })
    .to_string()
}

/// `blobs/<algorithm>/<encoded>`, the path of a blob inside a layout.
fn blob_name(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}

/// Parses an `index.json` read with its cap; a missing one is an empty index.
fn parse_index_json(file: Option<Region>, label: &str) -> Result<Index, TransportError> {
    let Some(file) = file else {
        return Ok(Index::default());
    };
    let bytes = file.read_all(MAX_INDEX_JSON_BYTES)?;
    Index::parse(&bytes).map_err(|e| TransportError::Invalid(format!("{label}/index.json: {e}")))
}

/// Makes `path` a layout if it is missing or empty, under the lock that every writer of it
/// takes, so that concurrent first pushes all find (or make) the same layout.
fn init_layout_dir(path: &Path, label: &str) -> Result<RootDir, TransportError> {
    std::fs::create_dir_all(path)
        .map_err(|e| TransportError::io(format!("creating {}", path.display()), e))?;
    let root = RootDir::open(path)?;
    let _lock = root.lock()?;
    if root.open_file(LAYOUT_FILE)?.is_none() {
        check_no_foreign_files(path, label)?;
        root.write_atomic(LAYOUT_FILE, LAYOUT_CONTENT)?;
    }
    root.create_dirs("blobs")?;
    Ok(root)
}

/// A directory that is not a layout may become one only if nothing else is in it.
fn check_no_foreign_files(path: &Path, label: &str) -> Result<(), TransportError> {
    // Temporary files of a writer that was killed are not someone else's content.
    let foreign = fsutil::list_dir(path, fsutil::caps::DIR_ENTRIES)?
        .unwrap_or_default()
        .iter()
        .any(|e| {
            let name = e.name.to_string_lossy();
            name != "blobs" && !name.starts_with(TEMP_PREFIX)
        });
    if foreign {
        return Err(TransportError::Invalid(format!(
            "{label} is not empty and is not an OCI image layout; choose an empty or new directory"
        )));
    }
    Ok(())
}

#[async_trait]
impl Transport for LayoutTransport {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn checks_uploaded_digests(&self) -> bool {
        true
    }

    async fn manifest_get(&self, reference: &ManifestRef) -> Result<RawManifest, TransportError> {
        let entry = self.find_entry(reference)?;
        let what = format!("manifest {} in {}", entry.digest, self.label);
        if entry.size > super::MAX_MANIFEST_BYTES {
            return Err(TransportError::TooLarge {
                what,
                size: entry.size,
                limit: super::MAX_MANIFEST_BYTES,
            });
        }
        let Some(blob) = self.open_file(&blob_name(&entry.digest))? else {
            return Err(TransportError::NotFound {
                what: format!("manifest blob {}", entry.digest),
                location: self.label.clone(),
            });
        };
        let bytes = blob.read_all(super::MAX_MANIFEST_BYTES)?;
        check_manifest(
            bytes.into(),
            &ManifestRef::Digest(entry.digest.clone()),
            Some(&entry.media_type)
                .filter(|t| !t.is_empty())
                .map(String::as_str),
            &what,
        )
    }

    async fn manifest_put(
        &self,
        reference: &ManifestRef,
        manifest: &RawManifest,
    ) -> Result<(), TransportError> {
        let descriptor = Descriptor::new(
            &manifest.media_type,
            manifest.digest.clone(),
            manifest.bytes.len() as u64,
        );
        let bytes = manifest.bytes.clone();
        let stream: BlobStream = Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
        self.write_blob(&descriptor, stream).await?;
        match reference {
            ManifestRef::Digest(_) => Ok(()),
            _ => self.tag(reference, manifest),
        }
    }

    async fn manifest_exists(&self, digest: &Digest) -> Result<bool, TransportError> {
        Ok(self.has_blob(digest, None))
    }

    async fn blob_exists(&self, descriptor: &Descriptor) -> Result<bool, TransportError> {
        Ok(self.has_blob(&descriptor.digest, Some(descriptor.size)))
    }

    /// The blob's file, whatever its size, so that a file of the wrong size is told apart
    /// from a missing one.
    async fn blob_stat(&self, descriptor: &Descriptor) -> Result<super::BlobStat, TransportError> {
        Ok(match self.open_file(&blob_name(&descriptor.digest))? {
            Some(blob) => super::BlobStat::Present {
                size: Some(blob.size()),
            },
            None => super::BlobStat::Absent,
        })
    }

    async fn blob_get(&self, descriptor: &Descriptor) -> Result<BlobStream, TransportError> {
        let Some(blob) = self.open_file(&blob_name(&descriptor.digest))? else {
            return Err(TransportError::NotFound {
                what: format!("blob {}", descriptor.digest),
                location: self.label.clone(),
            });
        };
        // A file of another size is not this blob: refuse before a byte is sent anywhere.
        if blob.size() != descriptor.size {
            return Err(TransportError::Invalid(format!(
                "{} is {} bytes, but blob {} is {} bytes",
                blob.label(),
                blob.size(),
                descriptor.digest,
                descriptor.size
            )));
        }
        Ok(Box::pin(blob.stream(CHUNK).map(|chunk| Ok(chunk?))))
    }

    async fn blob_put(
        &self,
        descriptor: &Descriptor,
        data: BlobStream,
    ) -> Result<(), TransportError> {
        self.write_blob(descriptor, data).await
    }

    /// Hashes while writing the temp file inside the layout, then renames it to its digest.
    async fn blob_put_hashed(
        &self,
        media_type: &str,
        data: BlobStream,
    ) -> Result<Descriptor, TransportError> {
        let sha256 = Digest::sha256_of(b"");
        let (temp, digest, size) = self.write_temp(data, None, &sha256).await?;
        temp.persist(digest.hex())?;
        Ok(Descriptor::new(media_type, digest, size))
    }
}
