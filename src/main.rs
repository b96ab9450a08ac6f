//! The `manifest` binary: parse arguments, build the [`Ctx`], run one command, print the error
//! chain, exit.

use manifest::cli::{Cli, Command};
use manifest::commands::{self, Ctx};
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
        manifest::cli::process_title::mask_password();
    }
    let Cli {
        store,
        debug,
        storage,
        waits,
        command,
    } = cli;
    waits.install();
    let mut stdout = std::io::stdout();
    let mut ctx = Ctx::from_flags(store, debug, &storage, &mut stdout);
    let result = match command {
        Command::Create(args) => commands::create::run(&mut ctx, args),
        Command::Add(args) => commands::add::run(&mut ctx, args),
        Command::Annotate(args) => commands::annotate::run(&mut ctx, args),
        Command::Inspect(args) => commands::inspect::run(&mut ctx, args),
        Command::Push(args) => commands::push::run(&mut ctx, args),
        Command::Remove(args) => commands::remove::run(&mut ctx, args),
        Command::Rm(args) => commands::rm::run(&mut ctx, args),
        Command::Exists(args) => {
            return match commands::exists::run(&mut ctx, args) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(error) => {
                    report(&error);
                    ExitCode::from(125)
                }
            }
        }
        Command::Prune(args) => commands::prune::run(&mut ctx, args),
        Command::Apply(args) => commands::apply::run(&mut ctx, args),
        Command::Verify(args) => match commands::verify::run(&mut ctx, args) {
            // Problems were printed as the result; the exit status says there were some.
            Ok(false) => return flushed(&mut ctx, ExitCode::from(1)),
            other => other.map(|_| ()),
        },
        Command::Completion(args) => commands::completion::run(&mut ctx, args),
        Command::Man(args) => commands::man::run(&mut ctx, args),
    };
    match result.and_then(|()| Ok(ctx.out.flush()?)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            ExitCode::from(1)
        }
    }
}

/// `code`, once the result is flushed (a failed flush is reported as any error).
fn flushed(ctx: &mut Ctx, code: ExitCode) -> ExitCode {
    match ctx.out.flush() {
        Ok(()) => code,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(error) => {
            report(&error.into());
            ExitCode::from(1)
        }
    }
}

/// Prints `Error: ` and the error chain on one line. The chain holds text from files and
/// registries: nothing in it may steer the terminal.
fn report(error: &anyhow::Error) {
    let text = format!("{error:#}");
    eprintln!(
        "Error: {}",
        manifest::boundary::terminal::escape_controls(&text)
    );
}

fn cli_has_password(cli: &Cli) -> bool {
    let flags = match &cli.command {
        Command::Create(a) => &a.registry,
        Command::Add(a) => &a.registry,
        Command::Annotate(a) => &a.registry,
        Command::Inspect(a) => &a.registry,
        Command::Push(a) => &a.registry,
        Command::Apply(a) => &a.registry,
        Command::Verify(a) => &a.registry,
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
