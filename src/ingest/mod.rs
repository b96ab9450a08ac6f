//! What goes into a list: image arguments resolved as sealos resolves them ([`resolve`]), the
//! image read to add ([`source`]), OCI artifacts made from files ([`artifact`]), and the lists
//! that `manifest apply` describes in one file ([`apply`]).

pub mod apply;
pub mod artifact;
pub mod resolve;
pub mod source;
