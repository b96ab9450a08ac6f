//! What the tool works on, with no I/O: the documents ([`oci`]), digests, media types,
//! platforms, what users type ([`mod@reference`]) and the pure edits of a list ([`list`]).

pub mod digest;
pub mod list;
pub mod media_type;
pub mod oci;
pub mod platform;
pub mod reference;
