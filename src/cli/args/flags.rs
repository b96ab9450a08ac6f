//! The flag groups several commands share: where containers-storage images are read from, how
//! long other processes are waited for, how registries are reached, and an entry's platform and
//! annotations.

use super::help;
use clap::Args;
use std::path::PathBuf;

/// Which containers-storage store `containers-storage:` images and local names are read from
/// (as buildah and sealos spell the flags); a reference's `[DRIVER@ROOT+RUNROOT:OPTS]` part wins,
/// and storage.conf decides what none of them says.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = help::STORAGE)]
pub struct StorageFlags {
    /// containers-storage graph root [default: storage.conf, else /var/lib/containers/storage
    /// for root, ~/.local/share/containers/storage otherwise]
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// containers-storage run root [default: storage.conf, else /run/containers/storage]
    #[arg(long, global = true, value_name = "DIR")]
    pub runroot: Option<PathBuf>,
    /// containers-storage driver: overlay or vfs [env: STORAGE_DRIVER] [default: storage.conf,
    /// else the one the store uses]
    #[arg(long, global = true, value_name = "DRIVER")]
    pub storage_driver: Option<String>,
    /// containers-storage driver option (repeatable) [env: STORAGE_OPTS]
    #[arg(long, global = true, value_name = "OPTION")]
    pub storage_opt: Vec<String>,
}

/// How long the tool waits for other processes: a lock another process holds (containers-storage,
/// the store, a layout), a credential helper.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = help::GLOBAL)]
pub struct WaitFlags {
    /// How long to wait for a lock another process holds (containers-storage's locks, the
    /// store's, a layout's); a line on stderr after a second says which [default: 5m]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: Option<std::time::Duration>,
    /// How long a credential helper (docker-credential-*) may run before it is killed
    /// [default: 60s]
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub helper_timeout: Option<std::time::Duration>,
}

impl WaitFlags {
    /// Makes the given limits the process's own (they apply to every wait of the command).
    pub fn install(&self) {
        if let Some(limit) = self.lock_timeout {
            crate::boundary::fsutil::wait::set_limit(limit);
        }
        if let Some(limit) = self.helper_timeout {
            crate::boundary::helper::set_timeout(limit);
        }
    }
}

/// Flags shared by every command that talks to a registry.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = help::REGISTRY)]
pub struct RegistryFlags {
    /// Path of an auth file (containers auth.json or docker config.json) [env: REGISTRY_AUTH_FILE]
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
    /// Credentials USER:PASSWORD for the registry
    #[arg(long, value_name = "USER[:PASS]")]
    pub creds: Option<String>,
    /// certs.d directory for every registry of the command: CA certificates (*.crt) and client
    /// certificates (*.cert + *.key) [default: the registry's own certs.d directory]
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// registries.conf to read instead of the default ones (containers-registries.conf(5):
    /// per-registry insecure, blocked, location, mirrors, short-name aliases)
    /// [env: CONTAINERS_REGISTRIES_CONF]
    #[arg(long, value_name = "FILE")]
    pub registries_conf: Option<PathBuf>,
    /// Require HTTPS with a verified certificate for every registry of the command; false
    /// allows unverified HTTPS, then plain HTTP [default: true]
    #[arg(long)]
    pub tls_verify: Option<bool>,
    /// The same as --tls-verify=false (sealos and buildah spelling); not together with --tls-verify
    #[arg(long, hide = true)]
    pub insecure: Option<bool>,
    /// How many times a failed request is retried (5xx, 429, dropped connections, refused
    /// connections to a registry that answered earlier in the command; a timeout or stall at
    /// most once; a first refused connection or an unknown host name never)
    #[arg(long, help_heading = help::LIMITS, value_name = "N", default_value_t = 3)]
    pub retry: u32,
    /// Delay before the first retry, doubled after each one (e.g. 500ms, 2s) [default: 1s]
    #[arg(long, help_heading = help::LIMITS, value_name = "DURATION", value_parser = parse_duration)]
    pub retry_delay: Option<std::time::Duration>,
    /// Longest wait for a connection (TCP and TLS handshake) to a registry [default: 10s]
    #[arg(long, help_heading = help::LIMITS, value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<std::time::Duration>,
    /// Longest wait for a registry to start answering a request (after an upload's last byte,
    /// one more second per 50 MiB sent) [default: 30s]
    #[arg(long, help_heading = help::LIMITS, value_name = "DURATION", value_parser = parse_duration)]
    pub response_timeout: Option<std::time::Duration>,
    /// Blobs larger than this many MiB are uploaded in chunks of this size, so that a broken
    /// connection costs at most one chunk again [default: 128]
    #[arg(long, help_heading = help::LIMITS, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub upload_chunk_size: Option<u64>,
    /// A transfer slower than 1 KiB/s for this long is abandoned and retried once
    /// [default: 30s]
    #[arg(long, help_heading = help::LIMITS, value_name = "DURATION", value_parser = parse_duration)]
    pub stall_timeout: Option<std::time::Duration>,
}

/// The longest duration a flag takes: a limit past an hour is a typo, not a wish.
const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(3600);

/// Parses a duration flag: a bare number of seconds (`2`, `0.5`), or Go-style units as
/// humantime reads them (`500ms`, `2s`, `1m30s`, `1h`); 0 to 1h.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let is_bare_number = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let duration = if is_bare_number {
        let seconds: f64 = text
            .parse()
            .map_err(|_| format!("invalid duration {text:?} (use e.g. 500ms, 2s, 1m30s)"))?;
        std::time::Duration::try_from_secs_f64(seconds).unwrap_or(std::time::Duration::MAX)
    } else {
        humantime::parse_duration(text)
            .map_err(|e| format!("invalid duration {text:?}: {e} (use e.g. 500ms, 2s, 1m30s)"))?
    };
    if duration > MAX_DURATION {
        return Err(format!("duration {text:?} is out of range (0 to 1h)"));
    }
    Ok(duration)
}

/// `--os`, `--arch`, `--variant`: a platform field by field, for every command that picks or
/// sets one (`create` and `add` pick from an index, `add` and `annotate` set an entry's,
/// `remove` removes by it). A command words the help for what it does with them.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = help::PLATFORM)]
pub struct PlatformFlags {
    /// Operating system of the entry (e.g. linux)
    #[arg(long, alias = "override-os")]
    pub os: Option<String>,
    /// Architecture of the entry (e.g. amd64, arm64)
    #[arg(long, alias = "override-arch")]
    pub arch: Option<String>,
    /// Architecture variant (e.g. v7, v8)
    #[arg(long)]
    pub variant: Option<String>,
}

/// Whether a command that flattens [`PlatformFlags`] accepts `--override-os`/`--override-arch`.
pub(super) enum OverrideAliases {
    Keep,
    Drop,
}

/// Rewords the [`PlatformFlags`] a command flattens for what it does with the platform: the
/// help of `--os`, `--arch` and `--variant`, in place (completions keep the declared order).
pub(super) fn platform_wording(
    help: [&'static str; 3],
    aliases: OverrideAliases,
) -> impl FnMut(clap::Arg) -> clap::Arg {
    move |arg| {
        let at = match arg.get_id().as_str() {
            "os" => 0,
            "arch" => 1,
            "variant" => 2,
            _ => return arg,
        };
        let arg = arg.help(help[at]);
        match aliases {
            OverrideAliases::Keep => arg,
            OverrideAliases::Drop => arg.alias(None),
        }
    }
}

/// Platform and annotation fields of an entry.
#[derive(Debug, Clone, Args)]
pub struct EntryFlags {
    // First: the command's own heading, before the platform flags set theirs.
    /// Annotation KEY=VALUE (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// The entry's platform (and, for `add`, the one to pick from an index).
    #[command(flatten)]
    pub platform: PlatformFlags,
    /// Operating system version (e.g. 10.0.17763.1879 for Windows)
    #[arg(long, help_heading = help::PLATFORM)]
    pub os_version: Option<String>,
    /// Required OS features (repeatable or comma-separated)
    #[arg(long, value_name = "FEATURE", help_heading = help::PLATFORM)]
    pub os_features: Vec<String>,
    /// Required CPU features (repeatable or comma-separated; Docker lists only)
    #[arg(long, value_name = "FEATURE", help_heading = help::PLATFORM)]
    pub features: Vec<String>,
}
