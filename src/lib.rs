//! `manifest`: create, annotate, inspect and push multi-architecture manifest lists.

pub mod digest;
pub mod oci;
pub mod reference;
pub mod transport;
