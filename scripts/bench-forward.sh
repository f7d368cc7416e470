#!/usr/bin/env bash
# Benchmark (not a test): HTTP through onyx's port-forward (listener → WebSocket port-forward →
# the in-process Kubernetes API simulator → a stand-in nginx on 127.0.0.1) vs a direct TCP
# connection to the same stand-in. Prints throughput and p50 latencies (examples/bench_forward.rs).
#
# Needs: nothing but cargo. Usage: scripts/bench-forward.sh [MIB=256] [ROUNDS=5] [REQUESTS=1000]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet --example bench_forward -- "${1:-256}" "${2:-5}" "${3:-1000}"
