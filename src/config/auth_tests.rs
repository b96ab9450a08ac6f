//! Unit tests of `auth`.

use super::*;
use std::io::Write;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::File::create(&path)
        .unwrap()
        .write_all(content.as_bytes())
        .unwrap();
    path
}

fn auth_json(entries: &[(&str, &str)]) -> String {
    let mut auths = serde_json::Map::new();
    for (key, userpass) in entries {
        auths.insert(
            key.to_string(),
            serde_json::json!({ "auth": b64(userpass) }),
        );
    }
    serde_json::json!({ "auths": auths }).to_string()
}

/// Sources that all point into an empty temp dir, so nothing real is read.
fn sources(dir: &Path) -> AuthSources {
    AuthSources {
        creds: None,
        authfile: None,
        registry_auth_file: None,
        runtime_auth_file: Some(dir.join("run/containers/auth.json")),
        user_auth_file: Some(dir.join("config/containers/auth.json")),
        docker_config: Some(dir.join("docker/config.json")),
    }
}

/// The user name `s` finds for `registry/repository`, if any.
fn username(s: &AuthSources, registry: &str, repository: &str) -> Option<String> {
    s.lookup(registry, repository)
        .unwrap()
        .credential
        .map(|c| c.username().to_string())
}

fn user_of(lookup: &Lookup) -> Option<(&str, &str)> {
    lookup
        .credential
        .as_ref()
        .map(|c| (c.username(), c.password()))
}

#[test]
fn creds_parsing() {
    let c = parse_creds("alice:s3:cret").unwrap();
    assert_eq!((c.username(), c.password()), ("alice", "s3:cret"));
    let c = parse_creds("alice:").unwrap();
    assert_eq!(c.password(), "");
    let err = parse_creds("alice").unwrap_err().to_string();
    assert!(
        err.contains("interactive password prompt is not supported"),
        "{err}"
    );
    assert!(err.contains("USER:PASS"), "{err}");
    assert!(matches!(parse_creds(":x"), Err(AuthError::EmptyUser)));
}

#[test]
fn debug_redacts_passwords() {
    let c = Credential::new("alice", "hunter2");
    let shown = format!("{c:?}");
    assert!(
        shown.contains("alice") && !shown.contains("hunter2"),
        "{shown}"
    );
    let s = AuthSources {
        creds: Some("alice:hunter2".into()),
        ..Default::default()
    };
    let shown = format!("{s:?}");
    assert!(
        shown.contains("alice") && !shown.contains("hunter2"),
        "{shown}"
    );
}

#[test]
fn nothing_configured_is_anonymous() {
    let dir = tempfile::tempdir().unwrap();
    let lookup = sources(dir.path()).lookup("reg.io", "a/b").unwrap();
    assert_eq!(lookup.credential, None);
    assert!(
        lookup.searched.starts_with("--creds, "),
        "{}",
        lookup.searched
    );
    assert!(
        lookup.searched.contains("docker/config.json"),
        "{}",
        lookup.searched
    );
}

#[test]
fn creds_flag_wins_over_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sources(dir.path());
    s.authfile = Some(write(
        dir.path(),
        "a.json",
        &auth_json(&[("reg.io", "file:pw")]),
    ));
    s.creds = Some("flag:pw".into());
    let lookup = s.lookup("reg.io", "x").unwrap();
    assert_eq!(user_of(&lookup), Some(("flag", "pw")));
    assert_eq!(lookup.source.as_deref(), Some("--creds"));
    assert_eq!(lookup.searched, "--creds (used)");
}

#[test]
fn precedence_of_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut s = sources(d);
    let authfile = write(d, "flag.json", &auth_json(&[("reg.io", "authfile:1")]));
    let envfile = write(d, "env.json", &auth_json(&[("reg.io", "envfile:2")]));
    write(
        d,
        "run/containers/auth.json",
        &auth_json(&[("reg.io", "runtime:3")]),
    );
    write(
        d,
        "config/containers/auth.json",
        &auth_json(&[("reg.io", "user:4")]),
    );
    write(
        d,
        "docker/config.json",
        &auth_json(&[("reg.io", "docker:5")]),
    );
    s.authfile = Some(authfile);
    s.registry_auth_file = Some(envfile);

    let order = ["authfile", "envfile", "runtime", "user", "docker"];
    for (i, expected) in order.iter().enumerate() {
        let lookup = s.lookup("reg.io", "x").unwrap();
        assert_eq!(lookup.credential.as_ref().unwrap().username(), *expected);
        assert!(lookup.searched.ends_with("(used)"), "{}", lookup.searched);
        assert!(
            lookup.searched.starts_with("--creds, "),
            "{}",
            lookup.searched
        );
        // Remove the winning source so the next one is found.
        match i {
            0 => s.authfile = None,
            1 => s.registry_auth_file = None,
            2 => std::fs::remove_file(d.join("run/containers/auth.json")).unwrap(),
            3 => std::fs::remove_file(d.join("config/containers/auth.json")).unwrap(),
            _ => {}
        }
    }
}

#[test]
fn a_file_without_the_registry_falls_through() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut s = sources(d);
    s.authfile = Some(write(d, "flag.json", &auth_json(&[("other.io", "o:o")])));
    write(
        d,
        "config/containers/auth.json",
        &auth_json(&[("reg.io", "user:4")]),
    );
    let lookup = s.lookup("reg.io", "x").unwrap();
    assert_eq!(user_of(&lookup), Some(("user", "4")));
    assert!(
        lookup.searched.contains("flag.json, "),
        "{}",
        lookup.searched
    );
}

#[test]
fn explicit_authfile_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sources(dir.path());
    s.authfile = Some(dir.path().join("missing.json"));
    let err = s.lookup("reg.io", "x").unwrap_err().to_string();
    assert!(
        err.contains("--authfile") && err.contains("missing.json"),
        "{err}"
    );

    let mut s = sources(dir.path());
    s.registry_auth_file = Some(dir.path().join("missing.json"));
    let err = s.lookup("reg.io", "x").unwrap_err().to_string();
    assert!(err.contains("$REGISTRY_AUTH_FILE"), "{err}");
}

#[test]
fn malformed_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sources(dir.path());
    s.authfile = Some(write(dir.path(), "bad.json", "{not json"));
    assert!(matches!(
        s.lookup("reg.io", "x"),
        Err(AuthError::Malformed { .. })
    ));

    s.authfile = Some(write(
        dir.path(),
        "bad2.json",
        r#"{"auths":{"reg.io":{"auth":"!!notbase64"}}}"#,
    ));
    assert!(matches!(
        s.lookup("reg.io", "x"),
        Err(AuthError::BadEntry { .. })
    ));

    s.authfile = Some(write(
        dir.path(),
        "tok.json",
        r#"{"auths":{"reg.io":{"identitytoken":"abc"}}}"#,
    ));
    assert!(matches!(
        s.lookup("reg.io", "x"),
        Err(AuthError::IdentityToken { .. })
    ));
}

#[test]
fn key_matching() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sources(dir.path());
    let file = write(
        dir.path(),
        "a.json",
        &auth_json(&[
            ("reg.io:5000", "host:1"),
            ("reg.io:5000/team", "team:2"),
            ("reg.io:5000/team/app", "app:3"),
            ("https://legacy.io/v1/", "legacy:4"),
            ("https://index.docker.io/v1/", "hub:5"),
            ("other.io/team", "scoped:6"),
        ]),
    );
    s.authfile = Some(file);
    let user = |reg: &str, repo: &str| username(&s, reg, repo);
    assert_eq!(user("reg.io:5000", "team/app").as_deref(), Some("app"));
    assert_eq!(user("reg.io:5000", "team/other").as_deref(), Some("team"));
    assert_eq!(user("reg.io:5000", "solo").as_deref(), Some("host"));
    assert_eq!(user("reg.io", "solo"), None, "the port is part of the key");
    assert_eq!(user("legacy.io", "x").as_deref(), Some("legacy"));
    assert_eq!(user("docker.io", "library/alpine").as_deref(), Some("hub"));
    assert_eq!(user("other.io", "team/x").as_deref(), Some("scoped"));
    assert_eq!(
        user("other.io", "elsewhere"),
        None,
        "a scoped key is not a host key"
    );
}

#[test]
fn docker_config_auths() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "docker/config.json",
        &auth_json(&[
            ("https://index.docker.io/v1/", "hub:1"),
            ("reg.io:5000", "r:2"),
        ]),
    );
    let s = sources(d);
    let lookup = s.lookup("docker.io", "library/alpine").unwrap();
    assert_eq!(user_of(&lookup), Some(("hub", "1")));
    assert!(lookup.source.unwrap().ends_with("docker/config.json"));
    let lookup = s.lookup("reg.io:5000", "x").unwrap();
    assert_eq!(user_of(&lookup), Some(("r", "2")));
    assert_eq!(s.lookup("elsewhere.io", "x").unwrap().credential, None);
}

/// Tests that change `$PATH` take this lock so they do not race each other.
static PATH_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(unix)]
#[test]
fn docker_config_credential_helpers() {
    use std::os::unix::fs::PermissionsExt;
    let _guard = PATH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A helper that knows one server and answers like docker-credential-helpers otherwise.
    let helper = write(
        d,
        "bin/docker-credential-fake",
        "#!/bin/sh\nread server\nif [ \"$server\" = \"reg.io:5000\" ]; then\n  \
         printf '{\"ServerURL\":\"%s\",\"Username\":\"helper\",\"Secret\":\"pw\"}' \"$server\"\n\
         else\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
    );
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    write(
        d,
        "docker/config.json",
        r#"{"auths":{},"credHelpers":{"reg.io:5000":"fake"},"credsStore":"fake"}"#,
    );
    let old_path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![d.join("bin")];
    paths.extend(std::env::split_paths(&old_path));
    std::env::set_var("PATH", std::env::join_paths(paths).unwrap());

    let s = sources(d);
    let found = s.lookup("reg.io:5000", "x");
    let missing = s.lookup("other.io", "x");

    write(d, "docker/config.json", r#"{"credsStore":"absent-helper"}"#);
    let broken = s.lookup("other.io", "x");
    std::env::set_var("PATH", old_path);

    assert_eq!(user_of(&found.unwrap()), Some(("helper", "pw")));
    assert_eq!(missing.unwrap().credential, None);
    let err = broken.unwrap_err().to_string();
    assert!(err.contains("docker-credential-absent-helper"), "{err}");
}

#[test]
fn keys_match_every_spelling_of_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sources(dir.path());
    s.authfile = Some(write(
        dir.path(),
        "a.json",
        &auth_json(&[
            ("LOCALHOST:05000", "upper:1"),
            ("Reg.IO:443/team", "team:2"),
            ("https://[0:0::1]:5001/v1/", "legacy6:3"),
            ("127.0.0.01:5002", "octal:4"),
        ]),
    ));
    let user = |reg: &str, repo: &str| username(&s, reg, repo);
    assert_eq!(user("localhost:5000", "x").as_deref(), Some("upper"));
    assert_eq!(user("reg.io", "team/app").as_deref(), Some("team"));
    assert_eq!(user("[::1]:5001", "x").as_deref(), Some("legacy6"));
    assert_eq!(user("127.0.0.1:5002", "x").as_deref(), Some("octal"));
    assert_eq!(user("localhost:5001", "x"), None);
}

/// Runs `lookup` for `other.io` with a helper script as `docker-credential-fake` on `$PATH`.
fn with_helper(script: &str, config: &str) -> Result<Lookup, AuthError> {
    use std::os::unix::fs::PermissionsExt;
    let _guard = PATH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let helper = write(
        d,
        "bin/docker-credential-fake",
        &format!("#!/bin/sh\n{script}\n"),
    );
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    write(d, "docker/config.json", config);
    let old_path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![d.join("bin")];
    paths.extend(std::env::split_paths(&old_path));
    std::env::set_var("PATH", std::env::join_paths(paths).unwrap());
    let result = sources(d).lookup("other.io", "x");
    std::env::set_var("PATH", old_path);
    result
}

#[cfg(unix)]
#[test]
fn misbehaving_helpers_are_clear_errors_that_never_show_stdout() {
    let store = r#"{"credsStore":"fake"}"#;
    let err = with_helper("echo 'not json, secret hunter2'", store)
        .unwrap_err()
        .to_string();
    assert!(err.contains("docker-credential-fake"), "{err}");
    assert!(err.contains("not a credential"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let err = with_helper(r#"echo '{"Username":7,"Secret":"hunter2"}'"#, store)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not a credential") && !err.contains("hunter2"),
        "{err}"
    );

    let err = with_helper("head -c 300000 /dev/zero | tr '\\0' e >&2; exit 2", store)
        .unwrap_err()
        .to_string();
    assert!(err.contains("exited with exit status: 2"), "{err}");
    assert!(err.len() < 4000, "the stderr is cut: {} bytes", err.len());
    assert!(err.contains("characters cut]"), "{err}");

    let err = with_helper("yes hunter2", store).unwrap_err().to_string();
    assert!(
        err.contains("more than 1048576 bytes on stdout and was killed"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    let err = with_helper("yes noise >&2", store).unwrap_err().to_string();
    assert!(
        err.contains("more than 1048576 bytes on stderr and was killed"),
        "{err}"
    );

    let err = with_helper("exit 0", r#"{"credHelpers":{"other.io":"../../bin/sh"}}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a plain name"), "{err}");

    // The identity-token answer, and a helper for another spelling of the host.
    let answer = r#"echo '{"Username":"<token>","Secret":"t"}'"#;
    let err = with_helper(answer, r#"{"credHelpers":{"OTHER.io:443":"fake"}}"#).unwrap_err();
    assert!(matches!(err, AuthError::IdentityToken { .. }), "{err}");
}
