#!/usr/bin/env bash
# Builds the C tests strictly and runs them against the emulator: plain, under
# AddressSanitizer + UndefinedBehaviorSanitizer, and under valgrind (no leaks allowed; with
# SUZ_C_TESTS_PLAIN_ONLY=1, plain only); test_flows
# also linked against the static library libsuz_auth.a. Fails if
# any function the header declares is called by none of them.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. scripts/lib.sh

target_dir=${CARGO_TARGET_DIR:-$root/target}
cargo build -p suz-auth -p suz-emulator
lib_dir=$target_dir/debug
link_soname "$lib_dir"

# Every export is exercised under the memory checkers below.
exports=$(grep -oE '\bsuz_[a-z0-9_]+\(' include/suz_auth.h | tr -d '(' | sort -u)
called=$(cat tests/c/*.c examples/c/openssl_signer.c | grep -oE '\bsuz_[a-z0-9_]+\(' | tr -d '(' | sort -u)
never=$(comm -23 <(echo "$exports") <(echo "$called"))
if [ -n "$never" ]; then
    echo "exports the C tests never call:" >&2
    echo "$never" >&2
    exit 1
fi
echo "C tests call all $(echo "$exports" | wc -l) exports: $(echo "$exports" | tr '\n' ' ')"

work=$(mktemp -d)
trap 'kill ${EMULATOR_PID:-} 2>/dev/null || true; rm -rf "$work"' EXIT
make_gost_cert "$work"
start_emulator "$lib_dir/suz-emulator" "$work/emulator.log"

cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -pthread -Iinclude -Iexamples/c)
link=(-L"$lib_dir" -lsuz_auth -Wl,-rpath,"$lib_dir")
programs=(test_flows test_lifecycle test_safety)
for p in "${programs[@]}"; do
    sources=("tests/c/$p.c" examples/c/openssl_signer.c)
    gcc "${cflags[@]}" "${sources[@]}" "${link[@]}" -o "$work/$p"
    gcc "${cflags[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
        "${sources[@]}" "${link[@]}" -o "$work/${p}_asan"
done

args=("$EMULATOR_URL" "$work/cert.pem" "$work/key.pem")

# The static library: test_flows linked against libsuz_auth.a, with no shared library in reach.
gcc "${cflags[@]}" tests/c/test_flows.c examples/c/openssl_signer.c "$lib_dir/libsuz_auth.a" \
    -lpthread -ldl -lm -o "$work/test_flows_static"
if ldd "$work/test_flows_static" | grep -q libsuz_auth; then
    echo "test_flows_static loads libsuz_auth dynamically" >&2
    exit 1
fi
echo "== C test_flows (static library)"
"$work/test_flows_static" "${args[@]}"
for p in "${programs[@]}"; do
    echo "== C $p (plain)"
    "$work/$p" "${args[@]}"
    # `scripts/test.sh --quick` runs the plain programs only.
    [ "${SUZ_C_TESTS_PLAIN_ONLY:-0}" = 1 ] && continue
    echo "== C $p (ASan + UBSan)"
    ASAN_OPTIONS=detect_leaks=1 "$work/${p}_asan" "${args[@]}"
    echo "== C $p (valgrind)"
    # --fair-sched=yes: valgrind runs one thread at a time, and its default lock hands the CPU
    # back to the thread that just let it go; a test whose threads must each make progress
    # (test_safety's log-callback churn) then starves for minutes.
    valgrind --quiet --fair-sched=yes --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
        --trace-children=no "$work/$p" "${args[@]}"
done
