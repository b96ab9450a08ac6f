//! The configuration podman and buildah users already have, read by the binary:
//! registries.conf (insecure, blocked in every spelling of a host, mirrors, short names) and
//! certs.d; and configuration, credential and certificate files that are not sane regular files.

mod hostile_files;
mod registries_conf;
