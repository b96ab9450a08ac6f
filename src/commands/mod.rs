//! One module per verb: parse typed values, call the library, print the result.

pub mod add;
pub mod annotate;
pub mod apply;
pub mod completion;
pub mod create;
pub mod exists;
pub mod inspect;
pub mod man;
pub mod push;
pub mod remove;
pub mod rm;

use anyhow::{bail, Context as _, Result};
use manifest::cli::{RegistryFlags, StorageFlags};
use manifest::config::registries::RegistriesConf;
use manifest::config::sources::ConfSources;
use manifest::list::{parse_annotations, split_list_flags, EntryEdit};
use manifest::reference::{normalize_list_name, parse_image, ImageRef};
use manifest::retry::RetryPolicy;

use manifest::store::{Store, StoreError, StoredList};
use manifest::transport::open::Transports;
use manifest::transport::registry::{RegistryOptions, Timeouts};
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

/// The registry settings the flags ask for. Every command that has registry flags calls this
/// first, so a missing auth file or a TLS flag clash stops it before the store or the network.
pub fn registry_options(flags: &RegistryFlags) -> Result<RegistryOptions> {
    check_authfile(flags.authfile.as_deref())?;
    // Given, it overrides every registry of the command; not given, each registry is verified
    // (or not, as registries.conf says).
    let tls_verify = match (flags.tls_verify, flags.insecure) {
        (Some(_), Some(_)) => bail!("--insecure may not be used with --tls-verify"),
        (Some(verify), None) => Some(verify),
        (None, Some(insecure)) => Some(!insecure),
        (None, None) => None,
    };
    let sources = ConfSources::from_env(flags.registries_conf.as_deref());
    let registries = RegistriesConf::load(&sources)
        .with_context(|| format!("reading registries.conf ({})", sources.describe()))?;
    let defaults = RegistryOptions::default();
    Ok(RegistryOptions {
        registries: std::sync::Arc::new(registries),
        creds: flags.creds.clone(),
        authfile: flags.authfile.clone(),
        cert_dir: flags.cert_dir.clone(),
        tls_verify,
        retry: RetryPolicy {
            retries: flags.retry,
            base: flags.retry_delay.unwrap_or(defaults.retry.base),
            ..defaults.retry
        },
        timeouts: Timeouts {
            connect: flags.connect_timeout.unwrap_or(defaults.timeouts.connect),
            response: flags.response_timeout.unwrap_or(defaults.timeouts.response),
            stall: flags.stall_timeout.unwrap_or(defaults.timeouts.stall),
        },
        chunk_size: flags.upload_chunk_size.map_or(0, |mib| mib << 20),
        debug: DEBUG.load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// sealos (containers/common `auth.CheckAuthFile`) stats the auth file a command was given,
/// `--authfile` or else `$REGISTRY_AUTH_FILE`, and stops when it is missing. `$DOCKER_CONFIG`
/// names a directory whose `config.json` may well not exist (docker itself does not mind), so
/// it is not checked.
fn check_authfile(flag: Option<&std::path::Path>) -> Result<()> {
    let from_env = std::env::var_os("REGISTRY_AUTH_FILE").filter(|path| !path.is_empty());
    let (path, origin) = match (flag, &from_env) {
        (Some(path), _) => (path, ""),
        (None, Some(path)) => (
            std::path::Path::new(path),
            " (the path comes from $REGISTRY_AUTH_FILE)",
        ),
        (None, None) => return Ok(()),
    };
    if let Err(error) = std::fs::metadata(path) {
        bail!(
            "checking authfile: stat {}: {}{origin}",
            path.display(),
            go_error_text(&error)
        );
    }
    Ok(())
}

/// An OS error in Go's words (`no such file or directory`), which scripts match on.
fn go_error_text(error: &std::io::Error) -> String {
    let text = match error.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
        None => error.to_string(),
    };
    let text = match text.rfind(" (os error ") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Only an explicit transport or registry host sends a command to the network: a short name
/// that is not a local list or entry is an error, not a silent request to Docker Hub.
pub fn names_a_remote_image(target: &str) -> bool {
    if target.starts_with("docker://")
        || target.starts_with("oci:")
        || target.starts_with("oci-archive:")
        || target.starts_with("containers-storage:")
    {
        return true;
    }
    let first = target.split('/').next().unwrap_or_default();
    target.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
        && matches!(parse_image(target), Ok(ImageRef::Registry(_)))
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

/// Writes text (its own newlines included) to stdout.
pub fn print_text(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Writes one line of the command's result to stdout.
pub fn print_line(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}
