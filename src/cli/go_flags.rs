//! Go-style boolean flags, as pflag parses them for sealos and buildah: a bare `--all` means
//! true and never takes the next word; `--all=false` / `--all=true` set it explicitly.
//!
//! The rule is applied to the built clap command, to every flag whose value is a `bool`, so a
//! flag added later cannot miss it.

use clap::{Arg, ArgAction, Command};
use std::any::TypeId;
use std::ffi::OsString;

/// `command` and all its subcommands with every boolean flag made Go-style.
pub(crate) fn go_style_booleans(command: Command) -> Command {
    command
        .mut_args(go_style)
        .mut_subcommands(go_style_booleans)
}

/// Whether `arg` holds a `bool` (a switch, or a flag typed `bool` / `Option<bool>`).
fn is_boolean(arg: &Arg) -> bool {
    match arg.get_action() {
        ArgAction::SetTrue | ArgAction::SetFalse => true,
        ArgAction::Set => arg.get_value_parser().type_id() == TypeId::of::<bool>(),
        _ => false,
    }
}

fn go_style(arg: Arg) -> Arg {
    if !is_boolean(&arg) {
        return arg;
    }
    let was_switch = matches!(arg.get_action(), ArgAction::SetTrue);
    let has_default = !arg.get_default_values().is_empty();
    let arg = arg
        .action(ArgAction::Set)
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .value_name("BOOL")
        .value_parser(parse_go_bool);
    if was_switch && !has_default {
        // A plain switch is false when absent; saying so on every flag would only be noise.
        arg.default_value("false").hide_default_value(true)
    } else {
        arg
    }
}

/// Go's `strconv.ParseBool`, which pflag uses: `1 t T TRUE true True`, `0 f F FALSE false False`.
pub(crate) fn parse_go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "{text:?} is not a boolean (use true or false, as in --flag=false)"
        )),
    }
}

/// The words Go-style booleans most often get, when people write them as a separate word.
const SPELLED_BOOLEANS: &[&str] = &["true", "false", "TRUE", "FALSE", "True", "False"];

/// A Go-style boolean flag given its value as the next word (`--tls-verify false`): pflag, like
/// this parser, reads that as a bare `--tls-verify` followed by an argument `false`, which then
/// becomes the list's name. Returns the flag as written, the `--flag=value` that was meant and
/// the subcommand it was given to (`None` for the top level).
///
/// `command` must be built (global flags propagated); `args` starts with the program name.
pub(crate) fn spaced_boolean_value(command: &Command, args: &[OsString]) -> Option<SpacedBoolean> {
    let mut current = command;
    let mut words = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(word) = words.next() {
        if word == "--" {
            return None;
        }
        let arg = if let Some(long) = word.strip_prefix("--") {
            if long.contains('=') {
                continue;
            }
            current.get_arguments().find(|a| a.get_long() == Some(long))
        } else if let Some(short) = word.strip_prefix('-').filter(|s| s.chars().count() == 1) {
            let short = short.chars().next();
            current.get_arguments().find(|a| a.get_short() == short)
        } else {
            // A positional: the first one that names a subcommand selects it.
            if let Some(sub) = current.find_subcommand(word) {
                current = sub;
            }
            continue;
        };
        let Some(arg) = arg else { continue };
        if is_go_boolean(arg) {
            if let Some(next) = words.clone().next() {
                if SPELLED_BOOLEANS.contains(&next) {
                    return Some(SpacedBoolean {
                        written: format!("{word} {next}"),
                        meant: format!("{word}={next}"),
                        subcommand: (!std::ptr::eq(current, command))
                            .then(|| current.get_name().to_string()),
                    });
                }
            }
        } else if arg.get_num_args().is_none_or(|n| n.takes_values()) && !arg.is_positional() {
            // A flag that takes a value: its value is the next word, whatever it says.
            words.next();
        }
    }
    None
}

/// A Go-style boolean written with its value as the next word.
#[derive(Debug)]
pub(crate) struct SpacedBoolean {
    /// `--tls-verify false`
    pub(crate) written: String,
    /// `--tls-verify=false`
    pub(crate) meant: String,
    /// The subcommand the flag was given to, for its usage line.
    pub(crate) subcommand: Option<String>,
}

/// Whether `arg` is one of the Go-style booleans [`go_style`] made (a `BOOL` value after `=`).
fn is_go_boolean(arg: &Arg) -> bool {
    arg.is_require_equals_set()
        && arg
            .get_num_args()
            .is_some_and(|n| n.min_values() == 0 && n.max_values() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meant(line: &str) -> Option<String> {
        let mut command = crate::cli::command();
        command.build();
        let args: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
        spaced_boolean_value(&command, &args).map(|s| s.meant)
    }

    #[test]
    fn a_boolean_given_its_value_as_the_next_word_is_found() {
        let cases = [
            (
                "manifest push --tls-verify false l docker://r/a",
                Some("--tls-verify=false"),
            ),
            (
                "manifest inspect --tls-verify false docker://r/a",
                Some("--tls-verify=false"),
            ),
            (
                "manifest push --all true l docker://r/a",
                Some("--all=true"),
            ),
            ("manifest create --all FALSE l", Some("--all=FALSE")),
            ("manifest push -q false l", Some("-q=false")),
            ("manifest --debug false push l", Some("--debug=false")),
            // Right as they are:
            ("manifest push --tls-verify=false l docker://r/a", None),
            ("manifest push --all l docker://r/a", None),
            ("manifest add --annotation --all=x l img", None),
            // A value-taking flag's value is never a boolean's value.
            ("manifest push --creds true l docker://r/a", None),
            ("manifest add --os false l img", None),
            // After `--` everything is an argument.
            ("manifest create -- --all false", None),
            // A list named `truth` is a list.
            ("manifest push --all truth", None),
        ];
        for (line, want) in cases {
            assert_eq!(meant(line).as_deref(), want, "{line}");
        }
    }

    #[test]
    fn go_spellings() {
        for yes in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(yes), Ok(true), "{yes}");
        }
        for no in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(no), Ok(false), "{no}");
        }
        for bad in ["", "yes", "tRUE", "2", "mylist"] {
            assert!(parse_go_bool(bad).is_err(), "{bad}");
        }
    }

    /// Every boolean flag of the real command line follows the rule, with no exception.
    #[test]
    fn every_boolean_flag_of_the_cli_is_go_style() {
        fn check(command: &Command, path: &str, seen: &mut usize) {
            for arg in command.get_arguments() {
                let name = format!("{path} --{}", arg.get_id());
                assert!(
                    !matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse),
                    "{name} is still a plain switch"
                );
                if is_boolean(arg) {
                    *seen += 1;
                    assert!(arg.is_require_equals_set(), "{name} takes a separate word");
                    let range = arg.get_num_args().expect("set by build");
                    assert_eq!((range.min_values(), range.max_values()), (0, 1), "{name}");
                }
            }
            for sub in command.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()), seen);
            }
        }
        let mut command = crate::cli::command();
        command.build();
        let mut seen = 0;
        check(&command, "manifest", &mut seen);
        assert!(seen > 20, "only {seen} boolean flags found");
    }
}
