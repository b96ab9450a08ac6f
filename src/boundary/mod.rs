//! The rules at the program's boundaries, each in the one module everything else goes through:
//! files from outside ([`fsutil`]), helper processes ([`helper`]), text on its way to a
//! terminal ([`terminal`]) and trying again after a failure ([`retry`]).

pub mod fsutil;
pub mod helper;
pub mod retry;
pub mod terminal;
