//! Parsing tests of the command line: Go-style booleans, spellings, usage errors.

use super::*;

fn parse(line: &str) -> Command {
    try_parse_from(std::iter::once("manifest").chain(line.split_whitespace()))
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .command
}

#[test]
fn a_bare_boolean_never_takes_the_next_word() {
    let Command::Push(push) = parse("push --all mylist docker://reg/app:v1") else {
        panic!()
    };
    assert!(push.all);
    assert_eq!(push.list, "mylist");
    assert_eq!(push.destination.as_deref(), Some("docker://reg/app:v1"));

    // `--all false` would be the flag, then a list called "false" (pflag reads it so): what was
    // meant is asked back instead, as a usage error.
    for (line, meant) in [
        ("push --all false dest", "did you mean --all=false?"),
        (
            "push --tls-verify false mylist docker://127.0.0.1:5000/app:v1",
            "did you mean --tls-verify=false?",
        ),
        (
            "inspect --tls-verify true docker://reg/app:v1",
            "did you mean --tls-verify=true?",
        ),
    ] {
        let error = try_parse_from(std::iter::once("manifest").chain(line.split_whitespace()))
            .expect_err(line);
        assert_eq!(error.kind(), clap::error::ErrorKind::InvalidValue, "{line}");
        assert!(error.to_string().contains(meant), "{line}: {error}");
        assert_eq!(error.exit_code(), 2, "{line}");
    }

    let Command::Inspect(inspect) = parse("inspect --tls-verify docker://reg/app:v1") else {
        panic!()
    };
    assert_eq!(inspect.registry.tls_verify, Some(true));
    assert_eq!(inspect.target, "docker://reg/app:v1");

    let Command::Add(add) = parse("add --all --insecure l docker://reg/app:v1") else {
        panic!()
    };
    assert!(add.all);
    assert_eq!(add.registry.insecure, Some(true));
    assert_eq!(add.registry.tls_verify, None);
    assert_eq!(
        (add.list.as_str(), add.images[0].as_str()),
        ("l", "docker://reg/app:v1")
    );
}

#[test]
fn explicit_boolean_values() {
    for (flag, want) in [
        ("--all=false", false),
        ("--all=true", true),
        ("--all=0", false),
        ("--all=T", true),
    ] {
        let Command::Push(push) = parse(&format!("push {flag} l d")) else {
            panic!()
        };
        assert_eq!(push.all, want, "{flag}");
    }
    let Command::Push(push) = parse("push l") else {
        panic!()
    };
    assert!(push.all, "--all defaults to true");
    assert!(push.destination.is_none());
    let Command::Push(push) = parse("push --tls-verify=false --rm=false -q l d") else {
        panic!()
    };
    assert_eq!(push.registry.tls_verify, Some(false));
    assert!(!push.rm);
    assert!(push.copy.quiet);
    let Command::Inspect(inspect) = parse("inspect --insecure=false x") else {
        panic!()
    };
    assert_eq!(inspect.registry.insecure, Some(false));
}

#[test]
fn sealos_podman_and_docker_spellings() {
    let Command::Push(push) = parse("push --purge --remove-signatures l d") else {
        panic!()
    };
    assert!(push.rm && push.remove_signatures);
    // podman's `push -p` is `--purge`; `-p=false` keeps the list.
    for (line, rm) in [("push -p l d", true), ("push -p=false l d", false)] {
        let Command::Push(push) = parse(line) else {
            panic!()
        };
        assert_eq!(push.rm, rm, "{line}");
    }
    let Command::Push(push) = parse("push --sign-by ABCD --signature-policy /p l d") else {
        panic!()
    };
    assert_eq!(push.sign_by.as_deref(), Some("ABCD"));
    assert!(push.signature_policy.is_some());
    let Command::Create(create) = parse("create -a --replace --override-arch arm64 l") else {
        panic!()
    };
    assert!(create.amend && create.replace);
    assert_eq!(create.platform.arch.as_deref(), Some("arm64"));
    let Command::Add(add) = parse("add --override-os linux --override-arch arm l i") else {
        panic!()
    };
    assert_eq!(
        (
            add.entry.platform.os.as_deref(),
            add.entry.platform.arch.as_deref()
        ),
        (Some("linux"), Some("arm"))
    );
    let Command::Rm(rm) = parse("rm -i a b") else {
        panic!()
    };
    assert!(rm.ignore);
    assert_eq!(rm.lists, ["a", "b"]);
    let Command::Inspect(inspect) = parse("inspect -v x") else {
        panic!()
    };
    assert!(inspect.verbose);
}

#[test]
fn push_tags_platforms_and_dry_run() {
    let Command::Push(push) =
        parse("push --dry-run -t v2 --tag v3 --platform linux/amd64,linux/arm64 --referrers l d")
    else {
        panic!()
    };
    assert!(push.copy.dry_run && push.copy.referrers);
    assert_eq!(push.copy.tag, ["v2", "v3"]);
    assert_eq!(push.copy.platform, ["linux/amd64,linux/arm64"]);
    let Command::Remove(remove) = parse("remove --arch arm --variant v7 l") else {
        panic!()
    };
    assert!(remove.digest.is_none());
    assert_eq!(remove.by_platform.arch.as_deref(), Some("arm"));
    let Command::Inspect(inspect) = parse("inspect --format table l") else {
        panic!()
    };
    assert_eq!(inspect.format, InspectFormat::Table);
}

#[test]
fn usage_errors() {
    for line in [
        "push --allow-lossy l d",
        "push --all=maybe l d",
        "push --all",
        "rm",
        "remove l",
        "remove --platform linux/arm/v7 l sha256:abc",
        "remove --override-arch arm l",
        "add --platform linux/amd64 --arch arm64 l i",
        "inspect --raw --format table l",
        "completion tcsh",
    ] {
        let args = std::iter::once("manifest").chain(line.split_whitespace());
        let error = try_parse_from(args)
            .err()
            .unwrap_or_else(|| panic!("{line} parsed"));
        assert_eq!(error.exit_code(), 2, "{line}");
    }
}

#[test]
fn durations_are_bare_seconds_or_go_style() {
    use std::time::Duration;
    for (text, want) in [
        ("2", Duration::from_secs(2)),
        ("0.5", Duration::from_millis(500)),
        ("0", Duration::ZERO),
        ("500ms", Duration::from_millis(500)),
        ("2s", Duration::from_secs(2)),
        ("1.5s", Duration::from_millis(1500)),
        ("1m", Duration::from_secs(60)),
        ("1m30s", Duration::from_secs(90)),
        ("1h", Duration::from_secs(3600)),
        (" 10ms ", Duration::from_millis(10)),
        ("3600", Duration::from_secs(3600)),
    ] {
        assert_eq!(parse_duration(text), Ok(want), "{text:?}");
    }
    for (text, says) in [
        ("1h1s", "out of range (0 to 1h)"),
        ("3601", "out of range (0 to 1h)"),
        ("99999999999999999999999", "out of range (0 to 1h)"),
        ("", "invalid duration \"\""),
        ("1.2.3", "invalid duration \"1.2.3\""),
        ("-1s", "invalid duration \"-1s\""),
        ("2x", "invalid duration \"2x\""),
        ("1e3", "invalid duration \"1e3\""),
        ("fast", "invalid duration \"fast\""),
    ] {
        let error = parse_duration(text).unwrap_err();
        assert!(error.contains(says), "{text:?}: {error}");
        assert!(
            says.contains("range") || error.contains("use e.g. 500ms"),
            "{text:?}: {error}"
        );
    }
    let Command::Push(push) = parse("push --retry-delay 1m30s --stall-timeout 2 l d") else {
        panic!()
    };
    assert_eq!(push.registry.retry_delay, Some(Duration::from_secs(90)));
    assert_eq!(push.registry.stall_timeout, Some(Duration::from_secs(2)));
}
