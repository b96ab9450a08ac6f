//! Registries as a transport.
