#!/usr/bin/env bash
# Quick start: build manifest, make three per-arch images as OCI layouts, start a registry on
# localhost, then create/add/annotate/inspect a list and push it to an OCI layout and to the
# registry. Runs on a fresh Debian machine with Rust installed; needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v docker-registry >/dev/null || { apt-get update -qq && apt-get install -y -qq docker-registry >/dev/null; }
cargo build --release --quiet --bin manifest --example mkimage
export PATH="$PWD/target/release:$PATH"
work=$(mktemp -d)
export MANIFEST_STORE="$work/store"

for platform in linux/amd64 linux/arm64/v8 linux/arm/v7; do
  dir="$work/img-${platform//\//-}"
  target/release/examples/mkimage "$dir" "$platform" --layers 2 --layer-size 1048576 >/dev/null
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
storage: { filesystem: { rootdirectory: $work/registry } }
http: { addr: 127.0.0.1:$port }
log: { level: error, accesslog: { disabled: true } }
YML
docker-registry serve "$work/registry.yml" 2>"$work/registry.log" &
registry=$!
trap 'kill $registry 2>/dev/null; rm -rf "$work"' EXIT
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
echo "pushed $(cat "$work/digest") to 127.0.0.1:$port/demo/myapp:v1"
