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

/// upstream's `setup_file`: a TLS registry with htpasswd auth whose CA the tool does not know,
/// logged in to in `auth-manifest.json` (in `env`'s directory); the registry and that file.
fn login_registry(env: &TestEnv) -> (Registry, std::path::PathBuf) {
    let registry = Registry::start(RegistryConfig {
        tls: true,
        htpasswd: Some(("podman-user", "podman-pass")),
        ..Default::default()
    });
    let authfile = env.path("auth-manifest.json");
    registry.write_auth_json(&authfile);
    (registry, authfile)
}

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
    let (registry, authfile) = login_registry(&env);
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

/// Mirrors `manifest list --add-compression with zstd:chunked`: two images built for amd64 and
/// arm64 into containers-storage (`buildah build` for `podman build`), added as
/// `containers-storage:localhost/NAME:latest`, pushed `--all --compression-format gzip
/// --add-compression zstd:chunked`; skopeo sees the two gzip instances, then a zstd variant of
/// each (annotated `io.github.containers.compression.zstd: true`; written as plain zstd, see
/// docs/ci.md), and `manifest inspect` of the pushed index agrees with skopeo field by field.
#[test]
fn manifest_list_add_compression_with_zstd_chunked() {
    let local = Local::new("vfs");
    let (registry, authfile) = login_registry(&local.env);
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
        "--add-compression",
        "zstd:chunked",
        "--tls-verify=false",
        manifestlocal,
        &manifestpushed,
    ]);

    let smanifest: Value = serde_json::from_slice(&skopeo_inspect_raw(
        &format!("docker://{manifestpushed}"),
        &authfile,
    ))
    .unwrap();
    // validate_instance_compression INDEX MANIFEST ARCH COMPRESSION
    for (n, arch, compression) in [
        (0, "amd64", "gzip"),
        (1, "arm64", "gzip"),
        (2, "amd64", "zstd"),
        (3, "arm64", "zstd"),
    ] {
        let instance = &smanifest["manifests"][n];
        match compression {
            "gzip" => assert_eq!(instance["annotations"], Value::Null, "{n}: {smanifest}"),
            _ => assert_eq!(
                instance["annotations"]["io.github.containers.compression.zstd"], "true",
                "{n}: {smanifest}"
            ),
        }
        assert_eq!(instance["platform"]["architecture"], arch, "{smanifest}");
    }
    let pmanifest: Value = serde_json::from_str(&local.run(&[
        "inspect",
        &auth_flag,
        "--tls-verify=false",
        &manifestpushed,
    ]))
    .unwrap();
    let mut objects = vec!["/schemaVersion".to_string(), "/mediaType".to_string()];
    for n in 0..4 {
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
    assert_eq!(smanifest["manifests"].as_array().unwrap().len(), 4);
}

/// The flags of one `manifestListAddArtifactOnce` run (bats variables keep their last value
/// after each loop, so the runs are cumulative, as upstream's are).
#[derive(Clone, Default)]
struct ArtifactFlags {
    list: &'static str,
    platform: &'static str,
    artifact_type: &'static str,
    layer_type: &'static str,
    config_type: &'static str,
    config: String,
    title: &'static str,
}

fn words(flags: &str) -> Vec<String> {
    flags.split_whitespace().map(str::to_string).collect()
}

/// One `manifestListAddArtifactOnce`: a list of two artifacts (`listed.txt`, `zeroes`) pushed
/// with one argument (podman tags the list `localhost:PORT/LIST` and pushes that name; here the
/// list has that name), then the pushed index and each artifact checked with skopeo.
fn add_artifact_once(
    local: &Local,
    registry: &Registry,
    authfile: &std::path::Path,
    f: &ArtifactFlags,
) {
    let list = registry.image("m-artifact:1.0");
    let tmp = local.env.path("podman-tmp");
    let mut create = vec!["create".to_string()];
    create.extend(words(f.list));
    create.push(list.clone());
    local.run(&create.iter().map(String::as_str).collect::<Vec<_>>());
    for file in ["listed.txt", "zeroes"] {
        let mut add = vec!["add".to_string(), list.clone()];
        add.extend(words(f.platform));
        add.push("--artifact".into());
        for flag in [
            f.artifact_type,
            f.layer_type,
            f.config_type,
            &f.config,
            f.title,
        ] {
            add.extend(words(flag));
        }
        add.push(tmp.join(file).display().to_string());
        local.run(&add.iter().map(String::as_str).collect::<Vec<_>>());
    }
    local.run(&["inspect", &list]);
    let auth_flag = format!("--authfile={}", authfile.display());
    local.run(&["push", &auth_flag, "--tls-verify=false", &list]);
    let index: Value =
        serde_json::from_slice(&skopeo_inspect_raw(&format!("docker://{list}"), authfile)).unwrap();
    let context = format!(
        "{:?}",
        [
            f.list,
            f.platform,
            f.artifact_type,
            f.layer_type,
            f.config_type,
            &f.config,
            f.title
        ]
    );
    if !f.list.is_empty() {
        assert_eq!(index["annotations"]["global"], "local", "{context}");
    }
    if !f.platform.is_empty() {
        assert_eq!(
            index["manifests"][1]["platform"]["os"], "linux",
            "{context}"
        );
        assert_eq!(
            index["manifests"][1]["platform"]["architecture"], "amd64",
            "{context}"
        );
    }
    let requested_type = f.artifact_type.trim_start_matches("--artifact-type=");
    let type_or_empty = |value: &Value| value.as_str().unwrap_or_default().to_string();
    if !f.artifact_type.is_empty() {
        for n in 0..2 {
            let actual = type_or_empty(&index["manifests"][n]["artifactType"]);
            assert_eq!(actual, requested_type, "{context}");
        }
    }
    let repository = list.rsplit_once(':').unwrap().0;
    for (n, (title, default_type)) in [
        ("listed.txt", "text/plain"),
        ("zeroes", "application/octet-stream"),
    ]
    .into_iter()
    .enumerate()
    {
        let digest = index["manifests"][n]["digest"].as_str().unwrap();
        let artifact: Value = serde_json::from_slice(&skopeo_inspect_raw(
            &format!("docker://{repository}@{digest}"),
            authfile,
        ))
        .unwrap();
        let actual = type_or_empty(&artifact["artifactType"]);
        if !f.artifact_type.is_empty() {
            assert_eq!(actual, requested_type, "{context}: .artifactType");
        } else {
            assert_eq!(actual, "application/vnd.unknown.artifact.v1", "{context}");
        }
        let layer_type = f.layer_type.trim_start_matches("--artifact-layer-type=");
        let expected = if layer_type.is_empty() {
            default_type
        } else {
            layer_type
        };
        assert_eq!(
            artifact["layers"][0]["mediaType"], expected,
            "{context}: layer0.mediaType"
        );
        let requested = f.config_type.trim_start_matches("--artifact-config-type=");
        let config = f.config.trim_start_matches("--artifact-config=");
        let expected = if !requested.is_empty() {
            requested
        } else if config.is_empty() || std::fs::metadata(config).unwrap().len() == 0 {
            "application/vnd.oci.empty.v1+json"
        } else {
            "application/vnd.oci.image.config.v1+json"
        };
        assert_eq!(
            artifact["config"]["mediaType"], expected,
            "{context}: .config.mediaType"
        );
        let imgtitle = &artifact["layers"][0]["annotations"]["org.opencontainers.image.title"];
        if f.title.is_empty() {
            assert_eq!(imgtitle, title, "{context}: .image.title");
        } else {
            assert_eq!(imgtitle, &Value::Null, "{context}: .image.title");
        }
    }
    local.run(&["rm", &list]);
}

/// Mirrors `manifest list --add --artifact`: every flag of `add --artifact`, one at a time and
/// cumulatively, against a TLS registry with htpasswd auth (`podman rmi` of the list is
/// `manifest rm`).
#[test]
fn manifest_list_add_artifact() {
    let local = Local::new("vfs");
    let (registry, authfile) = login_registry(&local.env);
    let tmp = local.env.path("podman-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::File::create(tmp.join("zeroes"))
        .unwrap()
        .set_len(20 << 20)
        .unwrap();
    std::fs::write(tmp.join("listed.txt"), "oh yeah\n").unwrap();
    let minimum_config = tmp.join("minimum-config.json");
    std::fs::write(&minimum_config, "{}\n").unwrap();

    let mut f = ArtifactFlags::default();
    for list in ["", "--annotation global=local"] {
        f.list = list;
        add_artifact_once(&local, &registry, &authfile, &f);
    }
    for platform in ["", "--os=linux --arch=amd64"] {
        f.platform = platform;
        add_artifact_once(&local, &registry, &authfile, &f);
    }
    for artifact_type in [
        "",
        "--artifact-type=",
        "--artifact-type=application/octet-stream",
        "--artifact-type=text/plain",
    ] {
        f.artifact_type = artifact_type;
        add_artifact_once(&local, &registry, &authfile, &f);
    }
    let config_flag = format!("--artifact-config={}", minimum_config.display());
    for config_type in [
        "",
        "--artifact-config-type=application/octet-stream",
        "--artifact-config-type=text/plain",
    ] {
        f.config_type = config_type;
        for config in ["", "--artifact-config=", config_flag.as_str()] {
            f.config = config.to_string();
            add_artifact_once(&local, &registry, &authfile, &f);
        }
    }
    for layer_type in [
        "",
        "--artifact-layer-type=application/octet-stream",
        "--artifact-layer-type=text/plain",
    ] {
        f.layer_type = layer_type;
        add_artifact_once(&local, &registry, &authfile, &f);
    }
    for title in ["", "--artifact-exclude-titles"] {
        f.title = title;
        add_artifact_once(&local, &registry, &authfile, &f);
    }
}
