//! The command line and what people see: the clap types (`args`, re-exported here), Go-style
//! booleans (`go_flags`), progress on stderr ([`progress`]), `inspect --format table`
//! ([`table`]), man pages and completions ([`manpages`]), and the password of `--creds` hidden
//! from `ps` ([`process_title`]).

use clap::{CommandFactory, FromArgMatches};
use std::ffi::OsString;

// The field docs of the clap types are help text, written for a terminal: `[:TAG]` and
// `<hex>` there are what users type, not rustdoc links or HTML.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
mod args;
pub(crate) mod go_flags;
pub mod manpages;
pub mod process_title;
pub mod progress;
pub mod table;

pub use args::*;

/// The command line as parsed: clap's derive, with every boolean flag made Go-style
/// (`crate::cli::go_flags`). Use this (or [`try_parse_from`]), never `Cli::parse`.
pub fn command() -> clap::Command {
    crate::cli::go_flags::go_style_booleans(Cli::command())
}

/// Parses the process's arguments; prints help or the usage error and exits on failure.
pub fn parse() -> Cli {
    try_parse_from(std::env::args_os()).unwrap_or_else(|error| error.exit())
}

/// Parses `args` (the first one is the program name).
pub fn try_parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut command = command();
    command.build();
    if let Some(spaced) = crate::cli::go_flags::spaced_boolean_value(&command, &args) {
        let message = format!(
            "`{}`: a boolean flag takes its value after `=`, so the next word would be read as \
             an argument; did you mean {}?",
            spaced.written, spaced.meant
        );
        let given_to = match &spaced.subcommand {
            Some(name) => command.find_subcommand_mut(name),
            None => None,
        };
        let error = match given_to {
            Some(sub) => sub.error(clap::error::ErrorKind::InvalidValue, message),
            None => command.error(clap::error::ErrorKind::InvalidValue, message),
        };
        return Err(error);
    }
    let mut matches = command.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches_mut(&mut matches).map_err(|error| error.format(&mut command))
}

#[cfg(test)]
mod tests;
