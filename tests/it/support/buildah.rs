//! The real buildah (and skopeo) against a store of the test's own (`--root`/`--runroot` in a
//! temp dir, `--storage-driver vfs|overlay`), and a content tree of every file kind to copy in.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The size of the one big file the tests copy into an image (64 MiB).
pub const BIG: usize = 64 * 1024 * 1024;

/// One containers-storage store driven by buildah.
pub struct Buildah {
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub driver: &'static str,
}

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} is not installed: install it with `apt-get install -y {name}` (the storage tests run the real {name})"
    );
    Command::new(name)
}

fn checked(mut cmd: Command) -> Output {
    let output = cmd.output().expect("running a tool");
    assert!(
        output.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

impl Buildah {
    /// A new empty store under `dir` for `driver`.
    pub fn new(dir: &Path, driver: &'static str) -> Buildah {
        Buildah {
            root: dir.join(format!("cs-{driver}-root")),
            runroot: dir.join(format!("cs-{driver}-run")),
            driver,
        }
    }

    /// Whether this store's driver works here (overlay needs kernel support): `Err` says why not.
    pub fn probe(&self) -> Result<(), String> {
        let output = self
            .cmd()
            .args(["from", "scratch"])
            .output()
            .expect("running buildah");
        if output.status.success() {
            let container = String::from_utf8_lossy(&output.stdout).trim().to_string();
            let _ = self.cmd().args(["rm", &container]).output();
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// `buildah --root … --runroot … --storage-driver …`.
    pub fn cmd(&self) -> Command {
        let mut cmd = tool("buildah");
        cmd.args(self.global_args())
            .env("BUILDAH_ISOLATION", "chroot");
        cmd
    }

    /// The global flags naming this store, for buildah and for `manifest` alike.
    pub fn global_args(&self) -> Vec<String> {
        vec![
            "--root".into(),
            self.root.display().to_string(),
            "--runroot".into(),
            self.runroot.display().to_string(),
            "--storage-driver".into(),
            self.driver.into(),
        ]
    }

    /// Runs buildah; panics on failure; returns trimmed stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let mut cmd = self.cmd();
        cmd.args(args);
        String::from_utf8(checked(cmd).stdout)
            .expect("buildah prints UTF-8")
            .trim()
            .to_string()
    }

    /// Builds `name` from scratch with `content` copied to `/` and the platform set; returns the
    /// image ID.
    pub fn build(&self, name: &str, platform: &str, content: &Path) -> String {
        self.build_on("scratch", name, platform, content)
    }

    /// Builds `name` on top of the image `base` (one more layer holding `content`).
    pub fn build_on(&self, base: &str, name: &str, platform: &str, content: &Path) -> String {
        let container = self.run(&["from", base]);
        let mut parts = platform.split('/');
        let os = parts.next().expect("os/arch");
        let arch = parts.next().expect("os/arch");
        let mut config = vec!["config", "--os", os, "--arch", arch];
        if let Some(variant) = parts.next() {
            config.extend(["--variant", variant]);
        }
        config.push(&container);
        self.run(&config);
        self.run(&["copy", &container, &format!("{}/", content.display()), "/"]);
        let id = self.run(&["commit", "-q", "--rm", &container, name]);
        id.lines().last().unwrap_or_default().to_string()
    }

    /// `containers-storage:[DRIVER@ROOT+RUNROOT]name`.
    pub fn reference(&self, name: &str) -> String {
        format!(
            "containers-storage:[{}@{}+{}]{name}",
            self.driver,
            self.root.display(),
            self.runroot.display()
        )
    }

    /// The image's stored manifest bytes, read by buildah.
    pub fn manifest_of(&self, name: &str) -> Vec<u8> {
        self.run(&[
            "inspect",
            "--type",
            "image",
            "--format",
            "{{.Manifest}}",
            name,
        ])
        .into_bytes()
    }
}

/// Copies `reference` (e.g. `docker://127.0.0.1:5000/app@sha256:…`) into the layout `dir` as
/// `ref_name` with skopeo, over plain HTTP.
pub fn skopeo_to_layout(reference: &str, dir: &Path, ref_name: &str) {
    let mut cmd = tool("skopeo");
    cmd.args(["copy", "--src-tls-verify=false", "--quiet", reference])
        .arg(format!("oci:{}:{ref_name}", dir.display()));
    checked(cmd);
}

/// `skopeo inspect --raw` of `reference` (`docker://…`), unverified TLS, with `authfile`.
pub fn skopeo_inspect_raw(reference: &str, authfile: &Path) -> Vec<u8> {
    let mut cmd = tool("skopeo");
    cmd.args(["inspect", "--tls-verify=false", "--raw", "--authfile"])
        .arg(authfile)
        .arg(reference);
    checked(cmd).stdout
}

/// A directory to copy into an image, and whether its xattr could be set here.
pub struct ContentTree {
    pub root: PathBuf,
    /// `usr/share/tagged` carries `user.manifest.test=value` (not on filesystems without user xattrs).
    pub has_xattr: bool,
}

/// A directory with a file of every kind a layer carries: regular, symlink, hardlink, empty
/// directory, a file with a user xattr (where the filesystem allows), and optionally a large
/// file of `big_bytes` (pseudo-random, so compression has work to do). `seed` varies content.
pub fn content_tree(dir: &Path, seed: u8, big_bytes: usize) -> ContentTree {
    let root = dir.join(format!("content-{seed}"));
    fs::create_dir_all(root.join("etc/empty")).unwrap();
    fs::create_dir_all(root.join("usr/share")).unwrap();
    fs::write(root.join("etc/hello.txt"), format!("hello {seed}\n")).unwrap();
    std::os::unix::fs::symlink("hello.txt", root.join("etc/link")).unwrap();
    fs::hard_link(root.join("etc/hello.txt"), root.join("usr/share/hard")).unwrap();
    let tagged = root.join("usr/share/tagged");
    fs::write(&tagged, b"with an xattr").unwrap();
    let has_xattr = set_xattr(&tagged, "user.manifest.test", b"value");
    if big_bytes > 0 {
        let mut state = u64::from(seed) + 1;
        let bytes: Vec<u8> = (0..big_bytes)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        fs::write(root.join("usr/share/big.bin"), bytes).unwrap();
    }
    ContentTree { root, has_xattr }
}

/// Best effort: tmpfs without user xattrs refuses, and the tree then has none.
fn set_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let c_name = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    let rc = unsafe {
        libc::setxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    rc == 0
}

/// Holds an exclusive fcntl lock on a c/storage lock file, as a c/storage writer does, until
/// the returned file is dropped.
pub fn hold_write_lock(path: &Path) -> fs::File {
    use std::os::fd::AsRawFd;
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    // SAFETY: flock is plain data; zeroed is valid before the fields are set.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as _;
    lock.l_whence = libc::SEEK_SET as _;
    // SAFETY: a valid descriptor and an initialised flock.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLKW, &lock) };
    assert_eq!(rc, 0, "locking {}", path.display());
    file
}

/// Builds a one-file image `FROM scratch` for `platform` (`OS/ARCH[/VARIANT]`) with buildah
/// (vfs storage under `work`) and pushes it to a new OCI layout `<work>/<name>` (ref `latest`);
/// returns the layout's directory. The image is exactly what buildah commits (such as the empty
/// `org.opencontainers.image.base.*` annotations in its manifest). Calls may share `work`.
pub fn build_layout(work: &Path, name: &str, platform: &str) -> PathBuf {
    let buildah = Buildah::new(work, "vfs");
    let content = work.join(format!("{name}-content"));
    fs::create_dir_all(&content).unwrap();
    fs::write(
        content.join(format!("{name}.txt")),
        format!("{name} for {platform}\n"),
    )
    .unwrap();
    let image = format!("localhost/{name}:latest");
    buildah.build(&image, platform, &content);
    let layout = work.join(name);
    buildah.run(&[
        "push",
        "-q",
        &image,
        &format!("oci:{}:latest", layout.display()),
    ]);
    layout
}

/// The real podman on a store of its own (`--root`/`--runroot` under a directory of the test,
/// vfs, no systemd), with its own home.
pub struct Podman {
    dir: PathBuf,
}

impl Podman {
    /// A new empty podman store under `dir`.
    pub fn new(dir: &Path) -> Podman {
        for sub in ["home", "run", "tmp"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        Podman {
            dir: dir.to_path_buf(),
        }
    }

    /// `podman ARGS` on this store; must succeed; its trimmed stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let mut cmd = tool("podman");
        cmd.arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("runroot"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file"])
            .args(args)
            .env("HOME", self.dir.join("home"))
            .env("XDG_RUNTIME_DIR", self.dir.join("run"))
            .env_remove("CONTAINERS_STORAGE_CONF")
            .env_remove("STORAGE_DRIVER")
            .env_remove("STORAGE_OPTS");
        String::from_utf8_lossy(&checked(cmd).stdout)
            .trim()
            .to_string()
    }

    /// The files of `image`'s root filesystem, as `podman create` + `podman export` list them.
    pub fn files(&self, image: &str) -> Vec<String> {
        let container = self.run(&["create", image, "true"]);
        let tar = self.dir.join("export.tar");
        self.run(&["export", "-o", tar.to_str().unwrap(), &container]);
        self.run(&["rm", &container]);
        let mut archive = tar::Archive::new(fs::File::open(&tar).unwrap());
        let mut names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|entry| entry.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        names
    }
}
