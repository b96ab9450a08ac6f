//! The `manifest` binary: parse arguments, run one command, print the error chain, exit.

mod commands;
mod process_title;

use manifest::cli::{Cli, Command};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Scripts and CI jobs ask for the version often; answer it without building the whole
    // command line (clap's command tree is most of the start-up cost), with clap's exact output.
    if let [_, flag] = std::env::args_os().collect::<Vec<_>>().as_slice() {
        if flag == "--version" || flag == "-V" {
            println!("manifest {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
    }
    let cli = manifest::cli::parse();
    if cli_has_password(&cli) {
        process_title::mask_password();
    }
    commands::set_debug(cli.debug);
    commands::set_storage(&cli.storage);
    let store = cli.store.or_else(|| {
        std::env::var_os("MANIFEST_STORE")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
    });
    let result = match cli.command {
        Command::Create(args) => commands::create::run(store, args),
        Command::Add(args) => commands::add::run(store, args),
        Command::Annotate(args) => commands::annotate::run(store, args),
        Command::Inspect(args) => commands::inspect::run(store, args),
        Command::Push(args) => commands::push::run(store, args),
        Command::Remove(args) => commands::remove::run(store, args),
        Command::Rm(args) => commands::rm::run(store, args),
        Command::Exists(args) => return commands::exists::run(store, args),
        Command::Apply(args) => commands::apply::run(store, args),
        Command::Completion(args) => commands::completion::run(args),
        Command::Man(args) => commands::man::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            // The chain holds text from files and registries: nothing in it may steer the terminal.
            let text = format!("{error:#}");
            eprintln!("Error: {}", manifest::terminal::escape_controls(&text));
            ExitCode::from(1)
        }
    }
}

fn cli_has_password(cli: &Cli) -> bool {
    let flags = match &cli.command {
        Command::Create(a) => &a.registry,
        Command::Add(a) => &a.registry,
        Command::Annotate(a) => &a.registry,
        Command::Inspect(a) => &a.registry,
        Command::Push(a) => &a.registry,
        Command::Apply(a) => &a.registry,
        _ => return false,
    };
    flags.creds.as_deref().is_some_and(|c| c.contains(':'))
}

/// `manifest inspect x | head -1` is not an error (ripgrep does the same).
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
