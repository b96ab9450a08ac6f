//! A minimal registry client for seeding and checking a test [`Registry`] without the tool under
//! test: blocking reqwest, HTTP Basic auth when `registry.user` is set, TLS trusting only the
//! harness CA, no proxy.
//!
//! Every function panics with the registry's answer on an unexpected status. All of them may be
//! called from inside a tokio runtime (`#[tokio::test]`): the blocking client then runs on a
//! scoped helper thread.

use super::image::{self, OCI_INDEX};
use super::registry::Registry;
use reqwest::blocking::{Body, Client, RequestBuilder, Response};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// The four manifest media types, as one `Accept` header value.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// Runs `f` on a helper thread when called from inside a tokio runtime (reqwest's blocking
/// client panics there), else right here.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| match s.spawn(f).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    } else {
        f()
    }
}

/// How the harness's client trusts a registry, and the client certificate it offers.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientTls<'a> {
    /// Trust only this CA (PEM) when given.
    pub ca_pem: Option<&'a str>,
    /// Accept any server certificate: for the one-line self-signed kind, which webpki refuses
    /// as a server certificate (the tool's own trust is what the tests check, not this).
    pub accept_any_certificate: bool,
    /// A client certificate and its key, in PEM.
    pub identity_pem: Option<&'a str>,
}

/// A blocking client that trusts only `ca_pem` (when given) and uses no proxy.
pub fn client_for(ca_pem: Option<&str>) -> Client {
    client_with(ClientTls {
        ca_pem,
        ..ClientTls::default()
    })
}

/// A blocking client with these TLS settings and no proxy.
pub fn client_with(tls: ClientTls<'_>) -> Client {
    super::use_tls_provider();
    off_runtime(|| {
        let mut b = Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(300));
        if let Some(pem) = tls.ca_pem {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes()).expect("parsing CA PEM");
            b = b.tls_certs_only([cert]);
        }
        if tls.accept_any_certificate {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        if let Some(pem) = tls.identity_pem {
            let identity =
                reqwest::Identity::from_pem(pem.as_bytes()).expect("parsing client identity PEM");
            b = b.identity(identity);
        }
        b.build().expect("building HTTP client")
    })
}

/// A client for `registry` (trusting its CA, and with its client certificate, as needed).
pub fn client(registry: &Registry) -> Client {
    client_with(registry.harness_tls())
}

/// GET `url` and return the status (an `Err` with the error text when no answer came).
pub fn status_of(client: &Client, url: &str, auth: Option<(&str, &str)>) -> Result<u16, String> {
    off_runtime(|| {
        let mut req = client.get(url);
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        match req.send() {
            Ok(r) => Ok(r.status().as_u16()),
            Err(e) => Err(error_chain(&e)),
        }
    })
}

/// Status of `GET /v2/`, with the registry's credentials or without any.
pub fn v2_status(registry: &Registry, authenticated: bool) -> u16 {
    let url = format!("{}/v2/", registry.url());
    let auth = if authenticated {
        registry
            .user
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    } else {
        None
    };
    status_of(&client(registry), &url, auth).unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// Pushes the image (or index with all its child images) that `ref_name` names in the OCI
/// layout at `layout_dir` to `registry` as `repo:tag`: every blob (skipped when the registry
/// already has it), children before the index, then the manifest under `tag`.
/// Returns the pushed manifest's digest.
pub fn push_layout_image(
    layout_dir: &Path,
    ref_name: &str,
    registry: &Registry,
    repo: &str,
    tag: &str,
) -> String {
    let desc = image::find_ref(layout_dir, ref_name).unwrap_or_else(|| {
        panic!(
            "no entry with ref name {ref_name:?} in {}/index.json",
            layout_dir.display()
        )
    });
    off_runtime(|| {
        let c = client(registry);
        push_descriptor(&c, layout_dir, &desc, registry, repo, tag)
    })
}

fn push_descriptor(
    c: &Client,
    layout: &Path,
    desc: &Value,
    registry: &Registry,
    repo: &str,
    reference: &str,
) -> String {
    let digest = desc["digest"].as_str().expect("descriptor digest");
    let media_type = desc["mediaType"].as_str().expect("descriptor mediaType");
    let bytes = image::read_blob(layout, digest);
    let doc: Value = serde_json::from_slice(&bytes).expect("manifest JSON");
    if media_type == OCI_INDEX || doc["manifests"].is_array() {
        for child in doc["manifests"].as_array().unwrap() {
            let child_digest = child["digest"].as_str().unwrap();
            push_descriptor(c, layout, child, registry, repo, child_digest);
        }
    } else {
        let mut blobs = vec![doc["config"].clone()];
        blobs.extend(doc["layers"].as_array().cloned().unwrap_or_default());
        for b in blobs {
            let d = b["digest"].as_str().expect("blob digest");
            if blob_status_with(c, registry, repo, d) == 200 {
                continue;
            }
            let path = image::blob_path(layout, d);
            let len = fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .len();
            let file = fs::File::open(&path).unwrap();
            upload_with(c, registry, repo, d, Body::sized(file, len));
        }
    }
    let pushed = put_manifest_with(c, registry, repo, reference, media_type, &bytes);
    assert_eq!(pushed, digest, "registry computed another manifest digest");
    pushed
}

/// Pushes one image per spec to `registry` as `<repo>:<arch><variant>` (each written as a
/// layout under `work` first); returns the `docker://` reference and the digest of each.
pub fn seed_images(
    work: &Path,
    registry: &Registry,
    repo: &str,
    specs: &[image::ImageSpec],
) -> Vec<(String, String)> {
    specs
        .iter()
        .enumerate()
        .map(|(n, spec)| {
            let layout = work.join(format!("layout-{n}-{}", spec.seed));
            image::write_image_layout(&layout, spec, "latest");
            let tag = format!("{}{}", spec.arch, spec.variant.clone().unwrap_or_default());
            let digest = push_layout_image(&layout, "latest", registry, repo, &tag);
            (registry.docker_ref(&format!("{repo}:{tag}")), digest)
        })
        .collect()
}

/// The artifact type of the signatures [`push_signature`] makes (cosign's).
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

/// Pushes a signature artifact for the manifest `subject` (digest, size, media type) to `repo`:
/// an OCI 1.1 artifact manifest (empty config, one payload layer, `subject` set), listed, as
/// a registry without the referrers API needs, in an index under the `sha256-<hex>` tag.
/// Returns the signature manifest's digest.
pub fn push_signature(
    registry: &Registry,
    repo: &str,
    subject: (&str, u64, &str),
    payload: &[u8],
) -> String {
    const EMPTY: &str = "application/vnd.oci.empty.v1+json";
    let (subject_digest, subject_size, subject_type) = subject;
    let config = push_blob(registry, repo, b"{}");
    let layer = push_blob(registry, repo, payload);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": image::OCI_MANIFEST,
        "artifactType": SIGNATURE_ARTIFACT_TYPE,
        "config": image::descriptor(EMPTY, &config, 2),
        "layers": [image::descriptor("application/vnd.dev.cosign.simplesigning.v1+json", &layer, payload.len() as u64)],
        "subject": image::descriptor(subject_type, subject_digest, subject_size),
    }))
    .unwrap();
    let digest = image::sha256_digest(&manifest);
    put_manifest(registry, repo, &digest, image::OCI_MANIFEST, &manifest);
    let mut listed = image::descriptor(image::OCI_MANIFEST, &digest, manifest.len() as u64);
    listed["artifactType"] = SIGNATURE_ARTIFACT_TYPE.into();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [listed],
    }))
    .unwrap();
    let tag = format!("sha256-{}", subject_digest.trim_start_matches("sha256:"));
    put_manifest(registry, repo, &tag, OCI_INDEX, &index);
    digest
}

/// PUTs a manifest as `reference` (a tag or digest); returns the digest the registry names.
pub fn put_manifest(
    registry: &Registry,
    repo: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> String {
    off_runtime(|| {
        let c = client(registry);
        put_manifest_with(&c, registry, repo, reference, media_type, bytes)
    })
}

/// Uploads `bytes` as a blob (monolithic POST + PUT); returns its digest.
pub fn push_blob(registry: &Registry, repo: &str, bytes: &[u8]) -> String {
    let digest = image::sha256_digest(bytes);
    off_runtime(|| {
        let c = client(registry);
        upload_with(&c, registry, repo, &digest, Body::from(bytes.to_vec()));
    });
    digest
}

/// GETs a manifest (accepting all four manifest types): (bytes, Content-Type,
/// Docker-Content-Digest). Panics unless the answer is 200.
pub fn get_manifest(
    registry: &Registry,
    repo: &str,
    reference: &str,
) -> (Vec<u8>, Option<String>, Option<String>) {
    off_runtime(|| {
        let c = client(registry);
        let url = format!("{}/v2/{repo}/manifests/{reference}", registry.url());
        let r = expect_status(
            authed(registry, c.get(&url).header(ACCEPT, ACCEPT_MANIFESTS)),
            &[200],
            &url,
        );
        let ct = header(&r, CONTENT_TYPE.as_str());
        let dcd = header(&r, "docker-content-digest");
        (r.bytes().expect("reading body").to_vec(), ct, dcd)
    })
}

/// Status of `HEAD /v2/<repo>/manifests/<reference>` (200 present, 404 absent).
pub fn manifest_status(registry: &Registry, repo: &str, reference: &str) -> u16 {
    off_runtime(|| {
        let c = client(registry);
        let url = format!("{}/v2/{repo}/manifests/{reference}", registry.url());
        send(
            authed(registry, c.head(&url).header(ACCEPT, ACCEPT_MANIFESTS)),
            &url,
        )
        .status()
        .as_u16()
    })
}

/// GETs a blob's bytes. Panics unless the answer is 200.
pub fn get_blob(registry: &Registry, repo: &str, digest: &str) -> Vec<u8> {
    off_runtime(|| {
        let c = client(registry);
        let url = format!("{}/v2/{repo}/blobs/{digest}", registry.url());
        let r = expect_status(authed(registry, c.get(&url)), &[200], &url);
        r.bytes().expect("reading body").to_vec()
    })
}

/// Status of `HEAD /v2/<repo>/blobs/<digest>` (200 present, 404 absent).
pub fn blob_status(registry: &Registry, repo: &str, digest: &str) -> u16 {
    off_runtime(|| blob_status_with(&client(registry), registry, repo, digest))
}

/// The repository's tags (`GET /v2/<repo>/tags/list`), as the registry orders them; empty if
/// the repository does not exist.
pub fn list_tags(registry: &Registry, repo: &str) -> Vec<String> {
    off_runtime(|| {
        let c = client(registry);
        let url = format!("{}/v2/{repo}/tags/list", registry.url());
        let r = expect_status(authed(registry, c.get(&url)), &[200, 404], &url);
        if r.status().as_u16() == 404 {
            return Vec::new();
        }
        let v: Value = r.json_value();
        v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// `DELETE /v2/<repo>/manifests/<digest>`; returns the status (202 deleted, 404 unknown).
pub fn delete_manifest(registry: &Registry, repo: &str, digest: &str) -> u16 {
    delete(
        registry,
        &format!("{}/v2/{repo}/manifests/{digest}", registry.url()),
    )
}

/// `DELETE url` at `registry`; returns the status.
fn delete(registry: &Registry, url: &str) -> u16 {
    off_runtime(|| {
        let c = client(registry);
        send(authed(registry, c.delete(url)), url).status().as_u16()
    })
}

// ---------------------------------------------------------------------------------------------

trait JsonValue {
    fn json_value(self) -> Value;
}

impl JsonValue for Response {
    fn json_value(self) -> Value {
        let bytes = self.bytes().expect("reading body");
        serde_json::from_slice(&bytes).expect("JSON body")
    }
}

fn authed(registry: &Registry, req: RequestBuilder) -> RequestBuilder {
    match &registry.user {
        Some((u, p)) => req.basic_auth(u, Some(p)),
        None => req,
    }
}

fn send(req: RequestBuilder, what: &str) -> Response {
    req.send()
        .unwrap_or_else(|e| panic!("{what}: {}", error_chain(&e)))
}

fn expect_status(req: RequestBuilder, ok: &[u16], what: &str) -> Response {
    let r = send(req, what);
    let s = r.status().as_u16();
    if !ok.contains(&s) {
        let body = r.text().unwrap_or_default();
        panic!("{what}: unexpected status {s}: {body}");
    }
    r
}

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

fn blob_status_with(c: &Client, registry: &Registry, repo: &str, digest: &str) -> u16 {
    let url = format!("{}/v2/{repo}/blobs/{digest}", registry.url());
    send(authed(registry, c.head(&url)), &url).status().as_u16()
}

fn upload_with(c: &Client, registry: &Registry, repo: &str, digest: &str, body: Body) {
    let base = registry.url();
    let start = format!("{base}/v2/{repo}/blobs/uploads/");
    let r = expect_status(
        authed(registry, c.post(&start).header(CONTENT_LENGTH, "0")),
        &[202],
        &start,
    );
    let location = header(&r, LOCATION.as_str()).expect("upload Location header");
    let mut url = if location.starts_with("http://") || location.starts_with("https://") {
        location
    } else {
        format!("{base}{location}")
    };
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str("digest=");
    url.push_str(digest);
    let r = expect_status(
        authed(
            registry,
            c.put(&url)
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(body),
        ),
        &[201],
        &url,
    );
    let got = header(&r, "docker-content-digest");
    assert_eq!(
        got.as_deref(),
        Some(digest),
        "registry stored blob under another digest"
    );
}

fn put_manifest_with(
    c: &Client,
    registry: &Registry,
    repo: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> String {
    let url = format!("{}/v2/{repo}/manifests/{reference}", registry.url());
    let r = expect_status(
        authed(
            registry,
            c.put(&url)
                .header(CONTENT_TYPE, media_type)
                .body(bytes.to_vec()),
        ),
        &[201],
        &url,
    );
    header(&r, "docker-content-digest").expect("Docker-Content-Digest on manifest PUT")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Every child manifest and blob of the pushed index is readable at `repo` and matches its digest.
pub fn verify_pushed_index(registry: &Registry, repo: &str, tag: &str) -> Vec<u8> {
    let (index, _, served_digest) = get_manifest(registry, repo, tag);
    assert_eq!(
        served_digest.as_deref(),
        Some(image::sha256_digest(&index).as_str())
    );
    let index_json: serde_json::Value = serde_json::from_slice(&index).unwrap();
    for child in index_json["manifests"].as_array().unwrap() {
        let digest = child["digest"].as_str().unwrap();
        let (bytes, _, _) = get_manifest(registry, repo, digest);
        assert_eq!(image::sha256_digest(&bytes), digest);
        assert_eq!(bytes.len() as u64, child["size"].as_u64().unwrap());
        let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let blobs =
            std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().unwrap());
        for blob in blobs {
            let digest = blob["digest"].as_str().unwrap();
            assert_eq!(
                image::sha256_digest(&get_blob(registry, repo, digest)),
                digest
            );
        }
    }
    index
}

/// `DELETE /v2/<repo>/blobs/<digest>` (the registry has `delete: enabled`); returns the status
/// (202 deleted, 404 unknown).
pub fn delete_blob(registry: &Registry, repo: &str, digest: &str) -> u16 {
    delete(
        registry,
        &format!("{}/v2/{repo}/blobs/{digest}", registry.url()),
    )
}

/// The digest `repo:tag` resolves to at `registry` (checked against the bytes served).
pub fn resolved(registry: &Registry, repo: &str, tag: &str) -> String {
    let (bytes, _, digest) = get_manifest(registry, repo, tag);
    let digest = digest.expect("Docker-Content-Digest");
    assert_eq!(image::sha256_digest(&bytes), digest);
    digest
}

/// The destination tag `dst/app:TAG` holds a complete, verified index: every layer of every
/// child is there and matches its digest.
pub fn complete(dest: &Registry, tag: &str) {
    let (index, _, digest) = get_manifest(dest, "dst/app", tag);
    assert_eq!(digest.unwrap(), image::sha256_digest(&index));
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
    for child in index["manifests"].as_array().unwrap() {
        let (bytes, _, _) = get_manifest(dest, "dst/app", child["digest"].as_str().unwrap());
        let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        for layer in manifest["layers"].as_array().unwrap() {
            let digest = layer["digest"].as_str().unwrap();
            assert_eq!(
                image::sha256_digest(&get_blob(dest, "dst/app", digest)),
                digest
            );
        }
    }
}
