//! Every spelling of a blocked registry is blocked (hosts are compared in one canonical form),
//! and a push to each is refused before any request; the same registry unblocked takes a push
//! under an odd spelling. And bombs in configuration: a registries.conf whose TOML error would
//! quote a 400 kB line, an `apply` spec of aliases or nesting that would expand without bound.

use crate::support::expect::{refused, succeeds};
use crate::support::hostile::{image_layout, oci, HANG_LIMIT};
use crate::support::push::manifest_status;
use crate::support::registry::Registry;
use crate::support::{registries_conf, TestEnv};
use std::fs;

#[test]
fn every_spelling_of_a_blocked_host_is_refused_and_an_odd_spelling_reaches_the_registry() {
    let env = TestEnv::new();
    let registry = Registry::plain();
    let port = registry.addr.rsplit(':').next().unwrap().to_string();
    let (layout, _) = image_layout(&env, "img", 42);
    succeeds(&env, &["create", "l", &oci(&layout)]);

    // Unblocked, an odd spelling of the registry's own host works (the same origin).
    let odd = format!("docker://127.0.0.01:0{port}/odd/app:v1");
    succeeds(&env, &["push", "-q", "--tls-verify=false", "l", &odd]);
    assert_eq!(manifest_status(&registry, "odd/app", "v1"), 200);

    let conf = registries_conf(&env.home());
    fs::write(
        &conf,
        format!(
            "[[registry]]\nlocation = 'localhost:{port}'\nblocked = true\n\
             [[registry]]\nlocation = '127.0.0.1:{port}'\nblocked = true\n\
             [[registry]]\nlocation = '[::1]:{port}'\nblocked = true\n"
        ),
    )
    .unwrap();
    let spellings = [
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        format!("Localhost:{port}"),
        format!("localhost.:{port}"),
        format!("localhost:0{port}"),
        format!("127.0.0.1:{port}"),
        format!("127.0.0.1:0{port}"),
        format!("127.000.000.001:{port}"),
        format!("127.1:{port}"),
        format!("[::1]:{port}"),
        format!("[0:0::1]:{port}"),
        format!("[0000:0000:0000:0000:0000:0000:0000:0001]:{port}"),
    ];
    let before = registry.access_log().len();
    for host in &spellings {
        let dest = format!("docker://{host}/blocked/app:v1");
        refused(
            &env,
            &["push", "-q", "--tls-verify=false", "l", &dest],
            &["is blocked (blocked = true in"],
        );
        refused(
            &env,
            &["inspect", "--tls-verify=false", &dest],
            &["is blocked"],
        );
    }
    assert_eq!(
        registry.access_log().len(),
        before,
        "no request reached the registry"
    );
    assert_eq!(manifest_status(&registry, "blocked/app", "v1"), 404);
}

#[test]
fn a_toml_error_on_a_400_kb_line_is_quoted_short() {
    let env = TestEnv::new();
    let conf = registries_conf(&env.home());
    fs::write(
        &conf,
        format!(
            "unqualified-search-registries = ['{}'\n",
            "a".repeat(400_000)
        ),
    )
    .unwrap();
    let stderr = refused(
        &env,
        &["inspect", "docker://reg.io/app:v1"],
        &["characters cut]", "registries.conf"],
    );
    assert!(stderr.len() < 5000, "{} bytes of error", stderr.len());
    // Over the cap of a configuration file: refused unread.
    fs::File::create(&conf).unwrap().set_len(5 << 20).unwrap();
    refused(
        &env,
        &["inspect", "docker://reg.io/app:v1"],
        &["5242880 bytes, over the limit of 4194304 bytes for a configuration file"],
    );
}

#[test]
fn apply_specs_that_would_expand_without_bound_are_refused() {
    let env = TestEnv::new();
    let spec = env.path("bomb.yaml");
    let head = "image: reg.io/app:v1\nmanifests: [{image: reg.io/app:amd64}]\n";
    // The shape, scaled to the 1 MiB cap: a big anchor aliased under an unknown key.
    let aliased = format!(
        "{head}unknown:\n  - &big {}\n{}",
        "x".repeat(512 * 1024),
        "  - *big\n".repeat(50_000)
    );
    let mut laughs = format!("{head}l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for n in 1..12 {
        laughs += &format!(
            "l{n}: &l{n} [{}]\n",
            vec![format!("*l{}", n - 1); 10].join(", ")
        );
    }
    let deep = format!("{head}d: {}{}\n", "[".repeat(50_000), "]".repeat(50_000));
    for (text, says) in [
        (aliased, "bytes of text, aliases expanded"),
        (laughs, "the most a spec file may have"),
        (deep, "levels of nesting"),
    ] {
        fs::write(&spec, text).unwrap();
        let mut command = env.cmd();
        command.args(["apply", "--dry-run", spec.to_str().unwrap()]);
        let output = command.timeout(HANG_LIMIT).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with("Error: "), "{stderr}");
        assert!(
            stderr.contains("bomb.yaml") && stderr.contains(says),
            "{stderr}"
        );
        assert!(stderr.len() < 2000, "{stderr}");
    }
}
