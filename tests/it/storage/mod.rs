//! containers-storage: images the real buildah built, read by local name and by
//! `containers-storage:` reference and pushed; stores that change under a push; stores that
//! point outside themselves or lie about sizes.

mod failures;
mod hostile_files;
mod images;
