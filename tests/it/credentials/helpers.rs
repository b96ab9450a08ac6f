//! Credential helpers (`credsStore`, `credHelpers` of docker's config.json) that misbehave: one
//! that never answers, floods stdout or stderr, fails with a long stderr, or prints something
//! that is not a credential. Each ends in an error naming the helper, quickly (the helper
//! killed at `--helper-timeout` or at its output cap), never with its stdout (secrets) quoted.

use crate::support::expect::refused_cmd;
use crate::support::hostile::{credential_helper, path_with, HANG_LIMIT};
use crate::support::registry::Registry;
use crate::support::{wait, TestEnv};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// `inspect` of an image on `registry`, with `script` as docker's `credsStore` helper (on
/// `$PATH`), and a helper time limit of 1s.
fn with_store(env: &TestEnv, registry: &Registry, script: &str) -> assert_cmd::Command {
    let bin = env.path("bin");
    credential_helper(&bin, "store", script);
    let config = env.home().join(".docker/config.json");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    fs::write(&config, r#"{"credsStore":"store"}"#).unwrap();
    let mut command = env.cmd();
    command.env("PATH", path_with(&bin)).args([
        "--helper-timeout",
        "1s",
        "inspect",
        "--tls-verify=false",
        &registry.docker_ref("app:v1"),
    ]);
    command
}

/// Whether the process `pid` is gone (or a zombie waiting to be reaped), within a few seconds.
fn gone(pid: &str) -> bool {
    let status = Path::new("/proc").join(pid).join("status");
    wait::poll(Duration::from_secs(5), || {
        fs::read_to_string(&status).map_or(true, |text| text.contains("State:\tZ"))
    })
}

#[test]
fn a_helper_that_never_answers_is_killed_with_what_it_started() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let pid_file = env.path("sleeper.pid");
    let script = format!("sleep 60 & echo $! > {}; wait", pid_file.display());
    let started = Instant::now();
    refused_cmd(
        &env,
        with_store(&env, &registry, &script),
        &[
            "credential helper docker-credential-store failed for 127.0.0.1:",
            "did not finish within 1s (--helper-timeout) and was killed",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let pid = fs::read_to_string(&pid_file).unwrap();
    assert!(gone(pid.trim()), "the helper's child {pid} was killed too");
}

/// Runs `inspect` with `script` as the helper (see [`with_store`]), which must fail with every
/// needle; returns stderr.
fn refused_by(script: &str, needles: &[&str]) -> String {
    let env = TestEnv::new();
    let registry = Registry::plain();
    refused_cmd(&env, with_store(&env, &registry, script), needles)
}

#[test]
fn floods_on_stdout_or_stderr_are_cut_and_the_helper_killed() {
    let stderr = refused_by(
        "yes secret-hunter2",
        &["wrote more than 1048576 bytes on stdout and was killed"],
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    refused_by(
        "yes noise >&2",
        &["wrote more than 1048576 bytes on stderr and was killed"],
    );
}

#[test]
fn a_failing_helper_is_quoted_short() {
    let stderr = refused_by(
        "head -c 300000 /dev/zero | tr '\\0' e >&2; exit 1",
        &[
            "it exited with exit status: 1: eeee",
            "characters cut]",
            "more bytes not kept]",
        ],
    );
    assert!(stderr.len() < 5000, "{} bytes of error", stderr.len());
}

#[test]
fn an_answer_that_is_not_a_credential_is_refused_unquoted() {
    let stderr = refused_by(
        r#"printf '{"Username":"u","Secret":"hunter2"'"#,
        &["it printed something that is not a credential"],
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    // A helper that says it has nothing is no credential, and no error.
    let env = TestEnv::new();
    let registry = Registry::plain();
    let mut command = with_store(
        &env,
        &registry,
        "echo 'credentials not found in native keychain'; exit 1",
    );
    let output = command.timeout(HANG_LIMIT).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("docker-credential"), "{stderr}");
}
