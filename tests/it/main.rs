//! The one integration-test binary: a module per area, one shared harness in `support/`.

mod support;

mod faults;
mod harness;
mod offline;
mod registry;
mod registry_requests;
mod registry_transport;
mod storage;
mod storage_failures;
mod store_safety;
