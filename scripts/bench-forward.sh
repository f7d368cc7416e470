#!/usr/bin/env bash
# Benchmark (not a test): port-forward, onyx vs kubectl vs direct, in one run. A real nginx
# (Debian's nginx-light, `sendfile on`, its own prefix in a temp dir, 127.0.0.1 only) serves a
# large file and a small one as the nginx pod's server behind the in-process Kubernetes API
# simulator; examples/bench_forward.rs measures a direct connection, onyx's forward (kube-rs
# WebSocket v4) and `kubectl port-forward svc/nginx` (SPDY/3.1 tunneled in a WebSocket).
# Prints throughput of the large GET and p50 latencies of small GETs, with the ratios.
#
# Needs: cargo, nginx (apt-get install nginx-light), kubectl (ONYX_KUBECTL or PATH).
# Usage: scripts/bench-forward.sh [MIB=256] [ROUNDS=5] [REQUESTS=1000]
set -euo pipefail
cd "$(dirname "$0")/.."
mib="${1:-256}" rounds="${2:-5}" requests="${3:-1000}"

command -v nginx >/dev/null || { echo "nginx not found: apt-get install nginx-light" >&2; exit 1; }
kubectl="${ONYX_KUBECTL:-$(command -v kubectl || true)}"
[ -x "$kubectl" ] || { echo "kubectl not found: set ONYX_KUBECTL or put kubectl on PATH" >&2; exit 1; }

cargo build --release --quiet --example bench_forward

prefix="$(mktemp -d)"
nginx_pid=""
cleanup() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  rm -rf "$prefix"
}
trap cleanup EXIT
# nginx's workers run as nobody: the prefix must be readable.
chmod 755 "$prefix"
mkdir -p "$prefix/www" "$prefix/tmp" "$prefix/logs"
head -c "$((mib * 1024 * 1024))" /dev/urandom >"$prefix/www/large.bin"
printf 'ok\n' >"$prefix/www/small.txt"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$prefix/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log;
events { worker_connections 512; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $prefix/tmp/body;
  proxy_temp_path $prefix/tmp/proxy;
  fastcgi_temp_path $prefix/tmp/fastcgi;
  uwsgi_temp_path $prefix/tmp/uwsgi;
  scgi_temp_path $prefix/tmp/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$port;
    root $prefix/www;
  }
}
EOF
nginx -t -q -p "$prefix" -c "$prefix/nginx.conf"
nginx -p "$prefix" -c "$prefix/nginx.conf" &
nginx_pid=$!
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

echo "machine: $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'); $("$kubectl" version --client 2>/dev/null | head -1); ${mib} MiB large file"
BENCH_NGINX="127.0.0.1:$port" BENCH_LARGE=/large.bin BENCH_SMALL=/small.txt ONYX_KUBECTL="$kubectl" \
  ./target/release/examples/bench_forward "$rounds" "$requests"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
