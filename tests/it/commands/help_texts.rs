//! Every command's `--help`, read from the built binary: its options grouped under the same
//! headings as every other command's, and each of its examples run as written, in the order of
//! the story they tell, against a real plain-HTTP registry (on a free port, for
//! `127.0.0.1:5000`), an image buildah built into a private store, and the layouts and files
//! the examples name. An example added later that cannot run fails here.

use crate::support::buildah::Buildah;
use crate::support::image::{write_image_layout, write_index_layout};
use crate::support::{five_platforms, get_manifest, push_layout_image, ImageSpec, Registry};
use crate::support::{manifest_std_cmd, TestEnv};
use std::path::Path;
use std::process::Command;

/// The order the commands' examples run in: each one's starts where the one before left off.
const STORY: &[&str] = &[
    "create",
    "add",
    "annotate",
    "remove",
    "inspect",
    "push",
    "verify",
    "exists",
    "apply",
    "rm",
    "prune",
    "completion",
    "man",
];

/// Example lines whose output says what they did (or that they failed as meant): the line as
/// the help shows it, and what its output must hold.
const PRINTS: &[(&str, &[&str])] = &[
    (
        "manifest exists myapp && echo \"myapp exists\"",
        &["myapp exists"],
    ),
    (
        "manifest verify --require-referrer application/vnd.dev.cosign.artifact.sig.v1+json \
         --tls-verify=false docker://127.0.0.1:5000/app:v1 || echo unsigned",
        &["missing-referrer", "unsigned"],
    ),
    (
        "manifest inspect --format table myapp",
        &["linux/arm/v7", "linux/ppc64le"],
    ),
    (
        "manifest push --tls-verify=false --dry-run --platform linux/amd64,linux/arm64 myapp \
         127.0.0.1:5000/app:v1",
        &["linux/arm64"],
    ),
    ("man -l ./man1/manifest-push.1", &["--tls-verify"]),
];

/// The headings options are grouped under, in the order every help shows the ones it has.
const HEADINGS: &[&str] = &[
    "Arguments",
    "Options",
    "Platform",
    "Format and compression",
    "Artifact",
    "Output",
    "Registry and TLS",
    "Retries and time limits",
    "Local images (containers-storage)",
    "Global options",
];

/// Options that belong under a shared heading, never among a command's own.
const SHARED: &[(&str, &str)] = &[
    ("--platform", "Platform"),
    ("--require-platform", "Platform"),
    ("--os", "Platform"),
    ("--arch", "Platform"),
    ("--variant", "Platform"),
    ("--os-version", "Platform"),
    ("--os-features", "Platform"),
    ("--features", "Platform"),
    ("--quiet", "Output"),
    ("--digestfile", "Output"),
    ("--metadata-file", "Output"),
    ("--authfile", "Registry and TLS"),
    ("--creds", "Registry and TLS"),
    ("--cert-dir", "Registry and TLS"),
    ("--registries-conf", "Registry and TLS"),
    ("--tls-verify", "Registry and TLS"),
    ("--retry", "Retries and time limits"),
    ("--retry-delay", "Retries and time limits"),
    ("--connect-timeout", "Retries and time limits"),
    ("--response-timeout", "Retries and time limits"),
    ("--upload-chunk-size", "Retries and time limits"),
    ("--stall-timeout", "Retries and time limits"),
    ("--root", "Local images (containers-storage)"),
    ("--runroot", "Local images (containers-storage)"),
    ("--storage-driver", "Local images (containers-storage)"),
    ("--storage-opt", "Local images (containers-storage)"),
    ("--store", "Global options"),
    ("--debug", "Global options"),
    ("--lock-timeout", "Global options"),
    ("--helper-timeout", "Global options"),
];

/// Commands that read from registries, and so show the registry options.
const REACH_REGISTRIES: &[&str] = &[
    "create", "add", "annotate", "inspect", "push", "apply", "verify",
];

/// `manifest [COMMAND] --help`.
fn help(command: Option<&str>) -> String {
    let env = TestEnv::new();
    let mut cmd = env.cmd();
    cmd.args(command).arg("--help");
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).expect("help is UTF-8")
}

/// The commands `manifest --help` lists (without `help`).
fn commands() -> Vec<String> {
    let top = help(None);
    let listed = blocks(&top)
        .into_iter()
        .find(|(heading, _)| heading == "Commands")
        .expect("manifest --help lists its commands")
        .1;
    listed
        .iter()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// The help's blocks: each heading (a line `Heading:` at the left margin) with its lines.
fn blocks(help: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in help.lines() {
        let is_heading = !line.starts_with(' ') && line.ends_with(':') && !line.contains(". ");
        if is_heading {
            let heading = line.trim_end_matches(':');
            // "Examples (…):" is the examples block too.
            let heading = heading.split(" (a registry").next().unwrap_or(heading);
            out.push((heading.to_string(), Vec::new()));
        } else if let Some((_, lines)) = out.last_mut() {
            lines.push(line.to_string());
        }
    }
    out
}

/// The options a block shows (`--name` of each option line; a description never starts at
/// the margin an option does).
fn options_of(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| line.starts_with("  -") || line.starts_with("      --"))
        .filter_map(|line| {
            line.split_whitespace()
                .map(|word| word.trim_end_matches(','))
                .find(|word| word.starts_with("--"))
                .map(|word| word.split(['[', '=']).next().unwrap_or(word).to_string())
        })
        .collect()
}

/// The example lines of a help text: the lines of its `Examples:` block, comments left out.
fn examples(help: &str) -> Vec<String> {
    let (_, lines) = blocks(help)
        .into_iter()
        .find(|(heading, _)| heading == "Examples")
        .unwrap_or_else(|| panic!("no Examples block in:\n{help}"));
    lines
        .iter()
        .take_while(|line| !line.trim().is_empty())
        .map(|line| {
            assert!(line.starts_with("  "), "example not indented: {line:?}");
            line.trim().to_string()
        })
        .filter(|line| !line.starts_with('#'))
        .collect()
}

/// A file shown below the examples (`release.yaml:` and its indented lines).
fn shown_file(help: &str, name: &str) -> String {
    let (_, lines) = blocks(help)
        .into_iter()
        .find(|(heading, _)| heading == name)
        .unwrap_or_else(|| panic!("no {name} in:\n{help}"));
    let mut text = String::new();
    for line in lines.iter().take_while(|line| !line.trim().is_empty()) {
        text.push_str(line.strip_prefix("  ").expect("indented file line"));
        text.push('\n');
    }
    text
}

#[test]
fn every_command_groups_its_options_under_headings() {
    let commands = commands();
    assert!(commands.len() >= 13, "{commands:?}");
    for command in &commands {
        let text = help(Some(command));
        let blocks = blocks(&text);
        let headings: Vec<&str> = blocks.iter().map(|(h, _)| h.as_str()).collect();
        // The known headings, in the one order; then the examples (and a file they use).
        let examples_at = headings
            .iter()
            .position(|h| *h == "Examples")
            .unwrap_or_else(|| panic!("{command}: no examples in {headings:?}"));
        let mut canonical = HEADINGS.iter();
        for heading in &headings[..examples_at] {
            assert!(
                canonical.any(|known| known == heading),
                "{command}: heading {heading:?} unknown or out of order in {headings:?}"
            );
        }
        for global in ["Local images (containers-storage)", "Global options"] {
            assert!(headings.contains(&global), "{command}: {headings:?}");
        }
        if REACH_REGISTRIES.contains(&command.as_str()) {
            assert!(
                headings.contains(&"Registry and TLS"),
                "{command}: {headings:?}"
            );
        }
        for (heading, lines) in &blocks {
            for option in options_of(lines) {
                if let Some((_, home)) = SHARED.iter().find(|(name, _)| *name == option) {
                    assert_eq!(
                        heading, home,
                        "{command}: {option} is under {heading:?}, not {home:?}:\n{text}"
                    );
                }
            }
        }
    }
    // The two that had 30 options in one block: a handful of their own now.
    for (command, own) in [
        (
            "push",
            &["--all", "--rm", "--tag", "--dry-run", "--jobs"][..],
        ),
        ("add", &["--all", "--annotation"][..]),
    ] {
        let text = help(Some(command));
        let options = blocks(&text)
            .into_iter()
            .find(|(h, _)| h == "Options")
            .map(|(_, lines)| options_of(&lines))
            .unwrap_or_default();
        for name in own {
            assert!(options.iter().any(|o| o == name), "{command}: {options:?}");
        }
        assert!(options.len() <= 12, "{command}: {options:?}");
    }
}

/// The images, layouts, files and store the examples start from, in `work` and `registry`.
fn prepare_fixtures(work: &Path, registry: &Registry, home: &Path) {
    // The examples' own tools besides manifest (buildah is checked where it builds).
    for (tool, package) in [("bash", "bash"), ("man", "man-db")] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|out| out.status.success());
        assert!(
            found,
            "{tool} is not installed: install it with `apt-get install -y {package}` (the help \
             examples run it)"
        );
    }
    let layouts = tempfile::tempdir().unwrap();
    for (tag, platform, seed) in [("amd64", "linux/amd64", 1), ("arm64", "linux/arm64/v8", 2)] {
        let layout = layouts.path().join(tag);
        write_image_layout(&layout, &ImageSpec::new(platform, 1, 2048, seed), tag);
        push_layout_image(&layout, tag, registry, "app", tag);
    }
    let base = layouts.path().join("base");
    write_index_layout(&base, &five_platforms(), "latest");
    push_layout_image(&base, "latest", registry, "base", "latest");

    // An arm image whose config names no variant (`add --variant v7` sets it).
    write_image_layout(
        &work.join("app-arm"),
        &ImageSpec::new("linux/arm", 1, 2048, 3),
        "latest",
    );

    let chart = std::fs::File::create(work.join("chart.tgz")).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        chart,
        flate2::Compression::default(),
    ));
    let chart_yaml = b"apiVersion: v2\nname: app\nversion: 1.2.0\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(chart_yaml.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, "app/Chart.yaml", &chart_yaml[..])
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    std::fs::write(work.join("values.yaml"), "replicas: 2\n").unwrap();

    // What `buildah build --platform linux/arm64 -t localhost/app:arm64 .` leaves in the
    // private store the examples name.
    let buildah = Buildah {
        root: work.join("containers/storage"),
        runroot: work.join("containers/run"),
        driver: "vfs",
    };
    let content = tempfile::tempdir().unwrap();
    std::fs::write(content.path().join("app.txt"), "app for linux/arm64\n").unwrap();
    buildah.build("localhost/app:arm64", "linux/arm64", content.path());

    // Where the completion examples write (directories a zsh or fish user has).
    for dir in [".zfunc", ".config/fish/completions"] {
        std::fs::create_dir_all(home.join(dir)).unwrap();
    }
}

/// Runs one example line with bash in `work`, as a user would type it: `manifest` from `PATH`,
/// the harness's isolated environment for `store`.
fn run_line(line: &str, work: &Path, store: &Path) -> (bool, String) {
    let isolated = manifest_std_cmd(store);
    let mut bash = Command::new("bash");
    for (key, value) in isolated.get_envs() {
        match value {
            Some(value) => bash.env(key, value),
            None => bash.env_remove(key),
        };
    }
    let binary = assert_cmd::cargo::cargo_bin("manifest");
    let bin_dir = binary.parent().expect("the binary's directory");
    let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let out = bash
        .args(["-c", line])
        .current_dir(work)
        .env("PATH", path)
        .env("MANWIDTH", "100")
        .output()
        .expect("running bash");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_example_runs_as_written() {
    let registry = Registry::plain();
    let env = TestEnv::new();
    let work = env.path("work");
    std::fs::create_dir_all(&work).unwrap();
    prepare_fixtures(&work, &registry, &env.home());
    let port = registry.addr.rsplit(':').next().unwrap().to_string();
    let local = |line: &str| line.replace("127.0.0.1:5000", &format!("127.0.0.1:{port}"));

    let mut commands = commands();
    commands.sort();
    let mut story: Vec<String> = STORY.iter().map(|c| c.to_string()).collect();
    story.sort();
    assert_eq!(
        commands, story,
        "every command has its place in the examples' story"
    );

    let mut seen = Vec::new();
    let mut run = |lines: Vec<String>, store: &Path, context: &str| {
        for line in lines {
            let (ok, output) = run_line(&local(&line), &work, store);
            assert!(ok, "{context}: `{line}` failed:\n{output}");
            let expected = PRINTS.iter().filter(|(shown, _)| *shown == line);
            for expected in expected.flat_map(|(_, words)| words.iter()) {
                assert!(
                    output.contains(expected),
                    "{context}: `{line}` printed no {expected:?}:\n{output}"
                );
            }
            seen.push(line);
        }
    };

    // `manifest --help`'s own short story, in a store of its own.
    run(
        examples(&help(None)),
        &env.path("overview-store"),
        "manifest --help",
    );

    for command in STORY {
        let text = help(Some(command));
        if *command == "apply" {
            std::fs::write(
                work.join("release.yaml"),
                local(&shown_file(&text, "release.yaml")),
            )
            .unwrap();
        }
        let lines = examples(&text);
        assert!(!lines.is_empty(), "{command} --help has no example");
        run(lines, &env.store, &format!("manifest {command} --help"));
    }
    for (line, _) in PRINTS {
        assert!(
            seen.iter().any(|s| s == line),
            "no example `{line}` any more"
        );
    }

    // What the story says it made.
    for (repo, tag) in [
        ("app", "v1"),
        ("app", "v1.2.3"),
        ("app", "v1.2"),
        ("app", "latest"),
        ("app", "1.2.0"),
        ("app", "1.2"),
        ("base", "v2s2"),
    ] {
        let (bytes, _, _) = get_manifest(&registry, repo, tag);
        assert!(!bytes.is_empty(), "{repo}:{tag}");
    }
    let (_, _, base_digest) = get_manifest(&registry, "base", "v2s2");
    let written = std::fs::read_to_string(work.join("digest.txt")).unwrap();
    assert_eq!(Some(written), base_digest);
    for made in [
        "push.json",
        "plan.json",
        "out/index.json",
        "man1/manifest-push.1",
    ] {
        assert!(work.join(made).is_file(), "{made} was not written");
    }
    for made in [".zfunc/_manifest", ".config/fish/completions/manifest.fish"] {
        assert!(env.home().join(made).is_file(), "~/{made} was not written");
    }
    let (ok, _) = run_line("manifest exists myapp", &work, &env.store);
    assert!(!ok, "`manifest rm` left myapp");
}
