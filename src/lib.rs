//! `manifest`: create, annotate, inspect and push multi-architecture manifest lists.

pub mod apply;
pub mod auth;
pub mod blocking_stream;
pub mod cli;
pub mod commands;
pub mod compress;
pub mod config;
pub mod convert;
pub mod copy;
pub mod digest;
pub mod fsutil;
pub mod go_flags;
pub mod layer_cache;
pub mod list;
pub mod manpages;
pub mod media_type;
pub mod oci;
pub mod platform;
pub mod progress;
pub mod reference;
pub mod resolve;
pub mod retry;
pub mod source;
pub mod store;
pub mod table;
pub mod terminal;
pub mod transport;

/// An error and its causes on one line, for errors folded into another message.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
