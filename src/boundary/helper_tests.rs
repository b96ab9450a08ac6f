//! Unit tests of `helper`, with `sh` as the helper.

use super::*;

fn limits(timeout_ms: u64) -> Limits {
    Limits {
        timeout: Duration::from_millis(timeout_ms),
        stdout_bytes: 4096,
        stderr_bytes: 512 * 1024,
    }
}

fn sh(script: &str, timeout_ms: u64) -> Result<Output, HelperError> {
    run("sh", &["-c", script], b"reg.io\n", &limits(timeout_ms))
}

#[test]
fn an_answer_in_time_is_collected_with_its_input_read() {
    let output = sh(
        "read server; printf '{\"Server\":\"%s\"}' \"$server\"",
        10_000,
    )
    .unwrap();
    assert!(output.status.success());
    assert_eq!(output.stdout, br#"{"Server":"reg.io"}"#);
    assert!(output.stderr.is_empty());
}

#[test]
fn a_helper_that_hangs_is_killed_with_what_it_started() {
    let started = Instant::now();
    // The shell's child keeps the pipes open: only killing the group ends it.
    let err = sh("echo waiting >&2; sleep 30; echo never", 300).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(
        text.contains("sh did not finish within 300ms (--helper-timeout) and was killed"),
        "{text}"
    );
    assert!(text.contains("its stderr: waiting"), "{text}");
    // Output closed, but the process lingers: still a timeout.
    let err = sh("exec >&- 2>&-; sleep 30", 300).unwrap_err();
    assert!(matches!(err, HelperError::TimedOut { .. }), "{err}");
}

#[test]
fn floods_are_cut_at_their_caps_and_the_helper_killed() {
    let err = sh("yes credential", 10_000).unwrap_err();
    assert_eq!(
        err.to_string(),
        "sh wrote more than 4096 bytes on stdout and was killed"
    );
    let err = sh("yes noise >&2", 10_000).unwrap_err();
    assert!(
        err.to_string().contains("more than 524288 bytes on stderr"),
        "{err}"
    );
}

#[test]
fn a_failing_helpers_long_stderr_is_kept_short() {
    let output = sh("head -c 300000 /dev/zero | tr '\\0' x >&2; exit 3", 10_000).unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(output.stderr.len(), KEPT_STDERR_BYTES);
    let shown = output.stderr_shown();
    assert!(shown.len() < 3000, "{}", shown.len());
    assert!(shown.contains("characters cut]"), "{shown}");
    assert!(
        shown.ends_with(&format!(
            "[{} more bytes not kept]",
            300_000 - KEPT_STDERR_BYTES
        )),
        "{shown}"
    );
}

#[test]
fn a_missing_program_is_named() {
    let err = run("no-such-helper-anywhere", &["get"], b"", &limits(1000)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no-such-helper-anywhere could not be run"),
        "{err}"
    );
}

#[test]
fn a_helper_that_does_not_read_its_input_is_fine() {
    let output = run(
        "sh",
        &["-c", "exec 0<&-; echo ok"],
        &[b'x'; 200_000],
        &limits(10_000),
    );
    // Either it closed stdin before the write (broken pipe, ignored) or after it.
    let output = output.unwrap();
    assert_eq!(output.stdout, b"ok\n");
}
