#!/usr/bin/env bash
# Builds the 1C:Enterprise add-in for Windows x86, Windows x86_64 and Linux x86_64 and writes
# the zip a common template of type «Внешняя компонента» holds: the three libraries and
# MANIFEST.XML. Installs what it needs on a fresh machine (mingw-w64, the Rust targets, zig and
# cargo-zigbuild for the Linux build against glibc 2.17).
#
# Usage: scripts/package-1c.sh [OUT.zip]    (default: target/1c/SuzAuth1C.zip)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib.sh

target_dir=${CARGO_TARGET_DIR:-$root/target}
out=$(realpath -m "${1:-$target_dir/1c/SuzAuth1C.zip}")
profile=dist
# The oldest glibc the Linux build links against: what the older distributions 1C servers run
# on have (CentOS 7, Astra Linux 1.6, Debian 8 and newer).
glibc=2.17

ensure_packages gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 zip unzip binutils python3-venv
for t in x86_64-pc-windows-gnu i686-pc-windows-gnu x86_64-unknown-linux-gnu; do
    rustup target list --installed | grep -qx "$t" || rustup target add "$t"
done
# zig as the Linux linker (it carries glibc stubs of any version), from PyPI.
tools=$target_dir/zig-venv
[ -x "$tools/bin/cargo-zigbuild" ] || {
    python3 -m venv "$tools"
    "$tools/bin/pip" install --quiet --disable-pip-version-check ziglang cargo-zigbuild
}
export PATH=$tools/bin:$PATH

echo "== building the 1C add-in ($profile): Windows x86, Windows x86_64, Linux x86_64 (glibc $glibc)"
cargo build -p suz-auth-1c --profile "$profile" --target i686-pc-windows-gnu
cargo build -p suz-auth-1c --profile "$profile" --target x86_64-pc-windows-gnu
cargo zigbuild -p suz-auth-1c --profile "$profile" --target "x86_64-unknown-linux-gnu.$glibc"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$target_dir/i686-pc-windows-gnu/$profile/suz_auth_1c.dll" "$stage/SuzAuth_Win32.dll"
cp "$target_dir/x86_64-pc-windows-gnu/$profile/suz_auth_1c.dll" "$stage/SuzAuth_Win64.dll"
cp "$target_dir/x86_64-unknown-linux-gnu/$profile/libsuz_auth_1c.so" "$stage/libSuzAuth_Lin64.so"

# The Linux build needs no newer glibc than $glibc.
newest=$(objdump -T "$stage/libSuzAuth_Lin64.so" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
if [ "$(printf '%s\n%s\n' "GLIBC_$glibc" "$newest" | sort -V | tail -1)" != "GLIBC_$glibc" ]; then
    echo "libSuzAuth_Lin64.so needs $newest, newer than GLIBC_$glibc" >&2
    exit 1
fi
echo "libSuzAuth_Lin64.so: newest glibc symbol version $newest"

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
