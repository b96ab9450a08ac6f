//! `manifest`: create, annotate, inspect and push multi-architecture manifest lists.

pub mod auth;
pub mod cli;
pub mod config;
pub mod convert;
pub mod copy;
pub mod digest;
pub mod fsutil;
pub mod go_flags;
pub mod list;
pub mod media_type;
pub mod oci;
pub mod progress;
pub mod reference;
pub mod retry;
pub mod source;
pub mod store;
pub mod terminal;
pub mod transport;
