//! The fixtures of buildah's `tests/lists.bats`, made locally: its `IMAGE_LIST` (a five-platform
//! index) in a registry on 127.0.0.1, and a containers-storage store of the test's own that
//! every command names with `--root/--runroot/--storage-driver vfs`, as upstream's `run_buildah`
//! does. Images upstream pulls (`_prefetch busybox`) or builds (`buildah bud`) are pulled from that
//! registry or built by the real buildah into that store.

use super::image::{write_index_layout, BuiltImage};
use super::local::Local;
use super::push::push_layout_image;
use super::registry::Registry;
use super::{five_platforms, TestEnv};
use manifest::model::list::PlatformWanted;

/// The architectures of `IMAGE_LIST`'s instances, in its order.
const ARCHES: [&str; 5] = ["amd64", "arm64", "arm", "ppc64le", "s390x"];

/// upstream's `IMAGE_LIST` and its instances, and the test's own containers-storage store.
pub struct Upstream {
    /// The list store, and the buildah store every command names.
    pub local: Local,
    pub registry: Registry,
    /// `docker://REG/pause:3.1`: an index of linux amd64, arm64/v8, arm/v7, ppc64le, s390x.
    pub image_list: String,
    /// `REG/pause@<arm64 digest>` (upstream `IMAGE_LIST_INSTANCE` without its transport).
    pub instance_without_transport: String,
    /// The five instances, in the order of [`ARCHES`].
    pub instances: Vec<BuiltImage>,
}

impl Upstream {
    pub fn new() -> Upstream {
        let local = Local::new("vfs");
        let registry = Registry::plain();
        let layout = local.env.path("pause");
        let (_, instances) = write_index_layout(&layout, &five_platforms(), "3.1");
        push_layout_image(&layout, "3.1", &registry, "pause", "3.1");
        Upstream {
            image_list: registry.docker_ref("pause:3.1"),
            instance_without_transport: registry
                .image(&format!("pause@{}", instances[1].manifest_digest)),
            instances,
            local,
            registry,
        }
    }

    /// The list store and its isolated home.
    pub fn env(&self) -> &TestEnv {
        &self.local.env
    }

    /// `docker://REG/pause@<arm64 digest>` (upstream `IMAGE_LIST_INSTANCE`).
    pub fn image_list_instance(&self) -> String {
        format!("docker://{}", self.instance_without_transport)
    }

    /// The digest of the instance for `arch` (one of amd64, arm64, arm, ppc64le, s390x).
    pub fn digest(&self, arch: &str) -> &str {
        let n = ARCHES
            .iter()
            .position(|a| *a == arch)
            .expect("one of the five");
        &self.instances[n].manifest_digest
    }

    /// Every instance digest.
    pub fn all_digests(&self) -> Vec<&str> {
        ARCHES.iter().map(|arch| self.digest(arch)).collect()
    }

    /// The instance `add` picks on this machine.
    pub fn host_digest(&self) -> &str {
        self.digest(&PlatformWanted::host().arch)
    }

    /// `manifest` with the store flags and `args`; must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.local.run(args)
    }

    /// `manifest` with the store flags and `args`; must exit 1; its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        exit_1(&mut self.local.manifest(args))
    }

    /// `create foo` and `add --tls-verify=false foo IMAGE_LIST` with `add_flags` (the start of
    /// most upstream list cases).
    pub fn foo_from_image_list(&self, add_flags: &[&str]) {
        self.ok(&["create", "foo"]);
        let mut add = vec!["add", "--tls-verify=false"];
        add.extend_from_slice(add_flags);
        add.extend_from_slice(&["foo", &self.image_list]);
        self.ok(&add);
    }

    /// `push --tls-verify=false FLAGS foo oci:DIR` into a fresh directory of the test; its path.
    pub fn push_foo_to_layout(&self, flags: &[&str]) -> std::path::PathBuf {
        let pushed = self.env().path("pushed");
        let destination = format!("oci:{}", pushed.display());
        let mut push = vec!["push", "--tls-verify=false"];
        push.extend_from_slice(flags);
        push.extend_from_slice(&["foo", &destination]);
        self.ok(&push);
        pushed
    }

    /// `manifest exists NAME`'s exit code.
    pub fn exists(&self, name: &str) -> i32 {
        let out = self.local.manifest(&["exists", name]).output().unwrap();
        out.status.code().expect("exited")
    }

    /// The real buildah on the test's store; must succeed; its trimmed stdout.
    pub fn buildah(&self, args: &[&str]) -> String {
        self.local.buildah.run(args)
    }

    /// upstream `_prefetch IMAGE`: `buildah pull` of `image` (`REG/REPO:TAG` or `REG/REPO@DIGEST`
    /// of [`Self::registry`]), the instance for `arch` (the host's when `None`) of an index;
    /// returns the image ID.
    pub fn prefetch(&self, image: &str, arch: Option<&str>) -> String {
        let arch_flag = arch.map(|a| format!("--arch={a}"));
        let mut pull = vec!["pull", "-q", "--tls-verify=false"];
        pull.extend(arch_flag.as_deref());
        pull.push(image);
        self.buildah(&pull)
    }

    /// upstream `_prefetch busybox`: `IMAGE_LIST`'s instance for this machine pulled into the
    /// store and named `docker.io/library/busybox:latest`, as a pull of `busybox` names it.
    pub fn prefetch_busybox(&self) {
        let id = self.prefetch(&self.registry.image("pause:3.1"), None);
        self.buildah(&["tag", &id, "docker.io/library/busybox:latest"]);
    }

    /// `buildah inspect -f '{{ .FromImageDigest }}' IMAGE`: the digest of a local image's manifest.
    pub fn image_digest(&self, image: &str) -> String {
        self.buildah(&["inspect", "-f", "{{ .FromImageDigest }}", image])
    }

    /// upstream `buildah bud -t TAG $BUDFILES/from-scratch` (a Containerfile of `FROM scratch`);
    /// returns the image ID.
    pub fn bud_from_scratch(&self, tag: &str) -> String {
        let dir = self.env().path("from-scratch");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Containerfile"), "FROM scratch\n").unwrap();
        let out = self.buildah(&["bud", "-q", "-t", tag, dir.to_str().unwrap()]);
        out.lines().last().unwrap_or_default().to_string()
    }

    /// upstream `buildah bud [--layers] --iidfile FILE DIR` of a Dockerfile `FROM scratch` +
    /// `ADD content.txt /` (`content.txt` holding `content`); returns what FILE holds
    /// (`sha256:ID`).
    pub fn bud_with_iidfile(&self, content: &str, layers: bool) -> String {
        let build = self.env().path("build");
        std::fs::create_dir_all(&build).unwrap();
        std::fs::write(build.join("content.txt"), content).unwrap();
        std::fs::write(
            build.join("Dockerfile"),
            "FROM scratch\nADD content.txt /\n",
        )
        .unwrap();
        let iidfile = self.env().path("image-id.txt");
        let iidfile_arg = iidfile.to_str().unwrap();
        let mut bud = vec!["bud", "-q", "--iidfile", iidfile_arg];
        if layers {
            bud.push("--layers");
        }
        bud.push(build.to_str().unwrap());
        self.buildah(&bud);
        std::fs::read_to_string(&iidfile)
            .unwrap()
            .trim()
            .to_string()
    }

    /// The number of entries of the list `inspect NAME` prints (upstream `jq '.manifests | length'`).
    pub fn entries(&self, name: &str) -> usize {
        let inspected: serde_json::Value =
            serde_json::from_str(&self.ok(&["inspect", name])).expect("inspect prints JSON");
        inspected["manifests"].as_array().expect("a list").len()
    }
}

/// Runs a command that must fail with exit code 1 (sealos' code for errors; buildah and podman
/// exit 125) and returns its stderr.
pub fn exit_1(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.assert().code(1);
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

/// upstream `createrandom FILE`: 256 random bytes (from /dev/urandom) in a new file.
pub fn createrandom(path: &std::path::Path) {
    use std::io::Read;
    let mut bytes = vec![0u8; 256];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .expect("reading /dev/urandom");
    std::fs::write(path, bytes).unwrap();
}
