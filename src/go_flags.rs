//! Go-style boolean flags, as pflag parses them for sealos and buildah: a bare `--all` means
//! true and never takes the next word; `--all=false` / `--all=true` set it explicitly.
//!
//! The rule is applied to the built clap command, to every flag whose value is a `bool`, so a
//! flag added later cannot miss it.

use clap::{Arg, ArgAction, Command};
use std::any::TypeId;

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

#[cfg(test)]
mod tests {
    use super::*;

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
