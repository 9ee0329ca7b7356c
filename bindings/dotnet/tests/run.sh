#!/usr/bin/env bash
# The C# binding under Mono against the emulator: SuzAuth.dll built as shipped (netstandard2.0,
# bindings/dotnet/build.sh) and the test runner built with mcs (warnings are errors), then
# tests/Tests.cs run with mono (first printing the assembly's references, version and target
# framework); it ends with "N passed, M failed".
#
# Usage: bindings/dotnet/tests/run.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
. scripts/lib.sh

ensure_packages mono-mcs mono-runtime mono-devel libengine-gost-openssl
target_dir=${CARGO_TARGET_DIR:-$root/target}
cargo build -q -p suz-auth -p suz-emulator
lib_dir=$target_dir/debug
link_soname "$lib_dir"

work=$(mktemp -d)
trap 'kill ${EMULATOR_PID:-} 2>/dev/null || true; rm -rf "$work"' EXIT
make_gost_cert "$work"
# SuzAuth.dll as shipped: netstandard2.0, version stamped (bindings/dotnet/build.sh).
bindings/dotnet/build.sh "$work/SuzAuth.dll"
mcs -target:exe -langversion:7 -warnaserror -r:"$work/SuzAuth.dll" -r:System.dll -r:System.Core.dll \
    -r:/usr/lib/mono/4.5/Facades/netstandard.dll -out:"$work/Tests.exe" bindings/dotnet/tests/Tests.cs
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
start_emulator "$lib_dir/suz-emulator" "$work/emulator.log"
echo "== C# (Mono $(mono --version | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1))"
# Mono finds libsuz_auth.so for [DllImport("suz_auth")] on the library path.
LD_LIBRARY_PATH=$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} timeout 600 \
    mono --debug "$work/Tests.exe" "$EMULATOR_URL" "$work/cert.pem" "$work/key.pem" "$version" | grep -v '^ok '
