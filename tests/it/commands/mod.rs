//! The commands end to end, as users and scripts run them: the list commands on generated
//! layouts, `push --all` against the real registry, the drop-in rules of sealos and buildah
//! scripts, what reaches the terminal, and the help texts (their headings, and every example
//! run as written).

mod dropin;
mod help_texts;
mod lists;
mod messages;
mod push;
