#!/usr/bin/env bash
# Benchmark `manifest` against buildah and skopeo on two local registries, in one run.
#
#   bench/run.sh [--quick] [--runs N] [--sizes 1,64,256] [--local-reps N] [--scale N]
#                [--local-mib N] [--big 1024,4096] [--big-runs N] [--drops 50,90]
#                [--verify-mib N] [--only 1,11] [--out FILE] [--note TEXT] [--keep]
#
# Run as root on a Debian machine (it apt-get installs what is missing). Every byte goes to
# 127.0.0.1. Images, registries and stores live in a mktemp directory that is removed at exit
# (kept with --keep). The Markdown report goes to stdout and to bench/RESULTS.md (--out).
# See bench/README.md.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

RUNS=5 SIZES=1,64 REPS=50 SCALE=500 LOCAL_MIB=512 KEEP=0 OUT=$here/RESULTS.md QUICK=0 NOTE=
BIG=1024,4096 BIG_RUNS=2 DROPS=50,90 VERIFY_MIB=1024 ONLY=
usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 RUNS=3 SIZES=1 REPS=20 SCALE=0 LOCAL_MIB=64 BIG=256 BIG_RUNS=1 DROPS=90 VERIFY_MIB=256 ;;
    --big) BIG=$2; shift ;;
    --big=*) BIG=${1#*=} ;;
    --big-runs) BIG_RUNS=$2; shift ;;
    --big-runs=*) BIG_RUNS=${1#*=} ;;
    --drops) DROPS=$2; shift ;;
    --drops=*) DROPS=${1#*=} ;;
    --runs) RUNS=$2; shift ;;
    --runs=*) RUNS=${1#*=} ;;
    --sizes) SIZES=$2; shift ;;
    --sizes=*) SIZES=${1#*=} ;;
    --local-reps) REPS=$2; shift ;;
    --local-reps=*) REPS=${1#*=} ;;
    --scale) SCALE=$2; shift ;;
    --scale=*) SCALE=${1#*=} ;;
    --local-mib) LOCAL_MIB=$2; shift ;;
    --local-mib=*) LOCAL_MIB=${1#*=} ;;
    --out) OUT=$2; shift ;;
    --out=*) OUT=${1#*=} ;;
    --note) NOTE=$2; shift ;;
    --note=*) NOTE=${1#*=} ;;
    --verify-mib) VERIFY_MIB=$2; shift ;;
    --verify-mib=*) VERIFY_MIB=${1#*=} ;;
    --only) ONLY=$2; shift ;;
    --only=*) ONLY=${1#*=} ;;
    --keep) KEEP=1 ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 >&2 ;;
  esac
  shift
done
[[ $ONLY =~ ^([0-9]+(,[0-9]+)*)?$ ]] || { echo "--only wants a comma list of scenario numbers, got $ONLY" >&2; exit 2; }
# want N: is scenario N run (every scenario without --only)?
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
# Scenarios 1-6 share the 5-platform images; 8 and 9 the big images.
if ! want 1 && ! want 2 && ! want 3 && ! want 4 && ! want 5 && ! want 6; then SIZES= SCALE=0; fi
want 7 || LOCAL_MIB=0
if ! want 8 && ! want 9; then BIG= DROPS=; fi
want 9 || DROPS=
for n in "$RUNS" "$REPS" "$SCALE" "$LOCAL_MIB" "$BIG_RUNS" "$VERIFY_MIB"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; exit 2; }
done
[[ $SIZES =~ ^([0-9]+(,[0-9]+)*)?$ ]] || { echo "--sizes wants a comma list of MiB, got $SIZES" >&2; exit 2; }
[ "$RUNS" -ge 1 ] || { echo "--runs must be at least 1" >&2; exit 2; }
IFS=, read -r -a SIZE_LIST <<<"$SIZES"
[[ $BIG =~ ^([0-9]+(,[0-9]+)*)?$ ]] || { echo "--big wants a comma list of MiB (or nothing), got $BIG" >&2; exit 2; }
[[ $DROPS =~ ^([0-9]+(,[0-9]+)*)?$ ]] || { echo "--drops wants a comma list of percents, got $DROPS" >&2; exit 2; }
IFS=, read -r -a BIG_LIST <<<"$BIG"
IFS=, read -r -a DROP_LIST <<<"$DROPS"

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }

work=$(mktemp -d /tmp/manifest-bench.XXXXXX) || die "mktemp failed"
mkdir -p "$work/logs"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ "$KEEP" = 1 ]; then say "bench: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

META=$work/meta.tsv RES=$work/results.tsv
: >"$META"; : >"$RES"
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
skip() { say "bench: SKIP $1: $2"; meta "skip" "$1: $2"; }
meta start "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta args "runs=$RUNS sizes=$SIZES local-reps=$REPS scale=$SCALE local-mib=$LOCAL_MIB big=$BIG big-runs=$BIG_RUNS drops=$DROPS verify-mib=$VERIFY_MIB only=${ONLY:-all} quick=$QUICK"
[ -n "$NOTE" ] && meta note "$NOTE"

# ---------------------------------------------------------------- 1. tools
APT_UPDATED=0
apt_install() { # PKG: install one Debian package; non-zero if it cannot be had
  if [ "$(id -u)" != 0 ]; then say "bench: not root, cannot apt-get install $1"; return 1; fi
  command -v apt-get >/dev/null || { say "bench: no apt-get to install $1"; return 1; }
  if [ "$APT_UPDATED" = 0 ]; then
    say "bench: apt-get update"
    apt-get update -qq >>"$work/logs/apt.log" 2>&1
    APT_UPDATED=1
  fi
  say "bench: apt-get install -y $1"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >>"$work/logs/apt.log" 2>&1
}
ensure() { # COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || apt_install "$2" || return 1
  command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]
}
for req in docker-registry:docker-registry curl:curl openssl:openssl htpasswd:apache2-utils \
           python3:python3; do
  ensure "${req%%:*}" "${req#*:}" || die "${req%%:*} is required and could not be installed (package ${req#*:}); see $work/logs/apt.log"
done
HAVE_BUILDAH=0 HAVE_SKOPEO=0 HAVE_DOCKER=0 HAVE_NGINX=0
if ensure buildah buildah; then HAVE_BUILDAH=1; else skip buildah "not installed and 'apt-get install -y buildah' failed"; fi
if ensure skopeo skopeo; then HAVE_SKOPEO=1; else skip skopeo "not installed and 'apt-get install -y skopeo' failed"; fi
# `docker manifest` talks to registries itself: the CLI is enough, no daemon.
if command -v docker >/dev/null 2>&1 && docker manifest --help >/dev/null 2>&1; then HAVE_DOCKER=1; else skip "docker manifest" "no docker CLI with the manifest command"; fi
# Scenario 9 puts nginx (request buffering, its default) in front of a registry.
if [ ${#DROP_LIST[@]} -gt 0 ]; then
  if ensure nginx nginx; then HAVE_NGINX=1; else skip "scenario 9" "nginx is not installed and 'apt-get install -y nginx' failed"; fi
fi
command -v cargo >/dev/null || die "cargo is required (install Rust, e.g. with rustup)"

say "bench: cargo build --release --bin manifest --example mkimage"
(cd "$repo" && cargo build --release --quiet --bin manifest --example mkimage) || die "cargo build failed"
M=$repo/target/release/manifest
MKIMAGE=$repo/target/release/examples/mkimage
export MANIFEST_STORE=$work/manifest-store
B=(buildah --root "$work/buildah/root" --runroot "$work/buildah/run")
BIC=/var/lib/containers/cache/blob-info-cache-v1.boltdb
# c/image's blob-info cache remembers where blobs were seen and lets buildah/skopeo mount
# them instead of copying; drop it before every buildah/skopeo run so each run really copies.
drop_bic() { rm -f "$BIC"; }

meta nproc "$(nproc)"
meta cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
meta memory "$(free -m | awk '/^Mem:/{printf "%d MiB total, %d MiB available at start", $2, $7}')"
meta kernel "$(uname -sr)"
meta loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
meta version_manifest "$("$M" --version 2>&1 | head -n1) (commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null))"
[ "$HAVE_BUILDAH" = 1 ] && meta version_buildah "$(buildah --version | head -n1)"
[ "$HAVE_SKOPEO" = 1 ] && meta version_skopeo "$(skopeo --version | head -n1)"
[ "$HAVE_DOCKER" = 1 ] && meta version_docker "$(docker --version | head -n1)"
[ "$HAVE_NGINX" = 1 ] && meta version_nginx "$(nginx -v 2>&1 | head -n1)"
meta version_registry "$(docker-registry --version 2>&1 | head -n1)"
meta version_curl "$(curl --version | head -n1)"

# ---------------------------------------------------------------- 2. registries
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
CERTS=$work/certs
mkdir -p "$CERTS"
(
  cd "$CERTS" || exit 1
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
    -subj "/CN=manifest bench CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" &&
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1" &&
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext &&
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
    -days 2 -extfile server.ext
) >"$work/logs/openssl.log" 2>&1 || die "openssl failed: $(tail -n3 "$work/logs/openssl.log")"
# --cert-dir holds only the CA (certs.d layout: *.crt); keys stay elsewhere.
mkdir -p "$work/certdir" && cp "$CERTS/ca.crt" "$work/certdir/ca.crt"
USER_B=bench PASS_B=bench-pass-$RANDOM
htpasswd -Bbn "$USER_B" "$PASS_B" >"$work/htpasswd" 2>/dev/null || die "htpasswd -Bbn failed"

start_registry() { # NAME PORT TLS(0|1)
  local name=$1 port=$2 tls=$3 dir=$work/registry-$1
  mkdir -p "$dir/data"
  {
    echo "version: 0.1"
    echo "log: { level: info, formatter: text, accesslog: { disabled: false } }"
    echo "storage: { filesystem: { rootdirectory: $dir/data }, delete: { enabled: true } }"
    if [ "$tls" = 1 ]; then
      echo "http: { addr: 127.0.0.1:$port, tls: { certificate: $CERTS/server.crt, key: $CERTS/server.key } }"
      echo "auth: { htpasswd: { realm: bench, path: $work/htpasswd } }"
    else
      echo "http: { addr: 127.0.0.1:$port }"
    fi
  } >"$dir/config.yml"
  # distribution reads REGISTRY_* variables as configuration overrides: start it without any.
  (
    for v in $(compgen -e | grep '^REGISTRY_'); do unset "$v"; done
    # The access log (combined format) goes to stdout, everything else to stderr.
    exec docker-registry serve "$dir/config.yml" >"$dir/access.log" 2>"$dir/registry.log"
  ) &
  PIDS+=($!)
}
PORT_A=$(free_port) PORT_B=$(free_port)
while [ "$PORT_B" = "$PORT_A" ]; do PORT_B=$(free_port); done
start_registry a "$PORT_A" 0
start_registry b "$PORT_B" 1
A=127.0.0.1:$PORT_A BREG=127.0.0.1:$PORT_B
LOG_A=$work/registry-a/access.log LOG_B=$work/registry-b/access.log
wait_ready() { # URL EXPECTED_CODE CURL_ARGS...
  local url=$1 want=$2 code i; shift 2
  for i in $(seq 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")
    [ "$code" = "$want" ] && return 0
    sleep 0.1
  done
  return 1
}
wait_ready "http://$A/v2/" 200 || die "registry A did not start: $(tail -n5 "$work/registry-a/registry.log")"
wait_ready "https://$BREG/v2/" 401 --cacert "$CERTS/ca.crt" ||
  die "registry B did not start: $(tail -n5 "$work/registry-b/registry.log")"
wait_ready "https://$BREG/v2/" 200 --cacert "$CERTS/ca.crt" -u "$USER_B:$PASS_B" ||
  die "registry B refuses the htpasswd user"
say "bench: registry A http://$A, registry B https://$BREG (TLS + htpasswd), work dir $work"
meta registries "A: distribution on 127.0.0.1, plain HTTP; B: TLS (own CA, IP SAN) + htpasswd (bcrypt); filesystem storage in a temp dir; access log on. Scenario 2 reads A and writes B in one command, and buildah 1.28 and manifest have one --tls-verify for both, so every tool runs it with --tls-verify=false (TLS and auth on B, certificate not verified); curl verifies with --cacert"

TLS_A=(--tls-verify=false)
# Scenario 2 reads the sources from A (plain HTTP) and writes to B (TLS + auth) in one command.
# buildah 1.28 and manifest have one --tls-verify for every registry of a command (buildah sets it
# even when the flag is not given, so registries.conf's `insecure` for A does not help), so all
# tools run with --tls-verify=false there: B is still TLS with basic auth, its certificate is
# just not verified. --cert-dir is passed all the same.
AUTH_B=(--cert-dir "$work/certdir" --creds "$USER_B:$PASS_B" --tls-verify=false)
# buildah and skopeo read this registries.conf instead of the system's: no search registries, so a
# short name never leaves the machine.
printf 'unqualified-search-registries = []\n' >"$work/registries.conf"
export CONTAINERS_REGISTRIES_CONF=$work/registries.conf

# ---------------------------------------------------------------- measuring
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
LAST_RC=0 LAST_WALL=0
# timed SCENARIO TOOL OP SIZE N RUN -- CMD...: run CMD under ptime.py (wall, user, sys, peak RSS:
# GNU time's numbers, read with wait4 to the microsecond), stdout/stderr to files,
# note the access-log lines of both registries that the run produced, append one row to RES.
timed() {
  local scen=$1 tool=$2 op=$3 size=$4 n=$5 run=$6; shift 7
  local base="$work/logs/s$scen-$tool-$op-$size-$n-$run" a0 b0 a1 b1 rc e u s m note=""
  a0=$(lines "$LOG_A") b0=$(lines "$LOG_B")
  python3 "$here/ptime.py" "$base.time" "$@" >"$base.out" 2>"$base.err"
  rc=$?
  a1=$(lines "$LOG_A") b1=$(lines "$LOG_B")
  read -r e u s m < <(tail -n1 "$base.time" 2>/dev/null || echo "0 0 0 0")
  if [ "$rc" != 0 ]; then
    # the error line if there is one (progress lines come first), else the last line
    note=$( (grep -i 'error' "$base.err" || grep -v '^[[:space:]]*$' "$base.err") | tail -n1 | cut -c1-240 | tr '\t' ' ')
    [ -n "$note" ] || note="exit $rc"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$scen" "$tool" "$op" "$size" "$n" "$run" "$rc" "$e" "$u" "$s" "$m" "$a0" "$a1" "$b0" "$b1" "$note" >>"$RES"
  LAST_RC=$rc LAST_WALL=$e
  if [ "$rc" = 0 ]; then
    say "  s$scen $tool $op size=$size n=$n run=$run: ${e%???}s"
  else
    say "  s$scen $tool $op size=$size n=$n run=$run: FAILED ($note)"
  fi
  return "$rc"
}
quiet() { "$@" >>"$work/logs/setup.log" 2>&1; }
# verify_push LABEL BASE REPO TAG [--cacert CA --creds U:P]: is the pushed list complete (index,
# children, blobs)? Notes the answer for the report and prints the index digest.
verify_push() {
  local label=$1 out; shift
  out=$(python3 "$here/verify.py" "$@" 2>&1 | tail -n1)
  meta check "$label: $out"
  case $out in complete:*) grep -o 'sha256:[0-9a-f]*' <<<"$out" | head -n1 ;; esac
}
# same_index LABEL DIGEST...: are the pushed indexes byte-identical?
same_index() {
  local label=$1 first=$2 d; shift
  [ "$#" -ge 2 ] || return 0
  for d in "$@"; do
    if [ -z "$d" ] || [ "$d" != "$first" ]; then
      meta check "$label: the indexes DIFFER (or one is incomplete): $*"
      return 0
    fi
  done
  meta check "$label: byte-identical indexes ($first)"
}

# ---------------------------------------------------------------- 3. images
PLATFORMS=(linux/amd64 linux/arm64/v8 linux/arm/v7 linux/ppc64le linux/s390x)
TAGS=(amd64 arm64-v8 arm-v7 ppc64le s390x)
declare -A DIGEST SRC
for S in "${SIZE_LIST[@]}"; do
  say "bench: making 5 images of 3 x $S MiB layers"
  bytes=0
  for i in "${!PLATFORMS[@]}"; do
    dir=$work/img/$S/${TAGS[$i]}
    d=$("$MKIMAGE" "$dir" "${PLATFORMS[$i]}" --layers 3 --layer-size $((S * 1048576)) \
      --seed $((S * 100 + i))) || die "mkimage failed for ${PLATFORMS[$i]}"
    DIGEST[$S,$i]=$d
  done
  python3 "$here/blobs.py" "$work"/img/"$S"/* >"$work/blobs-$S.txt" || die "blobs.py failed"
  meta "bytes_$S" "$(awk '{s+=$2} END {printf "%d", s}' "$work/blobs-$S.txt")"
  meta "blobs_$S" "$(wc -l <"$work/blobs-$S.txt")"

  say "bench: pushing the sources to registry A as src/app:<arch>-s$S"
  for i in "${!PLATFORMS[@]}"; do
    tag=${TAGS[$i]}-s$S dir=$work/img/$S/${TAGS[$i]}
    if [ "$HAVE_SKOPEO" = 1 ]; then
      quiet skopeo copy --dest-tls-verify=false "oci:$dir:latest" "docker://$A/src/app:$tag" ||
        die "skopeo copy of $dir to A failed (see $work/logs/setup.log)"
      got=$(skopeo inspect --raw --tls-verify=false "docker://$A/src/app:$tag" | sha256sum | cut -d' ' -f1)
      [ "sha256:$got" = "${DIGEST[$S,$i]}" ] || say "bench: WARNING: A/src/app:$tag is sha256:$got, mkimage said ${DIGEST[$S,$i]}"
      SRC[$S,$i]=docker://$A/src/app:$tag
    else
      SRC[$S,$i]=docker://$A/src/app@${DIGEST[$S,$i]}
    fi
  done
  if [ "$HAVE_SKOPEO" = 0 ]; then # fall back to manifest itself: push a list of the layouts
    quiet "$M" create "seed-$S" &&
      for i in "${!PLATFORMS[@]}"; do quiet "$M" add "seed-$S" "oci:$work/img/$S/${TAGS[$i]}:latest" || break; done &&
      quiet "$M" push "${TLS_A[@]}" "seed-$S" "docker://$A/src/app:seed-s$S" ||
      say "bench: WARNING: manifest could not push the sources to A (see $work/logs/setup.log); registry scenarios will fail"
  fi
done

# create_lists TOOL NAME SIZE: a 5-entry list of the sources in A (not timed)
create_lists() {
  local tool=$1 name=$2 S=$3 i
  if [ "$tool" = manifest ]; then
    quiet "$M" create "$name" || return 1
    for i in "${!PLATFORMS[@]}"; do quiet "$M" add "${TLS_A[@]}" "$name" "${SRC[$S,$i]}" || return 1; done
  else
    quiet "${B[@]}" manifest create "$name" || return 1
    for i in "${!PLATFORMS[@]}"; do quiet "${B[@]}" manifest add "${TLS_A[@]}" "$name" "${SRC[$S,$i]}" || return 1; done
  fi
}
TOOLS=(manifest)
[ "$HAVE_BUILDAH" = 1 ] && TOOLS+=(buildah)
declare -A LIST_OK
for S in "${SIZE_LIST[@]}"; do
  for t in "${TOOLS[@]}"; do
    if create_lists "$t" "bench-$S" "$S"; then LIST_OK[$t,$S]=1; else
      LIST_OK[$t,$S]=0
      meta "problem" "$t: creating the 5-entry list from registry A failed: $(tail -n1 "$work/logs/setup.log")"
      say "bench: $t could not build its list for size $S: $(tail -n1 "$work/logs/setup.log")"
    fi
  done
done

# ---------------------------------------------------------------- scenario 1
if want 1 && [ ${#SIZE_LIST[@]} -gt 0 ]; then
say "bench: scenario 1: push --all to a new repository on registry A"
for S in "${SIZE_LIST[@]}"; do
  for r in $(seq "$RUNS"); do
    timed 1 manifest push "$S" 5 "$r" -- "$M" push "${TLS_A[@]}" "bench-$S" "docker://$A/dst-m-$S-$r/app:v1"
    if [ "$HAVE_BUILDAH" = 1 ]; then
      drop_bic
      timed 1 buildah push "$S" 5 "$r" -- "${B[@]}" manifest push --all "${TLS_A[@]}" "bench-$S" "docker://$A/dst-b-$S-$r/app:v1"
    fi
    if [ "$HAVE_DOCKER" = 1 ]; then
      # docker's list lives in its own config dir; `create` reads the children (not timed).
      refs=()
      for i in "${!PLATFORMS[@]}"; do refs+=("$A/src/app:${TAGS[$i]}-s$S"); done
      if quiet env DOCKER_CONFIG="$work/docker" docker manifest create --insecure "$A/dst-d-$S-$r/app:v1" "${refs[@]}"; then
        timed 1 docker push "$S" 5 "$r" -- env DOCKER_CONFIG="$work/docker" docker manifest push --insecure "$A/dst-d-$S-$r/app:v1"
      else
        meta problem "docker manifest create failed for size $S: $(tail -n1 "$work/logs/setup.log")"
      fi
    fi
  done
done

for S in "${SIZE_LIST[@]}"; do
  digests=()
  digests+=("$(verify_push "scenario 1, $S MiB, manifest" "http://$A" "dst-m-$S-1/app" v1)")
  [ "$HAVE_BUILDAH" = 1 ] && digests+=("$(verify_push "scenario 1, $S MiB, buildah" "http://$A" "dst-b-$S-1/app" v1)")
  same_index "scenario 1, $S MiB, manifest vs buildah" "${digests[@]}"
done

fi

# ---------------------------------------------------------------- scenario 2 + 3
if { want 2 || want 3; } && [ ${#SIZE_LIST[@]} -gt 0 ]; then
say "bench: scenarios 2 and 3: push --all to registry B (TLS + auth), and the curl ingest limit"
cat >"$work/put-blob.sh" <<'EOF'
#!/usr/bin/env bash
# put-blob.sh BASE REPO DIGEST FILE: a monolithic blob upload (POST, then PUT with the bytes)
set -euo pipefail
base=$1 repo=$2 digest=$3 file=$4
loc=$(curl -fsS --cacert "$CA" -u "$CREDS" -X POST -D - -o /dev/null "$base/v2/$repo/blobs/uploads/" |
  tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
[ -n "$loc" ] || { echo "no Location for $digest" >&2; exit 1; }
case $loc in /*) loc=$base$loc ;; esac
case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
curl -fsS --cacert "$CA" -u "$CREDS" -H 'Expect:' -H 'Content-Type: application/octet-stream' \
  -T "$file" -o /dev/null "$loc${sep}digest=$digest"
EOF
chmod +x "$work/put-blob.sh"
for S in "${SIZE_LIST[@]}"; do
  HAVE_IDX=0
  if [ "$HAVE_SKOPEO" = 1 ]; then # the index for skopeo, pushed once to A
    if [ "$HAVE_BUILDAH" = 1 ] && [ "${LIST_OK[buildah,$S]}" = 1 ]; then
      drop_bic
      quiet "${B[@]}" manifest push --all "${TLS_A[@]}" "bench-$S" "docker://$A/idx/app:v1-s$S" && HAVE_IDX=1
    fi
    if [ "$HAVE_IDX" = 0 ]; then
      quiet "$M" push "${TLS_A[@]}" "bench-$S" "docker://$A/idx/app:v1-s$S" && HAVE_IDX=1
    fi
    [ "$HAVE_IDX" = 1 ] || skip "skopeo (size $S)" "could not push the index to A/idx/app:v1-s$S for it to copy"
  fi
  for r in $(seq "$RUNS"); do
    timed 2 manifest push "$S" 5 "$r" -- "$M" push "${AUTH_B[@]}" "bench-$S" "docker://$BREG/s2-m-$S-$r/app:v1"
    if [ "$HAVE_BUILDAH" = 1 ]; then
      drop_bic
      timed 2 buildah push "$S" 5 "$r" -- "${B[@]}" manifest push --all "${AUTH_B[@]}" "bench-$S" "docker://$BREG/s2-b-$S-$r/app:v1"
    fi
    if [ "$HAVE_IDX" = 1 ]; then
      drop_bic
      timed 2 skopeo copy "$S" 5 "$r" -- skopeo copy --all --src-tls-verify=false \
        --dest-cert-dir "$work/certdir" --dest-creds "$USER_B:$PASS_B" --dest-tls-verify=false \
        "docker://$A/idx/app:v1-s$S" "docker://$BREG/s2-s-$S-$r/app:v1"
    fi
    # scenario 3: the same blobs, straight from the layouts, 8 curl uploads at a time (2 curl
    # processes, a TLS handshake and a bcrypt check per blob)
    awk -v b="https://$BREG" -v r="s3-$S-$r/app" '{ print b, r, $1, $3 }' "$work/blobs-$S.txt" >"$work/s3-jobs.txt"
    timed 3 curl put "$S" "$(wc -l <"$work/s3-jobs.txt")" "$r" -- \
      env CA="$CERTS/ca.crt" CREDS="$USER_B:$PASS_B" xargs -P 8 -L 1 -a "$work/s3-jobs.txt" "$work/put-blob.sh"
    # and a lean uploader: 8 threads, one keep-alive TLS connection each, 1 MiB writes
    timed 3 python put "$S" "$(wc -l <"$work/blobs-$S.txt")" "$r" -- \
      python3 "$here/ingest.py" --base "https://$BREG" --repo "s3p-$S-$r/app" --cacert "$CERTS/ca.crt" \
      --creds "$USER_B:$PASS_B" --jobs 8 "$work/blobs-$S.txt"
  done
done

B_VERIFY=(--cacert "$CERTS/ca.crt" --creds "$USER_B:$PASS_B")
for S in "${SIZE_LIST[@]}"; do
  digests=()
  digests+=("$(verify_push "scenario 2, $S MiB, manifest" "https://$BREG" "s2-m-$S-1/app" v1 "${B_VERIFY[@]}")")
  [ "$HAVE_BUILDAH" = 1 ] && digests+=("$(verify_push "scenario 2, $S MiB, buildah" "https://$BREG" "s2-b-$S-1/app" v1 "${B_VERIFY[@]}")")
  if [ "$HAVE_SKOPEO" = 1 ] && [ -n "$(grep -P "^2\tskopeo\tcopy\t$S\t" "$RES" | head -n1)" ]; then
    digests+=("$(verify_push "scenario 2, $S MiB, skopeo" "https://$BREG" "s2-s-$S-1/app" v1 "${B_VERIFY[@]}")")
  fi
  same_index "scenario 2, $S MiB, all tools" "${digests[@]}"
done

fi

# ---------------------------------------------------------------- scenario 4
if want 4 && [ ${#SIZE_LIST[@]} -gt 0 ]; then
say "bench: scenario 4: local commands, $REPS repetitions each"
S0=${SIZE_LIST[0]}
q() { printf '%q ' "$@"; }
L4=local4
quiet "$M" create "$L4"
for i in "${!PLATFORMS[@]}"; do quiet "$M" add "$L4" "oci:$work/img/$S0/${TAGS[$i]}:latest"; done
if [ "$HAVE_BUILDAH" = 1 ]; then
  quiet "${B[@]}" manifest create "$L4"
  for i in "${!PLATFORMS[@]}"; do quiet "${B[@]}" manifest add "$L4" "oci:$work/img/$S0/${TAGS[$i]}:latest"; done
fi
D4=${DIGEST[$S0,2]} OCI4="oci:$work/img/$S0/${TAGS[2]}:latest"
steps=()
for t in "${TOOLS[@]}"; do
  if [ "$t" = manifest ]; then c=$(q "$M"); else c=$(q "${B[@]}" manifest); fi
  steps+=(--step "$t:create" "$c create local4c" --step - "$c rm local4c")
  steps+=(--step "$t:annotate" "$c annotate --annotation org.example.bench=v --os linux $L4 $D4")
  steps+=(--step "$t:inspect" "$c inspect $L4")
  steps+=(--step "$t:remove" "$c remove $L4 $D4")
  steps+=(--step "$t:add-oci" "$c add $L4 $(q "$OCI4")")
done
python3 "$here/micro.py" --runs "$REPS" --out "$RES" --errdir "$work/logs" --scenario 4 --size "$S0" "${steps[@]}" ||
  say "bench: scenario 4 helper failed"

fi

# ---------------------------------------------------------------- scenario 5
if want 5 && [ ${#SIZE_LIST[@]} -gt 0 ]; then
say "bench: scenario 5: add x5 from registry A, with request counts"
for r in $(seq "$RUNS"); do
  for t in "${TOOLS[@]}"; do
    if [ "$t" = manifest ]; then quiet "$M" create "add5-$r"; else quiet "${B[@]}" manifest create "add5-$r"; fi
    for i in "${!PLATFORMS[@]}"; do
      if [ "$t" = manifest ]; then
        timed 5 manifest add "$S0" "$((i + 1))" "$r" -- "$M" add "${TLS_A[@]}" "add5-$r" "${SRC[$S0,$i]}"
      else
        timed 5 buildah add "$S0" "$((i + 1))" "$r" -- "${B[@]}" manifest add "${TLS_A[@]}" "add5-$r" "${SRC[$S0,$i]}"
      fi
    done
  done
done

fi

# ---------------------------------------------------------------- scenario 6
if want 6 && [ "$SCALE" -gt 0 ]; then
  say "bench: scenario 6: a list of $SCALE entries"
  SD=$work/img/scale
  for i in $(seq "$SCALE"); do
    "$MKIMAGE" "$SD" linux/amd64 --layers 1 --layer-size 1024 --seed $((100000 + i)) --ref "t$i" >"$work/scale-digest-$i" ||
      die "mkimage failed for scale image $i"
  done
  if [ "$HAVE_SKOPEO" = 1 ]; then
    say "bench: pushing $SCALE tiny images to A/scale/app:tN with skopeo (4 at a time)"
    seq "$SCALE" | xargs -P 4 -I{} skopeo copy -q --dest-tls-verify=false "oci:$SD:t{}" "docker://$A/scale/app:t{}" \
      >>"$work/logs/setup.log" 2>&1 || say "bench: WARNING: some skopeo copies of the scale images failed"
    scale_ref() { echo "docker://$A/scale/app:t$1"; }
  else
    say "bench: pushing $SCALE tiny images to A/scale/app with manifest (one list, --all)"
    quiet "$M" create scale-seed
    for i in $(seq "$SCALE"); do quiet "$M" add scale-seed "oci:$SD:t$i"; done
    quiet "$M" push "${TLS_A[@]}" scale-seed "docker://$A/scale/app:seed" ||
      say "bench: WARNING: manifest could not push the scale images to A"
    scale_ref() { echo "docker://$A/scale/app@$(cat "$work/scale-digest-$1")"; }
  fi
  CHECK=(100 250 500)
  [ "$SCALE" = 500 ] || CHECK=($((SCALE / 5)) $((SCALE / 2)) "$SCALE")
  for t in "${TOOLS[@]}"; do
    if [ "$t" = manifest ]; then c=("$M"); else c=("${B[@]}" manifest); fi
    quiet "${c[@]}" create scale
    fails=0
    for i in $(seq "$SCALE"); do
      timed 6 "$t" add - "$i" 1 -- "${c[@]}" add "${TLS_A[@]}" scale "$(scale_ref "$i")" 2>/dev/null || fails=$((fails + 1))
      if [ "$fails" -ge 5 ] && [ "$fails" = "$i" ]; then
        say "bench: $t add fails every time; giving up scenario 6 for $t"
        break
      fi
      for n in "${CHECK[@]}"; do
        [ "$i" = "$n" ] || continue
        for r in $(seq "$RUNS"); do
          timed 6 "$t" inspect - "$n" "$r" -- "${c[@]}" inspect scale
        done
        for r in $(seq "$RUNS"); do
          [ "$t" = buildah ] && drop_bic
          if [ "$t" = manifest ]; then
            timed 6 "$t" push - "$n" "$r" -- "$M" push "${TLS_A[@]}" scale "docker://$A/scale/app:list-m-$n"
          else
            timed 6 "$t" push - "$n" "$r" -- "${B[@]}" manifest push --all "${TLS_A[@]}" scale "docker://$A/scale/app:list-b-$n"
          fi
        done
      done
    done
  done
fi

# ---------------------------------------------------------------- scenario 7
# A local image (what `sealos build` / `buildah commit` leave in containers-storage) with one
# LOCAL_MIB layer of incompressible bytes, pushed --all by both tools from buildah's store: each
# regenerates the layer from the store, gzips it and uploads it; peak RSS is the number to watch.
if [ "$HAVE_BUILDAH" = 1 ] && [ "$LOCAL_MIB" -gt 0 ]; then
  say "bench: scenario 7: push --all of a local image with one $LOCAL_MIB MiB layer"
  STORE_FLAGS=(--root "$work/buildah/root" --runroot "$work/buildah/run")
  ctx=$work/local7/usr/share
  mkdir -p "$ctx"
  head -c $((LOCAL_MIB * 1048576)) /dev/urandom >"$ctx/big.bin"
  L7=containers-storage:localhost/local7:amd64
  if c=$("${B[@]}" from scratch 2>>"$work/logs/setup.log") &&
    quiet "${B[@]}" config --os linux --arch amd64 "$c" &&
    quiet "${B[@]}" copy "$c" "$work/local7/" / &&
    quiet "${B[@]}" commit -q --rm "$c" localhost/local7:amd64 &&
    quiet "$M" "${STORE_FLAGS[@]}" create local7 && quiet "$M" "${STORE_FLAGS[@]}" add local7 "$L7" &&
    quiet "${B[@]}" manifest create local7 && quiet "${B[@]}" manifest add local7 "$L7"; then
    meta "local_mib" "$LOCAL_MIB"
    rm -rf "$work/local7"
    for r in $(seq "$RUNS"); do
      timed 7 manifest push "$LOCAL_MIB" 1 "$r" -- "$M" "${STORE_FLAGS[@]}" push "${TLS_A[@]}" local7 "docker://$A/s7-m-$r/app:v1"
      drop_bic
      timed 7 buildah push "$LOCAL_MIB" 1 "$r" -- "${B[@]}" manifest push --all "${TLS_A[@]}" local7 "docker://$A/s7-b-$r/app:v1"
    done
    verify_push "scenario 7, manifest" "http://$A" "s7-m-1/app" v1 >/dev/null
    verify_push "scenario 7, buildah" "http://$A" "s7-b-1/app" v1 >/dev/null
  else
    skip "scenario 7" "could not build the local image or the lists (see $work/logs/setup.log)"
  fi
fi

# ---------------------------------------------------------------- scenario 8
# One image with one big layer (1 GiB, 4 GiB) from A to B (TLS + auth): throughput against the
# ingest baseline, and peak RSS, which must not grow with the layer. B's storage is emptied after
# every run so that the disk holds one copy at a time.
wipe_registry() { # NAME: drop what the registry stored (it is idle between runs)
  rm -rf "$work/registry-$1/data/docker"
}
declare -A BIG_OK
for BS in "${BIG_LIST[@]}"; do
  say "bench: scenario 8: one $BS MiB layer, A -> B"
  dir=$work/img/big-$BS
  "$MKIMAGE" "$dir" linux/amd64 --layers 1 --layer-size $((BS * 1048576)) --seed $((900 + BS)) >"$work/big-digest-$BS" ||
    die "mkimage failed for the $BS MiB image"
  python3 "$here/blobs.py" "$dir" >"$work/blobs-big-$BS.txt" || die "blobs.py failed"
  meta "bytes_big_$BS" "$(awk '{s+=$2} END {printf "%d", s}' "$work/blobs-big-$BS.txt")"
  if [ "$HAVE_SKOPEO" = 1 ]; then
    quiet skopeo copy --dest-tls-verify=false "oci:$dir:latest" "docker://$A/big/app:s$BS" ||
      { meta problem "scenario 8: skopeo could not seed A with the $BS MiB image"; continue; }
    src="docker://$A/big/app:s$BS"
  else # manifest pushes the image (as a one-entry list); it is then read by digest
    quiet "$M" create "seed-big-$BS" && quiet "$M" add "seed-big-$BS" "oci:$dir:latest" &&
      quiet "$M" push "${TLS_A[@]}" "seed-big-$BS" "docker://$A/big/app:list-s$BS" ||
      { meta problem "scenario 8: could not seed A with the $BS MiB image"; continue; }
    src="docker://$A/big/app@$(cat "$work/big-digest-$BS")"
  fi
  BIG_OK[$BS]=1
  echo "$src" >"$work/big-src-$BS"
  quiet "$M" create "big-$BS" && quiet "$M" add "${TLS_A[@]}" "big-$BS" "$src"
  # The same image read from its layout: the upload path alone, as the ingest baseline reads it.
  quiet "$M" create "big-layout-$BS" "oci:$dir:latest"
  [ "$HAVE_BUILDAH" = 1 ] && quiet "${B[@]}" manifest create "big-$BS" && quiet "${B[@]}" manifest add "${TLS_A[@]}" "big-$BS" "$src"
  for r in $(seq "$BIG_RUNS"); do
    timed 8 manifest push "$BS" 1 "$r" -- "$M" push "${AUTH_B[@]}" "big-$BS" "docker://$BREG/s8-m-$BS-$r/app:v1"
    wipe_registry b
    timed 8 manifest push-layout "$BS" 1 "$r" -- "$M" push "${AUTH_B[@]}" "big-layout-$BS" "docker://$BREG/s8-l-$BS-$r/app:v1"
    wipe_registry b
    if [ "$HAVE_BUILDAH" = 1 ]; then
      drop_bic
      timed 8 buildah push "$BS" 1 "$r" -- "${B[@]}" manifest push --all "${AUTH_B[@]}" "big-$BS" "docker://$BREG/s8-b-$BS-$r/app:v1"
      wipe_registry b
    fi
    if [ "$HAVE_SKOPEO" = 1 ]; then
      drop_bic
      timed 8 skopeo copy "$BS" 1 "$r" -- skopeo copy --src-tls-verify=false --dest-cert-dir "$work/certdir" \
        --dest-creds "$USER_B:$PASS_B" --dest-tls-verify=false "$src" "docker://$BREG/s8-s-$BS-$r/app:v1"
      wipe_registry b
    fi
    timed 8 python put "$BS" 1 "$r" -- python3 "$here/ingest.py" --base "https://$BREG" --repo "s8p-$BS-$r/app" \
      --cacert "$CERTS/ca.crt" --creds "$USER_B:$PASS_B" --jobs 8 "$work/blobs-big-$BS.txt"
    wipe_registry b
  done
done

# ---------------------------------------------------------------- scenario 9
# The connection drops at 50 % and at 90 % of the big layer's upload. The registry (C, plain HTTP)
# sits behind nginx with its default request buffering, as registries often do, and the drop
# happens between the tool and nginx (bench/dropproxy.py): nginx never forwards the cut request,
# so the registry keeps the upload session as it was before it. Counted: the bytes each tool sent
# in all, and whether and when it finished. Every tool gets the same retry budget where it has
# one (buildah 1.28's `manifest push` has none).
S9=${BIG_LIST[0]:-}
if [ "$HAVE_NGINX" = 1 ] && [ -n "$S9" ] && [ "${BIG_OK[$S9]:-0}" = 1 ]; then
  say "bench: scenario 9: connection drops during a $S9 MiB upload"
  PORT_C=$(free_port)
  start_registry c "$PORT_C" 0
  wait_ready "http://127.0.0.1:$PORT_C/v2/" 200 || die "registry C did not start"
  PORT_N=$(free_port)
  mkdir -p "$work/nginx/tmp"
  cat >"$work/nginx/nginx.conf" <<NGINX
user root;
worker_processes 1;
daemon off;
error_log $work/nginx/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_max_body_size 0;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$PORT_N;
    location / {
      proxy_pass http://127.0.0.1:$PORT_C;
      proxy_set_header Host \$http_host;
      proxy_http_version 1.1;
      proxy_request_buffering on;
      proxy_buffering off;
      proxy_read_timeout 600s;
    }
  }
}
NGINX
  nginx -c "$work/nginx/nginx.conf" >"$work/logs/nginx.log" 2>&1 &
  PIDS+=($!)
  wait_ready "http://127.0.0.1:$PORT_N/v2/" 200 || die "nginx did not start: $(tail -n3 "$work/nginx/error.log")"
  layer_bytes=$(awk '{ if ($2 > m) m = $2 } END { print m }' "$work/blobs-big-$S9.txt")
  meta "s9_layer" "$layer_bytes"
  src=$(cat "$work/big-src-$S9")
  for pct in "${DROP_LIST[@]}"; do
    for tool in manifest skopeo buildah; do
      [ "$tool" = skopeo ] && [ "$HAVE_SKOPEO" = 0 ] && continue
      [ "$tool" = buildah ] && [ "$HAVE_BUILDAH" = 0 ] && continue
      python3 "$here/dropproxy.py" --port-file "$work/drop.port" --upstream "127.0.0.1:$PORT_N" \
        --drop-at $((layer_bytes * pct / 100)) --stats "$work/drop.stats" &
      drop_pid=$!
      for _ in $(seq 50); do [ -s "$work/drop.port" ] && break; sleep 0.1; done
      P=127.0.0.1:$(cat "$work/drop.port")
      dest="docker://$P/s9-$tool-$pct/app:v1"
      case $tool in
        manifest) timed 9 manifest "push-$pct" "$S9" 1 1 -- "$M" push --tls-verify=false --retry 3 "big-$S9" "$dest" ;;
        skopeo) drop_bic; timed 9 skopeo "copy-$pct" "$S9" 1 1 -- skopeo copy --retry-times 3 --src-tls-verify=false \
          --dest-tls-verify=false "$src" "$dest" ;;
        buildah) drop_bic; timed 9 buildah "push-$pct" "$S9" 1 1 -- "${B[@]}" manifest push --all --tls-verify=false "big-$S9" "$dest" ;;
      esac
      kill -TERM "$drop_pid" 2>/dev/null; wait "$drop_pid" 2>/dev/null
      read -r sent drops <"$work/drop.stats"
      meta "s9_sent" "$tool $pct $sent $drops $LAST_RC"
      rm -f "$work/drop.port" "$work/drop.stats"
      wipe_registry c
    done
  done
fi

# ---------------------------------------------------------------- scenario 10
# How quickly the binary starts: `manifest --version` against `/bin/true`, both exec'd directly
# by micro.py, many times.
q() { printf '%q ' "$@"; }
if want 10; then
say "bench: scenario 10: start-up, $REPS repetitions"
python3 "$here/micro.py" --runs "$REPS" --out "$RES" --errdir "$work/logs" --scenario 10 --size 0 \
  --step "manifest:version" "$(q "$M") --version" --step "true:true" "/bin/true" ||
  say "bench: scenario 10 helper failed"
fi

# ---------------------------------------------------------------- scenario 11
# `verify --deep` of one image of N MiB (4 layers) in registry A: every layer read, hashed,
# decompressed and its files' headers looked at, against `skopeo copy` of the same image from
# A to an OCI layout (the same bytes read and hashed, and written to disk). Peak RSS must stay
# flat (target under 50 MB).
if want 11 && [ "$VERIFY_MIB" -gt 0 ]; then
  say "bench: scenario 11: verify --deep of a $VERIFY_MIB MiB image in A"
  dir=$work/img/verify-$VERIFY_MIB
  "$MKIMAGE" "$dir" linux/amd64 --layers 4 --layer-size $((VERIFY_MIB * 262144)) --seed 1100 >"$work/verify-digest" ||
    die "mkimage failed for the $VERIFY_MIB MiB image"
  meta verify_mib "$VERIFY_MIB"
  src11=docker://$A/verify/app:v1
  if [ "$HAVE_SKOPEO" = 1 ]; then
    quiet skopeo copy --dest-tls-verify=false "oci:$dir:latest" "$src11"
  else
    quiet "$M" create seed-verify "oci:$dir:latest" && quiet "$M" push "${TLS_A[@]}" seed-verify "$src11"
  fi || meta problem "scenario 11: could not seed A with the $VERIFY_MIB MiB image"
  for r in $(seq "$BIG_RUNS"); do
    timed 11 manifest verify-deep "$VERIFY_MIB" 1 "$r" -- "$M" verify --deep -q "${TLS_A[@]}" "$src11"
    if [ "$HAVE_SKOPEO" = 1 ]; then
      rm -rf "$work/s11-layout"
      timed 11 skopeo copy "$VERIFY_MIB" 1 "$r" -- skopeo copy -q --src-tls-verify=false "$src11" "oci:$work/s11-layout:v1"
      rm -rf "$work/s11-layout"
    fi
  done
fi

# ---------------------------------------------------------------- report
meta loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
meta end "$(date -u '+%Y-%m-%d %H:%M UTC')"
if ! python3 "$here/report.py" --meta "$META" --results "$RES" --log-a "$LOG_A" --log-b "$LOG_B" >"$work/report.md"; then
  # The measurements took long to make: keep them for a re-run of report.py alone.
  KEEP=1
  die "report.py failed; the measurements are kept in $work (re-run: python3 bench/report.py --meta $META --results $RES --log-a $LOG_A --log-b $LOG_B)"
fi
cp "$work/report.md" "$OUT"
cat "$work/report.md"
say "bench: report written to $OUT"
