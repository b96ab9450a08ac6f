//! What a command gives the copy engine and `verify` of the store: the kept manifests and
//! configs, the store's own blob area, and one layer cache for the whole command.

use super::layer_cache::LayerCache;
use crate::copy::compress::Compression;
use crate::copy::LocalStore;
use crate::model::digest::Digest;
use crate::model::oci::Descriptor;
use crate::store::Store;
use crate::transport::store_blobs::StoreBlobs;
use crate::transport::{Transport, TransportError};
use bytes::Bytes;
use std::sync::Arc;

/// What the copy engine (and `verify`, for the sources of a list) reads from the store: the
/// kept manifests and configs, its own blob area, and one layer cache for the whole command.
pub(super) struct StoreInputs<'a> {
    store: &'a Store,
    layers: LayerCache,
}

impl<'a> StoreInputs<'a> {
    pub(super) fn new(store: &'a Store) -> Self {
        Self {
            store,
            layers: LayerCache::new(store.root()),
        }
    }
}

impl LocalStore for StoreInputs<'_> {
    fn kept(&self, digest: &Digest) -> Option<Bytes> {
        self.store.get_blob(digest)
    }

    fn own_blobs(&self) -> Result<Arc<dyn Transport>, TransportError> {
        StoreBlobs::open(self.store.root()).map(|blobs| Arc::new(blobs) as Arc<dyn Transport>)
    }

    fn compressed(&self, uncompressed: &Digest, compression: &Compression) -> Option<Descriptor> {
        self.layers.get(uncompressed, compression)
    }

    fn record_compressed(
        &self,
        uncompressed: &Digest,
        compression: &Compression,
        compressed: &Descriptor,
    ) {
        self.layers.put(uncompressed, compression, compressed);
    }
}
