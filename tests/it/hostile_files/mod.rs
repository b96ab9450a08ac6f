//! Hostile files, damaged stores and concurrent writers: layouts and archives with symlinks,
//! special files and sizes that lie; store files that are FIFOs or garbage; pushes racing each
//! other; text that tries to steer the terminal. Every case either succeeds or fails with a
//! clear `Error:` line, without hanging and without changing the store.

mod archives;
mod config_files;
mod helpers;
mod host_spellings;
mod layout_reads;
mod locks;
mod messages;
mod storage_files;
mod store_files;
mod writers;
