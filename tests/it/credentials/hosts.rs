//! Which credentials and which client certificate reach which host: `--creds` only the registry
//! a reference names, a mirror or a remapped location its own auth-file entry or nothing (its
//! token realm likewise), a redirect on the same origin the registry's own and a redirect or an
//! upload location elsewhere none (nor a challenge from there), and a certs.d client
//! certificate only the host whose directory holds it, and only when the server names its
//! issuer. Real registries behind the recording proxy; scripted servers where a real registry
//! will not play the part or the presented client certificate must be seen.

use crate::support::fake_http::{Action, FakeServer, FakeTls, Reply};
use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::image::{five_platforms, write_image_layout, ImageSpec, OCI_MANIFEST};
use crate::support::push::{complete, push_layout_image};
use crate::support::registry::{Registry, RegistryConfig};
use crate::support::token::{token_answer, TokenServer};
use crate::support::{certs, local_list, registries_conf, TestEnv};
use base64::Engine as _;
use std::path::Path;

const ALICE: (&str, &str) = ("alice", "s3cret");

fn configure(env: &TestEnv, text: &str) {
    std::fs::write(registries_conf(&env.home()), text).unwrap();
}

/// An auth file with one entry per (host, user, password).
fn auth_file(path: &Path, entries: &[(&str, &str, &str)]) {
    let auths: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(host, user, password)| {
            let auth =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            (host.to_string(), serde_json::json!({ "auth": auth }))
        })
        .collect();
    std::fs::write(path, serde_json::json!({ "auths": auths }).to_string()).unwrap();
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

fn htpasswd(user: &'static str, password: &'static str) -> Registry {
    Registry::start(RegistryConfig {
        htpasswd: Some((user, password)),
        ..Default::default()
    })
}

/// Pushes one small image to `registry` as `repo:v1`.
fn seed(env: &TestEnv, registry: &Registry, repo: &str) {
    let layout = env.path("seed");
    if !layout.exists() {
        write_image_layout(
            &layout,
            &ImageSpec::new("linux/amd64", 1, 4096, 61),
            "latest",
        );
    }
    push_layout_image(&layout, "latest", registry, repo, "v1");
}

fn creds() -> String {
    format!("{}:{}", ALICE.0, ALICE.1)
}

/// `add --creds alice:… LIST IMAGE`, with an auth file holding one entry (host, user,
/// password) when given; the command's stderr when it fails (`None` when it succeeds).
fn add(
    env: &TestEnv,
    list: &str,
    image: &str,
    entry: Option<(&str, &str, &str)>,
) -> Option<String> {
    env.run(&["create", list]);
    let mut args = vec!["add".to_string(), "--creds".into(), creds()];
    if let Some(entry) = entry {
        let file = env.path(&format!("auth-{list}.json"));
        auth_file(&file, &[entry]);
        args.extend(["--authfile".into(), file.display().to_string()]);
    }
    args.extend([list.to_string(), image.to_string()]);
    let output = env.cmd().args(&args).output().unwrap();
    (!output.status.success()).then(|| String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Some credentials were sent, and all of them were `user`'s.
fn assert_all_from(sent: &[String], user: &str, password: &str) {
    assert!(!sent.is_empty(), "no credentials were sent");
    assert!(sent.iter().all(|a| *a == basic(user, password)), "{sent:?}");
}

/// Every `Authorization` a proxy saw.
fn authorizations(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .seen()
        .into_iter()
        .filter_map(|r| r.authorization)
        .collect()
}

/// registries.conf: `primary` read through `mirror` first.
fn mirrored(env: &TestEnv, primary: &str, mirror: &str) {
    configure(
        env,
        &format!(
            "[[registry]]\nlocation = \"{primary}\"\ninsecure = true\n\
             [[registry.mirror]]\nlocation = \"{mirror}\"\ninsecure = true\n"
        ),
    );
}

#[test]
fn creds_for_a_registry_do_not_go_to_its_mirror_which_gets_its_own_entry() {
    let env = TestEnv::new();
    let primary = htpasswd(ALICE.0, ALICE.1);
    let mirror = htpasswd("mirror-user", "m1rror");
    let mirror_proxy = FaultProxy::start(&mirror);
    seed(&env, &primary, "src/app");
    seed(&env, &mirror, "src/app");
    mirrored(&env, &primary.addr, &mirror_proxy.addr);
    let image = primary.docker_ref("src/app:v1");

    // No entry for the mirror: it is asked anonymously, refuses, and the primary serves.
    assert_eq!(add(&env, "l", &image, None), None);
    assert!(!mirror_proxy.seen().is_empty(), "the mirror was not tried");
    assert_eq!(authorizations(&mirror_proxy), Vec::<String>::new());

    // An auth-file entry for the mirror: the mirror gets that one, and serves.
    let primary_reads = primary.access_log().len();
    let entry = (mirror_proxy.addr.as_str(), "mirror-user", "m1rror");
    assert_eq!(add(&env, "m", &image, Some(entry)), None);
    assert_all_from(&authorizations(&mirror_proxy), "mirror-user", "m1rror");
    assert_eq!(
        primary.access_log().len(),
        primary_reads,
        "the mirror served"
    );
}

#[test]
fn a_remapped_location_gets_its_own_entry_or_nothing() {
    let env = TestEnv::new();
    let primary = htpasswd(ALICE.0, ALICE.1);
    let remapped = htpasswd("loc-user", "l0cation");
    let proxy = FaultProxy::start(&remapped);
    seed(&env, &remapped, "other/app");
    configure(
        &env,
        &format!(
            "[[registry]]\nprefix = \"{}/src\"\nlocation = \"{}/other\"\ninsecure = true\n",
            primary.addr, proxy.addr
        ),
    );
    let image = primary.docker_ref("src/app:v1");
    let primary_before = primary.access_log().len();
    let refused = add(&env, "l", &image, None).expect("no credentials for the location");
    assert!(refused.contains("authentication"), "{refused}");
    assert!(refused.contains("given for"), "{refused}");
    assert_eq!(authorizations(&proxy), Vec::<String>::new());
    assert_eq!(
        primary.access_log().len(),
        primary_before,
        "reads go to the location"
    );

    let entry = (proxy.addr.as_str(), "loc-user", "l0cation");
    assert_eq!(add(&env, "m", &image, Some(entry)), None);
    assert_all_from(&authorizations(&proxy), "loc-user", "l0cation");
}

#[test]
fn a_mirrors_token_realm_gets_the_mirrors_credentials_only() {
    let env = TestEnv::new();
    let primary = htpasswd(ALICE.0, ALICE.1);
    seed(&env, &primary, "src/app");
    let tokens = TokenServer::start("tok-user", "t0ken", 0);
    let mirror = Registry::start(RegistryConfig {
        token: Some((&tokens.realm, tokens.root_pem())),
        ..Default::default()
    });
    mirrored(&env, &primary.addr, &mirror.addr);
    let image = primary.docker_ref("src/app:v1");
    assert_eq!(add(&env, "l", &image, None), None);
    let asked = tokens.seen();
    assert!(!asked.is_empty(), "the mirror's realm was not asked");
    assert!(asked.iter().all(|r| r.authorization.is_none()), "{asked:?}");

    let entry = (mirror.addr.as_str(), "tok-user", "t0ken");
    assert_eq!(add(&env, "m", &image, Some(entry)), None);
    let sent: Vec<String> = tokens
        .seen()
        .into_iter()
        .filter_map(|r| r.authorization)
        .collect();
    assert_all_from(&sent, "tok-user", "t0ken");
}

#[test]
fn a_redirect_on_the_registrys_own_origin_keeps_its_credentials() {
    let env = TestEnv::new();
    let registry = htpasswd(ALICE.0, ALICE.1);
    seed(&env, &registry, "src/app");
    let proxy = FaultProxy::start(&registry);
    proxy.add(
        Rule::new(
            "GET",
            "/manifests/v1",
            Fault::RedirectTo(format!("http://{}", proxy.addr)),
        )
        .times(1),
    );
    env.run(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        &creds(),
        &proxy.docker_ref("src/app:v1"),
    ]);
    let reads: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|r| r.path.contains("/manifests/v1"))
        .collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(reads[0].faulted && !reads[1].faulted);
    assert!(
        reads
            .iter()
            .all(|r| r.authorization.as_deref() == Some(basic(ALICE.0, ALICE.1).as_str())),
        "{reads:?}"
    );
}

/// Certificates for scripted HTTPS servers and a client identity.
struct Tls {
    _dir: tempfile::TempDir,
    servers: Vec<certs::ServerTls>,
    client: certs::ClientCa,
    client_ca_pem: String,
    /// A CA that issued nothing the client holds.
    unrelated_ca_pem: String,
}

fn tls(servers: usize) -> Tls {
    let dir = tempfile::tempdir().unwrap();
    let servers: Vec<_> = (0..servers)
        .map(|n| certs::ca_signed_server(&dir.path().join(format!("server-{n}"))))
        .collect();
    let client_dir = dir.path().join("client");
    std::fs::create_dir_all(&client_dir).unwrap();
    let client = certs::client_ca(&client_dir, &servers[0].ca_pem);
    let client_ca_pem = std::fs::read_to_string(&client.ca_cert).unwrap();
    // Another CA, by another name: a server naming it names no issuer the client holds.
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "an unrelated client CA");
    let unrelated_ca_pem = params
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap()
        .pem();
    Tls {
        _dir: dir,
        servers,
        client,
        client_ca_pem,
        unrelated_ca_pem,
    }
}

/// `~/.config/containers/certs.d/HOST/` with the server's CA and, when `identity`, the client
/// certificate and key.
fn certs_d(env: &TestEnv, host: &str, server: &certs::ServerTls, client: Option<&certs::ClientCa>) {
    let dir = env.home().join(".config/containers/certs.d").join(host);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.crt"), &server.ca_pem).unwrap();
    if let Some(client) = client {
        for name in ["client.cert", "client.key"] {
            std::fs::copy(client.cert_dir.join(name), dir.join(name)).unwrap();
        }
    }
}

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

fn manifest() -> Action {
    Action::Reply(
        Reply::new(200)
            .header("Content-Type", OCI_MANIFEST)
            .body(MANIFEST),
    )
}

#[test]
fn a_client_certificate_goes_only_to_the_host_whose_certs_d_holds_it() {
    let env = TestEnv::new();
    let tls = tls(2);
    let cdn = FakeServer::start_tls(
        FakeTls {
            cert: tls.servers[1].cert.clone(),
            key: tls.servers[1].key.clone(),
            client_ca_pem: tls.client_ca_pem.clone(),
        },
        |req| match req.target.as_str() {
            "/v2/app/manifests/v1" => manifest(),
            _ => Action::Reply(Reply::new(404)),
        },
    );
    let cdn_url = format!("https://{}", cdn.addr);
    let registry = FakeServer::start_tls(
        FakeTls {
            cert: tls.servers[0].cert.clone(),
            key: tls.servers[0].key.clone(),
            client_ca_pem: tls.client_ca_pem.clone(),
        },
        move |req| match req.target.as_str() {
            "/v2/" => Action::Reply(Reply::new(200)),
            // Elsewhere, as a registry sends a read to its storage host.
            "/v2/app/manifests/v1" => Action::Reply(
                Reply::new(307).header("Location", &format!("{cdn_url}/v2/app/manifests/v1")),
            ),
            // On the registry itself.
            "/v2/app/manifests/v2" => {
                Action::Reply(Reply::new(307).header("Location", "/v2/app/manifests/here"))
            }
            "/v2/app/manifests/here" => manifest(),
            _ => Action::Reply(Reply::new(404)),
        },
    );
    certs_d(&env, &registry.addr, &tls.servers[0], Some(&tls.client));
    certs_d(&env, &cdn.addr, &tls.servers[1], None);

    for tag in ["v1", "v2"] {
        let printed = env.run(&[
            "inspect",
            "--raw",
            &format!("docker://{}/app:{tag}", registry.addr),
        ]);
        assert_eq!(printed, MANIFEST, "{tag}");
    }
    let at_registry = registry.seen();
    assert!(
        at_registry.iter().all(|r| r.client_certificate),
        "{at_registry:?}"
    );
    assert!(at_registry
        .iter()
        .any(|r| r.target == "/v2/app/manifests/here"));
    let at_cdn = cdn.seen();
    assert_eq!(at_cdn.len(), 1, "{at_cdn:?}");
    assert!(
        !at_cdn[0].client_certificate,
        "the registry's certificate went to the CDN"
    );
}

#[test]
fn a_client_certificate_is_offered_only_to_a_server_that_names_its_issuer() {
    let env = TestEnv::new();
    let tls = tls(1);
    let serve = |client_ca_pem: String| {
        FakeServer::start_tls(
            FakeTls {
                cert: tls.servers[0].cert.clone(),
                key: tls.servers[0].key.clone(),
                client_ca_pem,
            },
            |req| match req.target.as_str() {
                "/v2/" => Action::Reply(Reply::new(200)),
                "/v2/app/manifests/v1" => manifest(),
                _ => Action::Reply(Reply::new(404)),
            },
        )
    };
    let naming_another = serve(tls.unrelated_ca_pem.clone());
    let naming_its_issuer = serve(tls.client_ca_pem.clone());
    for server in [&naming_another, &naming_its_issuer] {
        certs_d(&env, &server.addr, &tls.servers[0], Some(&tls.client));
        env.run(&[
            "inspect",
            "--raw",
            &format!("docker://{}/app:v1", server.addr),
        ]);
    }
    let presented = |server: &FakeServer| server.seen().iter().any(|r| r.client_certificate);
    assert!(
        !presented(&naming_another),
        "offered to a server that names another CA"
    );
    assert!(presented(&naming_its_issuer));
}

#[test]
fn a_redirect_to_another_host_gets_no_credentials() {
    let env = TestEnv::new();
    // The registry needs credentials; its blobs are served by a "storage host" that does not.
    let source = Registry::start(crate::support::registry::RegistryConfig {
        tls: false,
        htpasswd: Some(("u", "p4ss")),
        ..Default::default()
    });
    let mirror = Registry::plain();
    let layout = env.path("img");
    let built = write_image_layout(&layout, &five_platforms()[0], "latest");
    push_layout_image(&layout, "latest", &source, "src/app", "v1");
    push_layout_image(&layout, "latest", &mirror, "src/app", "v1");
    let storage = FaultProxy::start_to(mirror.url());
    // "localhost" is another host than "127.0.0.1" for credential purposes.
    let storage_base = format!(
        "http://localhost:{}",
        storage.addr.rsplit(':').next().unwrap()
    );
    let front = FaultProxy::start_to(source.url());
    let layer = built.layer_digests[0].clone();
    front.add(Rule::new("GET", layer.clone(), Fault::RedirectTo(storage_base)).times(100));
    let dest = Registry::plain();
    env.run(&["create", "redir"]);
    env.run(&[
        "add",
        "--tls-verify=false",
        "--creds",
        "u:p4ss",
        "redir",
        &front.docker_ref("src/app:v1"),
    ]);
    env.cmd()
        .args([
            "push",
            "--tls-verify=false",
            "--creds",
            "u:p4ss",
            "redir",
            &dest.docker_ref("dst/app:v1"),
        ])
        .assert()
        .success();
    complete(&dest, "v1");
    assert!(
        front.seen().iter().any(|r| r.had_authorization),
        "the registry itself received credentials"
    );
    let at_storage = storage.seen();
    assert!(
        at_storage.iter().any(|r| r.path.contains(&layer)),
        "the redirect was followed"
    );
    let leaked: Vec<_> = at_storage
        .into_iter()
        .filter(|r| r.had_authorization)
        .collect();
    assert!(
        leaked.is_empty(),
        "credentials were sent to the redirect target: {leaked:?}"
    );
}

#[test]
fn a_challenge_from_a_redirect_target_is_not_adopted() {
    let env = TestEnv::new();
    let source = Registry::plain();
    let layout = env.path("src");
    write_image_layout(
        &layout,
        &ImageSpec::new("linux/amd64", 1, 4096, 3),
        "latest",
    );
    push_layout_image(&layout, "latest", &source, "src/app", "v1");
    let token = FakeServer::start(|_| Action::Reply(token_answer("stolen")));
    let realm = format!("{}/token", token.url());
    // The CDN blob reads are redirected to asks for a token of its own.
    let cdn = FakeServer::start(move |_| {
        Action::Reply(Reply::new(401).header(
            "WWW-Authenticate",
            &format!(r#"Bearer realm="{realm}",service="cdn""#),
        ))
    });
    let proxy = FaultProxy::start(&source);
    for method in ["GET", "HEAD"] {
        proxy.add(Rule::new(
            method,
            "/blobs/sha256:",
            Fault::RedirectTo(cdn.url()),
        ));
    }
    env.run(&["create", "l"]);
    env.cmd()
        .args([
            "add",
            "--creds",
            "alice:s3cret",
            "--tls-verify=false",
            "l",
            &proxy.docker_ref("src/app:v1"),
        ])
        .assert()
        .failure();
    assert!(token.seen().is_empty(), "the token server was asked");
    let cdn_seen = cdn.seen();
    assert!(!cdn_seen.is_empty(), "the blob read reached the CDN");
    assert!(
        cdn_seen.iter().all(|r| r.authorization.is_none()),
        "{cdn_seen:?}"
    );
}

/// Upload locations on another host (a storage front end, or a hostile registry) get the data
/// but never the registry's credentials.
#[test]
fn an_upload_location_on_another_host_gets_no_credentials() {
    let env = TestEnv::new();
    let storage = FakeServer::start(|req| match req.method.as_str() {
        "PATCH" => Action::Reply(Reply::new(202).header("Location", "/upload/1?step=2")),
        _ => Action::Reply(Reply::new(201)),
    });
    let storage_url = storage.url();
    let registry = FakeServer::start(move |req| {
        if req.authorization.is_none() {
            return Action::Reply(
                Reply::new(401).header("WWW-Authenticate", r#"Basic realm="fake""#),
            );
        }
        match req.method.as_str() {
            "GET" => Action::Reply(Reply::new(200)),
            "HEAD" => Action::Reply(Reply::new(404)),
            "POST" => Action::Reply(
                Reply::new(202).header("Location", &format!("{storage_url}/upload/1?step=1")),
            ),
            _ => Action::Reply(Reply::new(201)),
        }
    });
    local_list(&env);
    env.run(&[
        "push",
        "--creds",
        "alice:s3cret",
        "--tls-verify=false",
        "l",
        &format!("docker://{}/app:v1", registry.addr),
    ]);
    let seen = storage.seen();
    let patch = seen.iter().find(|r| r.method == "PATCH").expect("a PATCH");
    // A blob smaller than a chunk goes in one PATCH with its length and no Content-Range (with
    // one, registries take it for a chunk; GHCR refuses chunks over 4 MiB).
    assert!(patch.header("Content-Range").is_none(), "{patch:?}");
    assert!(patch.header("Content-Length").is_some(), "{patch:?}");
    assert!(seen.iter().any(|r| r.method == "PUT"), "{seen:?}");
    assert!(seen.iter().all(|r| r.authorization.is_none()), "{seen:?}");
    // The manifests went to the registry itself, with credentials.
    assert!(registry.seen().iter().any(|r| r.method == "PUT"
        && r.target.contains("/manifests/")
        && r.authorization.is_some()));
}
