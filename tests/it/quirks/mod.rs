//! Registries in the wild (docs/registries.md has the table of their behaviours), each emulated by the fault
//! proxy in front of the real registry: answers to manifests and uploads, chunked uploads that
//! break part-way, and the referrers API.

mod chunked_uploads;
mod push;
mod referrers_api;
