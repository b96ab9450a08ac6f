//! Files from outside and the store's own: layouts and archives with symlinks, special files
//! and sizes that lie; a damaged store; writers that race or die; locks another process holds.
//! Every case either succeeds or fails with a clear `Error:` line, without hanging and without
//! changing the store.

mod archives;
mod layouts;
mod locks;
mod store;
mod writers;
