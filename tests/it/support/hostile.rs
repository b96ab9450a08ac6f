//! Hostile file fixtures and process helpers: FIFOs, device nodes, sparse files, tar archives
//! with odd entries, running the binary as another user, and starting several runs at once.

use super::image::{write_image_layout, BuiltImage, ImageSpec};
use super::TestEnv;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Barrier;
use std::time::Duration;

/// A run that takes longer than this is killed and reported as hung. It turns a hang into a
/// failure; no test asserts on how long anything took.
pub const HANG_LIMIT: Duration = Duration::from_secs(60);

/// Eight GiB: a sparse file this long costs no disk and must never be read.
pub const HUGE: u64 = 8 << 30;

/// A one-image layout at `env.path(name)`, its image tagged `latest`: the image most cases
/// start from (one 64 KiB layer; the seed makes its blobs unique).
pub fn image_layout(env: &TestEnv, name: &str, seed: u64) -> (PathBuf, BuiltImage) {
    let dir = env.path(name);
    let built = write_image_layout(
        &dir,
        &ImageSpec::new("linux/amd64", 1, 64 * 1024, seed),
        "latest",
    );
    (dir, built)
}

/// `oci:DIR` for a path.
pub fn oci(dir: &Path) -> String {
    format!("oci:{}", dir.display())
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("paths have no NUL")
}

/// Makes a FIFO at `path` (nobody ever writes to it: a reader that opens it blocks forever).
pub fn make_fifo(path: &Path) {
    let _ = fs::remove_file(path);
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c_path(path).as_ptr(), 0o644) };
    assert_eq!(
        rc,
        0,
        "mkfifo {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// Makes a character device at `path` that reads like `/dev/zero` (1:5); needs root.
pub fn make_zero_device(path: &Path) {
    let _ = fs::remove_file(path);
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe {
        libc::mknod(
            c_path(path).as_ptr(),
            libc::S_IFCHR | 0o644,
            libc::makedev(1, 5),
        )
    };
    assert_eq!(
        rc,
        0,
        "mknod {} (the tests run as root): {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// Replaces `path` with a sparse file of `len` bytes (no disk space used).
pub fn make_sparse(path: &Path, len: u64) {
    let _ = fs::remove_file(path);
    fs::File::create(path).unwrap().set_len(len).unwrap();
}

/// Replaces `path` with a symlink to `target`.
pub fn make_symlink(target: &Path, path: &Path) {
    let _ = fs::remove_file(path);
    std::os::unix::fs::symlink(target, path).unwrap();
}

/// The uid and gid of the `nobody` user.
pub fn nobody() -> (u32, u32) {
    let name = CString::new("nobody").unwrap();
    // SAFETY: getpwnam returns null or a pointer to a static record read right away.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !entry.is_null(),
        "no user `nobody` (adduser --system nobody)"
    );
    // SAFETY: checked non-null above.
    unsafe { ((*entry).pw_uid, (*entry).pw_gid) }
}

/// Gives `path` and everything below it to `uid:gid` (symlinks themselves, not their targets).
pub fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() && !path.is_symlink() {
        for entry in fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

/// Packs the layout at `dir` into the tar `out` (directories first, as tar does), then lets
/// `extra` append entries of its own.
pub fn tar_layout(dir: &Path, out: &Path, extra: impl FnOnce(&mut tar::Builder<fs::File>)) {
    let mut builder = tar::Builder::new(fs::File::create(out).unwrap());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir).unwrap();
    extra(&mut builder);
    builder.finish().unwrap();
}

/// Appends an entry of `kind` to a tar (for special entries: links, FIFOs, devices, odd modes,
/// names that leave the archive); `name` is under 100 bytes.
pub fn tar_entry(
    builder: &mut tar::Builder<fs::File>,
    name: &str,
    kind: tar::EntryType,
    mode: u32,
    link: Option<&str>,
    data: &[u8],
) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(data.len() as u64);
    if let Some(link) = link {
        header.set_link_name(link).unwrap();
    }
    // Written raw: `set_path` refuses the `..` names a hostile archive holds.
    let name = name.as_bytes();
    header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    header.set_cksum();
    builder.append(&header, data).unwrap();
}

/// Runs every command at the same moment (each on its own thread, released together) and
/// returns their outputs in order. Each is killed at [`HANG_LIMIT`].
pub fn run_all_at_once(commands: Vec<assert_cmd::Command>) -> Vec<Output> {
    let barrier = Barrier::new(commands.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = commands
            .into_iter()
            .map(|mut command| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    command.timeout(HANG_LIMIT).output().unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Asserts that a run exited 0, showing its stderr otherwise.
pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `skopeo inspect --raw REFERENCE`: the manifest bytes another tool finds there.
pub fn skopeo_inspect_raw(reference: &str) -> Vec<u8> {
    let output = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", reference])
        .output()
        .unwrap_or_else(|e| {
            panic!("running skopeo: {e} (install it with `apt-get install skopeo`)")
        });
    assert!(
        output.status.success(),
        "skopeo inspect --raw {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Replaces `path` with an empty directory.
pub fn make_dir(path: &Path) {
    let _ = fs::remove_file(path);
    fs::create_dir_all(path).unwrap();
}

/// One way to put something other than a sane regular file where the tool reads a file, and
/// the words of the error it must give: where a symlink is followed (configuration,
/// credentials, certificates, files the user names) and where it is not (anything below
/// containers-storage's root, a layout or the store).
pub struct Damage {
    /// What it is, for assertion messages.
    pub name: &'static str,
    /// Puts it in place of the file at the path.
    pub apply: fn(&Path),
    /// What the error says where symlinks are followed.
    pub says_followed: &'static str,
    /// What the error says where they are not.
    pub says_unfollowed: &'static str,
}

/// Every [`Damage`]: a symlink to `/dev/zero`, a FIFO (nobody writes to it), a device that reads
/// like `/dev/zero`, a directory, an 8 GiB sparse file.
pub fn damages() -> Vec<Damage> {
    vec![
        Damage {
            name: "a symlink to /dev/zero",
            apply: |p| make_symlink(Path::new("/dev/zero"), p),
            says_followed: "is a character device, not a regular file",
            says_unfollowed: "is a symbolic link",
        },
        Damage {
            name: "a FIFO",
            apply: make_fifo,
            says_followed: "is a FIFO, not a regular file",
            says_unfollowed: "is a FIFO, not a regular file",
        },
        Damage {
            name: "a device",
            apply: make_zero_device,
            says_followed: "is a character device, not a regular file",
            says_unfollowed: "is a character device, not a regular file",
        },
        Damage {
            name: "a directory",
            apply: make_dir,
            says_followed: "is a directory, not a regular file",
            says_unfollowed: "is a directory, not a regular file",
        },
        Damage {
            name: "an 8 GiB sparse file",
            apply: |p| make_sparse(p, 8 << 30),
            says_followed: "8589934592 bytes, over the limit of",
            says_unfollowed: "8589934592 bytes, over the limit of",
        },
    ]
}

/// Removes what a [`Damage`] left at `path` (a file, a symlink, a FIFO or a directory).
pub fn undamage(path: &Path) {
    if path.is_dir() && !path.is_symlink() {
        fs::remove_dir_all(path).unwrap();
    } else {
        let _ = fs::remove_file(path);
    }
}

/// Writes `script` as an executable `<dir>/docker-credential-<name>` (a `#!/bin/sh` script).
pub fn credential_helper(dir: &Path, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("docker-credential-{name}"));
    fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// `$PATH` with `dir` first.
pub fn path_with(dir: &Path) -> std::ffi::OsString {
    let old = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(&old));
    std::env::join_paths(paths).unwrap()
}
