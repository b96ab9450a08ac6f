//! The one integration-test binary: a module per area, one shared harness in `support/`.

// Tests make and inspect their fixtures directly; the rule of clippy.toml is for the tool.
#![allow(clippy::disallowed_methods)]

mod support;

mod beyond;
mod dropin;
mod faults;
mod harness;
mod help_texts;
mod hostile_files;
mod hostile_network;
mod offline;
mod referrers_api;
mod registries_conf;
mod registry;
mod registry_credentials;
mod registry_quirks;
mod registry_requests;
mod registry_transport;
mod resumable;
mod storage;
mod storage_failures;
mod store_safety;
mod tls_config;
mod upstream_buildah;
mod upstream_buildah_storage;
mod upstream_podman;
