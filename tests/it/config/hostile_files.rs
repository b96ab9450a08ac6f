//! Configuration, credentials, certificates and spec files that are not sane regular files: a
//! symlink to `/dev/zero`, a FIFO, a device, a directory, an 8 GiB sparse file, in place of a
//! registries.conf (and a drop-in, read by every command, `push … oci:` included), storage.conf,
//! the default auth.json, docker's config.json, a certs.d `ca.crt` or `client.key` (with
//! `--tls-verify=false` too) and an `apply` spec. Each is refused at once with an error naming
//! the file and the rule; none hangs or reads without bound. A symlink to a regular file is
//! followed (these are files users and distributions link).

use crate::support::certs::write_stray_client_identity;
use crate::support::expect::{refused, refused_cmd, succeeds};
use crate::support::hostile::{damages, image_layout, make_dir, oci, undamage};
use crate::support::registry::free_port;
use crate::support::TestEnv;
use std::fs;
use std::path::{Path, PathBuf};

/// A reference to a registry nobody listens on: the command stops at the file before any
/// connection.
fn nowhere() -> String {
    format!("docker://127.0.0.1:{}/app:v1", free_port())
}

/// Runs `args` once per damage of `file`, expecting each refusal to name the file; puts
/// nothing back.
fn each_damage(env: &TestEnv, file: &Path, args: &[&str]) {
    each_damage_but(env, file, args, "")
}

/// [`each_damage`] but for the damage called `skipped`.
fn each_damage_but(env: &TestEnv, file: &Path, args: &[&str], skipped: &str) {
    let shown = file.display().to_string();
    for damage in damages() {
        if damage.name == skipped {
            continue;
        }
        undamage(file);
        (damage.apply)(file);
        let stderr = refused(env, args, &[&shown, damage.says_followed]);
        assert!(stderr.lines().count() < 5, "{}: {stderr}", damage.name);
    }
    undamage(file);
}

#[test]
fn registries_conf_and_its_drop_ins() {
    let env = TestEnv::new();
    let (layout, _) = image_layout(&env, "img", 40);
    succeeds(&env, &["create", "l", &oci(&layout)]);
    let out = env.path("out");
    let dest = format!("{}:t", oci(&out));
    // The flag names the main file; with it the user's drop-ins are read too.
    let main = env.path("flag.conf");
    fs::write(&main, "").unwrap();
    let flag = ["--registries-conf", main.to_str().unwrap()];
    let drop_ins = env.home().join(".config/containers/registries.conf.d");
    fs::create_dir_all(&drop_ins).unwrap();
    let drop_in = drop_ins.join("50-x.conf");

    let push: Vec<&str> = ["push", "-q"]
        .into_iter()
        .chain(flag)
        .chain(["l", &dest])
        .collect();
    // A directory among the drop-ins is not a drop-in (containers/image skips it too).
    each_damage_but(&env, &drop_in, &push, "a directory");
    make_dir(&drop_in);
    succeeds(&env, &push);
    undamage(&drop_in);
    each_damage(&env, &main, &push);
    fs::write(&main, "").unwrap();

    // A drop-in that links to a regular file elsewhere is read, as the link means.
    let elsewhere = env.path("shared.conf");
    fs::write(
        &elsewhere,
        "[[registry]]\nlocation = 'other.io'\nblocked = true\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&elsewhere, &drop_in).unwrap();
    succeeds(&env, &push);
    fs::write(
        &elsewhere,
        "[[registry]]\nlocation = 'unused.io'\ninsecure = 'not a bool'\n",
    )
    .unwrap();
    refused(&env, &push, &["50-x.conf is not valid TOML"]);
}

#[test]
fn storage_conf() {
    let env = TestEnv::new();
    let conf = env.home().join("storage.conf");
    crate::support::registries_conf(&env.home());
    // The harness writes storage.conf on its first command.
    succeeds(&env, &["create", "l"]);
    assert!(conf.is_file());
    each_damage(
        &env,
        &conf,
        &["inspect", "containers-storage:localhost/app"],
    );
}

#[test]
fn auth_files_and_docker_config() {
    let env = TestEnv::new();
    // Credentials are looked up once the registry answers.
    let registry = crate::support::registry::Registry::plain();
    let runtime = env.home().join("run/containers/auth.json");
    let docker = env.home().join(".docker/config.json");
    fs::create_dir_all(runtime.parent().unwrap()).unwrap();
    fs::create_dir_all(docker.parent().unwrap()).unwrap();
    let target = registry.docker_ref("app:v1");
    let inspect = ["inspect", "--tls-verify=false", &target];
    each_damage(&env, &runtime, &inspect);
    each_damage(&env, &docker, &inspect);
    // `--authfile` names a file: the same rule, whatever it is.
    let named = env.path("named.json");
    for damage in damages() {
        undamage(&named);
        (damage.apply)(&named);
        let args = [
            "inspect",
            "--authfile",
            named.to_str().unwrap(),
            "--tls-verify=false",
            &target,
        ];
        refused(&env, &args, &["named.json", damage.says_followed]);
    }
}

#[test]
fn certs_d_files_even_without_verification() {
    let env = TestEnv::new();
    let dir = env.path("certs");
    fs::create_dir_all(&dir).unwrap();
    let target = nowhere();
    let ca = dir.join("ca.crt");
    let args = [
        "inspect",
        "--cert-dir",
        dir.to_str().unwrap(),
        "--tls-verify=false",
        &target,
    ];
    each_damage(&env, &ca, &args);
    write_stray_client_identity(&dir, "client");
    each_damage(&env, &dir.join("client.key"), &args);
    write_stray_client_identity(&dir, "client");
    each_damage(&env, &dir.join("client.cert"), &args);
}

#[test]
fn apply_spec_files() {
    let env = TestEnv::new();
    let spec: PathBuf = env.path("release.yaml");
    each_damage(&env, &spec, &["apply", "--dry-run", spec.to_str().unwrap()]);
    // Over the cap of a spec file (1 MiB) without being sparse: refused unread.
    fs::write(&spec, vec![b'#'; (1 << 20) + 1]).unwrap();
    refused(
        &env,
        &["apply", "--dry-run", spec.to_str().unwrap()],
        &["1048577 bytes, over the limit of 1048576 bytes for a spec file"],
    );
    let mut command = env.cmd();
    command
        .args(["apply", "--dry-run", "/dev/stdin"])
        .write_stdin("image: x\n");
    refused_cmd(&env, command, &["/dev/stdin", "not a regular file"]);
}
