#!/usr/bin/env bash
# Builds the 1C:Enterprise add-in for Windows x86, Windows x86_64 and Linux x86_64 and writes
# the zip a common template of type «Внешняя компонента» holds: the three libraries and
# MANIFEST.XML. Installs what it needs on a fresh machine (scripts/lib.sh: ensure_cross_tools).
#
# Usage: scripts/package-1c.sh [OUT.zip]    (default: target/1c/SuzAuth1C.zip)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib.sh

target_dir=${CARGO_TARGET_DIR:-$root/target}
out=$(realpath -m "${1:-$target_dir/1c/SuzAuth1C.zip}")
profile=dist
glibc=$GLIBC_FLOOR
ensure_cross_tools

echo "== building the 1C add-in ($profile): Windows x86, Windows x86_64, Linux x86_64 (glibc $glibc)"
cargo build -p suz-auth-1c --profile "$profile" --target i686-pc-windows-gnu
cargo build -p suz-auth-1c --profile "$profile" --target x86_64-pc-windows-gnu
cargo zigbuild -p suz-auth-1c --profile "$profile" --target "x86_64-unknown-linux-gnu.$glibc"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$target_dir/i686-pc-windows-gnu/$profile/suz_auth_1c.dll" "$stage/SuzAuth_Win32.dll"
cp "$target_dir/x86_64-pc-windows-gnu/$profile/suz_auth_1c.dll" "$stage/SuzAuth_Win64.dll"
cp "$target_dir/x86_64-unknown-linux-gnu/$profile/libsuz_auth_1c.so" "$stage/libSuzAuth_Lin64.so"

check_glibc_floor "$stage/libSuzAuth_Lin64.so"

cat >"$stage/MANIFEST.XML" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<bundle xmlns="http://v8.1c.ru/8.2/addin/bundle">
	<component os="Windows" path="SuzAuth_Win32.dll" type="native" arch="i386"/>
	<component os="Windows" path="SuzAuth_Win64.dll" type="native" arch="x86_64"/>
	<component os="Linux" path="libSuzAuth_Lin64.so" type="native" arch="x86_64"/>
</bundle>
EOF

mkdir -p "$(dirname "$out")"
rm -f "$out"
# -X: no extra file attributes; -j: flat, as the platform expects the manifest at the root.
(cd "$stage" && zip -q -X -j "$out" MANIFEST.XML SuzAuth_Win32.dll SuzAuth_Win64.dll libSuzAuth_Lin64.so)
echo "wrote $out:"
unzip -l "$out"
