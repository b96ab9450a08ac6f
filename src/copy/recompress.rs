//! Planning a child whose layers are compressed while they are sent: one whose source serves
//! only uncompressed layers (containers-storage), or a compression variant `--add-compression`
//! asks for. Its config gives each layer's uncompressed digest (diff_id), by which the layer is
//! compressed once and found again at later pushes. Sending the layers (`blobs`) and rewriting
//! the manifest with the compressed descriptors ([`Recompressed::rewrite`], a new digest the
//! index takes, as buildah does) are the run's.

use super::error::PushError;
use super::inputs::LocalStore;
use super::steps::Recompressed;
use crate::copy::compress::Compression;
use crate::model::digest::Digest;
use crate::model::oci::ImageManifest;
use crate::transport::{read_blob, RawManifest, Transport, MAX_CONFIG_BYTES};
use std::sync::Arc;

/// Reads the child's config (for its diff_ids, one per layer); its layers are to be sent
/// compressed with `compression`.
pub(super) async fn plan_rewrite(
    local: &dyn LocalStore,
    source: &Arc<dyn Transport>,
    raw: RawManifest,
    position: usize,
    compression: Compression,
) -> Result<Recompressed, PushError> {
    let manifest = ImageManifest::parse(&raw.bytes)?;
    let config = match local.kept(&manifest.config.digest) {
        Some(bytes) => bytes,
        None => read_blob(source.as_ref(), &manifest.config, MAX_CONFIG_BYTES)
            .await
            .map_err(|e| PushError::Transport {
                context: format!(
                    "reading the config of {} from {}",
                    raw.digest,
                    source.describe()
                ),
                source: e,
            })?,
    };
    let diff_ids = diff_ids(&config).map_err(|detail| {
        PushError::Recompress(format!("image {}: its config {detail}", raw.digest))
    })?;
    if diff_ids.len() != manifest.layers.len() {
        return Err(PushError::Recompress(format!(
            "image {}: its manifest has {} layers but its config {} diff_ids",
            raw.digest,
            manifest.layers.len(),
            diff_ids.len()
        )));
    }
    Ok(Recompressed {
        position,
        raw,
        manifest,
        diff_ids,
        compression,
    })
}

/// The config's `rootfs.diff_ids`.
fn diff_ids(config: &[u8]) -> Result<Vec<Digest>, String> {
    #[derive(serde::Deserialize)]
    struct Config {
        rootfs: RootFs,
    }
    #[derive(serde::Deserialize)]
    struct RootFs {
        diff_ids: Vec<Digest>,
    }
    serde_json::from_slice::<Config>(config)
        .map(|c| c.rootfs.diff_ids)
        .map_err(|e| format!("has no usable rootfs.diff_ids ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_ids_come_from_the_config() {
        let config = br#"{"rootfs":{"type":"layers","diff_ids":["sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}}"#;
        assert_eq!(diff_ids(config).unwrap().len(), 1);
        assert!(diff_ids(b"{}").is_err());
    }
}
