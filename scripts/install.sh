#!/bin/sh
# Install onyx from a release.
#
#   curl -fsSL https://github.com/onyx-installer/onyx/releases/latest/download/install.sh | sh
#
# 1. works out this machine's target (OS and CPU);
# 2. downloads the release archive and the release's sha256sums.txt;
# 3. verifies the archive's sha256 before unpacking anything;
# 4. installs `onyx` into $ONYX_INSTALL_DIR (default ~/.local/bin), replacing any old one atomically,
#    and says how to put that directory on PATH if it isn't.
#
# Settings (environment): ONYX_VERSION (a tag such as v0.2.0; default: the latest release),
# ONYX_INSTALL_DIR, ONYX_DOWNLOAD_ROOT (a mirror of .../releases; tests use a local server).
set -eu

repo="onyx-installer/onyx"
root="${ONYX_DOWNLOAD_ROOT:-https://github.com/$repo/releases}"
version="${ONYX_VERSION:-latest}"
install_dir="${ONYX_INSTALL_DIR:-$HOME/.local/bin}"

say() { printf 'onyx-install: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
# From the repository: crates.io's `onyx` is another project.
from_source="cargo install --locked --git https://github.com/$repo onyx"

case "$(uname -s)" in
  Linux) os="unknown-linux-gnu" ;;
  Darwin) os="apple-darwin" ;;
  *) die "no onyx build for $(uname -s); build from source: $from_source" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch="x86_64" ;;
  arm64 | aarch64) arch="aarch64" ;;
  *) die "no onyx build for $(uname -m) CPUs; build from source: $from_source" ;;
esac
target="$arch-$os"
archive="onyx-$target.tar.gz"

if [ "$version" = "latest" ]; then
  base="$root/latest/download"
else
  base="$root/download/$version"
fi

download() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    die "neither curl nor wget is installed"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  else
    die "no sha256sum or shasum to verify the download with"
  fi
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT INT TERM

say "downloading $archive ($version)"
download "$base/$archive" "$tmp/$archive" || die "cannot download $base/$archive"
download "$base/sha256sums.txt" "$tmp/sha256sums.txt" || die "cannot download $base/sha256sums.txt"

expected="$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1 }' "$tmp/sha256sums.txt")"
[ -n "$expected" ] || die "sha256sums.txt has no entry for $archive"
actual="$(sha256_of "$tmp/$archive")"
[ "$expected" = "$actual" ] || die "checksum mismatch for $archive (got $actual, expected $expected); nothing was installed"

mkdir -p "$tmp/unpacked"
tar -xzf "$tmp/$archive" -C "$tmp/unpacked"
[ -f "$tmp/unpacked/onyx" ] || die "$archive holds no onyx binary"

mkdir -p "$install_dir"
cp "$tmp/unpacked/onyx" "$install_dir/.onyx.new"
chmod 755 "$install_dir/.onyx.new"
mv -f "$install_dir/.onyx.new" "$install_dir/onyx"
say "installed $("$install_dir/onyx" version 2>/dev/null || echo onyx) to $install_dir/onyx"

case ":$PATH:" in
  *":$install_dir:"*) ;;
  *) say "add it to your PATH: export PATH=\"$install_dir:\$PATH\" (e.g. in ~/.profile)" ;;
esac
