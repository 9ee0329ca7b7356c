#!/usr/bin/env bash
# The Windows DLLs of a dist tree as a C host on Windows links and calls them.
#   - x86_64: tests/windows/smoke.c cross-built with mingw-w64 twice, once linked through the
#     MinGW import library (libsuz_auth.dll.a) and once through the MSVC one (suz_auth.lib, which
#     GNU ld also reads), each run under wine64 against the emulator on 127.0.0.1;
#   - x86: the same program built and linked both ways, its imports checked; not run, as 32-bit
#     wine is not installable here.
# Wine 8.0 lacks bcryptprimitives.dll, which Rust's std loads: a stand-in built from
# tests/windows/bcryptprimitives.c is placed beside the test program (test-only, never shipped).
#
# Usage: tests/windows/run.sh [DIST_DIR]    (default dist/, as scripts/dist.sh writes it)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. scripts/lib.sh

ensure_packages gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 wine64 binutils-mingw-w64-x86-64
dist=$(realpath "${1:-dist}")
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
x64=$dist/suz-auth-$version-windows-x86_64
x86=$dist/suz-auth-$version-windows-x86
for d in "$x64" "$x86"; do
    [ -f "$d/bin/suz_auth.dll" ] || { echo "$d/bin/suz_auth.dll is missing: run scripts/dist.sh" >&2; exit 1; }
done
target_dir=${CARGO_TARGET_DIR:-$root/target}
cargo build -q -p suz-emulator

work=$(mktemp -d)
trap 'kill ${EMULATOR_PID:-} 2>/dev/null || true; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
make_gost_cert "$work"
start_emulator "$target_dir/debug/suz-emulator" "$work/emulator.log"

cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -Itests/c)

# build CC TREE IMPLIB OUT: smoke.c against TREE's header, linked through IMPLIB; the program
# must import the suz_* functions by their plain names from suz_auth.dll.
build() {
    local cc=$1 tree=$2 implib=$3 exe=$4
    "$cc" "${cflags[@]}" -I"$tree/include" tests/windows/smoke.c "$implib" -o "$exe"
    local imports
    imports=$(x86_64-w64-mingw32-objdump -p "$exe" |
        awk '/DLL Name: suz_auth.dll/ {t = 1; next} /DLL Name:/ {t = 0} t && $NF ~ /^suz_/ {print $NF}')
    if ! grep -qx suz_client_new <<<"$imports" || grep -qv '^suz_[a-z_]*$' <<<"$imports"; then
        echo "$exe does not import plain suz_* names from suz_auth.dll: $imports" >&2
        exit 1
    fi
    echo "$(basename "$exe"): linked through $(basename "$implib"), imports $(wc -l <<<"$imports") functions from suz_auth.dll"
}

# x86: built and linked both ways, not run.
build i686-w64-mingw32-gcc "$x86" "$x86/lib/libsuz_auth.dll.a" "$work/smoke32-mingw.exe"
build i686-w64-mingw32-gcc "$x86" "$x86/lib/suz_auth.lib" "$work/smoke32-msvc.exe"

# x64: run under wine64, each program in its own directory with the DLL beside it.
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
export WINEPREFIX=$target_dir/wine-prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
for implib in libsuz_auth.dll.a suz_auth.lib; do
    run=$work/run-${implib%%.*}
    mkdir "$run"
    build x86_64-w64-mingw32-gcc "$x64" "$x64/lib/$implib" "$run/smoke.exe"
    cp "$x64/bin/suz_auth.dll" "$run/"
    x86_64-w64-mingw32-gcc -std=c11 -Wall -Wextra -Werror -shared tests/windows/bcryptprimitives.c \
        -ladvapi32 -o "$run/bcryptprimitives.dll"
    echo "== Windows x86_64 DLL under wine64 (linked through $implib)"
    # Paths the library sees are Windows paths: wine maps / to drive Z:.
    (cd "$run" && timeout 600 "$wine" smoke.exe "$EMULATOR_URL" "Z:${run//\//\\}\\cache" \
        "/bin/sh $root/bindings/1c/tests/sign.sh $work/cert.pem $work/key.pem $run")
done

# The keeper as a Windows service, under wine64's service control manager: created, started,
# stopped and deleted with sc.exe as the README shows. It keeps a SmartMarket profile (the
# service's signing is the library's, tested above; SmartMarket signs nothing).
echo "== suz.exe keep --service under wine64's service control manager"
svc=$work/service
mkdir "$svc"
cp "$x64/bin/suz.exe" "$svc/"
cp "$work/run-libsuz_auth/bcryptprimitives.dll" "$svc/"
win() { echo "Z:${1//\//\\}"; }
cat >"$svc/config.json" <<JSON
{"stand": "emulator", "emulator_url": "$EMULATOR_URL", "cache": {"dir": "Z:$svc/cache"},
 "profiles": {"push": {"flow": "smartmarket", "client_id": "e5623627-bb8c-412c-94b7-1a6998e8ef3a",
   "client_secret": "887d15a2-cb4f-4998-9591-5b26d62d3751", "served_by_keeper": true}}}
JSON
issued() {
    python3 -c 'import json, sys, urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1] + "/admin/stats"))["smartmarket_tokens_issued"])' "$EMULATOR_URL"
}
# wait_for FILE TEXT: up to 60 s for TEXT to appear in FILE.
wait_for() {
    for _ in $(seq 600); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "no \"$2\" in $1 after 60 s:" >&2
    cat "$1" >&2 2>/dev/null || true
    return 1
}
# Started by hand, it is no service: a clear failure at once.
if (cd "$svc" && timeout 60 "$wine" suz.exe --config config.json keep --service suz-keep >"$svc/direct.out" 2>&1); then
    echo "suz.exe keep --service started outside the service control manager did not fail" >&2
    exit 1
fi
grep -q "not started by the service control manager" "$svc/direct.out" ||
    { cat "$svc/direct.out" >&2; exit 1; }
echo "started by hand: refused ($(grep -o 'not started by the service control manager' "$svc/direct.out"))"
before=$(issued)
# Left by an earlier run that stopped half-way (the wine prefix is kept under target/).
"$wine" sc delete suz-keep >/dev/null 2>&1 || true
"$wine" sc create suz-keep start= demand binPath= "$(win "$svc/suz.exe") --config $(win "$svc/config.json") --log-file $(win "$svc/keep.log") keep --service suz-keep --interval-ms 200" >/dev/null
# A consumer (the same config, no signer) asking every 100 ms while the service runs. It also
# keeps wine's services alive: wineserver shuts system processes (services.exe and its
# services) down once no other process is left.
(cd "$svc" && timeout 300 "$wine" suz.exe --config config.json token push --repeat 600 --interval-ms 100 \
    >"$svc/consumer.out" 2>&1) &
consumer=$!
"$wine" sc start suz-keep >/dev/null
wait_for "$svc/keep.log" "running as the service suz-keep"
wait_for "$svc/keep.log" "push: fetched"
[ "$(issued)" -gt "$before" ] || { echo "the service fetched no token" >&2; exit 1; }
wait_for "$svc/consumer.out" "^eyJ"
"$wine" sc stop suz-keep >/dev/null
wait_for "$svc/keep.log" "service suz-keep stopped"
"$wine" sc query suz-keep | grep -q "STOPPED" || { "$wine" sc query suz-keep >&2; exit 1; }
"$wine" sc delete suz-keep >/dev/null
kill "$consumer" 2>/dev/null || true
wait "$consumer" 2>/dev/null || true
grep -E "running as the service|fetched|stopped" "$svc/keep.log" | sed 's/eyJ[^ ]*/eyJ…/'
echo "a consumer process was served the kept token ($(grep -c '^eyJ' "$svc/consumer.out") gets, all $(grep '^eyJ' "$svc/consumer.out" | sort -u | wc -l) the same)"
echo "the keeper ran as a service: created, started, kept the token ($(($(issued) - before)) fetched), stopped, deleted"
