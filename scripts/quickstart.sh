#!/usr/bin/env bash
# Quick start: build manifest (once, the binary only), make three per-arch images as OCI layouts
# with standard tools, start a registry on 127.0.0.1, then create/add/annotate/inspect a list and
# push it to an OCI layout and to the registry. Runs on a fresh Debian machine with Rust
# installed; needs root for apt-get when docker-registry is missing. Everything it makes stays
# in one directory, printed at the end, for you to look at (and remove).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v docker-registry >/dev/null || {
  echo "installing docker-registry (Debian package)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
}
if ! command -v manifest >/dev/null; then
  echo "building manifest (cargo build --release --bin manifest)"
  cargo build --release --locked --quiet --bin manifest
  export PATH="${CARGO_TARGET_DIR:-$PWD/target}/release:$PATH"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/manifest-quickstart.XXXXXX")
export MANIFEST_STORE="$work/store"

# An OCI layout DIR holding one image for PLATFORM (os/arch[/variant]) with one 1 MiB layer.
make_image() {
  local dir=$1 platform=$2 os arch variant
  IFS=/ read -r os arch variant <<<"$platform"
  mkdir -p "$dir/blobs/sha256" "$dir/rootfs"
  head -c 1048576 /dev/urandom >"$dir/rootfs/data-$arch$variant"
  tar -C "$dir/rootfs" --sort=name --mtime=@0 --owner=0 --group=0 -cf "$dir/layer.tar" .
  local diff_id; diff_id=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
  gzip -n -c "$dir/layer.tar" >"$dir/layer.tar.gz"
  local layer; layer=$(sha256sum "$dir/layer.tar.gz" | cut -d' ' -f1)
  mv "$dir/layer.tar.gz" "$dir/blobs/sha256/$layer"
  local layer_size; layer_size=$(stat -c %s "$dir/blobs/sha256/$layer")
  local variant_json=${variant:+,\"variant\":\"$variant\"}
  printf '{"architecture":"%s","os":"%s"%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"config":{}}' \
    "$arch" "$os" "$variant_json" "$diff_id" >"$dir/config.json"
  local config; config=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
  local config_size; config_size=$(stat -c %s "$dir/config.json")
  mv "$dir/config.json" "$dir/blobs/sha256/$config"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$config" "$config_size" "$layer" "$layer_size" >"$dir/manifest.json"
  local manifest; manifest=$(sha256sum "$dir/manifest.json" | cut -d' ' -f1)
  local manifest_size; manifest_size=$(stat -c %s "$dir/manifest.json")
  mv "$dir/manifest.json" "$dir/blobs/sha256/$manifest"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
    "$manifest" "$manifest_size" >"$dir/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
  rm -rf "$dir/rootfs" "$dir/layer.tar"
}

for platform in linux/amd64 linux/arm64/v8 linux/arm/v7; do
  make_image "$work/img-${platform//\//-}" "$platform"
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YML
version: 0.1
storage: { filesystem: { rootdirectory: $work/registry } }
http: { addr: 127.0.0.1:$port }
log: { level: error, accesslog: { disabled: true } }
YML
docker-registry serve "$work/registry.yml" 2>"$work/registry.log" &
registry=$!
trap 'kill $registry 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

set -x
manifest create myapp
manifest add myapp "oci:$work/img-linux-amd64"
manifest add myapp "oci:$work/img-linux-arm64-v8"
arm=$(manifest add myapp "oci:$work/img-linux-arm-v7" | cut -d' ' -f2)
manifest annotate --annotation org.example.flavor=armv7 myapp "$arm"
manifest inspect myapp
manifest push myapp "oci:$work/out:v1"
manifest push --tls-verify=false --digestfile "$work/digest" myapp "docker://127.0.0.1:$port/demo/myapp:v1"
manifest inspect --tls-verify=false "docker://127.0.0.1:$port/demo/myapp:v1"
set +x
cat <<EOF

Pushed $(cat "$work/digest") to 127.0.0.1:$port/demo/myapp:v1 (the registry stops now).
Everything made is kept in $work:
  store/           the list:  MANIFEST_STORE=$work/store manifest inspect myapp
  out/             the list pushed as an OCI layout (index.json, blobs/)
  img-*/           the three per-arch images it was made from
  registry/        what the registry stored
Remove it with:  rm -rf $work
EOF
