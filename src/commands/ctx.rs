//! [`Ctx`]: what every command runs with, built once by `main` from the global flags. The
//! registry settings of a command's own flags are made here too, so that `--debug` and the
//! storage flags reach every transport without a global.

use crate::boundary::retry::RetryPolicy;
use crate::cli::{RegistryFlags, StorageFlags};
use crate::config::registries::RegistriesConf;
use crate::config::sources::ConfSources;
use crate::config::storage::StorageOptions;
use crate::store::Store;
use crate::transport::open::Transports;
use crate::transport::registry::{RegistryOptions, Timeouts};
use anyhow::{bail, Context as _, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The global flags and where a command's result goes.
pub struct Ctx<'a> {
    /// The list store's directory: `--store`, else `$MANIFEST_STORE`, else the user's data dir.
    pub store_root: PathBuf,
    /// `--debug`: every registry request is logged to stderr.
    pub debug: bool,
    /// `--root`, `--runroot`, `--storage-driver`, `--storage-opt`: the containers-storage store
    /// local images are read from.
    pub storage: StorageOptions,
    /// The command's result (lists, IDs, documents): stdout in the binary, a buffer in tests.
    /// Progress and warnings go to stderr instead.
    pub out: &'a mut dyn Write,
}

impl<'a> Ctx<'a> {
    /// A context for the store at `store_root` with every global flag at its default.
    pub fn new(store_root: impl Into<PathBuf>, out: &'a mut dyn Write) -> Self {
        Ctx {
            store_root: store_root.into(),
            debug: false,
            storage: StorageOptions::default(),
            out,
        }
    }

    /// The context the global flags ask for (`store` is `--store`).
    pub fn from_flags(
        store: Option<PathBuf>,
        debug: bool,
        storage: &StorageFlags,
        out: &'a mut dyn Write,
    ) -> Self {
        let store_root = store
            .or_else(|| {
                std::env::var_os("MANIFEST_STORE")
                    .filter(|dir| !dir.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(Store::default_root);
        Ctx {
            debug,
            storage: StorageOptions {
                root: storage.root.clone(),
                run_root: storage.runroot.clone(),
                driver: storage.storage_driver.clone(),
                options: storage.storage_opt.clone(),
            },
            ..Ctx::new(store_root, out)
        }
    }

    /// Opens the list store; nothing is written until a command changes something.
    pub fn store(&self) -> Result<Store> {
        Ok(Store::open(&self.store_root)?)
    }

    /// The registry settings a command's flags ask for. Every command that has registry flags
    /// calls this first, so a missing auth file or a TLS flag clash stops it before the store
    /// or the network.
    pub fn registry(&self, flags: &RegistryFlags) -> Result<RegistryOptions> {
        check_authfile(flags.authfile.as_deref())?;
        // Given, it overrides every registry of the command; not given, each registry is
        // verified (or not, as registries.conf says).
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
            debug: self.debug,
        })
    }

    /// Transports for a command: its registry settings and the global storage flags.
    pub fn transports(&self, registry: RegistryOptions) -> Transports {
        Transports::new(registry).with_storage(self.storage.clone())
    }
}

/// sealos (containers/common `auth.CheckAuthFile`) stats the auth file a command was given,
/// `--authfile` or else `$REGISTRY_AUTH_FILE`, and stops when it is missing. `$DOCKER_CONFIG`
/// names a directory whose `config.json` may well not exist (docker itself does not mind), so
/// it is not checked.
fn check_authfile(flag: Option<&Path>) -> Result<()> {
    let from_env = std::env::var_os("REGISTRY_AUTH_FILE").filter(|path| !path.is_empty());
    let (path, origin) = match (flag, &from_env) {
        (Some(path), _) => (path, ""),
        (None, Some(path)) => (
            Path::new(path),
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
