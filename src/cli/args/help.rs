//! What every `--help` shares: the headings options are grouped under (the same names on every
//! command), and each command's examples.
//!
//! The examples are one story against a local registry on 127.0.0.1:5000 over plain HTTP (so
//! `--tls-verify=false` wherever a registry is named), the images the story starts from
//! (`127.0.0.1:5000/app:amd64`, `app:arm64`, the index `base:latest`, the layout `./app-arm`,
//! `localhost/app:arm64` in the private store `./containers`, the files `./chart.tgz` and
//! `./values.yaml`), and the files it makes itself. The integration test
//! `help_examples` runs every line of every command's examples, in the order of the story:
//! create, add, annotate, remove, inspect, push, verify, exists, apply, rm, prune, completion,
//! man. An example block starts with a line `Examples:`, holds one command line per line
//! (`#` lines are comments) and ends at a blank line.

/// Options that choose or set a platform (`--platform`, `--os`, `--arch`, `--variant`, …).
pub const PLATFORM: &str = "Platform";
/// Options that decide what is printed or written besides the command's result.
pub const OUTPUT: &str = "Output";
/// What a push converts to and compresses with (`--format`, `--compression-*`, …).
pub const FORMAT: &str = "Format and compression";
/// `add --artifact` and its `--artifact-*` options.
pub const ARTIFACT: &str = "Artifact";
/// How registries are reached and trusted (credentials, certificates, registries.conf).
pub const REGISTRY: &str = "Registry and TLS";
/// Retries, time limits and upload sizes of registry requests.
pub const LIMITS: &str = "Retries and time limits";
/// The containers-storage store local images are read from (global options).
pub const STORAGE: &str = "Local images (containers-storage)";
/// Options of every command: the list store, debugging, waits for other processes.
pub const GLOBAL: &str = "Global options";

/// `manifest --help`.
pub const MANIFEST: &str = "\
Examples (a registry on 127.0.0.1:5000 over plain HTTP; each command's --help has more):
  manifest create myapp
  manifest add --tls-verify=false myapp docker://127.0.0.1:5000/app:amd64
  manifest add --root ./containers/storage --runroot ./containers/run --storage-driver vfs myapp containers-storage:localhost/app:arm64
  manifest inspect myapp
  manifest push --tls-verify=false myapp docker://127.0.0.1:5000/app:v1";

/// `manifest create --help`.
pub const CREATE: &str = "\
Examples:
  manifest create myapp
  manifest create --all --tls-verify=false mybase docker://127.0.0.1:5000/base:latest
  manifest create --root ./containers/storage --runroot ./containers/run --storage-driver vfs mylocal localhost/app:arm64";

/// `manifest add --help`.
pub const ADD: &str = "\
Examples:
  manifest add --tls-verify=false myapp docker://127.0.0.1:5000/app:amd64
  # localhost/app:arm64 as buildah (or sealos) built it in a private store:
  #   buildah --root ./containers/storage --runroot ./containers/run --storage-driver vfs build --platform linux/arm64 -t localhost/app:arm64 .
  manifest add --root ./containers/storage --runroot ./containers/run --storage-driver vfs myapp containers-storage:localhost/app:arm64
  manifest add --variant v7 myapp oci:./app-arm
  manifest add --all --platform linux/ppc64le,linux/s390x --tls-verify=false myapp docker://127.0.0.1:5000/base:latest
  manifest add --artifact --artifact-type application/vnd.example.chart.v1 myapp ./chart.tgz ./values.yaml";

/// `manifest annotate --help`.
pub const ANNOTATE: &str = "\
Examples:
  manifest annotate --platform linux/arm/v7 --annotation org.example.board=raspberrypi myapp
  manifest annotate --index --annotation org.opencontainers.image.source=https://github.com/example/app myapp";

/// `manifest remove --help`.
pub const REMOVE: &str = "\
Examples:
  manifest remove --platform linux/s390x myapp
  # or by the entry's digest (a unique prefix will do): manifest remove myapp 0907f27d";

/// `manifest inspect --help`.
pub const INSPECT: &str = "\
Examples:
  manifest inspect myapp
  manifest inspect --format table myapp
  manifest inspect --tls-verify=false docker://127.0.0.1:5000/base:latest
  manifest inspect --raw oci:./app-arm";

/// `manifest push --help`.
pub const PUSH: &str = "\
Examples:
  manifest push --tls-verify=false myapp docker://127.0.0.1:5000/app:v1
  manifest push --tls-verify=false --tag v1.2 --tag latest --metadata-file push.json myapp 127.0.0.1:5000/app:v1.2.3
  manifest push --tls-verify=false --dry-run --platform linux/amd64,linux/arm64 myapp 127.0.0.1:5000/app:v1
  manifest push --tls-verify=false --format v2s2 --digestfile digest.txt mybase 127.0.0.1:5000/base:v2s2
  # images the list took from a registry are read from it again, hence --tls-verify here too:
  manifest push --tls-verify=false myapp oci:./out:v1";

/// `manifest verify --help`.
pub const VERIFY: &str = "\
Examples:
  manifest verify --tls-verify=false docker://127.0.0.1:5000/app:v1
  manifest verify --tls-verify=false --require-platform linux/amd64,linux/arm64 --format json myapp
  manifest verify --deep --tls-verify=false docker://127.0.0.1:5000/app:v1
  manifest verify --require-referrer application/vnd.dev.cosign.artifact.sig.v1+json --tls-verify=false docker://127.0.0.1:5000/app:v1 || echo unsigned

Exit status: 0 when everything holds, 1 when a problem was found or the check could not finish.";

/// `manifest exists --help`.
pub const EXISTS: &str = "\
Examples:
  manifest exists myapp && echo \"myapp exists\"";

/// `manifest apply --help`: the example spec file is written out below the examples.
pub const APPLY: &str = "\
Examples:
  manifest apply --tls-verify=false release.yaml
  manifest apply --tls-verify=false --dry-run --metadata-file plan.json release.yaml

release.yaml:
  image: 127.0.0.1:5000/app:1.2.0
  tags: [\"1.2\", \"latest\"]
  manifests:
    - image: 127.0.0.1:5000/app:amd64
    - image: 127.0.0.1:5000/app:arm64
      platform:
        architecture: arm64
        os: linux
        variant: v8";

/// `manifest rm --help`.
pub const RM: &str = "\
Examples:
  manifest rm myapp mybase mylocal";

/// `manifest prune --help`.
pub const PRUNE: &str = "\
Examples:
  manifest prune --dry-run
  manifest prune";

/// `manifest completion --help`.
pub const COMPLETION: &str = "\
Examples:
  source <(manifest completion bash)
  manifest completion zsh > ~/.zfunc/_manifest    # with fpath=(~/.zfunc $fpath) in ~/.zshrc
  manifest completion fish > ~/.config/fish/completions/manifest.fish";

/// `manifest man --help`.
pub const MAN: &str = "\
Examples:
  manifest man ./man1
  man -l ./man1/manifest-push.1";
