//! The configuration podman and buildah users already have, read by the binary:
//! registries.conf (insecure, blocked, mirrors, short names, every spelling of a host) and
//! certs.d, and configuration that would expand or quote without bound.

mod host_spellings;
mod registries_conf;
