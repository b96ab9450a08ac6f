//! Writes a deterministic single-platform OCI image into an OCI layout directory, with no
//! external tools, and prints its manifest digest.
//!
//! ```text
//! cargo run --example mkimage -- DIR OS/ARCH[/VARIANT] [--layers N] [--layer-size BYTES] [--seed N] [--ref NAME]
//! ```
//! Defaults: 1 layer of 1 MiB, seed derived from the platform, ref name `latest`. Running it
//! again with another platform (or ref) adds to the same layout; the same ref is replaced.
//! The result can be used as `oci:DIR:REF`.

// The test fixture writer, which reads what it wrote directly (clippy.toml's file rule is for
// the tool itself).
#[allow(clippy::disallowed_methods)]
#[path = "../tests/it/support/image.rs"]
mod image;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: mkimage DIR OS/ARCH[/VARIANT] [--layers N] [--layer-size BYTES] [--seed N] [--ref NAME]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("Error: {msg}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut positional = Vec::new();
    let (mut layers, mut layer_size, mut seed, mut ref_name) =
        (1usize, 1usize << 20, None::<u64>, "latest".to_string());
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--layers" => layers = parse_num(&value("--layers")?, "--layers")?,
            "--layer-size" => layer_size = parse_num(&value("--layer-size")?, "--layer-size")?,
            "--seed" => seed = Some(parse_num(&value("--seed")?, "--seed")?),
            "--ref" => ref_name = value("--ref")?,
            s if s.starts_with("--") => return Err(format!("unknown flag {s}")),
            _ => positional.push(a),
        }
    }
    let [dir, platform] = <[String; 2]>::try_from(positional).map_err(|p| {
        format!(
            "expected DIR and OS/ARCH[/VARIANT], got {} arguments",
            p.len()
        )
    })?;
    let parts: Vec<&str> = platform.split('/').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "platform must be OS/ARCH[/VARIANT], got {platform:?}"
        ));
    }
    // Without --seed, each platform gets its own content (a stable hash of the platform string).
    let seed = seed.unwrap_or_else(|| {
        platform.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        })
    });
    let spec = image::ImageSpec::new(&platform, layers, layer_size, seed);
    let built = image::write_image_layout(&PathBuf::from(&dir), &spec, &ref_name);
    println!("{}", built.manifest_digest);
    Ok(())
}

fn parse_num<T: std::str::FromStr>(s: &str, flag: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("{flag}: {s:?} is not a non-negative integer"))
}
