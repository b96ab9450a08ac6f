//! `manifest`: create, annotate, inspect and push multi-architecture manifest lists.
//!
//! The folders are layers, each using only those below it (`tests/it/layering/` checks it on the
//! source tree): [`commands`] (one module per verb) → [`cli`] (the command line and what people see) and
//! [`verify`] → [`copy`] (the copy engine) and [`ingest`] (what goes into a list) → [`transport`]
//! (every place images live) → [`config`] (configuration as data) and [`store`] (the local store)
//! → [`model`] (documents, digests, platforms, references, list edits) → [`boundary`] (files from
//! outside, helper processes, terminal text, retries).

// Every public item says what it is for, and every type a public item exposes can be named
// (so it is documented too, and callers can match on it).
#![deny(missing_docs, unnameable_types)]
// Files from outside are read through `fsutil` only (clippy.toml `disallowed-methods`); unit
// tests make and inspect their fixtures directly.
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod boundary;
pub mod cli;
pub mod commands;
pub mod config;
pub mod copy;
pub mod ingest;
pub mod model;
pub mod store;
pub mod transport;
pub mod verify;

/// An error and its causes on one line, for errors folded into another message. A cause whose
/// text the line already holds is not repeated (reqwest and hyper repeat their causes' words).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
