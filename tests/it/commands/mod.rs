//! The commands end to end, as users and scripts run them: the list commands on generated
//! layouts, `push --all` against the real registry, the drop-in rules of sealos and buildah
//! scripts, and what reaches the terminal.

mod dropin;
mod lists;
mod messages;
mod push;
