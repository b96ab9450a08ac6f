//! `manifest`: create, annotate, inspect and push multi-architecture manifest lists.

pub mod auth;
pub mod digest;
pub mod oci;
pub mod reference;
pub mod tls;
pub mod transport;
