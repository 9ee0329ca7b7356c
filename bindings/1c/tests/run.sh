#!/usr/bin/env bash
# The 1C add-in, as shipped in the zip scripts/package-1c.sh makes, under the mock 1C platform
# (bindings/1c/tests/mock_1c.c), against the emulator (GOST signatures only), signatures made by
# OpenSSL's GOST engine:
#   - Linux x86_64 (libSuzAuth_Lin64.so): plain, then under valgrind (no leaks, no errors);
#   - Windows x86_64 (SuzAuth_Win64.dll): the mock cross-built with mingw-w64, under wine64;
#   - Windows x86 (SuzAuth_Win32.dll): checked, not run (32-bit wine is not installable here):
#     its exports, and — on a build with symbols — every interface method stdcall with the
#     argument bytes of the platform's header (C `long` 32-bit); the mock compiles for it too.
# Every library exports the five Native API functions and nothing else.
#
# Usage: bindings/1c/tests/run.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
. scripts/lib.sh

ensure_packages gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 wine64 valgrind unzip
target_dir=${CARGO_TARGET_DIR:-$root/target}
here=bindings/1c/tests
native_exports="DestroyObject GetAttachType GetClassNames GetClassObject SetPlatformCapabilities"

scripts/package-1c.sh "$target_dir/1c/SuzAuth1C.zip"
cargo build -p suz-emulator

# check_exports NAME LISTED: the five Native API functions, and nothing else.
check_exports() {
    local got
    got=$(echo "$2" | sort -u | tr '\n' ' ' | sed 's/ $//')
    if [ "$got" != "$native_exports" ]; then
        echo "$1 exports [$got], not [$native_exports]" >&2
        exit 1
    fi
    echo "$1 exports: $got"
}

# dll_exports DLL: the names in its export table.
dll_exports() {
    x86_64-w64-mingw32-objdump -p "$1" |
        awk '/\[Ordinal\/Name Pointer\] Table/ {t = 1; next} t && NF == 0 {t = 0} t {print $NF}'
}

work=$(mktemp -d)
trap 'kill ${EMULATOR_PID:-} 2>/dev/null || true; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
pkg=$work/pkg
mkdir "$pkg"
unzip -q "$target_dir/1c/SuzAuth1C.zip" -d "$pkg"
grep -c '<component ' "$pkg/MANIFEST.XML" | grep -qx 3 || { echo "MANIFEST.XML: not 3 components" >&2; exit 1; }
component=$pkg/libSuzAuth_Lin64.so
check_exports libSuzAuth_Lin64.so "$(nm -D --defined-only "$component" | awk '{print $3}')"
check_exports SuzAuth_Win64.dll "$(dll_exports "$pkg/SuzAuth_Win64.dll")"
check_exports SuzAuth_Win32.dll "$(dll_exports "$pkg/SuzAuth_Win32.dll")"
make_gost_cert "$work"
# Every profile its own installation: a SUZ token is one per omsConnection.
connections=(
    11b1abc9-f4ee-47db-8a20-f80ac83504e8
    2a7c3e10-5b4d-4f0e-9c1a-000000000002
    2a7c3e10-5b4d-4f0e-9c1a-000000000003
    2a7c3e10-5b4d-4f0e-9c1a-000000000004
    2a7c3e10-5b4d-4f0e-9c1a-000000000005
    2a7c3e10-5b4d-4f0e-9c1a-000000000006
    2a7c3e10-5b4d-4f0e-9c1a-000000000007
)
extra=()
for c in "${connections[@]:1}"; do extra+=(--oms-connection "$c"); done
start_emulator "$target_dir/debug/suz-emulator" "$work/emulator.log" "${extra[@]}"

# write_config FILE CACHE_DIR OPENSSL: the configuration the mock passes to Настроить; the
# "server" profile signs with OPENSSL as its signer.command.
write_config() {
    python3 - "$1" "$2" "$3" "$EMULATOR_URL" "$work" "${connections[@]}" <<'EOF'
import json, sys
out, cache, openssl, url, work, c = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
mdlp = {"client_id": "7df0d06f-6510-44fe-a378-76cb53e2605f",
        "client_secret": "49781b3a-19d5-4ad7-b1b6-abb57e598d41"}
sign = [openssl, "cms", "-sign", "-engine", "gost", "-binary", "-outform", "DER",
        "-signer", f"{work}/cert.pem", "-inkey", f"{work}/key.pem"]
config = {
    "stand": "emulator", "emulator_url": url,
    "timeouts": {"total_ms": 20000},
    "cache": {"dir": cache, "lock_timeout_ms": 2000},
    "profiles": {
        "gismt": {"flow": "gismt", "oms_connection": c[0],
                  "oms_id": "cdf12109-10d3-11e6-8b6f-0050569977a1"},
        "gismt2": {"flow": "gismt", "oms_connection": c[1]},
        "trueapi": {"flow": "trueapi", "oms_connection": c[2], "inn": "7707083893"},
        "trueapi2": {"flow": "trueapi", "oms_connection": c[3], "inn": "7707083893"},
        "trueapi_own": {"flow": "trueapi_token", "certificate": "1c-test-cert",
                        "inn": "7707083893"},
        "united": {"flow": "united_token", "certificate": "1c-test-cert", "inn": "7707083893"},
        "gismt_own": {"flow": "gismt_token", "certificate": "1c-test-cert"},
        "mdlp_own": {"flow": "mdlp_session", "user_id": "1865725612", **mdlp},
        "mdlp": {"flow": "mdlp", "oms_connection": c[4], "user_id": "1865725612", **mdlp},
        "mdlp_password": {"flow": "mdlp", "oms_connection": c[5], "user_id": "user@example.org",
                          "password": "password123", **mdlp},
        "smartmarket": {"flow": "smartmarket", "client_id": "e5623627-bb8c-412c-94b7-1a6998e8ef3a",
                        "client_secret": "887d15a2-cb4f-4998-9591-5b26d62d3751"},
        "server": {"flow": "gismt", "oms_connection": c[6],
                   "signer": {"command": {"attached": sign + ["-nodetach"], "detached": sign}}},
    },
}
json.dump(config, open(out, "w"))
EOF
}

cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g)
gcc "${cflags[@]}" "$here/mock_1c.c" -ldl -o "$work/mock_1c"
# The mock appends "IN OUT"; sign.sh takes the run's directory (appended below) first.
sign=(/bin/sh "$root/$here/sign.sh" "$work/cert.pem" "$work/key.pem")

# run_linux MODE COMMAND...: a fresh cache directory each run (a cached token would skip the flows).
run_linux() {
    local mode=$1
    shift
    local run=$work/run-$mode
    mkdir "$run"
    write_config "$run/config.json" "$run/cache" openssl
    echo "== 1C mock platform, Linux x86_64 ($mode)"
    (cd "$run" && "$@" "$work/mock_1c" "$component" config.json "${sign[*]} $run" --server-signer)
}
run_linux plain
run_linux valgrind valgrind --quiet --fair-sched=yes --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --trace-children=no

# --- Windows x86_64, under wine64 ----------------------------------------------------------
# Everything in the work directory, the program's own: the DLL, the mock, and the stand-in for
# bcryptprimitives.dll that wine 8.0 lacks (test-only, never shipped).
run=$work/run-wine64
mkdir "$run"
cp "$pkg/SuzAuth_Win64.dll" "$run/"
x86_64-w64-mingw32-gcc "${cflags[@]}" "$here/mock_1c.c" -o "$run/mock_1c.exe"
x86_64-w64-mingw32-gcc -std=c11 -Wall -Wextra -Werror -shared tests/windows/bcryptprimitives.c \
    -ladvapi32 -o "$run/bcryptprimitives.dll"
# Paths the component sees are Windows paths: wine maps / to drive Z:.
write_config "$run/config.json" "Z:${run//\//\\}\\cache" 'Z:\usr\bin\openssl'
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
# No prompts to install wine-mono or wine-gecko: the mock needs neither.
export WINEPREFIX=$target_dir/wine-prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
echo "== 1C mock platform, Windows x86_64 (wine64)"
# Without --server-signer: a signer.command on Windows is a Windows program, and the only GOST
# signer here is Linux's openssl, which wine starts but cannot give the pipes the command signer
# uses (the command signer runs under Linux above, and in the core's tests).
(cd "$run" && timeout 600 "$wine" mock_1c.exe SuzAuth_Win64.dll config.json "${sign[*]} $run")

# --- Windows x86: exports above; stdcall and the header's argument sizes here ---------------
# The shipped DLL has no symbols; a build with them shows each interface method's decoration:
# `name@N`, N the bytes of its arguments (`this` and C `long` 4 bytes each, pointers 4).
cargo build -p suz-auth-1c --target i686-pc-windows-gnu
symbols=$(i686-w64-mingw32-nm "$target_dir/i686-pc-windows-gnu/debug/suz_auth_1c.dll")
stdcall="init@8 set_mem_manager@8 get_info@4 done@4 register_extension_as@8 get_n_props@4
find_prop@8 get_prop_name@12 get_prop_val@12 set_prop_val@12 is_prop_readable@8
is_prop_writable@8 get_n_methods@4 find_method@8 get_method_name@12 get_n_params@8
get_param_def_value@16 has_ret_val@8 call_as_proc@16 call_as_func@20 set_locale@8
set_user_interface_language_code@8"
for m in $stdcall; do
    name=${m%@*}
    grep -qE "suz_auth_1c[0-9]+${name}17h[0-9a-f]+E@${m#*@}\$" <<<"$symbols" || {
        echo "SuzAuth_Win32.dll: $name is not stdcall with ${m#*@} argument bytes" >&2
        exit 1
    }
done
echo "SuzAuth_Win32.dll: all $(echo $stdcall | wc -w) interface methods stdcall with the header's argument sizes"
for e in GetClassNames GetClassObject DestroyObject SetPlatformCapabilities GetAttachType; do
    grep -qE " T _${e}\$" <<<"$symbols" || { echo "SuzAuth_Win32.dll: $e is not cdecl" >&2; exit 1; }
done
echo "SuzAuth_Win32.dll: the five exports cdecl, undecorated"
i686-w64-mingw32-gcc "${cflags[@]}" "$here/mock_1c.c" -o "$work/mock_1c_x86.exe"
echo "mock_1c.c compiles for Windows x86 (stdcall interfaces, 48-byte tVariant)"
