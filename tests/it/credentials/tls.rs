//! TLS trust per host and client certificates. Through the library
//! (`manifest::transport::tls`) against real registries: the rustls configuration is plugged
//! into reqwest as the registry layer does (`use_preconfigured_tls`) and `GET /v2/` is sent
//! over it; verified TLS never falls back to plain HTTP; a broken client certificate is named.
//! Through the binary: `--cert-dir` with a client certificate, and the one-line self-signed
//! certificate.

use crate::support::certs;
use crate::support::client::{by_tag, client, fast_options, repository};
use crate::support::image::{write_image_layout, ImageSpec};
use crate::support::push::manifest_status;
use crate::support::registry::{Registry, RegistryConfig, ServerCert};
use crate::support::TestEnv;
use manifest::config::certs::CertDirs;
use manifest::model::reference::RegistryRef;
use manifest::transport::registry::RegistryOptions;
use manifest::transport::tls::failure::{TlsFailure, TlsFailureKind};
use manifest::transport::tls::{host_tls, HostTls};
use manifest::transport::{Transport, TransportError};
use predicates::prelude::*;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn cert_dir(dir: &Path) -> CertDirs {
    CertDirs {
        explicit: Some(dir.to_path_buf()),
        roots: vec![],
    }
}

/// `GET https://NAME:PORT/v2/` with `tls`, NAME resolving to the registry's address
/// (`127.0.0.1` when `name` is `None`).
fn get_v2(registry: &Registry, name: Option<&str>, tls: HostTls) -> Result<u16, reqwest::Error> {
    let addr: SocketAddr = registry.addr.parse().unwrap();
    let mut builder = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .use_preconfigured_tls(tls.config);
    let host = match name {
        Some(name) => {
            builder = builder.resolve(name, addr);
            format!("{name}:{}", addr.port())
        }
        None => registry.addr.clone(),
    };
    let client = builder.build().expect("reqwest takes the rustls config");
    client
        .get(format!("https://{host}/v2/"))
        .send()
        .map(|r| r.status().as_u16())
}

/// The request must fail in the TLS layer; returns the explained failure.
fn tls_failure(
    registry: &Registry,
    name: Option<&str>,
    dirs: &CertDirs,
    verify: bool,
) -> TlsFailure {
    let tls = host_tls(dirs, &registry.addr, verify).unwrap();
    let certs = dirs.load(&registry.addr).unwrap();
    let err = match get_v2(registry, name, tls) {
        Ok(status) => panic!("expected a TLS failure, got HTTP {status}"),
        Err(e) => e,
    };
    TlsFailure::explain(&err, &certs).unwrap_or_else(|| panic!("not a TLS error: {err:?}"))
}

fn one_line_registry() -> Registry {
    Registry::start(RegistryConfig {
        tls: true,
        server_cert: ServerCert::OneLineSelfSigned,
        ..Default::default()
    })
}

fn client_ca_registry() -> Registry {
    Registry::start(RegistryConfig {
        tls: true,
        client_ca: true,
        ..Default::default()
    })
}

#[test]
fn the_one_line_self_signed_certificate_works_from_the_cert_dir_and_from_certs_d() {
    let registry = one_line_registry();
    let ca_dir = registry.ca_dir.clone().unwrap();
    let tls = host_tls(&cert_dir(&ca_dir), &registry.addr, true).unwrap();
    assert_eq!(get_v2(&registry, None, tls).unwrap(), 200);

    // The same certificate found by the per-host lookup (certs.d/HOST:PORT/ca.crt).
    let tmp = tempfile::tempdir().unwrap();
    let host_dir = tmp.path().join(&registry.addr);
    fs::create_dir_all(&host_dir).unwrap();
    fs::copy(ca_dir.join("ca.crt"), host_dir.join("ca.crt")).unwrap();
    let dirs = CertDirs {
        explicit: None,
        roots: vec![tmp.path().join("nothing-here"), tmp.path().to_path_buf()],
    };
    let tls = host_tls(&dirs, &registry.addr, true).unwrap();
    assert_eq!(tls.certs.dir.as_deref(), Some(host_dir.as_path()));
    assert_eq!(get_v2(&registry, None, tls).unwrap(), 200);
}

#[test]
fn the_one_line_certificate_still_has_its_name_checked() {
    let registry = one_line_registry();
    let dirs = cert_dir(registry.ca_dir.as_deref().unwrap());
    // The certificate names only IP:127.0.0.1.
    let failure = tls_failure(&registry, Some("localhost"), &dirs, true);
    assert_eq!(failure.kind, TlsFailureKind::WrongName, "{failure}");
    assert!(failure.to_string().contains("not valid for"), "{failure}");
}

#[test]
fn another_self_signed_certificate_with_the_same_name_is_refused() {
    let registry = one_line_registry();
    let tmp = tempfile::tempdir().unwrap();
    let other = certs::one_line_self_signed(tmp.path());
    assert_ne!(other.ca_pem, registry.ca_pem.clone().unwrap());
    let failure = tls_failure(&registry, None, &cert_dir(&other.ca_dir), true);
    assert_eq!(failure.kind, TlsFailureKind::UnknownAuthority, "{failure}");
    let text = failure.to_string();
    assert!(
        text.contains("x509: certificate signed by unknown authority"),
        "{text}"
    );
    assert!(text.contains(&other.ca_dir.display().to_string()), "{text}");
}

#[test]
fn a_ca_signed_certificate_verifies_with_its_ca_and_fails_with_a_wrong_one() {
    let registry = Registry::start(RegistryConfig {
        tls: true,
        ..Default::default()
    });
    let dirs = cert_dir(registry.ca_dir.as_deref().unwrap());
    let tls = host_tls(&dirs, &registry.addr, true).unwrap();
    assert_eq!(get_v2(&registry, None, tls).unwrap(), 200);
    let tls = host_tls(&dirs, &registry.addr, true).unwrap();
    assert_eq!(get_v2(&registry, Some("localhost"), tls).unwrap(), 200);
    let failure = tls_failure(&registry, Some("wrong.test"), &dirs, true);
    assert_eq!(failure.kind, TlsFailureKind::WrongName, "{failure}");

    let tmp = tempfile::tempdir().unwrap();
    let wrong = certs::ca_signed_server(tmp.path());
    let failure = tls_failure(&registry, None, &cert_dir(&wrong.ca_dir), true);
    assert_eq!(failure.kind, TlsFailureKind::UnknownAuthority, "{failure}");

    // No certs.d directory at all: the system roots do not know the test CA either.
    let none = CertDirs {
        explicit: None,
        roots: vec![tmp.path().join("empty")],
    };
    let failure = tls_failure(&registry, None, &none, true);
    assert_eq!(failure.kind, TlsFailureKind::UnknownAuthority, "{failure}");
    let expected_dir = tmp.path().join("empty").join(&registry.addr);
    assert!(
        failure
            .to_string()
            .contains(&expected_dir.display().to_string()),
        "{failure}"
    );
}

#[test]
fn a_client_certificate_registry_works_with_cert_and_key_and_fails_clearly_without() {
    let registry = client_ca_registry();
    let with_identity = cert_dir(registry.client_cert_dir.as_deref().unwrap());
    let tls = host_tls(&with_identity, &registry.addr, true).unwrap();
    assert_eq!(tls.certs.identities.len(), 1);
    assert_eq!(get_v2(&registry, None, tls).unwrap(), 200);

    // Only the server's CA: the registry wants a certificate and none is offered.
    let ca_only = cert_dir(registry.ca_dir.as_deref().unwrap());
    let failure = tls_failure(&registry, None, &ca_only, true);
    assert_eq!(
        failure.kind,
        TlsFailureKind::ClientCertificateRequired,
        "{failure}"
    );
    let text = failure.to_string();
    assert!(
        text.contains("requires a client certificate and none was found"),
        "{text}"
    );
    assert!(text.contains("NAME.cert + NAME.key"), "{text}");

    // A client certificate from a CA the registry does not trust.
    let tmp = tempfile::tempdir().unwrap();
    fs::copy(
        registry.ca_dir.as_ref().unwrap().join("ca.crt"),
        tmp.path().join("ca.crt"),
    )
    .unwrap();
    certs::write_stray_client_identity(tmp.path(), "client");
    let failure = tls_failure(&registry, None, &cert_dir(tmp.path()), true);
    assert_eq!(
        failure.kind,
        TlsFailureKind::ClientCertificateRefused,
        "{failure}"
    );
    assert!(failure.to_string().contains("client.cert"), "{failure}");
}

#[test]
fn the_client_certificate_from_the_ca_the_registry_names_is_offered() {
    let registry = client_ca_registry();
    let tmp = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(registry.client_cert_dir.as_ref().unwrap()).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    // Read first (name order), but not from the CA the registry asks for.
    certs::write_stray_client_identity(tmp.path(), "a-other");
    let tls = host_tls(&cert_dir(tmp.path()), &registry.addr, true).unwrap();
    let offered: Vec<PathBuf> = tls
        .certs
        .identities
        .iter()
        .map(|i| i.cert_path.clone())
        .collect();
    assert_eq!(
        offered,
        [
            tmp.path().join("a-other.cert"),
            tmp.path().join("client.cert")
        ]
    );
    assert_eq!(get_v2(&registry, None, tls).unwrap(), 200);
}

#[test]
fn verification_off_accepts_any_certificate_and_still_offers_the_client_certificate() {
    let registry = client_ca_registry();
    // The client certificate and key only: nothing to verify the server with.
    let tmp = tempfile::tempdir().unwrap();
    for name in ["client.cert", "client.key"] {
        let from = registry.client_cert_dir.as_ref().unwrap().join(name);
        fs::copy(from, tmp.path().join(name)).unwrap();
    }
    let dirs = cert_dir(tmp.path());
    let failure = tls_failure(&registry, None, &dirs, true);
    assert_eq!(failure.kind, TlsFailureKind::UnknownAuthority, "{failure}");
    let tls = host_tls(&dirs, &registry.addr, false).unwrap();
    assert!(!tls.verify);
    assert_eq!(get_v2(&registry, None, tls).unwrap(), 200);

    let self_signed = one_line_registry();
    let nothing = CertDirs::default();
    let tls = host_tls(&nothing, &self_signed.addr, false).unwrap();
    assert_eq!(get_v2(&self_signed, Some("wrong.test"), tls).unwrap(), 200);
}

#[tokio::test]
async fn verified_tls_refuses_a_plain_http_registry() {
    let registry = Registry::plain();
    // tls_verify defaults to true: no fallback to HTTP, not even on 127.0.0.1.
    let client = client(fast_options(), None).await;
    let repo = repository(&client, &registry, "app").await;
    let err = repo.manifest_get(&by_tag("v1")).await.unwrap_err();
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

/// List `l` with one small image of `platform`, added from an OCI layout.
fn list_of_one_layout_image(env: &TestEnv, platform: &str, seed: u64) {
    let image = env.path("img");
    write_image_layout(&image, &ImageSpec::new(platform, 1, 4096, seed), "latest");
    env.run(&["create", "l"]);
    env.run(&["add", "l", &format!("oci:{}", image.display())]);
}

/// `push --cert-dir DIR l` to `reference` on `registry`.
fn push_with_cert_dir(
    env: &TestEnv,
    cert_dir: &Path,
    registry: &Registry,
    reference: &str,
) -> assert_cmd::assert::Assert {
    env.cmd()
        .args(["push", "--cert-dir", cert_dir.to_str().unwrap(), "l"])
        .arg(registry.docker_ref(reference))
        .assert()
}

#[test]
fn a_registry_that_requires_a_client_certificate() {
    let env = TestEnv::new();
    let registry = Registry::start(RegistryConfig {
        tls: true,
        client_ca: true,
        ..Default::default()
    });
    list_of_one_layout_image(&env, "linux/arm64", 5);
    let with_identity = registry.client_cert_dir.clone().unwrap();
    push_with_cert_dir(&env, &with_identity, &registry, "app/x:v1").success();
    assert_eq!(manifest_status(&registry, "app/x", "v1"), 200);
    let ca_only = registry.ca_dir.clone().unwrap();
    push_with_cert_dir(&env, &ca_only, &registry, "app/x:v2")
        .failure()
        .stderr(predicate::str::contains("requires a client certificate"));
}

#[test]
fn the_one_line_self_signed_certificate_from_cert_dir() {
    let env = TestEnv::new();
    let registry = Registry::start(RegistryConfig {
        tls: true,
        server_cert: ServerCert::OneLineSelfSigned,
        ..Default::default()
    });
    let impostor = Registry::start(RegistryConfig {
        tls: true,
        server_cert: ServerCert::OneLineSelfSigned,
        ..Default::default()
    });
    list_of_one_layout_image(&env, "linux/amd64", 6);
    let own = registry.ca_dir.clone().unwrap();
    push_with_cert_dir(&env, &own, &registry, "app/x:v1").success();
    assert_eq!(manifest_status(&registry, "app/x", "v1"), 200);
    // Another self-signed certificate for the same address is not the one trusted.
    push_with_cert_dir(&env, &own, &impostor, "app/x:v1")
        .failure()
        .stderr(predicate::str::contains("x509"));
}
