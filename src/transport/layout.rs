//! OCI image layouts as a transport: `oci:DIR` read and written in place, `oci-archive:FILE`
//! unpacked to a temporary directory to read, and packed atomically when a push completes.

use super::{check_manifest, BlobStream, ManifestRef, RawManifest, Transport, TransportError};
use crate::digest::{Digest, Verifier};
use crate::oci::{Descriptor, Index, ListFormat, MAX_INDEX_JSON_BYTES};
use crate::reference::{LayoutKind, LayoutRef};
use async_trait::async_trait;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::io::AsyncWriteExt;

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

pub struct LayoutTransport {
    /// The directory holding `oci-layout`, `index.json` and `blobs/`.
    dir: PathBuf,
    /// For `oci-archive:`, the tar file and the temporary directory it is unpacked in.
    archive: Option<(PathBuf, tempfile::TempDir)>,
    /// Serialises edits of `index.json` by concurrent pushes of this process.
    index_lock: Mutex<()>,
    label: String,
}

impl LayoutTransport {
    /// Opens a layout to read from; it must exist and be a layout.
    pub fn open_for_read(reference: &LayoutRef) -> Result<Self, TransportError> {
        let transport = Self::open(reference, false)?;
        if !transport.dir.join(LAYOUT_FILE).is_file() {
            return Err(TransportError::Invalid(format!(
                "{} is not an OCI image layout (it has no {LAYOUT_FILE} file)",
                transport.label
            )));
        }
        Ok(transport)
    }

    /// Opens a layout to write to: an existing layout, an empty or missing directory, or (for
    /// `oci-archive:`) a tar file that is created or replaced when the push completes.
    pub fn open_for_write(reference: &LayoutRef) -> Result<Self, TransportError> {
        let transport = Self::open(reference, true)?;
        let dir = &transport.dir;
        std::fs::create_dir_all(dir.join("blobs"))
            .map_err(|e| TransportError::io(format!("creating {}", dir.display()), e))?;
        let marker = dir.join(LAYOUT_FILE);
        if !marker.exists() {
            let foreign = std::fs::read_dir(dir)
                .map_err(|e| TransportError::io(format!("reading {}", dir.display()), e))?
                .filter_map(Result::ok)
                .any(|e| e.file_name() != "blobs");
            if foreign {
                return Err(TransportError::Invalid(format!(
                    "{} is not empty and is not an OCI image layout; choose an empty or new directory",
                    transport.label
                )));
            }
            crate::store::write_atomic(&marker, LAYOUT_CONTENT)
                .map_err(|e| TransportError::Invalid(e.to_string()))?;
        }
        Ok(transport)
    }

    fn open(reference: &LayoutRef, for_write: bool) -> Result<Self, TransportError> {
        let label = crate::reference::ImageRef::Layout(LayoutRef {
            name: None,
            ..reference.clone()
        })
        .to_string();
        match reference.kind {
            LayoutKind::Directory => Ok(Self {
                dir: reference.path.clone(),
                archive: None,
                index_lock: Mutex::new(()),
                label,
            }),
            LayoutKind::Archive => {
                let temp = tempfile::tempdir()
                    .map_err(|e| TransportError::io("creating a temporary directory", e))?;
                let path = &reference.path;
                if path.exists() {
                    unpack_archive(path, temp.path())?;
                } else if !for_write {
                    return Err(TransportError::NotFound {
                        what: "archive".into(),
                        location: label,
                    });
                }
                Ok(Self {
                    dir: temp.path().to_path_buf(),
                    archive: Some((path.clone(), temp)),
                    index_lock: Mutex::new(()),
                    label,
                })
            }
        }
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    fn read_index_json(&self) -> Result<Index, TransportError> {
        let path = self.dir.join("index.json");
        match std::fs::metadata(&path) {
            Ok(meta) if meta.len() > MAX_INDEX_JSON_BYTES => {
                return Err(TransportError::TooLarge {
                    what: format!("{}/index.json", self.label),
                    size: meta.len(),
                    limit: MAX_INDEX_JSON_BYTES,
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Index::default()),
            Err(e) => return Err(TransportError::io(format!("reading {}", path.display()), e)),
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| TransportError::io(format!("reading {}", path.display()), e))?;
        Index::parse(&bytes)
            .map_err(|e| TransportError::Invalid(format!("{}/index.json: {e}", self.label)))
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
            ManifestRef::Digest(digest) => index
                .manifests
                .iter()
                .find(|d| &d.digest == digest)
                .cloned()
                .or_else(|| {
                    // Any blob of the layout can be read by digest, not only top-level entries.
                    let path = self.blob_path(digest);
                    let size = std::fs::metadata(path).ok()?.len();
                    Some(Descriptor::new("", digest.clone(), size))
                }),
            ManifestRef::Default => match index.manifests.as_slice() {
                [only] => Some(only.clone()),
                [] => None,
                many => {
                    let names: Vec<String> = many
                        .iter()
                        .map(|d| name_of(d).unwrap_or_else(|| d.digest.to_string()))
                        .collect();
                    return Err(TransportError::Invalid(format!(
                        "{} holds {} images ({}); name one as {}:NAME",
                        self.label,
                        many.len(),
                        names.join(", "),
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

    /// Adds or replaces the `index.json` entry for `reference` and writes it atomically.
    fn tag(&self, reference: &ManifestRef, manifest: &RawManifest) -> Result<(), TransportError> {
        let _guard = self.index_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut index = self.read_index_json()?;
        let name = match reference {
            ManifestRef::Tag(tag) => Some(tag.clone()),
            _ => None,
        };
        index
            .manifests
            .retain(|d| d.annotations.get(REF_NAME) != name.as_ref());
        let mut entry = Descriptor::new(
            &manifest.media_type,
            manifest.digest.clone(),
            manifest.bytes.len() as u64,
        );
        if let Some(name) = name {
            entry.annotations.insert(REF_NAME.into(), name);
        }
        index.manifests.push(entry);
        crate::store::write_atomic(
            &self.dir.join("index.json"),
            &index.to_bytes(ListFormat::Oci),
        )
        .map_err(|e| TransportError::Invalid(e.to_string()))?;
        if let Some((archive, _)) = &self.archive {
            pack_archive(&self.dir, archive)?;
        }
        Ok(())
    }

    async fn write_blob(
        &self,
        descriptor: &Descriptor,
        data: BlobStream,
    ) -> Result<(), TransportError> {
        let path = self.blob_path(&descriptor.digest);
        if tokio::fs::metadata(&path)
            .await
            .is_ok_and(|m| m.len() == descriptor.size)
        {
            return Ok(());
        }
        let dir = path
            .parent()
            .expect("blob paths have a parent")
            .to_path_buf();
        let (temp_path, actual, written) = self
            .write_temp(&dir, data, Some(descriptor.size), &descriptor.digest)
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
        temp_path
            .persist(&path)
            .map_err(|e| TransportError::io(format!("writing {}", path.display()), e.error))?;
        Ok(())
    }

    /// Writes a stream to a synced temp file in `dir`, hashing it on the way with the algorithm
    /// of `algorithm_of`; stops reading once more than `limit` bytes came.
    async fn write_temp(
        &self,
        dir: &Path,
        mut data: BlobStream,
        limit: Option<u64>,
        algorithm_of: &Digest,
    ) -> Result<(tempfile::TempPath, Digest, u64), TransportError> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| TransportError::io(format!("creating {}", dir.display()), e))?;
        let temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(|e| TransportError::io(format!("writing in {}", dir.display()), e))?;
        let (std_file, temp_path) = temp.into_parts();
        let mut file = tokio::fs::File::from_std(std_file);
        let mut verifier = Verifier::new(algorithm_of);
        let mut written = 0u64;
        let context = || format!("writing in {}", dir.display());
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
        Ok((temp_path, verifier.finish(), written))
    }
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
        let path = self.blob_path(&entry.digest);
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TransportError::NotFound {
                    what: format!("manifest blob {}", entry.digest),
                    location: self.label.clone(),
                })
            }
            Err(e) => return Err(TransportError::io(format!("reading {}", path.display()), e)),
        };
        let mut manifest = check_manifest(
            bytes.into(),
            &ManifestRef::Digest(entry.digest.clone()),
            &what,
        )?;
        if manifest.media_type.is_empty() {
            manifest.media_type = entry.media_type;
        }
        Ok(manifest)
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
        Ok(tokio::fs::try_exists(self.blob_path(digest))
            .await
            .unwrap_or(false))
    }

    async fn blob_exists(&self, descriptor: &Descriptor) -> Result<bool, TransportError> {
        let path = self.blob_path(&descriptor.digest);
        Ok(tokio::fs::metadata(&path)
            .await
            .is_ok_and(|m| m.len() == descriptor.size))
    }

    async fn blob_get(&self, descriptor: &Descriptor) -> Result<BlobStream, TransportError> {
        let path = self.blob_path(&descriptor.digest);
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TransportError::NotFound {
                    what: format!("blob {}", descriptor.digest),
                    location: self.label.clone(),
                })
            }
            Err(e) => return Err(TransportError::io(format!("reading {}", path.display()), e)),
        };
        let context = path.display().to_string();
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map(move |chunk| {
                chunk.map_err(|e| TransportError::io(format!("reading {context}"), e))
            });
        Ok(Box::pin(stream))
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
        let dir = self.dir.join("blobs").join("sha256");
        let sha256 = Digest::sha256_of(b"");
        let (temp_path, digest, size) = self.write_temp(&dir, data, None, &sha256).await?;
        let path = self.blob_path(&digest);
        temp_path
            .persist(&path)
            .map_err(|e| TransportError::io(format!("writing {}", path.display()), e.error))?;
        Ok(Descriptor::new(media_type, digest, size))
    }
}

/// Unpacks an `oci-archive:` tar, refusing anything but plain files and directories inside it.
fn unpack_archive(archive: &Path, into: &Path) -> Result<(), TransportError> {
    let context = format!("unpacking {}", archive.display());
    let file = std::fs::File::open(archive).map_err(|e| TransportError::io(&context, e))?;
    let mut tar = tar::Archive::new(file);
    for entry in tar.entries().map_err(|e| TransportError::io(&context, e))? {
        let mut entry = entry.map_err(|e| TransportError::io(&context, e))?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        // unpack_in refuses paths that would land outside `into` (`..`, absolute paths).
        entry
            .unpack_in(into)
            .map_err(|e| TransportError::io(&context, e))?;
    }
    Ok(())
}

/// Packs a layout directory into `archive` atomically (temp file + rename).
fn pack_archive(dir: &Path, archive: &Path) -> Result<(), TransportError> {
    let context = format!("writing {}", archive.display());
    let parent = archive
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(parent)
        .map_err(|e| TransportError::io(&context, e))?;
    let mut builder = tar::Builder::new(temp.as_file());
    builder.follow_symlinks(false);
    for name in [LAYOUT_FILE, "index.json"] {
        builder
            .append_path_with_name(dir.join(name), name)
            .map_err(|e| TransportError::io(&context, e))?;
    }
    builder
        .append_dir_all("blobs", dir.join("blobs"))
        .map_err(|e| TransportError::io(&context, e))?;
    builder
        .finish()
        .map_err(|e| TransportError::io(&context, e))?;
    drop(builder);
    temp.as_file()
        .sync_all()
        .map_err(|e| TransportError::io(&context, e))?;
    temp.persist(archive)
        .map_err(|e| TransportError::io(&context, e.error))?;
    Ok(())
}
