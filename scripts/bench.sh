#!/usr/bin/env bash
# The benchmarks: each figure printed next to a peer or floor measured in the same run, on the
# shipped build (cargo's `dist` profile) against the emulator (also `dist`) on 127.0.0.1.
# Commands, not timed tests: nothing here fails on a slow machine. Writes benches/RESULTS.md.
#
#   - cached get through C (benches/cached_get.c), 1 and 8 threads, next to a mutex + 64-byte
#     copy; instructions per hit counted by callgrind;
#   - a thread rotating through 1 to 10,000 installations' cached tokens (benches/rotate.rs),
#     next to a reader-writer-locked map of reference-counted tokens;
#   - gets while the token refreshes (benches/refresh.c): 8 threads, 2-second tokens, a 50 ms
#     OAuth answer; then GIS MT's own token signed by a callback declared callable from any
#     thread, next to the same callback declared plainly;
#   - fetches through C next to a bare keep-alive client (benches/fetch.c), with the threads
#     and system calls of 1000 OAuth fetches counted by strace;
#   - Python: a cached get and a fetch next to the GigaChat SDK, requests and http.client
#     (benches/python_bench.py, in target/bench-venv);
#   - cold start: 8 processes x 32 threads wanting the token at once, nothing cached, next to
#     one process with one thread, and to the same start with no coordination but a pipe
#     (benches/cold_start.c);
#   - size: the stripped library, and dlopen + suz_client_new next to dlopen of the system's
#     libcrypto (medians of 21 runs).
#
# Usage: scripts/bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib.sh

ensure_packages libengine-gost-openssl gcc valgrind strace python3-venv
target_dir=${CARGO_TARGET_DIR:-$root/target}
cargo build -q --profile dist -p suz-auth -p suz-emulator -p suz
cargo build -q --profile dist -p suz-auth-core --example rotate
lib=$target_dir/dist
link_soname "$lib"
work=$(mktemp -d)
trap 'kill ${EMULATOR_PID:-} 2>/dev/null || true; rm -rf "$work"' EXIT
make_gost_cert "$work"
out=$work/results.txt
for b in cached_get fetch refresh cold_start; do
    gcc -O2 -std=c11 -Wall -Wextra -Werror -pthread -Iinclude "benches/$b.c" \
        -L"$lib" -lsuz_auth -Wl,-rpath,"$lib" -o "$work/$b"
done
emulator() {
    kill "${EMULATOR_PID:-}" 2>/dev/null || true
    start_emulator "$lib/suz-emulator" "$work/emulator.log" "$@"
}
# The fetch figures: the emulator on the last core, the clients on the first. Unpinned, which
# core the server's thread for a connection wakes on sways a run's wall and CPU times either
# way by up to 1.5x; pinned, both clients meet the same placement in every run.
pinned_emulator() {
    kill "${EMULATOR_PID:-}" 2>/dev/null || true
    printf '#!/bin/sh\nexec taskset -c %s "%s" "$@"\n' "$(($(nproc) - 1))" "$lib/suz-emulator" >"$work/pinned-emulator"
    chmod +x "$work/pinned-emulator"
    start_emulator "$work/pinned-emulator" "$work/emulator.log" "$@"
}
client_core=(taskset -c 0)
emu_stat() {
    python3 -c 'import json, sys, urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1] + "/admin/stats"))[sys.argv[2]])' "$EMULATOR_URL" "$1"
}
section() { echo; echo "## $1"; echo; } >>"$out"
record() { tee -a "$out"; }

echo "# suz-auth benchmarks" >"$out"
{
    echo
    echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(uname -sr)."
    echo "Every figure is measured next to its peer in the same run (\`scripts/bench.sh\`)."
} >>"$out"

emulator
section "Cached get through C (p50, p99; ratio to the floor)"
echo '```' >>"$out"
"$work/cached_get" "$EMULATOR_URL" 200000 | record
# Instructions per hit: the difference between two runs of different lengths, per get.
for n in 10000 20000; do
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.$n" "$work/cached_get" "$EMULATOR_URL" "$n" >/dev/null 2>&1
done
per_hit=$(for n in 10000 20000; do
    callgrind_annotate --inclusive=yes "$work/cg.$n" 2>/dev/null |
        awk '/:suz_token_(get|value|free) /{gsub(",", "", $1); s += $1} END {print s}'
done | paste -sd' ' | awk '{printf "%.0f", ($2 - $1) / 90000}')
echo "instructions per cached get (get + value + free, callgrind): $per_hit" | record
echo '```' >>"$out"

section "A thread rotating through many installations' cached tokens (p50, p99; ratio to the floor)"
echo '```' >>"$out"
"$target_dir/dist/examples/rotate" 2000000 | record
echo '```' >>"$out"

section "Gets while the token refreshes (8 threads, 8 s, 2-second tokens, 50 ms OAuth answers)"
emulator --smartmarket-ttl-ms 2000
python3 - "$EMULATOR_URL" <<'EOF'
import json, sys, urllib.request
body = json.dumps({"endpoint": "smartmarket.oauth", "kind": "delay", "delay_ms": 50, "times": 0}).encode()
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/admin/faults", data=body, method="POST",
                                              headers={"Content-Type": "application/json"}))
EOF
echo '```' >>"$out"
"$work/refresh" "$EMULATOR_URL" 8 8 100 | record
echo "tokens issued in the run (refreshes + 1): $(emu_stat smartmarket_tokens_issued)" | record
echo '```' >>"$out"

section "Gets while GIS MT's own token refreshes through a callback signer (8 threads, 8 s, 2-second tokens)"
cat >>"$out" <<'EOF'
The callback signs with `openssl cms` in a child process (benches/sign.h). `any`: made with
suz_signer_new_callback_any_thread, refreshed on a thread of the library's; `plain`: made with
suz_signer_new_callback, the caller that finds the token due runs the flow.
EOF
echo >>"$out"
echo '```' >>"$out"
for mode in any plain; do
    emulator --token-ttl-ms 2000
    echo "$mode:" | record
    "$work/refresh" "$EMULATOR_URL" 8 8 100 "$work/cert.pem" "$work/key.pem" "$mode" | record
    echo "tokens issued in the run (refreshes + 1): $(emu_stat tokens_issued_total)" | record
done
echo '```' >>"$out"

pinned_emulator
section "Fetches through C next to a bare keep-alive client (p50 wall and process CPU)"
echo "The emulator runs on the last core, both clients on the first (\`taskset\`)." >>"$out"
echo >>"$out"
echo '```' >>"$out"
"${client_core[@]}" "$work/fetch" all "$EMULATOR_URL" "$work/cert.pem" "$work/key.pem" 1000 100 | record
for who in lib bare; do
    strace -f -qq -c -o "$work/strace-$who" "$work/fetch" "$who-oauth" "$EMULATOR_URL" \
        "$work/cert.pem" "$work/key.pem" 1000 >/dev/null
    calls=$(awk '/^100.00/ {print $4}' "$work/strace-$who")
    clones=$(awk '$NF ~ /^clone/ {s += $4} END {print s + 0}' "$work/strace-$who")
    echo "$who: $((calls / 1000)) system calls per OAuth fetch (1000 fetches, strace), $clones threads started" | record
done
echo '```' >>"$out"

emulator
section "Python (microseconds; ratio to the peer)"
venv=$target_dir/bench-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check gigachat requests
echo '```' >>"$out"
SUZ_AUTH_LIBRARY=$lib/libsuz_auth.so PYTHONPATH=bindings/python \
    "$venv/bin/python" benches/python_bench.py "$EMULATOR_URL" 200000 300 | record
echo '```' >>"$out"

section "Cold start: 8 processes x 32 threads want the token at once, nothing cached"
cat >>"$out" <<'EOF'
All the processes and threads are started first and wait at a gate; a run is timed from the
gate's opening to the last thread holding the token (benches/cold_start.c). `get`: clients made
before the gate; `client_new + get`: each process makes its client after it. The floor is the
same 8 x 32 start where only one thread calls the library and the rest wait on a pipe closed
when it has the token: what waking 256 threads costs on this machine, with no coordination.
`last token / first token` compares two moments of the same run: the first token is when the one
fetch ended, the last when every caller had it.
Each run is in a new cache directory; medians of 11 rounds, ratios paired within a round.
EOF
echo >>"$out"
echo '```' >>"$out"
before=$(emu_stat tokens_issued_total)
"$work/cold_start" "$EMULATOR_URL" "$work/cert.pem" "$work/key.pem" "$work" 8 32 11 | record
echo "tokens issued: $(($(emu_stat tokens_issued_total) - before)) for 55 runs (one per run)" | record
echo '```' >>"$out"

section "Size and start-up"
size=$(stat -c %s "$lib/libsuz_auth.so")
cat >"$work/start.c" <<'EOF'
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>
typedef unsigned (*New)(const char *, void **);
int main(int argc, char **argv) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    void *h = dlopen(argv[1], RTLD_NOW);
    New client_new = h ? (New)dlsym(h, "suz_client_new") : NULL;
    void *client = NULL;
    if (argc > 2 && h) {
        /* the peer: only opened */
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("%.2f\n", (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);
        return 0;
    }
    if (!client_new || client_new("{}", &client) != 0) return 1;
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.2f\n", (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);
    return 0;
}
EOF
gcc -O2 -std=c11 "$work/start.c" -ldl -o "$work/start"
# The peer: the system's libcrypto, only opened (the same dlopen, no client).
crypto=$(ldconfig -p | awk '/libcrypto\.so\.3 .*x86-64/ {print $NF; exit}')
median_of_21() {
    for _ in $(seq 21); do "$@"; done | sort -n | awk '{v[NR] = $1} END {print v[11]}'
}
start=$(median_of_21 "$work/start" "$lib/libsuz_auth.so")
peer=$(median_of_21 "$work/start" "$crypto" peer)
echo '```' >>"$out"
echo "stripped libsuz_auth.so (dist profile): $size bytes ($(awk -v s="$size" 'BEGIN {printf "%.2f", s / 1048576}') MiB)" | record
echo "dlopen + suz_client_new: $start ms; dlopen of $(basename "$crypto") ($(stat -L -c %s "$crypto") bytes): $peer ms (medians of 21 runs)" | record
echo '```' >>"$out"

cp "$out" benches/RESULTS.md
echo
echo "wrote benches/RESULTS.md"
