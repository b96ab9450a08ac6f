//! Completions load in bash, man pages render with `man -l`, and a terminal gets a live bar
//! with the rate and the time left.

use crate::support::image::write_image_layout;
use crate::support::{five_platforms, list_of, manifest_std_cmd, TestEnv};
use std::process::Command;

fn tool(name: &str, package: &str) -> std::path::PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{name} not found: install it with `apt-get install -y {package}`")
    })
}

#[test]
fn bash_completion_loads() {
    let bash = tool("bash", "bash");
    let binary = assert_cmd::cargo::cargo_bin("manifest");
    let script = format!(
        "source <('{}' completion bash) && complete -p manifest",
        binary.display()
    );
    let out = Command::new(bash).args(["-c", &script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("-F _manifest manifest"), "{stdout}");
    for shell in ["zsh", "fish"] {
        let env = TestEnv::new();
        let script = env.run(&["completion", shell]);
        assert!(
            script.contains("push") && script.contains("dry-run"),
            "{shell}: {script}"
        );
    }
}

#[test]
fn man_pages_render() {
    let man = tool("man", "man-db");
    let env = TestEnv::new();
    let dir = env.path("man1");
    let written = env.run(&["man", dir.to_str().unwrap()]);
    assert!(written.lines().count() > 10, "{written}");
    let out = Command::new(man)
        .args(["-P", "cat", "-l"])
        .arg(dir.join("manifest-push.1"))
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for words in ["manifest-push", "--dry-run", "--metadata-file", "--tag"] {
        assert!(page.contains(words), "{words} missing from:\n{page}");
    }
}

/// `script` gives the push a terminal for stderr.
#[test]
fn a_terminal_shows_the_rate_and_the_time_left() {
    let script = tool("script", "bsdutils");
    let env = TestEnv::new();
    let source = env.path("src");
    write_image_layout(&source, &five_platforms()[0], "v1");
    list_of(&env, &[format!("oci:{}:v1", source.display())]);
    let binary = assert_cmd::cargo::cargo_bin("manifest");
    let line = format!(
        "'{}' push l 'oci:{}:v1'",
        binary.display(),
        env.path("out").display()
    );
    let mut command = Command::new(script);
    for (key, value) in manifest_std_cmd(&env.store).get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let out = command
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("ETA") && shown.contains("/s"), "{shown}");
    assert!(shown.contains("Pushed sha256:"), "{shown}");
}
