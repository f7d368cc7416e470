#!/usr/bin/env bash
# Benchmark (not a test): `onyx images pull` against a sequential `docker pull` loop and parallel
# `docker pull &`, pulling N locally built images (30–80 MB of random data each) from a local
# registry after removing them. Runs alternate between the three; prints medians and ratios.
#
# Needs: a Docker engine, docker-registry, the docker CLI (for the comparison only), python3.
# Usage: scripts/bench-pull.sh [N_IMAGES=8] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-8}
rounds=${2:-3}

log() { printf '== %s\n' "$*" >&2; }
work=$(mktemp -d /tmp/onyx-bench-pull.XXXXXX)
reg_pid=
cleanup() {
  set +e
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
  for ref in "${refs[@]:-}"; do [ -n "$ref" ] && docker rmi -f "$ref" "$port_prefix/$ref" >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet
onyx=${CARGO_TARGET_DIR:-target}/release/onyx

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.2; done
port_prefix="127.0.0.1:$port"

log "building $n images of 30-80 MB and pushing them to $port_prefix"
refs=()
for i in $(seq 1 "$n"); do
  ref="onyx-bench/img$i:1"
  refs+=("$ref")
  rootfs="$work/rootfs$i"
  mkdir -p "$rootfs/bin"
  cp /bin/busybox "$rootfs/bin/busybox"
  mb=$((30 + (i * 50 / n)))
  head -c "${mb}M" /dev/urandom >"$rootfs/data"
  tar -C "$rootfs" -c . | docker import - "$ref" >/dev/null
  rm -rf "$rootfs"
  docker tag "$ref" "$port_prefix/$ref"
  docker push -q "$port_prefix/$ref" >/dev/null
done

remove_all() {
  for ref in "${refs[@]}"; do docker rmi -f "$ref" "$port_prefix/$ref" >/dev/null 2>&1 || true; done
}
now() { date +%s.%N; }

run_onyx() {
  args=()
  for ref in "${refs[@]}"; do args+=(--image "$ref"); done
  "$onyx" -q images pull --registry-mirror "$port_prefix" "${args[@]}"
}
run_seq() { for ref in "${refs[@]}"; do docker pull -q "$port_prefix/$ref" >/dev/null; done; }
run_par() {
  pids=()
  for ref in "${refs[@]}"; do docker pull -q "$port_prefix/$ref" >/dev/null & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p"; done
}

declare -A times
for r in $(seq 1 "$rounds"); do
  for tool in onyx seq par; do
    remove_all
    t0=$(now)
    "run_$tool"
    t1=$(now)
    t=$(python3 -c "print(f'{$t1-$t0:.2f}')")
    times[$tool]="${times[$tool]:-} $t"
    log "round $r $tool: ${t}s"
  done
done

median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1].split())):.2f}')" "$1"; }
mo=$(median "${times[onyx]}"); ms=$(median "${times[seq]}"); mp=$(median "${times[par]}")
echo "images: $n ($(du -sh "$work/registry" | cut -f1) in the registry), rounds: $rounds"
echo "median onyx images pull:        ${mo}s"
echo "median sequential docker pull:  ${ms}s"
echo "median parallel docker pull &:  ${mp}s"
python3 -c "print(f'onyx / sequential: {$mo/$ms:.2f}x   onyx / parallel: {$mo/$mp:.2f}x')"
