//! `manifest`: create, annotate, inspect and push multi-architecture manifest lists.

pub mod auth;
pub mod blocking_stream;
pub mod cli;
pub mod compress;
pub mod convert;
pub mod copy;
pub mod digest;
pub mod layer_cache;
pub mod list;
pub mod oci;
pub mod progress;
pub mod reference;
pub mod source;
pub mod store;
pub mod tls;
pub mod transport;
