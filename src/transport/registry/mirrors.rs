//! Reading through registries.conf mirrors: an image's endpoints (its mirrors, then its
//! primary location) tried in order for every read, as containers/image does. Whichever endpoint
//! answered last is asked first next time, so a push reads all of an image's blobs from the
//! mirror that served its manifest. Nothing is ever written through here.

use super::client::RegistryClient;
use super::repository::RegistryTransport;
use crate::config::endpoints::Endpoint;
use crate::model::digest::Digest;
use crate::model::oci::Descriptor;
use crate::model::reference::RegistryRef;
use crate::transport::{BlobStream, ManifestRef, RawManifest, Transport, TransportError};
use async_trait::async_trait;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// One image's endpoints, opened as they are first needed.
pub(super) struct Mirrored {
    client: RegistryClient,
    requested: RegistryRef,
    endpoints: Vec<Endpoint>,
    opened: Vec<OnceCell<Arc<RegistryTransport>>>,
    /// The endpoint that answered last.
    preferred: AtomicUsize,
}

impl Mirrored {
    pub(super) fn new(
        client: RegistryClient,
        requested: RegistryRef,
        endpoints: Vec<Endpoint>,
    ) -> Self {
        let opened = endpoints.iter().map(|_| OnceCell::new()).collect();
        Self {
            client,
            requested,
            endpoints,
            opened,
            preferred: AtomicUsize::new(0),
        }
    }

    async fn endpoint(&self, at: usize) -> Result<Arc<RegistryTransport>, TransportError> {
        self.opened[at]
            .get_or_try_init(|| async {
                let transport =
                    RegistryTransport::open(&self.client, &self.requested, &self.endpoints[at])
                        .await?;
                Ok::<_, TransportError>(Arc::new(transport))
            })
            .await
            .cloned()
    }

    /// Runs `read` on each endpoint, the preferred one first, until one succeeds; the last
    /// failure (the primary's, when no mirror had it) is the one reported.
    async fn first<T, F, Fut>(&self, read: F) -> Result<T, TransportError>
    where
        F: Fn(Arc<RegistryTransport>) -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
    {
        let start = self.preferred.load(Ordering::Relaxed);
        let order = (start..self.endpoints.len()).chain(0..start);
        let mut last = None;
        for at in order {
            let attempt = match self.endpoint(at).await {
                Ok(transport) => read(transport).await,
                Err(e) => Err(e),
            };
            match attempt {
                Ok(value) => {
                    self.preferred.store(at, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("an image has at least one endpoint"))
    }

    fn primary(&self) -> &Endpoint {
        self.endpoints
            .last()
            .expect("an image has at least one endpoint")
    }
}

#[async_trait]
impl Transport for Mirrored {
    fn describe(&self) -> String {
        format!("{}/{}", self.requested.registry, self.requested.repository)
    }

    fn registry_repository(&self) -> Option<(String, String)> {
        // Mounts name the repository on the primary registry, where a push destination would
        // look for it.
        let primary = self.primary();
        Some((primary.host_port.clone(), primary.repository.clone()))
    }

    async fn manifest_get(&self, reference: &ManifestRef) -> Result<RawManifest, TransportError> {
        self.first(|t| async move { t.manifest_get(reference).await })
            .await
    }

    async fn manifest_put(
        &self,
        _reference: &ManifestRef,
        _manifest: &RawManifest,
    ) -> Result<(), TransportError> {
        Err(TransportError::Invalid(format!(
            "{} is opened for reading through its mirrors; nothing is written there",
            self.describe()
        )))
    }

    async fn blob_exists(&self, descriptor: &Descriptor) -> Result<bool, TransportError> {
        self.first(|t| async move {
            match t.blob_exists(descriptor).await? {
                true => Ok(true),
                false => Err(TransportError::NotFound {
                    what: format!("blob {}", descriptor.digest),
                    location: t.describe(),
                }),
            }
        })
        .await
        .or_else(|e| match e {
            TransportError::NotFound { .. } => Ok(false),
            other => Err(other),
        })
    }

    async fn manifest_exists(&self, digest: &Digest) -> Result<bool, TransportError> {
        self.first(|t| async move {
            match t.manifest_exists(digest).await? {
                true => Ok(true),
                false => Err(TransportError::NotFound {
                    what: format!("manifest {digest}"),
                    location: t.describe(),
                }),
            }
        })
        .await
        .or_else(|e| match e {
            TransportError::NotFound { .. } => Ok(false),
            other => Err(other),
        })
    }

    async fn referrers(&self, digest: &Digest) -> Result<Option<Vec<Descriptor>>, TransportError> {
        self.first(|t| async move { t.referrers(digest).await })
            .await
    }

    async fn blob_get(&self, descriptor: &Descriptor) -> Result<BlobStream, TransportError> {
        self.first(|t| async move { t.blob_get(descriptor).await })
            .await
    }

    async fn blob_put(
        &self,
        descriptor: &Descriptor,
        _data: BlobStream,
    ) -> Result<(), TransportError> {
        Err(TransportError::Invalid(format!(
            "{} is opened for reading through its mirrors; blob {} is not written there",
            self.describe(),
            descriptor.digest
        )))
    }

    fn checks_uploaded_digests(&self) -> bool {
        true
    }
}
