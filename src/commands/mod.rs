//! One module per verb: parse typed values, call the library, print the result.

pub mod add;
pub mod annotate;
pub mod create;
pub mod exists;
pub mod inspect;
pub mod push;
pub mod remove;
pub mod rm;

use anyhow::{Context as _, Result};
use manifest::cli::{RegistryFlags, StorageFlags};
use manifest::list::{parse_annotations, split_list_flags, EntryEdit};
use manifest::reference::normalize_list_name;
use manifest::store::{Store, StoreError, StoredList};
use manifest::transport::open::Transports;
use manifest::transport::registry::RegistryOptions;
use manifest::transport::storage::config::StorageOptions;
use std::io::Write;
use std::path::PathBuf;

/// Opens the store named by `--store`/`MANIFEST_STORE`, or the user's default one.
pub fn open_store(root: Option<PathBuf>) -> Result<Store> {
    let root = root.unwrap_or_else(Store::default_root);
    Ok(Store::open(root)?)
}

/// Finds a list by name (normalised) or ID.
pub fn find_list(store: &Store, raw: &str) -> Result<StoredList, StoreError> {
    let name = normalize_list_name(raw).ok();
    store.resolve(name.as_deref(), raw)
}

/// `--debug`, a global flag: set once by `main` before any command runs.
static DEBUG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_debug(on: bool) {
    DEBUG.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// The global storage flags, set once by `main` before any command runs.
static STORAGE: std::sync::OnceLock<StorageOptions> = std::sync::OnceLock::new();

pub fn set_storage(flags: &StorageFlags) {
    let _ = STORAGE.set(StorageOptions {
        root: flags.root.clone(),
        run_root: flags.runroot.clone(),
        driver: flags.storage_driver.clone(),
        options: flags.storage_opt.clone(),
    });
}

/// Transports for a command: its registry options and the global storage flags.
pub fn transports(registry: RegistryOptions) -> Transports {
    Transports::new(registry).with_storage(STORAGE.get().cloned().unwrap_or_default())
}

pub fn registry_options(flags: &RegistryFlags) -> RegistryOptions {
    let defaults = RegistryOptions::default();
    RegistryOptions {
        creds: flags.creds.clone(),
        authfile: flags.authfile.clone(),
        cert_dir: flags.cert_dir.clone(),
        tls_verify: flags.tls_verify,
        retries: flags.retry,
        retry_delay: flags.retry_delay.unwrap_or(defaults.retry_delay),
        debug: DEBUG.load(std::sync::atomic::Ordering::Relaxed),
    }
}

pub fn entry_edit(flags: &manifest::cli::EntryFlags) -> Result<EntryEdit> {
    Ok(EntryEdit {
        os: flags.os.clone(),
        arch: flags.arch.clone(),
        variant: flags.variant.clone(),
        os_version: flags.os_version.clone(),
        os_features: split_list_flags(&flags.os_features),
        features: split_list_flags(&flags.features),
        annotations: parse_annotations(&flags.annotation)?,
    })
}

/// A runtime for the commands that do I/O beyond the store.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Writes one line of the command's result to stdout.
pub fn print_line(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}
