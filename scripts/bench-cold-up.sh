#!/usr/bin/env bash
# Benchmark (not a test): a cold `onyx up` on onyx's own cluster, against the seed's way and the
# physical bound, all in one run on one machine.
#
# Set-up (all on 127.0.0.1):
# - a registry: Debian's docker-registry, behind a bandwidth limit of BENCH_BANDWIDTH bytes/s
#   (default 40 MB/s). The limit is examples/throttle_proxy.rs, a small tokio TCP proxy that
#   shares one figure between all connections, per direction (chosen over `tc` on a network
#   namespace: it needs no privileges and no extra package). Both contenders pull through it.
# - the stack's eight images under their pinned names (embedded/images.toml), built here from
#   random data (incompressible, so the bytes on the link are the bytes built), in layers of at
#   most 64 MB, at 1/BENCH_SCALE (default 1/20) of the real images' sizes. The real sizes are
#   NOT recorded anywhere in this repository (embedded/images.toml, docs/images.md,
#   src/stack/catalog.rs hold names only) nor in Onyx's source; the one upstream figure found is
#   onyx-dot-app/onyx PR #5845 (in v2.3.0): "the model-server image 26.1 GB → 14.8 GB"
#   (uncompressed). The compressed sizes below (SIZES_MB) are therefore estimates, stated as
#   such in docs/benchmarks.md; change them with BENCH_SIZES_MB="svc=MB ...".
# - the stand-in node (examples/bench_node.rs): the product's node spec with only the privilege
#   fields changed (tests/it/support/fake_node.rs `runnable_here`), the Kubernetes API simulator as
#   its API server. It is made by this script BEFORE each contender's clock starts (a privileged
#   node can't boot here), and `onyx up` reuses it, so neither figure nor the bound includes a
#   node boot. Images enter it as kind's `ctr images import` (the stand-in writes the stream to
#   disk; a real containerd also unpacks it).
# - readiness delays in the simulator standing in for each service's start (BOOT_MS, already
#   scaled): Vespa's first boot, the API's migrations (its clock starts only once its
#   dependencies are Ready, as its init container `wait-for-dependencies` waits for them), etc.
#
# Contenders, each on a fresh node with none of the stack's images in the engine:
# 1. onyx: `onyx up --registry-mirror <proxy> --profile small --force` to all-ready;
# 2. the seed's way, as a user following it would: `docker pull` each image in turn (through the
#    same proxy, then `docker tag` to its usual name), load each into the node (`docker save |
#    docker exec -i <node> ctr --namespace=k8s.io images import --all-platforms --digests
#    --snapshotter=overlayfs -`, what `kind load docker-image` runs: kind v0.32.0
#    pkg/cluster/nodeutils/util.go LoadImageArchive), `kubectl apply --server-side -f` the manifests
#    `onyx render` prints, `kubectl rollout status` each workload;
# 3. the bound: a lower bound on what any tool could do with the same link and boot delays,
#    minimised over every order the images may cross the link in: the link carries at most
#    BANDWIDTH bytes/s (one image after another at the full bandwidth is best: sharing it only
#    makes some image arrive later), a service's pod can start only once the last byte of its
#    image has crossed the link, and it is Ready BOOT_MS after that (the API: BOOT_MS after its
#    image is there AND its five dependencies are Ready, as the simulator's `after` rule says).
#    Nothing is counted after an image's last byte: a tool may stream each image into the node
#    as it arrives (no engine in between), and the stand-in node only stores the stream (a real
#    containerd would also unpack the last layer). So the bound is ≥ total bytes ÷ bandwidth +
#    the boot of whatever image comes last, and ≥ the longest chain of boots, the two floors
#    the issue names, which are printed too. Until 2026-12-01 the bound also counted each
#    image's import into the node after its download, at the rate the seed's `docker save |
#    ctr import` took in this run: that is a floor of onyx's design (engine, then node) at the
#    seed's rate, not a bound on any tool (it was printed above onyx's time in a loaded run);
#    it is still printed, as "engine → node at the seed's import rate", for comparison.
#
# Needs: a Docker engine and the docker CLI, docker-registry, kubectl (ONYX_KUBECTL or PATH),
# python3, /bin/busybox (busybox-static), curl. Refuses to run where a node onyx-control-plane
# exists or any of the stack's image names is in the engine (it never touches what it did not
# make).
# Where the time goes: with BENCH_KEEP=DIR, each round's onyx stderr (every line stamped with the
# Unix time it arrived), the proxy's byte counter (every 100 ms, THROTTLE_PROXY_LOG) and the
# parameters are kept in DIR, and scripts/cold-up-timeline.py DIR/onyxN prints the timeline:
# each image's download, import and layer, the link's use per second, each service's Ready.
# BENCH_ONYX_OLD=BINARY: also time that onyx each round (before the seed's way), e.g. the build
# before a change, so both are measured under the same load.
# Usage: [BENCH_ONYX=BINARY] [BENCH_ONYX_OLD=BINARY] [BENCH_KEEP=DIR] scripts/bench-cold-up.sh [ROUNDS=1]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-1}
scale=${BENCH_SCALE:-20}
bandwidth=${BENCH_BANDWIDTH:-40000000}
# Real compressed sizes in MB (estimates, see above), per service.
sizes_mb=${BENCH_SIZES_MB:-"nginx=20 web-server=300 api-server=2000 inference-model-server=6000 postgresql=100 vespa=1500 redis=20 minio=60"}
# Milliseconds from a pod's start to Ready, already scaled by 1/BENCH_SCALE: Vespa's first boot
# (minutes on a laptop: 120 s → 6 s), the API's start (253 migrations took ~8 s here from its
# source, /work/shared/ONYX-STACK.md, plus deploying Vespa's application package and its checks:
# 40 s → 2 s), the model server (lazy model loading since v2.0: 20 s → 1 s), the rest 6–10 s.
boot_ms=${BENCH_BOOT_MS:-"vespa=6000 api-server=2000 inference-model-server=1000 postgresql=500 minio=500 redis=300 web-server=500 nginx=300"}
kubectl=${ONYX_KUBECTL:-$(command -v kubectl || true)}
[ -n "$kubectl" ] || { echo "kubectl not found (ONYX_KUBECTL or PATH)" >&2; exit 1; }
node="onyx-control-plane"
ns=onyx

log() { printf '== %s  (load %s)\n' "$*" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2; }
now() { printf '%s\n' "$EPOCHREALTIME"; }
since() { local t=$EPOCHREALTIME; awk -v a="$1" -v b="$t" 'BEGIN { printf "%.2f\n", b - a }'; }

work=$(mktemp -d /tmp/onyx-bench-cold-up.XXXXXX)
reg=
proxy=
reg_pid=
proxy_pid=
node_image=
made_network=
images=()
# Docker Hub names in a registry: `library/` for official images (as --registry-mirror maps them).
path_of() { case "$1" in */*) echo "$1" ;; *) echo "library/$1" ;; esac; }
mirror_ref() { echo "$proxy/$(path_of "$1")"; }
cleanup() {
  set +e
  remove_node
  remove_images
  [ -n "$made_network" ] && docker network rm kind >/dev/null 2>&1
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

remove_node() {
  if docker inspect "$node" >/dev/null 2>&1 && [ -n "$node_image" ]; then
    docker rm -f -v "$node" >/dev/null 2>&1
  fi
  [ -n "$node_image" ] && docker rmi -f "$node_image" >/dev/null 2>&1
  node_image=
  return 0
}
remove_images() {
  local ref
  for ref in "${images[@]}"; do
    docker rmi -f "$ref" "$(mirror_ref "$ref")" "$reg/$(path_of "$ref")" >/dev/null 2>&1
  done
  return 0
}

# onyx in release (what users run); the helpers (the proxy, the node maker, the simulator in the
# node) in the dev profile, whose dependencies the tests have built already. BENCH_ONYX: use this
# onyx binary instead of building one.
target=${CARGO_TARGET_DIR:-target}
if [ -n "${BENCH_ONYX:-}" ]; then
  onyx=$BENCH_ONYX
else
  cargo build --release --quiet -p onyx --bin onyx
  onyx=$target/release/onyx
fi
# One command for both packages, so their dependencies get the features the tests built them with.
cargo build --quiet -p onyx -p k8s-sim --bin k8s-sim --example throttle_proxy --example bench_node
sim=$target/debug/k8s-sim
examples=$target/debug/examples

if docker inspect "$node" >/dev/null 2>&1; then
  echo "a node $node exists on this engine; the bench leaves it alone" >&2; exit 1
fi
docker network inspect kind >/dev/null 2>&1 || made_network=1

# The stack's images, service by service, from the pinned list.
mapfile -t stack < <(python3 - <<'PY'
import tomllib
for i in tomllib.load(open("embedded/images.toml", "rb"))["image"]:
    if i["service"] != "kind-node":
        print(i["service"], i["reference"])
PY
)
[ "${#stack[@]}" = 8 ] || { echo "expected 8 stack images, found ${#stack[@]}" >&2; exit 1; }
for line in "${stack[@]}"; do
  ref=${line#* }
  if docker image inspect "$ref" >/dev/null 2>&1; then
    echo "$ref is in the engine already (someone else's); the bench needs it absent" >&2; exit 1
  fi
  images+=("$ref")
done
value_of() { # value_of "a=1 b=2" b → 2
  local kv
  for kv in $1; do [ "${kv%%=*}" = "$2" ] && { echo "${kv#*=}"; return; }; done
  echo "no value for $2 in: $1" >&2; return 1
}

# Registry and the throttling proxy in front of it.
reg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$reg_port
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
reg=127.0.0.1:$reg_port
for _ in $(seq 1 50); do curl -fsS "http://$reg/v2/" >/dev/null 2>&1 && break; sleep 0.2; done
THROTTLE_PROXY_LOG="$work/proxy.bytes" \
  "$examples/throttle_proxy" 127.0.0.1:0 "$reg" "$bandwidth" >"$work/proxy.addr" 2>"$work/proxy.log" &
proxy_pid=$!
for _ in $(seq 1 50); do [ -s "$work/proxy.addr" ] && break; sleep 0.1; done
proxy=$(cat "$work/proxy.addr")

log "building the stack's images at 1/$scale of their sizes, pushing them to $reg"
: >"$work/params"
for line in "${stack[@]}"; do
  svc=${line%% *}; ref=${line#* }
  mb=$(( ($(value_of "$sizes_mb" "$svc") + scale / 2) / scale ))
  [ "$mb" -ge 1 ] || mb=1
  ctx="$work/ctx-$svc"; mkdir -p "$ctx"
  printf 'FROM scratch\n' >"$ctx/Dockerfile"
  left=$mb; i=0
  while [ "$left" -gt 0 ]; do
    n=$(( left > 64 ? 64 : left )); i=$((i + 1)); left=$((left - n))
    head -c "$((n * 1000000))" /dev/urandom >"$ctx/layer$i"
    printf 'COPY layer%s /data/layer%s\n' "$i" "$i" >>"$ctx/Dockerfile"
  done
  docker build -q -t "$reg/$(path_of "$ref")" "$ctx" >/dev/null 2>"$work/build.log"
  rm -rf "$ctx"
  docker push -q "$reg/$(path_of "$ref")" >/dev/null
  docker rmi -f "$reg/$(path_of "$ref")" >/dev/null
  echo "$svc $ref $((mb * 1000000)) $(value_of "$boot_ms" "$svc")" >>"$work/params"
done
total_mb=$(awk '{ s += $3 } END { printf "%.0f", s / 1e6 }' "$work/params")
log "$total_mb MB in the registry, served at $((bandwidth / 1000000)) MB/s through $proxy"

# The simulator's readiness delays, passed to the node's API server.
flags=
while read -r svc _ _ ms; do
  after=
  if [ "$svc" = api-server ]; then
    after=',"after":["app.kubernetes.io/name=postgresql","app.kubernetes.io/name=redis","app.kubernetes.io/name=minio","app.kubernetes.io/name=vespa","app.kubernetes.io/name=inference-model-server"]'
  fi
  flags+=" --ready-delay {\"target\":{\"labels\":\"app.kubernetes.io/name=$svc\"},\"ms\":$ms$after}"
done <"$work/params"
export K8S_SIM_FLAGS=${flags# }
export NO_COLOR=1 ONYX_NO_UPDATE_CHECK=1
unset ONYX_CONTEXT ONYX_KUBECONFIG ONYX_NAMESPACE ONYX_PORT BROWSER

"$onyx" render -n "$ns" --profile small --force >"$work/stack.yaml" 2>/dev/null
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns" >"$work/ns.yaml"
workloads=$(python3 - "$work/stack.yaml" <<'PY'
import sys
kind = name = top = None
def emit():
    if kind in ("Deployment", "StatefulSet") and name:
        print(f"{kind.lower()}/{name}")
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line == "---":
        emit(); kind = name = top = None
        continue
    if line and not line.startswith(" "):
        top = line.split(":")[0]
        if top == "kind":
            kind = line.split(":", 1)[1].strip()
    elif top == "metadata" and line.startswith("  name:") and name is None:
        name = line.split(":", 1)[1].strip()
emit()
PY
)

# A fresh stand-in node for one contender (untimed); sets $kc and $data.
fresh_node() {
  local out
  kc="$work/kube-$1/config"; data="$work/data-$1"
  mkdir -p "$data"
  out=$("$examples/bench_node" "$sim" "$kc" "$data/data")
  node_image=$(echo "$out" | sed -n 2p)
}

# Each line of stderr with the Unix time it arrived (for the timeline; `$EPOCHREALTIME`, no fork).
stamp() { local l; while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }
onyx_up() { # onyx_up [BINARY]
  local rc=0 bin=${1:-$onyx}
  { KUBECONFIG=$kc ONYX_DATA_DIR=$data "$bin" up --no-browser --registry-mirror "$proxy" \
      --profile small --force --timeout 600s 2>&1 >"$work/onyx.out"; } | stamp >"$work/onyx.err" \
    || rc=$?
  [ "$rc" = 0 ] || { cat "$work/onyx.err" >&2; return 1; }
}
keep() { # keep NAME T0 T1: this round's logs into $BENCH_KEEP/NAME
  [ -n "${BENCH_KEEP:-}" ] || return 0
  local d="$BENCH_KEEP/$1"
  mkdir -p "$d"
  cp "$work/params" "$d/"
  [ "${1#seed}" = "$1" ] && cp "$work/onyx.err" "$d/onyx.err"
  awk -v a="$2" -v b="$3" '$1 >= a - 0.2 && $1 <= b + 0.2' "$work/proxy.bytes" >"$d/proxy.bytes"
  printf '%s %s %s\n' "$2" "$3" "$bandwidth" >"$d/clock"
}

seed_way() {
  local ref t
  local -a k=("$kubectl" --kubeconfig "$kc" --context kind-onyx)
  t=$(now)
  for ref in "${images[@]}"; do
    docker pull -q "$(mirror_ref "$ref")" >/dev/null
    docker tag "$(mirror_ref "$ref")" "$ref"
  done
  echo "pull $(since "$t")" >>"$work/seed.phases"
  t=$(now)
  for ref in "${images[@]}"; do
    docker save "$ref" | docker exec -i "$node" ctr --namespace=k8s.io images import \
      --all-platforms --digests --snapshotter=overlayfs - >/dev/null
  done
  echo "load $(since "$t")" >>"$work/seed.phases"
  t=$(now)
  # Server-side, as scripts/bench-up.sh does (the simulator takes JSON and apply bodies, not the
  # protobuf a client-side create of a built-in type sends).
  "${k[@]}" apply --server-side -f "$work/ns.yaml" >/dev/null
  "${k[@]}" apply --server-side -n "$ns" -f "$work/stack.yaml" >/dev/null
  for w in $workloads; do "${k[@]}" rollout status -n "$ns" "$w" --timeout 600s >/dev/null; done
  echo "apply+ready $(since "$t")" >>"$work/seed.phases"
}

: >"$work/onyx.times"; : >"$work/old.times"; : >"$work/seed.times"; : >"$work/seed.phases"
for r in $(seq 1 "$rounds"); do
  log "round $r/$rounds: onyx"
  fresh_node "onyx$r"
  t=$(now); onyx_up; since "$t" >>"$work/onyx.times"; log "onyx: $(tail -n 1 "$work/onyx.times") s"
  keep "onyx$r" "$t" "$EPOCHREALTIME"
  remove_node; remove_images
  if [ -n "${BENCH_ONYX_OLD:-}" ]; then
    log "round $r/$rounds: onyx (old: $BENCH_ONYX_OLD)"
    fresh_node "old$r"
    t=$(now); onyx_up "$BENCH_ONYX_OLD"; since "$t" >>"$work/old.times"
    log "onyx (old): $(tail -n 1 "$work/old.times") s"
    keep "old$r" "$t" "$EPOCHREALTIME"
    remove_node; remove_images
  fi
  log "round $r/$rounds: the seed's way"
  fresh_node "seed$r"
  t=$(now); seed_way; since "$t" >>"$work/seed.times"; log "seed: $(tail -n 1 "$work/seed.times") s"
  keep "seed$r" "$t" "$EPOCHREALTIME"
  remove_node; remove_images
done

python3 - "$work" "$bandwidth" "$scale" <<'PY'
import itertools, statistics, sys
work, bw, scale = sys.argv[1], float(sys.argv[2]), sys.argv[3]
params = [l.split() for l in open(f"{work}/params")]
size = {s: int(b) for s, _, b, _ in params}
boot = {s: int(ms) / 1000 for s, _, _, ms in params}
api_after = ["postgresql", "redis", "minio", "vespa", "inference-model-server"]
onyx = [float(x) for x in open(f"{work}/onyx.times").read().split()]
seed = [float(x) for x in open(f"{work}/seed.times").read().split()]
old = [float(x) for x in open(f"{work}/old.times").read().split()]
phases = [l.split() for l in open(f"{work}/seed.phases")]
loads = [float(p[1]) for p in phases if p[0] == "load"]
total = sum(size.values())
import_rate = total / statistics.median(loads)  # bytes/s into the node, as measured in the seed's way
def ready_times(in_node):
    ready = {s: in_node[s] + boot[s] for s in in_node if s != "api-server"}
    ready["api-server"] = max(in_node["api-server"], max(ready[d] for d in api_after)) + boot["api-server"]
    return max(ready.values())
def arrivals(order):
    t = 0.0; at = {}
    for s in order:
        t += size[s] / bw
        at[s] = t
    return at
def bound_of(order):
    # Each image usable the moment its last byte has crossed the link.
    return ready_times(arrivals(order))
def engine_then_node(order):
    # onyx's design at the seed's import rate: each image into the node after it arrived, one
    # import at a time.
    at = arrivals(order); in_node = {}; last = 0.0
    for s in order:
        last = max(at[s], last) + size[s] / import_rate
        in_node[s] = last
    return ready_times(in_node)
services = list(size)
best = min(itertools.permutations(services), key=bound_of)
bound = bound_of(best)
design_order = min(itertools.permutations(services), key=engine_then_node)
design = engine_then_node(design_order)
link = total / bw
chain = max(max(boot[d] for d in api_after) + boot["api-server"], max(boot.values()))
o, sd = statistics.median(onyx), statistics.median(seed)
print(f"cold up, {len(onyx)} round(s); images at 1/{scale}: {total/1e6:.0f} MB at {bw/1e6:.0f} MB/s; boots (s): "
      + ", ".join(f"{s} {boot[s]:g}" for s in services))
print(f"  onyx up:          {o:6.2f} s  {onyx}")
if old:
    print(f"  onyx up (old):    {statistics.median(old):6.2f} s  {old}")
print(f"  the seed's way:   {sd:6.2f} s  {seed}  phases: " + "; ".join(" ".join(p) for p in phases))
print(f"  bound:            {bound:6.2f} s  (best order {' → '.join(best)}; each image usable at its last byte)")
print(f"    floors: bytes/bandwidth {link:.2f} s, longest chain of boots {chain:.2f} s")
print(f"  engine → node at the seed's import rate ({import_rate/1e6:.0f} MB/s, one at a time): {design:.2f} s "
      f"(best order {' → '.join(design_order)}; not a bound on any tool)")
print(f"  onyx/seed  = {o/sd:.2f}  (target <= 0.6)")
print(f"  onyx/bound = {o/bound:.2f}  (target <= 1.15)")
PY
