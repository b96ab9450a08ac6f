//! Where a list entry's content is read from, as the list holds it: a parsed image reference,
//! or the store itself. Its text form exists only in the store's record of a list.

use crate::model::digest::Digest;
use crate::model::reference::ImageRef;
use std::collections::BTreeMap;
use std::fmt;

/// Where an entry of a list is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The image it was added from, pinned by digest where that means anything.
    Image(ImageRef),
    /// The store itself (an artifact made by `add --artifact`).
    Store,
}

impl fmt::Display for Source {
    /// For messages: the image's reference, or `the store`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Image(image) => write!(f, "{image}"),
            Source::Store => f.write_str("the store"),
        }
    }
}

/// Where each entry of a list is read from, by the entry's digest.
pub type Sources = BTreeMap<Digest, Source>;

#[cfg(test)]
impl Source {
    /// The image `reference` names, for tests.
    pub(crate) fn image(reference: &str) -> Self {
        Source::Image(crate::model::reference::parse_image(reference).expect("a valid reference"))
    }
}
