#!/usr/bin/env bash
# Builds tests/c/test_flows.c strictly and runs it against the emulator: plain, under
# AddressSanitizer + UndefinedBehaviorSanitizer, and under valgrind (no leaks allowed).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. scripts/lib.sh

target_dir=${CARGO_TARGET_DIR:-$root/target}
cargo build -p suz-auth -p suz-emulator
lib_dir=$target_dir/debug
link_soname "$lib_dir"
work=$(mktemp -d)
trap 'kill ${EMULATOR_PID:-} 2>/dev/null || true; rm -rf "$work"' EXIT

make_gost_cert "$work"
start_emulator "$lib_dir/suz-emulator" "$work/emulator.log"

cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -Iinclude -Iexamples/c)
sources=(tests/c/test_flows.c examples/c/openssl_signer.c)
link=(-L"$lib_dir" -lsuz_auth -Wl,-rpath,"$lib_dir")

gcc "${cflags[@]}" "${sources[@]}" "${link[@]}" -o "$work/test_flows"
gcc "${cflags[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
    "${sources[@]}" "${link[@]}" -o "$work/test_flows_asan"

echo "== C test (plain)"
"$work/test_flows" "$EMULATOR_URL" "$work/cert.pem" "$work/key.pem"
echo "== C test (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1 "$work/test_flows_asan" "$EMULATOR_URL" "$work/cert.pem" "$work/key.pem"
echo "== C test (valgrind)"
valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
    --trace-children=no "$work/test_flows" "$EMULATOR_URL" "$work/cert.pem" "$work/key.pem"
