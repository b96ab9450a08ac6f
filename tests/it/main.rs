//! The one integration-test binary: a module per subject, one shared harness in `support/`.

// Tests make and inspect their fixtures directly; the rule of clippy.toml is for the tool.
#![allow(clippy::disallowed_methods)]

mod support;

mod ci;
mod commands;
mod config;
mod credentials;
mod files;
mod harness;
mod layering;
mod quirks;
mod registry;
mod storage;
mod upstream;
