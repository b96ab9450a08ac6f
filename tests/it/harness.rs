//! Proves the test harness itself works: registries start and stop, image layouts are
//! deterministic and valid, the independent uploader round-trips through a real registry.

use crate::support::image::{self, ImageSpec};
use crate::support::push;
use crate::support::registry::ServerCert;
use crate::support::{Registry, RegistryConfig};

fn spec(platform: &str, layers: usize, size: usize, seed: u64) -> ImageSpec {
    ImageSpec::new(platform, layers, size, seed)
}

#[test]
fn plain_registry_push_and_read_back() {
    let reg = Registry::plain();
    assert!(reg.url().starts_with("http://127.0.0.1:"));
    assert!(reg.ca_dir.is_none() && reg.user.is_none());

    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let built = image::write_image_layout(&layout, &spec("linux/amd64", 3, 64 * 1024, 7), "v1");
    assert_eq!(built.layer_digests.len(), 3);

    let pushed = push::push_layout_image(&layout, "v1", &reg, "harness/app", "v1");
    assert_eq!(pushed, built.manifest_digest);

    let (bytes, content_type, dcd) = push::get_manifest(&reg, "harness/app", "v1");
    assert_eq!(dcd.as_deref(), Some(built.manifest_digest.as_str()));
    assert_eq!(bytes, built.manifest_bytes);
    assert_eq!(content_type.as_deref(), Some(image::OCI_MANIFEST));
    assert_eq!(image::sha256_digest(&bytes), built.manifest_digest);

    for d in built
        .layer_digests
        .iter()
        .chain(std::iter::once(&built.config_digest))
    {
        let blob = push::get_blob(&reg, "harness/app", d);
        assert_eq!(image::sha256_digest(&blob), *d);
        assert_eq!(blob, image::read_blob(&layout, d));
    }
    assert_eq!(push::list_tags(&reg, "harness/app"), vec!["v1".to_string()]);
    assert_eq!(push::manifest_status(&reg, "harness/app", "nope"), 404);

    // Pushing again skips every blob the registry already has (HEAD 200, no new upload).
    let uploads_before = count_uploads(&reg);
    push::push_layout_image(&layout, "v1", &reg, "harness/app", "v1-again");
    assert_eq!(count_uploads(&reg), uploads_before);

    let log = reg.access_log();
    assert!(
        log.iter().any(|e| e.method == "PUT"
            && e.uri == "/v2/harness/app/manifests/v1"
            && e.status == 201),
        "access log: {log:?}"
    );
}

fn count_uploads(reg: &Registry) -> usize {
    reg.access_log()
        .iter()
        .filter(|e| e.method == "POST" && e.uri.contains("/blobs/uploads/"))
        .count()
}

#[test]
fn tls_htpasswd_registry_requires_auth() {
    let reg = Registry::start(RegistryConfig {
        tls: true,
        htpasswd: Some(("alice", "s3cret pass")),
        ..Default::default()
    });
    assert!(reg.url().starts_with("https://127.0.0.1:"));
    let ca_dir = reg.ca_dir.clone().expect("ca_dir with TLS");
    let files: Vec<_> = std::fs::read_dir(&ca_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files, vec!["ca.crt".to_string()]);

    assert_eq!(push::v2_status(&reg, false), 401);
    assert_eq!(push::v2_status(&reg, true), 200);

    // A wrong password is refused too.
    let client = push::client(&reg);
    let url = format!("{}/v2/", reg.url());
    assert_eq!(
        push::status_of(&client, &url, Some(("alice", "wrong"))),
        Ok(401)
    );
    // The certificate is for "localhost" as well as 127.0.0.1.
    let port = reg.addr.rsplit(':').next().unwrap();
    assert_eq!(
        push::status_of(
            &client,
            &format!("https://localhost:{port}/v2/"),
            Some(("alice", "s3cret pass"))
        ),
        Ok(200)
    );
    // Without the test CA the TLS handshake fails.
    let untrusting = push::client_for(None);
    assert!(push::status_of(&untrusting, &url, None).is_err());

    // The uploader authenticates and trusts the CA.
    let tmp = tempfile::tempdir().unwrap();
    let built = image::write_image_layout(tmp.path(), &spec("linux/arm64/v8", 1, 1024, 3), "x");
    push::push_layout_image(tmp.path(), "x", &reg, "secure/app", "x");
    let (_, _, dcd) = push::get_manifest(&reg, "secure/app", "x");
    assert_eq!(dcd, Some(built.manifest_digest));

    // auth.json helper: {"auths":{"127.0.0.1:PORT":{"auth":"YWxpY2U6czNjcmV0IHBhc3M="}}}
    let auth = tmp.path().join("auth.json");
    reg.write_auth_json(&auth);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&auth).unwrap()).unwrap();
    assert_eq!(v["auths"][&reg.addr]["auth"], "YWxpY2U6czNjcmV0IHBhc3M=");
}

#[test]
fn image_layouts_are_deterministic() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let s = spec("linux/arm/v7", 2, 100_003, 42);
    let x = image::write_image_layout(a.path(), &s, "r");
    let y = image::write_image_layout(b.path(), &s, "r");
    assert_eq!(x, y);
    assert_eq!(
        crate::support::store_snapshot(a.path()),
        crate::support::store_snapshot(b.path())
    );

    // Incompressible: the gzip blob is no smaller than the content.
    assert!(x.total_layer_bytes >= 2 * 100_003);

    // The config carries the platform and the diff_ids of the uncompressed tars.
    let config: serde_json::Value =
        serde_json::from_slice(&image::read_blob(a.path(), &x.config_digest)).unwrap();
    assert_eq!(config["architecture"], "arm");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["variant"], "v7");
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    for (i, layer) in x.layer_digests.iter().enumerate() {
        let gz = image::read_blob(a.path(), layer);
        let mut tar_bytes = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut tar_bytes)
            .unwrap();
        assert_eq!(diff_ids[i], image::sha256_digest(&tar_bytes));
        let mut ar = tar::Archive::new(&tar_bytes[..]);
        let entries: Vec<_> = ar.entries().unwrap().map(|e| e.unwrap().size()).collect();
        assert_eq!(entries, vec![100_003]);
    }

    // Another seed gives other layers; the same ref name is replaced, a new one is added.
    let z = image::write_image_layout(a.path(), &spec("linux/arm/v7", 2, 100_003, 43), "r");
    assert_ne!(z.layer_digests, x.layer_digests);
    image::write_image_layout(a.path(), &spec("linux/amd64", 1, 10, 1), "other");
    let index = image::read_index_json(a.path());
    let refs: Vec<_> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["annotations"][image::REF_NAME_ANNOTATION]
                    .as_str()
                    .unwrap()
                    .to_string(),
                d["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(refs[0], ("r".to_string(), z.manifest_digest.clone()));
    assert_eq!(refs.len(), 2);
    assert_eq!(refs[1].0, "other");
}

#[test]
fn index_layout_pushes_children_first() {
    let reg = Registry::plain();
    let tmp = tempfile::tempdir().unwrap();
    let specs = crate::support::five_platforms();
    let (index_digest, images) = image::write_index_layout(tmp.path(), &specs, "multi");
    assert_eq!(images.len(), 5);
    let index: serde_json::Value =
        serde_json::from_slice(&image::read_blob(tmp.path(), &index_digest)).unwrap();
    assert_eq!(index["mediaType"], image::OCI_INDEX);
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let p = &d["platform"];
            let mut s = format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            );
            if let Some(v) = p["variant"].as_str() {
                s = format!("{s}/{v}");
            }
            s
        })
        .collect();
    assert_eq!(
        platforms,
        [
            "linux/amd64",
            "linux/arm64/v8",
            "linux/arm/v7",
            "linux/ppc64le",
            "linux/s390x"
        ]
    );

    let pushed = push::push_layout_image(tmp.path(), "multi", &reg, "multi/app", "all");
    assert_eq!(pushed, index_digest);
    let (_, ct, dcd) = push::get_manifest(&reg, "multi/app", "all");
    assert_eq!(ct.as_deref(), Some(image::OCI_INDEX));
    assert_eq!(dcd.as_deref(), Some(index_digest.as_str()));
    for img in &images {
        assert_eq!(
            push::manifest_status(&reg, "multi/app", &img.manifest_digest),
            200
        );
    }
}

#[tokio::test]
async fn helpers_work_inside_a_tokio_runtime() {
    let reg = Registry::plain();
    assert_eq!(push::v2_status(&reg, false), 200);
    let digest = push::push_blob(&reg, "rt/blob", b"hello");
    assert_eq!(push::get_blob(&reg, "rt/blob", &digest), b"hello");
}

#[test]
fn manifest_cmd_isolates_the_environment() {
    let env = crate::support::TestEnv::new();
    assert!(env.home().is_dir());
    assert_eq!(env.home(), env.tmp.path().join("store.home"));
    assert!(crate::support::store_snapshot(&env.store).is_empty());
    let cmd = env.cmd();
    let envs: std::collections::HashMap<_, _> = cmd
        .get_envs()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.map(|v| v.to_owned())))
        .collect();
    assert_eq!(
        envs["MANIFEST_STORE"].as_deref(),
        Some(env.store.as_os_str())
    );
    assert_eq!(envs["REGISTRY_AUTH_FILE"], None);
    assert_eq!(envs["HOME"].as_deref(), Some(env.home().as_os_str()));
    assert!(envs["DOCKER_CONFIG"]
        .as_deref()
        .unwrap()
        .to_string_lossy()
        .starts_with(&*env.home().to_string_lossy()));
}

/// A 64 MiB layer is written and uploaded streaming (run with `--ignored`; a few seconds in an
/// unoptimised build).
#[test]
#[ignore = "slow in unoptimised builds"]
fn big_layer_streams_through() {
    let reg = Registry::plain();
    let tmp = tempfile::tempdir().unwrap();
    let built = image::write_image_layout(tmp.path(), &spec("linux/amd64", 1, 64 << 20, 9), "big");
    assert!(built.total_layer_bytes > 64 << 20);
    push::push_layout_image(tmp.path(), "big", &reg, "big/app", "v1");
    assert_eq!(
        push::blob_status(&reg, "big/app", &built.layer_digests[0]),
        200
    );
}

#[test]
fn one_line_client_certificate_registry_serves_the_harness_client() {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    use x509_cert::der::Decode;
    use x509_cert::ext::pkix::BasicConstraints;
    let reg = Registry::start(RegistryConfig {
        tls: true,
        client_ca: true,
        server_cert: ServerCert::OneLineSelfSigned,
        ..Default::default()
    });
    // The real openssl recipe marks the certificate CA:TRUE, which is the point of the mode.
    let pem = reg.ca_pem.clone().unwrap();
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    let cert = x509_cert::Certificate::from_der(&der).unwrap();
    let (_, constraints) = cert
        .tbs_certificate()
        .get_extension::<BasicConstraints>()
        .unwrap()
        .expect("basic constraints");
    assert!(
        constraints.ca,
        "openssl req -x509 makes a CA:TRUE certificate"
    );

    let cert_dir = reg
        .client_cert_dir
        .clone()
        .expect("client_cert_dir with client_ca");
    let mut files: Vec<_> = std::fs::read_dir(&cert_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["ca.crt", "client.cert", "client.key"]);

    // The harness's own client offers the client certificate, so it can seed the registry.
    assert_eq!(push::v2_status(&reg, false), 200);
    let tmp = tempfile::tempdir().unwrap();
    let built = image::write_image_layout(tmp.path(), &spec("linux/amd64", 1, 1024, 5), "x");
    push::push_layout_image(tmp.path(), "x", &reg, "mtls/app", "x");
    let (_, _, digest) = push::get_manifest(&reg, "mtls/app", "x");
    assert_eq!(digest, Some(built.manifest_digest));
    // Without a client certificate the handshake fails.
    let url = format!("{}/v2/", reg.url());
    let anonymous = push::client_with(push::ClientTls {
        accept_any_certificate: true,
        ..push::ClientTls::default()
    });
    assert!(push::status_of(&anonymous, &url, None).is_err());
}
