//! Registries as a transport (placeholder until the registry implementation lands).

use super::{BlobStream, ManifestRef, RawManifest, Transport, TransportError};
use crate::oci::Descriptor;
use crate::reference::RegistryRef;
use async_trait::async_trait;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RegistryOptions {
    pub creds: Option<String>,
    pub authfile: Option<PathBuf>,
    pub cert_dir: Option<PathBuf>,
    pub tls_verify: bool,
    pub retries: u32,
    pub retry_delay: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            creds: None,
            authfile: None,
            cert_dir: None,
            tls_verify: true,
            retries: 3,
            retry_delay: Duration::from_secs(1),
        }
    }
}

pub struct RegistryClient {
    _options: RegistryOptions,
}

impl RegistryClient {
    pub fn new(options: RegistryOptions) -> Self {
        Self { _options: options }
    }

    pub async fn repository(&self, r: &RegistryRef) -> Result<RegistryTransport, TransportError> {
        Ok(RegistryTransport {
            label: format!("{}/{}", r.registry, r.repository),
        })
    }
}

pub struct RegistryTransport {
    label: String,
}

fn unsupported() -> TransportError {
    TransportError::Invalid("registry transport not available yet".into())
}

#[async_trait]
impl Transport for RegistryTransport {
    fn describe(&self) -> String {
        self.label.clone()
    }
    async fn manifest_get(&self, _: &ManifestRef) -> Result<RawManifest, TransportError> {
        Err(unsupported())
    }
    async fn manifest_put(&self, _: &ManifestRef, _: &RawManifest) -> Result<(), TransportError> {
        Err(unsupported())
    }
    async fn blob_exists(&self, _: &Descriptor) -> Result<bool, TransportError> {
        Err(unsupported())
    }
    async fn blob_get(&self, _: &Descriptor) -> Result<BlobStream, TransportError> {
        Err(unsupported())
    }
    async fn blob_put(&self, _: &Descriptor, _: BlobStream) -> Result<(), TransportError> {
        Err(unsupported())
    }
}
