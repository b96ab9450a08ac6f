//! The registry transport, through the library API: round trips against the real distribution
//! registry over plain HTTP (streams, tags and digests, absent blobs and manifests, mounts), a
//! corrupt stream never committed, a `Docker-Content-Digest` that lies refused, and a refused
//! connection said once, at once.

use crate::support::client::{
    by_tag, client, fake_repository, generated_descriptor, generated_stream, is_ping,
    plain_http_options, push_image, read_all, reply, repository, BARE_MANIFEST, DOCKER_MANIFEST,
};
use crate::support::fake_http::FakeServer;
use crate::support::registry::Registry;
use manifest::model::digest::Digest;
use manifest::model::oci::{self, Descriptor};
use manifest::model::reference::RegistryRef;
use manifest::transport::registry::RegistryOptions;
use manifest::transport::{verified, ManifestRef, Transport, TransportError};
use std::net::TcpListener;
use std::time::Duration;

#[tokio::test]
async fn plain_http_round_trip() {
    let registry = Registry::plain();
    let client = client(plain_http_options(), None).await;
    let repo = repository(&client, &registry, "src/app").await;
    assert_eq!(repo.describe(), format!("{}/src/app", registry.addr));
    assert_eq!(
        repo.registry_repository(),
        Some((registry.addr.clone(), "src/app".to_string()))
    );

    // A few MiB, streamed in and out.
    let size = 3 * 1024 * 1024 + 123;
    let (manifest, layer) = push_image(&repo, size).await;
    assert!(repo.blob_exists(&layer).await.unwrap());
    let body = read_all(verified(repo.blob_get(&layer).await.unwrap(), &layer))
        .await
        .unwrap();
    assert_eq!(body.len(), size);
    assert!(layer.digest.matches(&body));

    // Unknown blobs.
    let unknown = Descriptor::new(oci::OCI_LAYER_GZIP, Digest::sha256_of(b"nope"), 4);
    assert!(!repo.blob_exists(&unknown).await.unwrap());
    match repo.blob_get(&unknown).await {
        Err(TransportError::NotFound { .. }) => {}
        Err(other) => panic!("expected NotFound, got {other:?}"),
        Ok(_) => panic!("expected NotFound, got a stream"),
    }

    // By tag too, and both read back byte-identical.
    repo.manifest_put(&by_tag("v1"), &manifest).await.unwrap();
    for reference in [by_tag("v1"), ManifestRef::Digest(manifest.digest.clone())] {
        let got = repo.manifest_get(&reference).await.unwrap();
        assert_eq!(got.bytes, manifest.bytes, "{reference}");
        assert_eq!(got.digest, manifest.digest);
        assert_eq!(got.media_type, oci::OCI_MANIFEST);
    }

    // Missing tag and missing digest.
    match repo.manifest_get(&by_tag("missing")).await {
        Err(TransportError::NotFound { what, location }) => {
            assert!(what.contains("missing"), "{what}");
            assert!(location.ends_with("/src/app"), "{location}");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    let absent = ManifestRef::Digest(Digest::sha256_of(b"absent"));
    assert!(matches!(
        repo.manifest_get(&absent).await,
        Err(TransportError::NotFound { .. })
    ));

    // A digest reference must match the bytes.
    let err = repo.manifest_put(&absent, &manifest).await.unwrap_err();
    assert!(matches!(err, TransportError::Invalid(_)), "{err:?}");

    // Mount into another repository of the same registry.
    let dst = repository(&client, &registry, "dst/app").await;
    assert!(!dst.blob_exists(&layer).await.unwrap());
    assert!(dst.blob_mount(&layer, "src/app").await.unwrap());
    assert!(dst.blob_exists(&layer).await.unwrap());
    // A blob the source does not have is not mounted; the caller copies instead.
    assert!(!dst.blob_mount(&unknown, "src/app").await.unwrap());
    assert!(!dst.blob_exists(&unknown).await.unwrap());
}

#[tokio::test]
async fn a_corrupt_stream_is_not_committed() {
    let registry = Registry::plain();
    let client = client(plain_http_options(), None).await;
    let repo = repository(&client, &registry, "corrupt").await;
    let size = 256 * 1024;
    let mut layer = generated_descriptor(size, 7, oci::OCI_LAYER_GZIP);
    // Claim a different digest for the same bytes: the verified stream fails at its end.
    layer.digest = Digest::sha256_of(b"something else");
    let err = repo
        .blob_put(&layer, verified(generated_stream(size, 7), &layer))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::DigestMismatch { .. }),
        "the source stream's error comes back: {err:?}"
    );
    assert!(!repo.blob_exists(&layer).await.unwrap());
}

/// A refused connection is one error, at once: nothing listens there, and asking again will
/// not change that (no retries, whatever `--retry` says).
#[tokio::test]
async fn a_refused_connection_is_one_fast_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = RegistryOptions {
        retry: manifest::boundary::retry::RetryPolicy {
            retries: 5,
            base: Duration::from_secs(2),
            ..Default::default()
        },
        ..plain_http_options()
    };
    let client = client(options, None).await;
    let reference = RegistryRef {
        registry: format!("127.0.0.1:{port}"),
        repository: "app".into(),
        tag: None,
        digest: None,
    };
    let err = client.repository(&reference).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Network {
                kind: manifest::transport::NetworkFailure::Refused,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("connection refused"), "{text}");
    assert!(!text.contains("gave up"), "no retries: {text}");
    assert_eq!(
        text.matches("refused").count(),
        1,
        "one cause, said once: {text}"
    );
}

#[tokio::test]
async fn a_wrong_docker_content_digest_is_refused() {
    let wrong = Digest::sha256_of(b"something else").to_string();
    let server = FakeServer::start(move |req| {
        if is_ping(req) {
            return reply(200, &[], b"{}");
        }
        reply(
            200,
            &[
                ("Content-Type", DOCKER_MANIFEST.into()),
                ("Docker-Content-Digest", wrong.clone()),
            ],
            BARE_MANIFEST,
        )
    });
    let repo = fake_repository(&server).await;
    let err = repo.manifest_get(&by_tag("v1")).await.unwrap_err();
    assert!(
        matches!(err, TransportError::DigestMismatch { .. }),
        "{err:?}"
    );
}
