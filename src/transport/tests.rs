use super::*;
use futures_util::StreamExt;
use std::sync::Mutex;

/// Keeps what `blob_put` got; everything else is unused here.
#[derive(Default)]
struct Recorder {
    put: Mutex<Vec<(Descriptor, Vec<u8>)>>,
}

#[async_trait]
impl Transport for Recorder {
    fn describe(&self) -> String {
        "recorder".into()
    }
    async fn manifest_get(&self, _: &ManifestRef) -> Result<RawManifest, TransportError> {
        Err(TransportError::Invalid("unused".into()))
    }
    async fn manifest_put(&self, _: &ManifestRef, _: &RawManifest) -> Result<(), TransportError> {
        Err(TransportError::Invalid("unused".into()))
    }
    async fn blob_exists(&self, _: &Descriptor) -> Result<bool, TransportError> {
        Ok(false)
    }
    async fn blob_get(&self, _: &Descriptor) -> Result<BlobStream, TransportError> {
        Err(TransportError::Invalid("unused".into()))
    }
    async fn blob_put(&self, d: &Descriptor, mut data: BlobStream) -> Result<(), TransportError> {
        let mut bytes = Vec::new();
        while let Some(chunk) = data.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        self.put.lock().unwrap().push((d.clone(), bytes));
        Ok(())
    }
}

#[tokio::test]
async fn blob_put_hashed_by_default_spools_then_puts_with_the_digest() {
    let recorder = Recorder::default();
    let data: Vec<u8> = (0..600_000u32).map(|i| i as u8).collect();
    let chunks: Vec<Result<Bytes, TransportError>> = data
        .chunks(70_000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let stored = recorder
        .blob_put_hashed(
            "application/x-test",
            Box::pin(futures_util::stream::iter(chunks)),
        )
        .await
        .unwrap();
    assert_eq!(stored.digest, Digest::sha256_of(&data));
    assert_eq!(stored.size, data.len() as u64);
    assert_eq!(stored.media_type, "application/x-test");
    let put = recorder.put.lock().unwrap();
    assert_eq!(put.len(), 1);
    assert_eq!(put[0].0.digest, stored.digest);
    assert!(put[0].1 == data);
}

#[tokio::test]
async fn blob_put_hashed_passes_a_source_error_on() {
    let recorder = Recorder::default();
    let failing: BlobStream = Box::pin(futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"abc")),
        Err(TransportError::Invalid("source broke".into())),
    ]));
    let err = recorder.blob_put_hashed("x", failing).await.unwrap_err();
    assert!(err.to_string().contains("source broke"));
    assert!(recorder.put.lock().unwrap().is_empty(), "nothing stored");
}

/// A registry that cannot be reached is reported in buildah's and podman's words, with its
/// host; a transfer that broke after the registry answered is not.
#[test]
fn failures_to_reach_a_registry_begin_with_pinging_container_registry() {
    let network = |context: &str, kind| {
        TransportError::Network {
            context: context.into(),
            detail: "why".into(),
            kind,
        }
        .to_string()
    };
    let tls = TransportError::Tls {
        registry: "localhost:5000".into(),
        detail: "x509: certificate signed by unknown authority".into(),
    };
    assert_eq!(
        tls.to_string(),
        "pinging container registry localhost:5000: TLS error: x509: certificate signed by \
         unknown authority"
    );
    for (context, kind, expected) in [
        (
            "127.0.0.1:1",
            NetworkFailure::Refused,
            "pinging container registry 127.0.0.1:1: why",
        ),
        (
            "GET http://127.0.0.1:1/v2/app/manifests/v1 (manifest v1)",
            NetworkFailure::Refused,
            "pinging container registry 127.0.0.1:1: GET http://127.0.0.1:1/v2/app/manifests/v1 \
             (manifest v1): why",
        ),
        (
            "reg.example: no answer over HTTPS or HTTP",
            NetworkFailure::Timeout,
            "pinging container registry reg.example: reg.example: no answer over HTTPS or HTTP: why",
        ),
        (
            "GET https://[::1]:5000/v2/ (the registry's API root)",
            NetworkFailure::Dropped,
            "pinging container registry [::1]:5000: GET https://[::1]:5000/v2/ (the registry's \
             API root): why",
        ),
        (
            "PATCH https://reg.example/v2/app/blobs/uploads/1 (blob sha256:1)",
            NetworkFailure::Dropped,
            "PATCH https://reg.example/v2/app/blobs/uploads/1 (blob sha256:1): why",
        ),
        (
            "GET https://reg.example/v2/ (the registry's API root)",
            NetworkFailure::Stalled,
            "GET https://reg.example/v2/ (the registry's API root): why",
        ),
    ] {
        assert_eq!(network(context, kind), expected, "{context}");
    }
}
