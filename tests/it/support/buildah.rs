//! Images built by the real buildah, so that tests see exactly what buildah writes (such as
//! the empty `org.opencontainers.image.base.*` annotations in every manifest it commits).
//!
//! buildah runs with its own vfs storage under the caller's directory and a permissive
//! signature policy of its own, so it reads nothing of the machine's configuration.

use std::path::{Path, PathBuf};
use std::process::Command;

const MISSING: &str = "buildah not found: install it with `apt-get install -y buildah`";

/// Builds a one-file image `FROM scratch` for `platform` (`OS/ARCH[/VARIANT]`) with buildah
/// and pushes it to a new OCI layout `<work>/<name>` (ref `latest`); returns the layout's
/// directory. `work` also holds buildah's storage; every call may share it.
pub fn build_layout(work: &Path, name: &str, platform: &str) -> PathBuf {
    let parts: Vec<&str> = platform.split('/').collect();
    assert!(
        (2..=3).contains(&parts.len()),
        "platform must be OS/ARCH[/VARIANT], got {platform:?}"
    );
    let policy = work.join("buildah-policy.json");
    std::fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    let content = work.join(format!("{name}.txt"));
    std::fs::write(&content, format!("{name} for {platform}\n")).unwrap();

    let policy = policy.to_str().expect("UTF-8 temp path");
    let content = content.to_str().expect("UTF-8 temp path");
    let container = buildah(work, &["from", "--signature-policy", policy, "scratch"]);
    let container = container.trim();
    buildah(work, &["copy", container, content, "/"]);
    let mut config = vec!["config", "--os", parts[0], "--arch", parts[1]];
    if let Some(variant) = parts.get(2) {
        config.extend(["--variant", variant]);
    }
    config.push(container);
    buildah(work, &config);
    let image = format!("localhost/{name}:latest");
    buildah(
        work,
        &[
            "commit",
            "-q",
            "--signature-policy",
            policy,
            container,
            &image,
        ],
    );
    let layout = work.join(name);
    let destination = format!("oci:{}:latest", layout.display());
    buildah(
        work,
        &[
            "push",
            "-q",
            "--signature-policy",
            policy,
            &image,
            &destination,
        ],
    );
    layout
}

/// Runs buildah with `args` on the storage under `work`; returns stdout. Panics with buildah's
/// stderr when it fails.
fn buildah(work: &Path, args: &[&str]) -> String {
    let mut command = Command::new("buildah");
    command
        .arg("--root")
        .arg(work.join("buildah-root"))
        .arg("--runroot")
        .arg(work.join("buildah-run"))
        .args(["--storage-driver", "vfs"])
        .args(args)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("STORAGE_DRIVER")
        .env_remove("CONTAINERS_STORAGE_CONF");
    let output = match command.output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{MISSING}"),
        Err(e) => panic!("running buildah: {e}"),
    };
    assert!(
        output.status.success(),
        "buildah {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("buildah prints UTF-8")
}
