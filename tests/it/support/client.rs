//! The library's registry client driven directly, without the binary: a client with explicit
//! credentials, repositories of the real registry and of scripted fakes, deterministic blobs
//! and an image pushed through the transport.

use super::fake_http::{Action, FakeRequest, FakeServer, Reply};
use super::registry::Registry;
use bytes::Bytes;
use futures_util::StreamExt;
use manifest::config::auth::AuthSources;
use manifest::model::digest::{Digest, Verifier};
use manifest::model::oci::{self, Descriptor};
use manifest::model::reference::RegistryRef;
use manifest::transport::registry::{RegistryClient, RegistryOptions, RegistryTransport};
use manifest::transport::{
    verified, BlobStream, ManifestRef, RawManifest, Transport, TransportError,
};
use std::time::Duration;

/// Deterministic, incompressible-looking bytes: `size` bytes in 64 KiB chunks.
pub fn generated_chunks(size: usize, seed: u64) -> impl Iterator<Item = Bytes> {
    let mut state = seed | 1;
    let mut left = size;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let n = left.min(64 * 1024);
        left -= n;
        let mut chunk = Vec::with_capacity(n);
        while chunk.len() < n {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.extend_from_slice(&state.to_le_bytes());
        }
        chunk.truncate(n);
        Some(Bytes::from(chunk))
    })
}

/// The descriptor of [`generated_chunks`]`(size, seed)` as a blob of `media_type`.
pub fn generated_descriptor(size: usize, seed: u64, media_type: &str) -> Descriptor {
    let sha = Digest::sha256_of(b"");
    let mut verifier = Verifier::new(&sha);
    for chunk in generated_chunks(size, seed) {
        verifier.update(&chunk);
    }
    Descriptor::new(media_type, verifier.finish(), size as u64)
}

/// [`generated_chunks`]`(size, seed)` as a blob stream.
pub fn generated_stream(size: usize, seed: u64) -> BlobStream {
    Box::pin(futures_util::stream::iter(
        generated_chunks(size, seed).map(Ok::<_, TransportError>),
    ))
}

/// `bytes` as a blob stream of one chunk.
pub fn bytes_stream(bytes: Bytes) -> BlobStream {
    Box::pin(futures_util::stream::iter([Ok::<_, TransportError>(bytes)]))
}

/// A registry client with these options and `--creds` (when given) as its only credentials.
pub async fn client(options: RegistryOptions, creds: Option<&str>) -> RegistryClient {
    // Explicit sources: the test never reads the real ~/.docker or auth.json files.
    let sources = AuthSources {
        creds: creds.map(str::to_string),
        ..Default::default()
    };
    RegistryClient::with_auth_sources(options, sources)
        .await
        .unwrap()
}

/// One retry after 10 ms: failures show at once.
pub fn fast_options() -> RegistryOptions {
    RegistryOptions {
        retry: manifest::boundary::retry::RetryPolicy {
            retries: 1,
            base: Duration::from_millis(10),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// [`fast_options`] with `--tls-verify=false` (plain HTTP to the harness registries).
pub fn plain_http_options() -> RegistryOptions {
    RegistryOptions {
        tls_verify: Some(false),
        ..fast_options()
    }
}

/// Pushes a config and a layer and an OCI manifest for them; returns the manifest.
pub async fn push_image(repo: &RegistryTransport, layer_size: usize) -> (RawManifest, Descriptor) {
    let layer = generated_descriptor(layer_size, 42, oci::OCI_LAYER_GZIP);
    repo.blob_put(&layer, verified(generated_stream(layer_size, 42), &layer))
        .await
        .unwrap();
    let config_bytes = Bytes::from_static(
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let config = Descriptor::new(
        oci::OCI_CONFIG,
        Digest::sha256_of(&config_bytes),
        config_bytes.len() as u64,
    );
    repo.blob_put(&config, bytes_stream(config_bytes))
        .await
        .unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":{}}},"layers":[{{"mediaType":"{}","digest":"{}","size":{}}}]}}"#,
        oci::OCI_MANIFEST,
        oci::OCI_CONFIG,
        config.digest,
        config.size,
        oci::OCI_LAYER_GZIP,
        layer.digest,
        layer.size
    );
    let raw = RawManifest::from_bytes(Bytes::from(manifest));
    repo.manifest_put(&ManifestRef::Digest(raw.digest.clone()), &raw)
        .await
        .unwrap();
    (raw, layer)
}

/// Pushes [`push_image`] and tags its manifest `name`; returns the manifest and the layer.
pub async fn push_tagged(
    repo: &RegistryTransport,
    layer_size: usize,
    name: &str,
) -> (RawManifest, Descriptor) {
    let (manifest, layer) = push_image(repo, layer_size).await;
    repo.manifest_put(&by_tag(name), &manifest).await.unwrap();
    (manifest, layer)
}

/// Repository `path` of `registry`, opened by `client`.
pub async fn repository(
    client: &RegistryClient,
    registry: &Registry,
    path: &str,
) -> RegistryTransport {
    client.repository(&registry.reference(path)).await.unwrap()
}

/// The manifest reference of tag `name`.
pub fn by_tag(name: &str) -> ManifestRef {
    ManifestRef::Tag(name.into())
}

/// Every byte of `stream`, or its first error.
pub async fn read_all(stream: BlobStream) -> Result<Vec<u8>, TransportError> {
    let mut stream = stream;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// An answer of a fake registry.
pub fn reply(status: u16, headers: &[(&str, String)], body: &[u8]) -> Action {
    let mut reply = Reply::new(status).body(body.to_vec());
    for (name, value) in headers {
        reply = reply.header(name, value);
    }
    Action::Reply(reply)
}

/// Repository `app` of a fake registry over plain HTTP, without retries.
pub async fn fake_repository(server: &FakeServer) -> RegistryTransport {
    let options = RegistryOptions {
        tls_verify: Some(false),
        retry: manifest::boundary::retry::RetryPolicy {
            retries: 0,
            ..Default::default()
        },
        ..Default::default()
    };
    fake_repository_with(server, options).await
}

/// Repository `app` of a fake registry, reached with `options`.
pub async fn fake_repository_with(
    server: &FakeServer,
    options: RegistryOptions,
) -> RegistryTransport {
    client(options, None)
        .await
        .repository(&RegistryRef {
            registry: server.addr.clone(),
            repository: "app".into(),
            tag: None,
            digest: None,
        })
        .await
        .unwrap()
}

/// `GET /v2/`?
pub fn is_ping(req: &FakeRequest) -> bool {
    req.method == "GET" && req.target == "/v2/"
}

/// A manifest without `mediaType` (legal for OCI): its type must come from the Content-Type.
pub const BARE_MANIFEST: &[u8] = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

/// The media type of a Docker v2s2 image manifest, as a fake registry sends it.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
