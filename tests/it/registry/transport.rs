//! The registry transport, through the library API, against the real distribution registry:
//! over plain HTTP, over TLS with htpasswd (Basic) authentication, and with token (Bearer)
//! authentication from the harness's token server.

use crate::support::client::{
    client, fast_options, generated_descriptor, generated_stream, plain_http_options, push_image,
    read_all,
};
use crate::support::registry::{Registry, RegistryConfig};
use crate::support::token::TokenServer;
use manifest::digest::Digest;
use manifest::oci::{self, Descriptor};
use manifest::reference::RegistryRef;
use manifest::transport::registry::RegistryOptions;
use manifest::transport::{verified, ManifestRef, Transport, TransportError};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

#[tokio::test]
async fn plain_http_round_trip() {
    let registry = Registry::plain();
    let client = client(plain_http_options(), None).await;
    let repo = client
        .repository(&registry.reference("src/app"))
        .await
        .unwrap();
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
    repo.manifest_put(&ManifestRef::Tag("v1".into()), &manifest)
        .await
        .unwrap();
    for reference in [
        ManifestRef::Tag("v1".into()),
        ManifestRef::Digest(manifest.digest.clone()),
    ] {
        let got = repo.manifest_get(&reference).await.unwrap();
        assert_eq!(got.bytes, manifest.bytes, "{reference}");
        assert_eq!(got.digest, manifest.digest);
        assert_eq!(got.media_type, oci::OCI_MANIFEST);
    }

    // Missing tag and missing digest.
    match repo.manifest_get(&ManifestRef::Tag("missing".into())).await {
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
    let dst = client
        .repository(&registry.reference("dst/app"))
        .await
        .unwrap();
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
    let repo = client
        .repository(&registry.reference("corrupt"))
        .await
        .unwrap();
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

#[tokio::test]
async fn verified_tls_refuses_a_plain_http_registry() {
    let registry = Registry::plain();
    // tls_verify defaults to true: no fallback to HTTP, not even on 127.0.0.1.
    let client = client(fast_options(), None).await;
    let repo = client.repository(&registry.reference("app")).await.unwrap();
    let err = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap_err();
    match &err {
        TransportError::Tls {
            registry: r,
            detail,
        } => {
            assert_eq!(r, &registry.addr);
            assert!(detail.contains("--tls-verify=false"), "{detail}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
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
        retry: manifest::retry::RetryPolicy {
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
async fn tls_and_basic_auth() {
    let registry = Registry::start(RegistryConfig {
        tls: true,
        htpasswd: Some(("alice", "s3cret")),
        ..Default::default()
    });
    let with_ca = RegistryOptions {
        cert_dir: registry.ca_dir.clone(),
        ..fast_options()
    };

    // Right CA and right password: a full round trip.
    let good = client(with_ca.clone(), Some("alice:s3cret")).await;
    let repo = good
        .repository(&registry.reference("secure/app"))
        .await
        .unwrap();
    assert_eq!(repo.credential_sources(), "--creds (used)");
    let (manifest, layer) = push_image(&repo, 512 * 1024).await;
    repo.manifest_put(&ManifestRef::Tag("v1".into()), &manifest)
        .await
        .unwrap();
    let got = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap();
    assert_eq!(got.bytes, manifest.bytes);
    let body = read_all(verified(repo.blob_get(&layer).await.unwrap(), &layer))
        .await
        .unwrap();
    assert!(layer.digest.matches(&body));
    let other = good
        .repository(&registry.reference("secure/other"))
        .await
        .unwrap();
    assert!(other.blob_mount(&layer, "secure/app").await.unwrap());

    // Wrong password.
    let bad = client(with_ca.clone(), Some("alice:wrong")).await;
    let repo = bad
        .repository(&registry.reference("secure/app"))
        .await
        .unwrap();
    match repo.manifest_get(&ManifestRef::Tag("v1".into())).await {
        Err(TransportError::Unauthorized {
            registry: r,
            searched,
            ..
        }) => {
            assert_eq!(r, registry.addr);
            assert_eq!(searched, "--creds (used)");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    let err = repo.blob_exists(&layer).await.unwrap_err();
    assert!(
        matches!(err, TransportError::Unauthorized { .. }),
        "{err:?}"
    );
    let err = repo
        .blob_put(&layer, verified(generated_stream(512 * 1024, 42), &layer))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Unauthorized { .. }),
        "{err:?}"
    );

    // No credentials at all: the message lists where they were looked for.
    let anonymous = client(with_ca, None).await;
    let repo = anonymous
        .repository(&registry.reference("secure/app"))
        .await
        .unwrap();
    let err = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Unauthorized { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("--creds"), "{err}");

    // The CA is not trusted without --cert-dir.
    let no_ca = client(fast_options(), Some("alice:s3cret")).await;
    let repo = no_ca
        .repository(&registry.reference("secure/app"))
        .await
        .unwrap();
    let err = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap_err();
    match &err {
        TransportError::Tls { detail, .. } => {
            assert!(detail.contains("--cert-dir"), "{detail}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }

    // --tls-verify=false talks HTTPS without verifying, and still authenticates.
    let insecure = client(
        RegistryOptions {
            tls_verify: Some(false),
            ..fast_options()
        },
        Some("alice:s3cret"),
    )
    .await;
    let repo = insecure
        .repository(&registry.reference("secure/app"))
        .await
        .unwrap();
    let got = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap();
    assert_eq!(got.bytes, manifest.bytes);
}

#[tokio::test]
/// Client certificates are used (see `credentials::tls`); a pair that is not PEM is an error
/// that names the file, before any connection.
async fn a_broken_client_certificate_is_named() {
    let certs = tempfile::tempdir().unwrap();
    std::fs::write(certs.path().join("client.cert"), "x").unwrap();
    std::fs::write(certs.path().join("client.key"), "x").unwrap();
    let client = client(
        RegistryOptions {
            cert_dir: Some(PathBuf::from(certs.path())),
            ..fast_options()
        },
        None,
    )
    .await;
    let reference = RegistryRef {
        registry: "127.0.0.1:1".into(),
        repository: "app".into(),
        tag: None,
        digest: None,
    };
    let err = client.repository(&reference).await.unwrap_err();
    assert!(matches!(err, TransportError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("client.cert"), "{err}");
}

/// A minimal docker token server (the protocol of distribution's `auth: token`): checks Basic
/// credentials and returns an ES256 JWT whose `x5c` header carries a self-signed certificate
/// that the registry trusts through `rootcertbundle`. Grants every action asked for to `alice`,
/// nothing to anonymous callers, and refuses a wrong password with 401.
#[tokio::test]
async fn bearer_token_auth() {
    let (tokens, registry) = token_registry(0).await;

    let good = client(plain_http_options(), Some("alice:s3cret")).await;
    let repo = good
        .repository(&registry.reference("team/app"))
        .await
        .unwrap();
    let (manifest, layer) = push_image(&repo, 300 * 1024).await;
    repo.manifest_put(&ManifestRef::Tag("v1".into()), &manifest)
        .await
        .unwrap();
    let got = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap();
    assert_eq!(got.bytes, manifest.bytes);
    assert!(repo.blob_exists(&layer).await.unwrap());
    let body = read_all(verified(repo.blob_get(&layer).await.unwrap(), &layer))
        .await
        .unwrap();
    assert!(layer.digest.matches(&body));

    // A fresh destination: checks, mount, then the blob is there.
    let dst = good
        .repository(&registry.reference("team/other"))
        .await
        .unwrap();
    assert!(!dst.blob_exists(&layer).await.unwrap());
    let mounted = dst.blob_mount(&layer, "team/app").await.unwrap();
    assert_eq!(mounted, dst.blob_exists(&layer).await.unwrap());
    assert!(
        mounted,
        "the mount token must cover pull on the source repository"
    );
    assert!(tokens.requests() > 0);

    // Wrong password: the token server's answer is reported, not a bare 401.
    let bad = client(plain_http_options(), Some("alice:wrong")).await;
    let repo = bad
        .repository(&registry.reference("team/app"))
        .await
        .unwrap();
    let err = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap_err();
    match &err {
        TransportError::Unauthorized {
            detail, searched, ..
        } => {
            assert!(detail.contains("invalid username or password"), "{detail}");
            assert_eq!(searched, "--creds (used)");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }

    // Anonymous: a token with no access, then 401 from the registry.
    let anonymous = client(plain_http_options(), None).await;
    let repo = anonymous
        .repository(&registry.reference("team/app"))
        .await
        .unwrap();
    let err = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Unauthorized { .. }),
        "{err:?}"
    );
}

/// A registry that trusts the test token server, whose first `failures` answers are 503s.
async fn token_registry(failures: usize) -> (TokenServer, Registry) {
    let tokens = TokenServer::start("alice", "s3cret", failures);
    let registry = Registry::start(RegistryConfig {
        token: Some((&tokens.realm, tokens.root_pem())),
        ..Default::default()
    });
    (tokens, registry)
}

/// A token server that answers 503 once: the token request is retried, the push goes on.
#[tokio::test]
async fn a_token_endpoint_failing_once_is_retried() {
    let (tokens, registry) = token_registry(1).await;
    let pusher = client(plain_http_options(), Some("alice:s3cret")).await;
    let repo = pusher
        .repository(&registry.reference("team/app"))
        .await
        .unwrap();
    let (manifest, _) = push_image(&repo, 16 * 1024).await;
    repo.manifest_put(&ManifestRef::Tag("v1".into()), &manifest)
        .await
        .unwrap();
    assert_eq!(
        tokens.requests(),
        2,
        "one failed token request, then one that worked"
    );
}

/// One token per repository and operation: a push (uploads, manifest, checks) needs one
/// pull,push token, which serves its reads too; a reader needs one pull token.
#[tokio::test]
async fn bearer_tokens_are_asked_for_once() {
    let (tokens, registry) = token_registry(0).await;

    let pusher = client(plain_http_options(), Some("alice:s3cret")).await;
    let repo = pusher
        .repository(&registry.reference("team/app"))
        .await
        .unwrap();
    let (manifest, layer) = push_image(&repo, 64 * 1024).await;
    repo.manifest_put(&ManifestRef::Tag("v1".into()), &manifest)
        .await
        .unwrap();
    assert!(repo.blob_exists(&layer).await.unwrap());
    repo.manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap();
    assert_eq!(tokens.requests(), 1);

    // Another process (a fresh client) reading the image: one pull token.
    let reader = client(plain_http_options(), Some("alice:s3cret")).await;
    let repo = reader
        .repository(&registry.reference("team/app"))
        .await
        .unwrap();
    let got = repo
        .manifest_get(&ManifestRef::Tag("v1".into()))
        .await
        .unwrap();
    let parsed = oci::ImageManifest::parse(&got.bytes).unwrap();
    manifest::transport::read_blob(&repo, &parsed.config, 1 << 20)
        .await
        .unwrap();
    assert!(repo.blob_exists(&layer).await.unwrap());
    assert_eq!(tokens.requests(), 2);
}
