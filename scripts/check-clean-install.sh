#!/usr/bin/env bash
# Proves that the test command's install step works on a stock Debian (issue #21 item 13: it ran
# `python3 -m venv` without python3-venv, which minimal Debian and Ubuntu lack, and stopped before
# any test). A clean Debian bookworm (`debootstrap --variant=minbase`, nothing added) is imported as
# an image, a clone of this repository is mounted into it, and `scripts/test.sh --install-only` runs
# there as root, as on a fresh machine; that mode exits non-zero when anything it installs is still
# missing afterwards. Rust is not among what it installs (README names it as a prerequisite), so the
# tests themselves are not run in the container.
#
#   scripts/check-clean-install.sh [ROOTFS]
#
# ROOTFS (or $ONYX_TEST_BOOKWORM_ROOTFS) is a debootstrapped bookworm minbase directory; it is only
# read. Without one, one is made with debootstrap (as root; debootstrap is installed by apt when
# missing). apt and pip in the container reach Debian's mirror and PyPI. Needs the docker CLI and
# an engine (scripts/test.sh has both).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== clean install: %s\n' "$*" >&2; }

rootfs=${1:-${ONYX_TEST_BOOKWORM_ROOTFS:-}}
work=$(mktemp -d /tmp/onyx-clean-install.XXXXXX)
image="onyx-clean-install:$$"
container="onyx-clean-install-$$"
cleanup() {
  docker rm -f "$container" >/dev/null 2>&1 || true
  docker rmi "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$rootfs" ]; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
  log "debootstrap --variant=minbase bookworm"
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  rootfs=$work/rootfs
fi
[ -x "$rootfs/bin/bash" ] || { log "$rootfs is not a Debian root (no /bin/bash)"; exit 2; }

log "importing $rootfs as $image"
tar -C "$rootfs" -c . | docker import - "$image" >/dev/null

# A clone: what is committed, as a user who follows README has it.
git clone --quiet --no-local . "$work/onyx"

log "scripts/test.sh --install-only in the container"
start=$(date +%s)
# The clone is mounted read-only: the install step writes only to the system and to $HOME.
# The host's pip settings go in as a user's would be on that network: its index and the CA bundle
# it trusts (a network that inspects TLS signs PyPI with its own CA, which pip's bundled
# certificates don't know; the clean system has no such CA, and must not be changed to have one).
pip_env=()
[ -z "${PIP_INDEX_URL:-}" ] || pip_env+=(-e "PIP_INDEX_URL=$PIP_INDEX_URL")
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
  pip_env+=(-v "$PIP_CERT:/run/host-ca.crt:ro" -e PIP_CERT=/run/host-ca.crt)
fi
docker run --name "$container" -v "$work/onyx:/src/onyx:ro" -w /src/onyx -e HOME=/root \
  "${pip_env[@]}" "$image" bash scripts/test.sh --install-only
log "passed in $(( $(date +%s) - start ))s"
