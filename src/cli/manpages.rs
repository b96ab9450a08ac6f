//! Man pages and shell completion scripts, generated from the clap definitions
//! ([`crate::cli::command`]), so they always say what the parser accepts.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `manifest.1` and one `manifest-<command>.1` per command into `dir` (created if
/// missing); returns the files written.
pub fn write_man_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut command = crate::cli::command();
    command.build();
    let mut written = vec![write_page(dir, "manifest", command.clone())?];
    for sub in command.get_subcommands() {
        let name = format!("manifest-{}", sub.get_name());
        // The page's NAME and SYNOPSIS say `manifest-push`, as git's and podman's pages do.
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(name.replace('-', " "));
        written.push(write_page(dir, &name, page)?);
    }
    Ok(written)
}

fn write_page(dir: &Path, name: &str, command: clap::Command) -> std::io::Result<PathBuf> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .title(name.to_uppercase())
        .section("1")
        .source(format!("manifest {}", env!("CARGO_PKG_VERSION")))
        .manual("manifest manual")
        .render(&mut page)?;
    let path = dir.join(format!("{name}.1"));
    crate::boundary::fsutil::write_atomic(&path, &page).map_err(std::io::Error::other)?;
    Ok(path)
}

/// The completion script for `shell`, written to `out`.
pub fn write_completion(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut command = crate::cli::command();
    clap_complete::generate(shell, &mut command, "manifest", out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_per_command() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_man_pages(dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in [
            "manifest.1",
            "manifest-push.1",
            "manifest-apply.1",
            "manifest-remove.1",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
        let push = std::fs::read_to_string(dir.path().join("manifest-push.1")).unwrap();
        assert!(push.contains("dry\\-run"), "{push}");
    }

    #[test]
    fn completions_name_every_command() {
        let mut bash = Vec::new();
        write_completion(clap_complete::Shell::Bash, &mut bash);
        let bash = String::from_utf8(bash).unwrap();
        assert!(bash.contains("complete -F _manifest"), "{bash}");
        for command in ["apply", "push", "completion"] {
            assert!(bash.contains(command), "{command}");
        }
    }
}
