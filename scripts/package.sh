#!/usr/bin/env bash
# Build one release archive: scripts/package.sh TARGET [OUT_DIR]
#
# Produces OUT_DIR/onyx-TARGET.tar.gz holding the binary, its man page and shell completions
# (generated from the binary itself), and appends the archive's line to OUT_DIR/sha256sums.txt.
# ONYX_PACKAGE_BINARY=path packages an already built binary instead of running cargo (tests).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:?usage: scripts/package.sh TARGET [OUT_DIR]}"
out="${2:-dist}"
mkdir -p "$out"

if [ -n "${ONYX_PACKAGE_BINARY:-}" ]; then
  bin="$ONYX_PACKAGE_BINARY"
else
  cargo build --release --locked --target "$target"
  bin="target/$target/release/onyx"
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/onyx"
chmod 755 "$stage/onyx"
export ONYX_NO_UPDATE_CHECK=1
"$stage/onyx" man >"$stage/onyx.1"
mkdir -p "$stage/completions"
"$stage/onyx" completions bash >"$stage/completions/onyx.bash"
"$stage/onyx" completions zsh >"$stage/completions/_onyx"
"$stage/onyx" completions fish >"$stage/completions/onyx.fish"
cp README.md "$stage/"

archive="onyx-$target.tar.gz"
tar -czf "$out/$archive" -C "$stage" onyx onyx.1 completions README.md
sum="$(sha256sum "$out/$archive" | cut -d ' ' -f 1)"
touch "$out/sha256sums.txt"
grep -v "  $archive\$" "$out/sha256sums.txt" >"$out/sha256sums.txt.new" || true
printf '%s  %s\n' "$sum" "$archive" >>"$out/sha256sums.txt.new"
mv "$out/sha256sums.txt.new" "$out/sha256sums.txt"
echo "$out/$archive"
