#!/usr/bin/env bash
# Benchmark (not a test): apply + wait of the whole stack against the Kubernetes API simulator,
# `onyx up` vs `kubectl apply --server-side -f <onyx render>` followed by `kubectl rollout status`
# for every workload (what a user does by hand), each from nothing on a fresh simulator with the
# same readiness delay; then the idempotent re-run of each on the ready stack. Prints medians and
# ratios (targets: onyx ≤ 0.5× kubectl; re-run ≤ 1.5 s) for each readiness delay given: the delay
# is a floor both tools pay once, so the ratio depends on it (300 ms is the simulator's default).
#
# Needs: kubectl (ONYX_KUBECTL or PATH), python3. No Docker.
# Usage: [BENCH_BIN_DIR=DIR] scripts/bench-up.sh [ROUNDS=5] [READY_DELAYS_MS=300,1000]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
delays=${2:-300,1000}
delay=
kubectl=${ONYX_KUBECTL:-$(command -v kubectl || true)}
[ -n "$kubectl" ] || { echo "kubectl not found (ONYX_KUBECTL or PATH)" >&2; exit 1; }

log() { printf '== %s\n' "$*" >&2; }
work=$(mktemp -d /tmp/onyx-bench-up.XXXXXX)
sim_pid=
stop_sim() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null; wait "$sim_pid" 2>/dev/null || true; sim_pid=; fi
}
cleanup() { set +e; stop_sim; rm -rf "$work"; }
trap cleanup EXIT

# BENCH_BIN_DIR: use onyx and k8s-sim already built there instead of building them in release.
if [ -n "${BENCH_BIN_DIR:-}" ]; then
  bin=$BENCH_BIN_DIR
else
  cargo build --release --quiet -p onyx -p k8s-sim
  bin=${CARGO_TARGET_DIR:-target}/release
fi
ns=onyx-bench
export HOME=$work NO_COLOR=1 ONYX_NO_UPDATE_CHECK=1 DOCKER_HOST=unix:///nonexistent.sock
unset KUBECONFIG ONYX_CONTEXT ONYX_KUBECONFIG ONYX_NAMESPACE

start_sim() {
  rm -f "$work/kubeconfig"
  "$bin/k8s-sim" --port 0 --kubeconfig "$work/kubeconfig" --ready-delay-ms "$delay" >"$work/sim.url" 2>"$work/sim.log" &
  sim_pid=$!
  for _ in $(seq 1 100); do [ -s "$work/sim.url" ] && [ -s "$work/kubeconfig" ] && break; sleep 0.05; done
}

# Clock readings in the shell itself: a python3 per reading added its own start (~0.1 s here) to
# every figure, the same for both tools.
now() { printf '%s\n' "$EPOCHREALTIME"; }
since() { local t=$EPOCHREALTIME; awk -v a="$1" -v b="$t" 'BEGIN { printf "%.3f\n", b - a }'; }

"$bin/onyx" render -n "$ns" --profile small --force >"$work/stack.yaml" 2>/dev/null
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns" >"$work/ns.yaml"
workloads=$(python3 - "$work/stack.yaml" <<'PY'
import sys
kind = name = None
top = None
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
[ "$(echo "$workloads" | wc -w)" = 8 ] || { echo "expected 8 workloads, found: $workloads" >&2; exit 1; }

k() { "$kubectl" --kubeconfig "$work/kubeconfig" "$@"; }
kubectl_up() {
  k apply --server-side -f "$work/ns.yaml" >/dev/null
  k apply --server-side -n "$ns" -f "$work/stack.yaml" >/dev/null
  for w in $workloads; do k rollout status -n "$ns" "$w" --timeout 300s >/dev/null; done
}
onyx_up() {
  "$bin/onyx" up --kubeconfig "$work/kubeconfig" --context sim -n "$ns" --profile small --force \
    --no-browser --timeout 300s >/dev/null 2>"$work/onyx.err" || { cat "$work/onyx.err" >&2; return 1; }
}

report() {
python3 - "$work" "$rounds" "$delay" <<'PY'
import statistics, sys
work, rounds, delay = sys.argv[1], sys.argv[2], sys.argv[3]
def med(name):
    xs = [float(x) for x in open(f"{work}/{name}").read().split()]
    return statistics.median(xs), xs
k, kx = med("k"); o, ox = med("o"); kr, krx = med("kr"); orr, orx = med("or")
print(f"apply+wait from nothing, {rounds} rounds, ready delay {delay} ms (medians):")
print(f"  kubectl apply --server-side + rollout status x8: {k:.2f} s  {kx}")
print(f"  onyx up:                                          {o:.2f} s  {ox}")
print(f"  ratio onyx/kubectl: {o/k:.2f} (target <= 0.5)")
print(f"idempotent re-run on the ready stack:")
print(f"  kubectl: {kr:.2f} s   onyx up: {orr:.2f} s (target <= 1.5 s)  {orx}")
PY
}

for delay in ${delays//,/ }; do
  : >"$work/k"; : >"$work/o"; : >"$work/kr"; : >"$work/or"
  for r in $(seq 1 "$rounds"); do
    log "round $r/$rounds"
    start_sim; t=$(now); kubectl_up; since "$t" >>"$work/k"
    t=$(now); kubectl_up; since "$t" >>"$work/kr"; stop_sim
    start_sim; t=$(now); onyx_up; since "$t" >>"$work/o"
    t=$(now); onyx_up; since "$t" >>"$work/or"; stop_sim
  done

  report
done
