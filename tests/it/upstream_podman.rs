//! podman's manifest tests (`test/system/012-manifest.bats`, v5.8.2 and main), one test each,
//! with the same command lines and outcomes. Errors exit 1 here, as in sealos (podman: 125).

use crate::support::buildah::skopeo_inspect_raw;
use crate::support::local::Local;
use crate::support::registry::{Registry, RegistryConfig};
use crate::support::TestEnv;
use predicates::prelude::*;
use serde_json::Value;

const DOCKER_LIST: &str =
    "\"mediaType\": \"application/vnd.docker.distribution.manifest.list.v2+json\"";

/// Mirrors `podman images - bare manifest list` (its `podman images` line is not a manifest
/// command; `podman rmi` of the list is `manifest rm` here).
#[test]
fn podman_images_bare_manifest_list() {
    let env = TestEnv::new();
    let mname = "m-bare:1.0";
    let mid = env.run(&["create", mname]);
    let mid = mid.trim();
    for verbose in ["--verbose", "-v"] {
        let inspected = env.run(&["inspect", verbose, mid]);
        assert!(inspected.contains(DOCKER_LIST), "{verbose}: {inspected}");
    }
    env.run(&["rm", mname]);
}

/// Mirrors `podman manifest --tls-verify and --authfile`: a TLS registry with htpasswd auth
/// whose CA the tool does not know.
#[test]
fn podman_manifest_tls_verify_and_authfile() {
    let env = TestEnv::new();
    let registry = Registry::start(RegistryConfig {
        tls: true,
        htpasswd: Some(("podman-user", "podman-pass")),
        ..Default::default()
    });
    let authfile = env.path("auth-manifest.json");
    registry.write_auth_json(&authfile);
    let authfile = authfile.to_str().unwrap();
    let manifest1 = registry.image("m-tls:1.0");

    let auth_flag = format!("--authfile={authfile}");
    let mid = env.run(&["create", &manifest1]);
    env.run(&[
        "push",
        &auth_flag,
        "--tls-verify=false",
        mid.trim(),
        &manifest1,
    ]);
    env.run(&["rm", &manifest1]);
    env.cmd()
        .args(["rm", &manifest1])
        .assert()
        .code(1)
        .stderr(format!("Error: {manifest1}: image not known\n"));
    env.cmd()
        .args(["rm", "--ignore", &manifest1])
        .assert()
        .success()
        .stdout("")
        .stderr("");

    // Default is to require TLS; also the explicit spellings. podman's words come first:
    // `reading image "docker://M": pinging container registry HOST:.*x509`.
    let host = manifest1.split('/').next().unwrap();
    let pinging = format!(
        "Error: reading image \"docker://{manifest1}\": pinging container registry {host}:"
    );
    for opt in [
        "",
        "--insecure=false",
        "--tls-verify=true",
        auth_flag.as_str(),
    ] {
        env.cmd()
            .arg("inspect")
            .args(Some(opt).filter(|o| !o.is_empty()))
            .arg(&manifest1)
            .assert()
            .code(1)
            .stderr(predicate::function(|stderr: &str| {
                stderr
                    .strip_prefix(pinging.as_str())
                    .is_some_and(|rest| rest.contains("x509"))
            }));
    }

    for opts in [
        vec![auth_flag.as_str(), "--tls-verify=false"],
        vec![auth_flag.as_str(), "--insecure"],
    ] {
        let inspected = env.run(&[&["inspect"][..], &opts, &[manifest1.as_str()]].concat());
        assert!(inspected.contains(DOCKER_LIST), "{opts:?}: {inspected}");
    }
    let out = env
        .cmd()
        .env("REGISTRY_AUTH_FILE", authfile)
        .args(["inspect", "--tls-verify=false", &manifest1])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(out).unwrap().contains(DOCKER_LIST));
}

/// Mirrors `manifest list --add-compression with zstd:chunked` without `--add-compression
/// zstd:chunked` (not supported; the README says why): two images built for amd64 and arm64
/// into containers-storage (`buildah build` for `podman build`), added as
/// `containers-storage:localhost/NAME:latest`, pushed `--all --compression-format gzip`; skopeo's
/// view of the pushed index has the two gzip instances, and `manifest inspect` of it agrees
/// with skopeo field by field.
#[test]
fn manifest_list_add_compression_with_zstd_chunked() {
    let local = Local::new("vfs");
    let registry = Registry::start(RegistryConfig {
        tls: true,
        htpasswd: Some(("podman-user", "podman-pass")),
        ..Default::default()
    });
    let authfile = local.env.path("auth-manifest.json");
    registry.write_auth_json(&authfile);
    let auth_flag = format!("--authfile={}", authfile.display());
    let context = local.env.path("context");
    std::fs::create_dir_all(&context).unwrap();
    let dockerfile = context.join("Dockerfile");
    std::fs::write(
        &dockerfile,
        "FROM scratch\nARG TARGETARCH\nCOPY Dockerfile /i-am-${TARGETARCH}\n",
    )
    .unwrap();

    let img = "i-compression";
    let manifestlocal = "m-compression:1.0";
    local.run(&["create", manifestlocal]);
    for arch in ["amd", "arm"] {
        local.buildah.run(&[
            "build",
            "-q",
            "--layers=false",
            "-t",
            &format!("{img}-{arch}"),
            "--platform",
            &format!("linux/{arch}64"),
            "-f",
            dockerfile.to_str().unwrap(),
            context.to_str().unwrap(),
        ]);
        let image = format!("containers-storage:localhost/{img}-{arch}:latest");
        local.run(&["add", manifestlocal, &image]);
    }
    let manifestpushed = registry.image(manifestlocal);
    local.run(&[
        "push",
        &auth_flag,
        "--all",
        "--compression-format",
        "gzip",
        "--tls-verify=false",
        manifestlocal,
        &manifestpushed,
    ]);

    let smanifest: Value = serde_json::from_slice(&skopeo_inspect_raw(
        &format!("docker://{manifestpushed}"),
        &authfile,
    ))
    .unwrap();
    for (n, arch) in ["amd64", "arm64"].iter().enumerate() {
        let instance = &smanifest["manifests"][n];
        assert_eq!(instance["annotations"], Value::Null, "gzip: {smanifest}");
        assert_eq!(instance["platform"]["architecture"], *arch, "{smanifest}");
    }
    let pmanifest: Value = serde_json::from_str(&local.run(&[
        "inspect",
        &auth_flag,
        "--tls-verify=false",
        &manifestpushed,
    ]))
    .unwrap();
    let mut objects = vec!["/schemaVersion".to_string(), "/mediaType".to_string()];
    for n in 0..2 {
        for field in [
            "annotations",
            "digest",
            "platform/architecture",
            "platform/os",
            "mediaType",
            "size",
        ] {
            objects.push(format!("/manifests/{n}/{field}"));
        }
    }
    for object in objects {
        assert_eq!(
            pmanifest.pointer(&object),
            smanifest.pointer(&object),
            "manifest inspect and skopeo differ at {object}"
        );
    }
    assert_eq!(smanifest["manifests"].as_array().unwrap().len(), 2);
}
