#!/usr/bin/env bash
# The 1C add-in under the mock platform (bindings/1c/tests/mock_1c.c), against the emulator with
# --require-gost, signatures made by OpenSSL's GOST engine:
#   - Linux x86_64: plain, then under valgrind (no leaks, no memory errors);
#   - Windows x86_64: the DLL and the mock cross-built with mingw-w64, run under wine64;
#   - Windows i686: the DLL built and checked (exports undecorated, interface methods stdcall);
#     32-bit wine is not installable here, so it is not run.
# Each part checks that the component exports the five Native API functions and nothing else.
#
# Usage: bindings/1c/tests/run.sh [--linux-only]
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
. scripts/lib.sh

linux_only=${1:-}
target_dir=${CARGO_TARGET_DIR:-$root/target}
here=bindings/1c/tests
native_exports="DestroyObject GetAttachType GetClassNames GetClassObject SetPlatformCapabilities"

cargo build -p suz-auth-1c -p suz-emulator
component=$target_dir/debug/libsuz_auth_1c.so

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
check_exports "$component" "$(nm -D --defined-only "$component" | awk '{print $3}' | grep -v '^_')"

work=$(mktemp -d)
trap 'kill ${EMULATOR_PID:-} 2>/dev/null || true; rm -rf "$work"' EXIT
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

# write_config FILE CACHE_DIR: the configuration the mock passes to Настроить.
write_config() {
    python3 - "$1" "$2" "$EMULATOR_URL" "$work" "${connections[@]}" <<'EOF'
import json, sys
out, cache, url, work, c = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
mdlp = {"client_id": "7df0d06f-6510-44fe-a378-76cb53e2605f",
        "client_secret": "49781b3a-19d5-4ad7-b1b6-abb57e598d41"}
sign = ["openssl", "cms", "-sign", "-engine", "gost", "-binary", "-outform", "DER",
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
sign=(/bin/sh "$root/$here/sign.sh" "$work" "$work/cert.pem" "$work/key.pem")

# run_linux MODE COMMAND...: a fresh cache directory each run (a cached token would skip the flows).
run_linux() {
    local mode=$1
    shift
    rm -rf "$work/cache"
    write_config "$work/config.json" "$work/cache"
    echo "== 1C mock platform, Linux x86_64 ($mode)"
    (cd "$work" && "$@" "$work/mock_1c" "$component" config.json "${sign[*]}" --server-signer)
}
run_linux plain
run_linux valgrind valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --trace-children=no

[ "$linux_only" = --linux-only ] && exit 0
