#!/usr/bin/env bash
# The C# binding under Mono against the emulator: SuzAuth.dll and the test runner built with
# mcs (warnings are errors), then tests/Tests.cs run with mono; it ends with "N passed, M failed".
#
# Usage: bindings/dotnet/tests/run.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
. scripts/lib.sh

ensure_packages mono-mcs mono-runtime libengine-gost-openssl
target_dir=${CARGO_TARGET_DIR:-$root/target}
cargo build -q -p suz-auth -p suz-emulator
lib_dir=$target_dir/debug
link_soname "$lib_dir"

work=$(mktemp -d)
trap 'kill ${EMULATOR_PID:-} 2>/dev/null || true; rm -rf "$work"' EXIT
make_gost_cert "$work"
mcs -target:library -langversion:7 -warnaserror -r:System.dll -r:System.Core.dll \
    -out:"$work/SuzAuth.dll" bindings/dotnet/src/*.cs
mcs -target:exe -langversion:7 -warnaserror -r:"$work/SuzAuth.dll" -r:System.dll -r:System.Core.dll \
    -out:"$work/Tests.exe" bindings/dotnet/tests/Tests.cs
start_emulator "$lib_dir/suz-emulator" "$work/emulator.log"
echo "== C# (Mono $(mono --version | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1))"
# Mono finds libsuz_auth.so for [DllImport("suz_auth")] on the library path.
LD_LIBRARY_PATH=$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} timeout 600 \
    mono --debug "$work/Tests.exe" "$EMULATOR_URL" "$work/cert.pem" "$work/key.pem" | grep -v '^ok '
