//! `inspect` in-process: a list as it will be pushed (indented, raw, table), a layout image,
//! and names that are nothing here.

use super::run as inspect;
use crate::commands::testing::TestEnv;

#[test]
fn a_list_is_printed_as_it_will_be_pushed() {
    let env = TestEnv::new();
    let (index, _, images) = env.index("layout", "v1", &["linux/amd64", "linux/arm64/v8"]);
    env.run(crate::commands::create::run, &["--all", "l", &index]);
    let (document, _) = env.store().find("l").unwrap().document().unwrap();

    let raw = env.run(inspect, &["--raw", "l"]);
    assert_eq!(raw.as_bytes(), document.as_slice());

    let indented = env.run(inspect, &["l"]);
    let value: serde_json::Value = serde_json::from_slice(&document).unwrap();
    assert_eq!(indented, crate::model::oci::pretty(&value));

    let table = env.run(inspect, &["--format", "table", "l"]);
    for (digest, platform) in images.iter().zip(["linux/amd64", "linux/arm64/v8"]) {
        let row = table
            .lines()
            .find(|row| row.contains(platform))
            .unwrap_or_else(|| panic!("no row for {platform}: {table}"));
        assert!(row.contains(&digest.hex()[..12]), "{row}");
    }
}

#[test]
fn a_layout_image_is_read_as_it_is() {
    let env = TestEnv::new();
    let (image, digest) = env.image("layout", "amd64", "linux/amd64");
    let raw = env.run(inspect, &["--raw", &image]);
    assert_eq!(
        crate::model::digest::Digest::sha256_of(raw.as_bytes()),
        digest
    );
    let indented = env.run(inspect, &[&image]);
    assert!(indented.contains("\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\""));
}

#[test]
fn names_that_are_nothing_here_are_errors() {
    let env = TestEnv::new();
    env.create_list("l");
    let missing = format!("oci:{}:v1", env.path("nowhere").display());
    for (target, says) in [
        (
            "nolist",
            "nolist: image not known (no local list or local image by that name",
        ),
        ("library/alpine", "library/alpine: image not known"),
        (missing.as_str(), "not an OCI image layout"),
        // A name without a registry host never reaches the network, whatever it looks like.
        ("dir:x", "dir:x: image not known"),
    ] {
        let error = env.fails(inspect, &[target]);
        assert!(error.contains(says), "{target}: {error}");
    }
}

#[test]
fn a_missing_list_name_says_first_that_no_list_has_it() {
    let env = TestEnv::new();
    env.create_list("localhost/list");
    // Under `localhost/`, the name of a list: that no list has it comes first, with the close
    // name, then what the image lookup answered.
    let error = env.fails(inspect, &["localhost/lsit"]);
    assert!(
        error.starts_with(
            "localhost/lsit: no local list has that name (did you mean localhost/list:latest?); \
             as an image, reading"
        ),
        "{error}"
    );
    let error = env.fails(inspect, &["localhost/other"]);
    assert!(
        error.starts_with("localhost/other: no local list has that name; as an image"),
        "{error}"
    );
    // A short name: sealos' words, with the close name.
    let error = env.fails(inspect, &["lsit"]);
    assert!(
        error.contains("lsit: image not known (no local list or local image by that name; did you mean localhost/list:latest?"),
        "{error}"
    );
}
