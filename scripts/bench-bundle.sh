#!/usr/bin/env bash
# Benchmark (not a test): save and load a ~2 GB bundle of locally built images with onyx, against
# `docker save` / `docker load` of the same images. Reports wall time, throughput and the peak RSS
# of each client process (/usr/bin/time -v); onyx streams, so its peak RSS should stay flat
# whatever the bundle size. (The engine does the heavy lifting in both cases; its memory is not
# counted.)
#
# Needs: a Docker engine, the docker CLI (for the comparison only), python3, /usr/bin/time.
# Usage: scripts/bench-bundle.sh [TOTAL_MB=2048] [IMAGES=8] [ROUNDS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
total_mb=${1:-2048}
n=${2:-8}
rounds=${3:-2}

log() { printf '== %s\n' "$*" >&2; }
work=$(mktemp -d "${BENCH_DIR:-/tmp}/onyx-bench-bundle.XXXXXX")
refs=()
cleanup() {
  set +e
  for ref in "${refs[@]:-}"; do [ -n "$ref" ] && docker rmi -f "$ref" >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet
onyx=${CARGO_TARGET_DIR:-target}/release/onyx

log "building $n images, $total_mb MB in all"
per=$((total_mb / n))
for i in $(seq 1 "$n"); do
  ref="onyx-bench-bundle/img$i:1"
  refs+=("$ref")
  rootfs="$work/rootfs"
  mkdir -p "$rootfs/bin"
  cp /bin/busybox "$rootfs/bin/busybox"
  head -c "${per}M" /dev/urandom >"$rootfs/data"
  tar -C "$rootfs" -c . | docker import - "$ref" >/dev/null
  rm -rf "$rootfs"
done

remove_all() { for ref in "${refs[@]}"; do docker rmi -f "$ref" >/dev/null 2>&1 || true; done; }

# measure NAME CMD...: appends "seconds peak_kb" to $work/NAME
measure() {
  name=$1; shift
  sync
  /usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }
  secs=$(python3 - "$work/time.txt" <<'PY'
import sys
for line in open(sys.argv[1]):
    if "Elapsed (wall clock)" in line:
        t = line.rsplit(" ", 1)[1].strip().split(":")
        print(sum(float(x) * 60 ** i for i, x in enumerate(reversed(t))))
PY
)
  kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/time.txt")
  echo "$secs $kb" >>"$work/$name"
  log "$name: ${secs}s, peak RSS $((kb / 1024)) MB"
}

image_args=()
for ref in "${refs[@]}"; do image_args+=(--image "$ref"); done
for r in $(seq 1 "$rounds"); do
  log "round $r"
  rm -f "$work/onyx.tar" "$work/docker.tar"
  measure onyx-save "$onyx" -q images save -o "$work/onyx.tar" "${image_args[@]}"
  measure docker-save docker save -o "$work/docker.tar" "${refs[@]}"
  remove_all
  measure onyx-load "$onyx" -q images load "$work/onyx.tar"
  remove_all
  measure docker-load docker load -q -i "$work/docker.tar"
done

bytes=$(stat -c %s "$work/onyx.tar")
python3 - "$work" "$bytes" <<'PY'
import statistics, sys, os
work, size = sys.argv[1], int(sys.argv[2])
def stats(name):
    rows = [tuple(map(float, l.split())) for l in open(os.path.join(work, name))]
    return statistics.median(r[0] for r in rows), max(r[1] for r in rows) / 1024
print(f"bundle: {size / 2**30:.2f} GiB")
for op in ("save", "load"):
    (to, ro), (td, rd) = stats(f"onyx-{op}"), stats(f"docker-{op}")
    print(f"{op}: onyx {to:.1f}s ({size / 2**20 / to:.0f} MiB/s, peak RSS {ro:.0f} MB)  "
          f"docker {td:.1f}s ({size / 2**20 / td:.0f} MiB/s, peak RSS {rd:.0f} MB)  "
          f"throughput onyx/docker {td / to:.2f}x")
PY
