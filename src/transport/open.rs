//! Turns parsed references into transports, sharing one registry client (and its auth) per run.

use super::layout::LayoutTransport;
use super::registry::{RegistryClient, RegistryOptions};
use super::storage::StorageTransport;
use super::{ManifestRef, Transport, TransportError};
use crate::config::storage::StorageOptions;
use crate::model::reference::{ImageRef, LayoutRef, RegistryRef, StorageRef};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Opens transports for references, caching one per repository or layout so that a push that
/// reads five children from one repository authenticates once.
pub struct Transports {
    options: RegistryOptions,
    /// Which containers-storage store a reference without a bracketed store part reads.
    storage: StorageOptions,
    /// Created on first use, so commands that only touch layouts never read credentials.
    registry: tokio::sync::OnceCell<RegistryClient>,
    opened: Mutex<HashMap<String, Arc<dyn Transport>>>,
}

impl Transports {
    /// Transports that reach registries with `options` and read containers-storage's default store.
    pub fn new(options: RegistryOptions) -> Self {
        Self {
            options,
            storage: StorageOptions::default(),
            registry: tokio::sync::OnceCell::new(),
            opened: Mutex::new(HashMap::new()),
        }
    }

    /// The same, reading containers-storage as the global storage flags say.
    pub fn with_storage(self, storage: StorageOptions) -> Self {
        Self { storage, ..self }
    }

    /// With `--debug`, a line on stderr about what was decided (not a request).
    pub(crate) fn debug_note(&self, text: &str) {
        if self.options.debug {
            eprintln!("note: {}", crate::boundary::terminal::escape_controls(text));
        }
    }

    /// A transport to read `image` from, and how the image is named inside it.
    pub(crate) async fn open_read(
        &self,
        image: &ImageRef,
    ) -> Result<(Arc<dyn Transport>, ManifestRef), TransportError> {
        let transport = match image {
            ImageRef::Registry(r) => self.registry_repo(r, Access::Read).await?,
            ImageRef::Layout(l) => {
                let key = format!("read:{:?}:{}", l.kind, l.path.display());
                let mut opened = self.opened.lock().await;
                if let Some(t) = opened.get(&key) {
                    t.clone()
                } else {
                    let t: Arc<dyn Transport> = Arc::new(LayoutTransport::open_for_read(l)?);
                    opened.insert(key, t.clone());
                    t
                }
            }
            ImageRef::Storage(s) => {
                let key = format!("storage:{s}");
                let mut opened = self.opened.lock().await;
                if let Some(t) = opened.get(&key) {
                    t.clone()
                } else {
                    let (reference, options) = (s.clone(), self.storage.clone());
                    let t: Arc<dyn Transport> = Arc::new(
                        tokio::task::spawn_blocking(move || {
                            StorageTransport::open(&reference, &options)
                        })
                        .await
                        .map_err(|e| TransportError::Invalid(e.to_string()))??,
                    );
                    opened.insert(key, t.clone());
                    t
                }
            }
        };
        Ok((transport, manifest_ref(image)))
    }

    /// A transport to write `image` to.
    pub(crate) async fn open_write(
        &self,
        image: &ImageRef,
    ) -> Result<(Arc<dyn Transport>, ManifestRef), TransportError> {
        let transport: Arc<dyn Transport> = match image {
            ImageRef::Registry(r) => self.registry_repo(r, Access::Write).await?,
            ImageRef::Layout(l) => Arc::new(LayoutTransport::open_for_write(l)?),
            ImageRef::Storage(_) => {
                return Err(TransportError::Invalid(
                    "containers-storage is read-only here: push to a registry (docker://) or a layout (oci:)"
                        .into(),
                ))
            }
        };
        Ok((transport, manifest_ref(image)))
    }

    /// A transport to plan a push to `image` with, which writes nothing: a registry as
    /// [`Transports::open_write`] opens it (opening sends no write), a layout read where it is
    /// (one that does not exist yet is empty), refused where a push would be refused.
    pub(crate) async fn open_probe(
        &self,
        image: &ImageRef,
    ) -> Result<(Arc<dyn Transport>, ManifestRef), TransportError> {
        match image {
            ImageRef::Layout(l) => Ok((
                Arc::new(LayoutTransport::open_for_probe(l)?),
                manifest_ref(image),
            )),
            _ => self.open_write(image).await,
        }
    }

    /// Reads go through registries.conf mirrors (which serve tag and digest references
    /// differently); writes go to the repository as named.
    async fn registry_repo(
        &self,
        r: &RegistryRef,
        access: Access,
    ) -> Result<Arc<dyn Transport>, TransportError> {
        let key = format!(
            "registry:{access:?}:{}:{}/{}",
            r.digest.is_some(),
            r.registry,
            r.repository
        );
        let mut opened = self.opened.lock().await;
        if let Some(t) = opened.get(&key) {
            return Ok(t.clone());
        }
        let client = self
            .registry
            .get_or_try_init(|| RegistryClient::new(self.options.clone()))
            .await?;
        let t: Arc<dyn Transport> = match access {
            Access::Read => client.reader(r).await?,
            Access::Write => Arc::new(client.repository(r).await?),
        };
        opened.insert(key, t.clone());
        Ok(t)
    }
}

#[derive(Debug, Clone, Copy)]
enum Access {
    Read,
    Write,
}

/// How `image` names its manifest inside its repository or layout.
pub(crate) fn manifest_ref(image: &ImageRef) -> ManifestRef {
    match image {
        ImageRef::Registry(RegistryRef {
            digest: Some(d), ..
        }) => ManifestRef::Digest(d.clone()),
        ImageRef::Registry(RegistryRef { tag: Some(t), .. }) => ManifestRef::Tag(t.clone()),
        ImageRef::Registry(_) => ManifestRef::Tag("latest".into()),
        ImageRef::Layout(LayoutRef { name: Some(n), .. }) => ManifestRef::Tag(n.clone()),
        ImageRef::Layout(_) => ManifestRef::Default,
        ImageRef::Storage(StorageRef {
            digest: Some(d), ..
        }) => ManifestRef::Digest(d.clone()),
        ImageRef::Storage(_) => ManifestRef::Default,
    }
}
