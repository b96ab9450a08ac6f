//! The one integration-test binary: a module per area, one shared harness in `support/`.

mod support;

mod faults;
mod harness;
mod hostile_files;
mod offline;
mod registry;
mod registry_requests;
mod registry_transport;
mod store_safety;
