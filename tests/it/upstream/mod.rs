//! The upstream suites, one test per case: buildah's `tests/lists.bats` (registry images, and
//! images in containers-storage) and podman's `test/system/012-manifest.bats`.

mod buildah;
mod buildah_storage;
mod podman;
