//! The integration-test harness. Use it from a test file with `mod support;`.
//!
//! - [`registry`]: a real `docker-registry` (distribution 2.8) on 127.0.0.1, plain or TLS, with
//!   or without htpasswd auth or a required client certificate.
//! - [`certs`]: the certificates those registries use (CA-signed, one-line self-signed, client).
//! - [`image`]: deterministic OCI image layouts (single images and indexes), no external tools.
//! - [`buildah`]: the real buildah and skopeo on a store of the test's own, and file trees to copy.
//! - [`push`]: a tiny independent registry client to seed a registry and check what was pushed.
//! - [`client`]: the library's own registry client, driven directly (no binary).
//! - [`fake_http`]: a scripted HTTP server for misbehaviour a real registry will not produce.
//! - [`faults`]: a fault-injecting proxy in front of a real registry.
//! - [`token`]: bearer tokens the real registry accepts.
//! - [`hostile`]: FIFOs, device nodes, sparse files, odd tar entries, another user, runs at once.
//! - [`local`]: a list store beside a buildah store, and what an image pulled back holds.
//! - [`upstream`]: buildah's `lists.bats` fixtures: its `IMAGE_LIST` in a registry, its store.
//! - [`documents`]: JSON the tool writes, read and checked against the shipped schemas.
//! - [`expect`]: commands that must be refused (store unchanged) or must succeed.
//! - [`wait`]: waiting for a state (a condition, a line of output) with a bounded deadline.
//! - here: running the `manifest` binary in an isolated environment, and store snapshots.

pub mod buildah;
pub mod certs;
pub mod client;
pub mod documents;
pub mod expect;
pub mod fake_http;
pub mod faults;
pub mod hostile;
pub mod image;
pub mod local;
pub mod push;
pub mod registry;
pub mod token;
pub mod upstream;
pub mod wait;

// Shortcuts; a given test binary may use none of them.
#[allow(unused_imports)]
pub use image::{five_platforms, write_image_layout, write_index_layout, BuiltImage, ImageSpec};
#[allow(unused_imports)]
pub use push::{get_blob, get_manifest, push_layout_image};
#[allow(unused_imports)]
pub use registry::{Registry, RegistryConfig};

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Variables that could make the binary read the user's real credentials, certificates or
/// store, or route 127.0.0.1 traffic through a proxy. All are removed before the harness sets
/// its own.
const SCRUBBED_ENV: &[&str] = &[
    "MANIFEST_STORE",
    "REGISTRY_AUTH_FILE",
    "DOCKER_CONFIG",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CONTAINERS_REGISTRIES_CONF",
    "CONTAINERS_REGISTRIES_CONF_OVERRIDE",
    "CONTAINERS_STORAGE_CONF",
    "STORAGE_DRIVER",
    "STORAGE_OPTS",
];

/// The harness's own HTTP clients (reqwest without a built-in provider, as the tool itself)
/// use the tool's rustls provider (ring): installed once per test process.
pub fn use_tls_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // Another test may have installed the same provider first; either way one is there.
        let _ = manifest::transport::tls::crypto_provider().install_default();
    });
}

/// The `manifest` binary with `MANIFEST_STORE=<store>` and a clean, empty environment for
/// credentials: `HOME`, `DOCKER_CONFIG`, `XDG_RUNTIME_DIR`, `XDG_CONFIG_HOME`, `XDG_DATA_HOME`
/// and `CONTAINERS_STORAGE_CONF` (an empty containers-storage store) point into an empty
/// directory `<store>.home` beside the store (created if missing; keep the
/// store inside a test-owned temp dir so that both go away with it), `REGISTRY_AUTH_FILE` and
/// proxy variables are unset. Tests that want an auth file pass `--authfile` or set
/// `REGISTRY_AUTH_FILE` / write `<home>/run/containers/auth.json` themselves (see [`home_dir`]).
pub fn manifest_cmd(store: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(manifest_std_cmd(store))
}

/// The same as [`manifest_cmd`], as a plain `std::process::Command` (to spawn and wait on it).
pub fn manifest_std_cmd(store: &Path) -> std::process::Command {
    let home = home_dir(store);
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("manifest"));
    for k in SCRUBBED_ENV {
        cmd.env_remove(k);
    }
    cmd.env("MANIFEST_STORE", store)
        .env("HOME", &home)
        .env("DOCKER_CONFIG", home.join(".docker"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        // The machine's own registries.conf (and its drop-ins) must not change what a test
        // does; tests that want one write `<home>/registries.conf`.
        .env("CONTAINERS_REGISTRIES_CONF", registries_conf(&home))
        .env("CONTAINERS_STORAGE_CONF", storage_conf(&home))
        .env("NO_COLOR", "1");
    cmd
}

/// Runs a command on `store` that must succeed and returns its stdout.
pub fn stdout_of(store: &Path, args: &[&str]) -> String {
    let output = manifest_cmd(store)
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(output).expect("manifest prints UTF-8")
}

/// The registries.conf every [`manifest_cmd`] reads (`<home>/registries.conf`, created empty
/// if missing); a test writes to it to configure registries.
pub fn registries_conf(home: &Path) -> PathBuf {
    let path = home.join("registries.conf");
    if !path.exists() {
        fs::write(&path, "").expect("creating the test registries.conf");
    }
    path
}

/// A storage.conf whose (empty) containers-storage store is inside `home`, so that a bare name
/// never finds an image of the machine's own store (tests name their buildah store with flags).
fn storage_conf(home: &Path) -> PathBuf {
    let conf = home.join("storage.conf");
    if !conf.exists() {
        let text = format!(
            "[storage]\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            home.join("containers/storage").display(),
            home.join("containers/run").display()
        );
        fs::write(&conf, text).expect("writing the isolated storage.conf");
    }
    conf
}

/// The isolated home directory [`manifest_cmd`] uses for `store` (`<store>.home`), created if
/// missing. `DOCKER_CONFIG` is `<home>/.docker`, `XDG_RUNTIME_DIR` is `<home>/run` (so
/// `$XDG_RUNTIME_DIR/containers/auth.json` is `<home>/run/containers/auth.json`).
pub fn home_dir(store: &Path) -> PathBuf {
    let mut name = store
        .file_name()
        .expect("store path has a file name")
        .to_os_string();
    name.push(".home");
    let home = store.with_file_name(name);
    fs::create_dir_all(&home).expect("creating the isolated home dir");
    home
}

/// A temp dir owning a store path (`<tmp>/store`, not created: the binary creates it) and its
/// isolated home; `cmd()` is [`manifest_cmd`] for that store.
pub struct TestEnv {
    pub tmp: tempfile::TempDir,
    pub store: PathBuf,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let tmp = tempfile::Builder::new()
            .prefix("manifest-test-")
            .tempdir()
            .expect("creating test temp dir");
        let store = tmp.path().join("store");
        TestEnv { tmp, store }
    }

    /// The `manifest` binary for this environment's store.
    pub fn cmd(&self) -> assert_cmd::Command {
        manifest_cmd(&self.store)
    }

    /// Runs a command that must succeed and returns its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        stdout_of(&self.store, args)
    }

    /// Runs a command that must fail and returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self
            .cmd()
            .args(args)
            .assert()
            .failure()
            .get_output()
            .clone();
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// The isolated home ([`home_dir`]).
    pub fn home(&self) -> PathBuf {
        home_dir(&self.store)
    }

    /// A fresh path inside the temp dir (not created).
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

/// A list `l` made of the images `references` (added from a registry, plain HTTP).
pub fn list_of(env: &TestEnv, references: &[String]) {
    env.run(&["create", "l"]);
    for reference in references {
        env.run(&["add", "--tls-verify=false", "l", reference]);
    }
}

/// `oci:DIR` of a one-layer linux/amd64 image written to `env.path(name)`.
pub fn small_image(env: &TestEnv, name: &str, seed: u64) -> String {
    let layout = env.path(name);
    write_image_layout(
        &layout,
        &ImageSpec::new("linux/amd64", 1, 4096, seed),
        "latest",
    );
    format!("oci:{}", layout.display())
}

/// A list `l` holding one small image from a local layout.
pub fn local_list(env: &TestEnv) {
    env.run(&["create", "l"]);
    env.run(&["add", "l", &small_image(env, "img", 1)]);
}

/// Every regular file below `dir` (paths relative to `dir`) with its bytes; empty if `dir` does
/// not exist. Compare two snapshots to assert that a command left the store byte-identical.
/// Symlinks are recorded as their target path's bytes prefixed by `symlink:`; FIFOs, devices
/// and sockets as `special:` and their mode, files over 64 MiB as `large:` and their size
/// (none of them is read).
pub fn store_snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let rel = path.strip_prefix(root).unwrap().to_path_buf();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            walk(root, &path, out);
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).unwrap();
            let mut v = b"symlink:".to_vec();
            v.extend_from_slice(target.as_os_str().as_encoded_bytes());
            out.insert(rel, v);
        } else if !ft.is_file() {
            use std::os::unix::fs::MetadataExt;
            let mode = e.metadata().unwrap().mode();
            out.insert(rel, format!("special:{mode:o}").into_bytes());
        } else if e.metadata().unwrap().len() > 64 << 20 {
            let len = e.metadata().unwrap().len();
            out.insert(rel, format!("large:{len}").into_bytes());
        } else {
            let bytes =
                fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            out.insert(rel, bytes);
        }
    }
}
