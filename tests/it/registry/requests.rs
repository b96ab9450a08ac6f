//! How many requests the registry transport makes, counted in the real registry's access log.
//!
//! The target is buildah's: adding a single-arch image costs one `GET /v2/` per registry per
//! process, then the manifest and the config; a push never pings between its requests.

use crate::support::client::{by_tag, client, repository};
use crate::support::registry::AccessLogEntry;
use crate::support::{push_layout_image, write_image_layout, ImageSpec, Registry, RegistryConfig};
use manifest::model::digest::Digest;
use manifest::model::oci::{Descriptor, ImageManifest};
use manifest::transport::registry::{RegistryOptions, RegistryTransport};
use manifest::transport::{read_blob, ManifestRef, Transport};

/// Pushes one linux/amd64 image to `repo:v1` with the harness's own client; returns its
/// manifest digest and blob digests (config first).
fn seed(registry: &Registry, repo: &str) -> (String, Vec<String>) {
    let layout = tempfile::tempdir().unwrap();
    let built = write_image_layout(
        layout.path(),
        &ImageSpec::new("linux/amd64", 2, 2048, 7),
        "v1",
    );
    push_layout_image(layout.path(), "v1", registry, repo, "v1");
    let mut blobs = vec![built.config_digest.clone()];
    blobs.extend(built.layer_digests.iter().cloned());
    (built.manifest_digest, blobs)
}

/// The access-log entries after the first `skip`, once every request answered so far is logged.
fn entries_after(registry: &Registry, skip: usize) -> Vec<AccessLogEntry> {
    registry
        .settled_access_log()
        .into_iter()
        .skip(skip)
        .collect()
}

fn pings(entries: &[AccessLogEntry]) -> usize {
    entries
        .iter()
        .filter(|e| e.method == "GET" && e.uri == "/v2/")
        .count()
}

fn show(entries: &[AccessLogEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("{} {} {}", e.method, e.uri, e.status))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What `manifest add` does with a single-arch image: the manifest by tag, then its config.
async fn add_like(repo: &RegistryTransport) {
    let manifest = repo.manifest_get(&by_tag("v1")).await.unwrap();
    let parsed = ImageManifest::parse(&manifest.bytes).unwrap();
    let config = read_blob(repo, &parsed.config, 1 << 20).await.unwrap();
    assert!(parsed.config.digest.matches(&config));
}

#[tokio::test]
async fn add_without_auth_is_ping_manifest_config() {
    let registry = Registry::plain();
    seed(&registry, "src/app");
    let skip = entries_after(&registry, 0).len();

    // --tls-verify=false: the HTTPS/HTTP probe is the one ping (HTTPS fails before HTTP, so the
    // failed attempt never reaches the access log).
    let options = RegistryOptions {
        tls_verify: Some(false),
        ..Default::default()
    };
    let client = client(options, None).await;
    let repo = repository(&client, &registry, "src/app").await;
    add_like(&repo).await;

    let entries = entries_after(&registry, skip);
    assert_eq!(
        entries.len(),
        3,
        "expected ping, manifest, config:\n{}",
        show(&entries)
    );
    assert_eq!(pings(&entries), 1, "{}", show(&entries));
    assert!(
        entries[1].uri.starts_with("/v2/src/app/manifests/v1"),
        "{}",
        show(&entries)
    );
    assert!(
        entries[2].uri.starts_with("/v2/src/app/blobs/sha256:"),
        "{}",
        show(&entries)
    );

    // Another repository of the same registry in the same process: no ping at all.
    seed(&registry, "src/other");
    let skip = entries_after(&registry, 0).len();
    let other = repository(&client, &registry, "src/other").await;
    add_like(&other).await;
    let entries = entries_after(&registry, skip);
    assert_eq!(entries.len(), 2, "{}", show(&entries));
    assert_eq!(pings(&entries), 0, "{}", show(&entries));
}

#[tokio::test]
async fn add_with_basic_auth_costs_at_most_four_requests() {
    let registry = Registry::start(RegistryConfig {
        tls: true,
        htpasswd: Some(("alice", "s3cret")),
        ..Default::default()
    });
    seed(&registry, "src/app");
    let skip = entries_after(&registry, 0).len();

    // Verified TLS: no probe; the auth discovery is the one ping.
    let options = RegistryOptions {
        cert_dir: registry.ca_dir.clone(),
        ..Default::default()
    };
    let client = client(options, Some(&registry.creds())).await;
    let repo = repository(&client, &registry, "src/app").await;
    add_like(&repo).await;

    let entries = entries_after(&registry, skip);
    assert!(entries.len() <= 4, "{}", show(&entries));
    assert_eq!(pings(&entries), 1, "{}", show(&entries));
    assert!(
        entries.iter().all(|e| e.uri == "/v2/" || e.status == 200),
        "no request is sent without credentials and refused:\n{}",
        show(&entries)
    );
}

/// A push checks blobs and writes manifests; on a registry without auth, and with Basic auth,
/// none of that pings the registry again.
#[tokio::test]
async fn a_push_does_not_ping_between_requests() {
    for htpasswd in [None, Some(("alice", "s3cret"))] {
        let registry = Registry::start(RegistryConfig {
            tls: false,
            htpasswd,
            ..Default::default()
        });
        let (digest, blobs) = seed(&registry, "src/app");
        let skip = entries_after(&registry, 0).len();

        let options = RegistryOptions {
            tls_verify: Some(false),
            ..Default::default()
        };
        let client = client(options, htpasswd.map(|_| registry.creds()).as_deref()).await;
        let repo = repository(&client, &registry, "src/app").await;
        // The manifest is already there by digest; tagging it again is a PUT like a push's last.
        let manifest = repo
            .manifest_get(&ManifestRef::Digest(Digest::parse(&digest).unwrap()))
            .await
            .unwrap();
        repo.manifest_put(&by_tag("v2"), &manifest).await.unwrap();
        for i in 0..10 {
            let digest = if i < blobs.len() {
                Digest::parse(&blobs[i]).unwrap()
            } else {
                Digest::sha256_of(format!("missing {i}").as_bytes())
            };
            let exists = repo
                .blob_exists(&Descriptor::new("application/octet-stream", digest, 1))
                .await
                .unwrap();
            assert_eq!(exists, i < blobs.len());
        }

        // A blob upload (POST + PATCH + PUT) and a mount: no ping between them either.
        let blob = bytes::Bytes::from_static(b"a new blob");
        let descriptor = Descriptor::new(
            "application/octet-stream",
            Digest::sha256_of(&blob),
            blob.len() as u64,
        );
        let stream: manifest::transport::BlobStream =
            Box::pin(futures_util::stream::iter([Ok(blob)]));
        repo.blob_put(&descriptor, stream).await.unwrap();
        let other = repository(&client, &registry, "src/other").await;
        assert!(other.blob_mount(&descriptor, "src/app").await.unwrap());

        let entries = entries_after(&registry, skip);
        assert_eq!(pings(&entries), 1, "{}", show(&entries));
        assert_eq!(
            entries.len(),
            1 + 2 + 10 + 3 + 1,
            "ping, GET + PUT manifest, 10 HEADs, POST + PATCH + PUT blob, POST mount:\n{}",
            show(&entries)
        );
    }
}
