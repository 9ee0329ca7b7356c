#!/usr/bin/env bash
# Mutation testing of the core crate: cargo-mutants changes the code one small way at a time
# (a return value, an operator, a deleted statement) and runs tests against each change. A
# change no test notices is a missing test or dead code.
#
#   scripts/mutants.sh                 token/, flows/, client/, signer, cms, config, transport
#                                      and net, against the core's tests and the C ABI's
#                                      (tests/abi: every flow against the emulator, processes,
#                                      Redis) — slow: hours on 2 cores
#   scripts/mutants.sh --ci            a fixed, fast subset that CI runs, against the core's
#                                      own tests
#   scripts/mutants.sh FILE...         only these files (paths under core/src)
#
# Prints caught / missed / timeout / unviable per file, and the missed mutants; exits 1 when a
# mutant of the CI subset survives.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants

ci=0
files=()
for arg in "$@"; do
    case $arg in
        --ci) ci=1 ;;
        *) files+=("$arg") ;;
    esac
done
if [ $ci = 1 ]; then
    files=(core/src/flows/challenge.rs core/src/flows/registration.rs core/src/flows/api.rs
           core/src/token/key.rs)
elif [ ${#files[@]} = 0 ]; then
    files=(core/src/token core/src/flows core/src/client core/src/signer.rs core/src/signer
           core/src/cms.rs core/src/config core/src/transport core/src/net.rs)
fi
args=()
for f in "${files[@]}"; do
    if [ -d "$f" ]; then args+=(--file "$f/**"); else args+=(--file "$f"); fi
done

out=${CARGO_TARGET_DIR:-$root/target}/mutants
rm -rf "$out"
mkdir -p "$out"
# The oracle: the core's own tests (unit, layers, token cache with a real redis-server); for
# the full pass also the C ABI's tests (package suz-auth), which catch what only a whole flow
# shows.
# (By default cargo-mutants runs the mutated package's tests only, as the CI subset does.)
oracle=()
timeout=120
if [ $ci = 0 ]; then
    oracle=(--test-package suz-auth-core --test-package suz-auth)
    timeout=900
fi
set +e
cargo mutants -p suz-auth-core ${oracle[@]+"${oracle[@]}"} --no-shuffle --timeout "$timeout" --output "$out" \
    "${args[@]}" -- --all-targets >"$out/run.log" 2>&1
status=$?
set -e
tail -3 "$out/run.log"
dir=$out/mutants.out
summary() {
    local kind=$1
    [ -f "$dir/$kind.txt" ] && cut -d: -f1 "$dir/$kind.txt" | sed "s/\$/ $kind/" || true
}
echo "per file: caught / missed / timeout / unviable"
{ summary caught; summary missed; summary timeout; summary unviable; } |
    awk '{n[$1" "$2]++; f[$1]=1} END {for (x in f) printf "%-36s %4d %4d %4d %4d\n", x, n[x" caught"], n[x" missed"], n[x" timeout"], n[x" unviable"]}' |
    sort
caught=$(cat "$dir/caught.txt" 2>/dev/null | wc -l)
missed=$(cat "$dir/missed.txt" 2>/dev/null | wc -l)
timeouts=$(cat "$dir/timeout.txt" 2>/dev/null | wc -l)
viable=$((caught + missed + timeouts))
# A timeout is not a catch: a mutant that makes a test hang is reported on its own line.
echo "viable $viable: caught $caught ($(( viable ? caught * 100 / viable : 100 ))%), missed $missed"
echo "timed out (neither caught nor missed: a test hung on the mutant) $timeouts"
if [ "$missed" -gt 0 ]; then
    echo "missed:"
    cat "$dir/missed.txt"
fi
if [ "$timeouts" -gt 0 ]; then
    echo "timed out:"
    cat "$dir/timeout.txt"
fi
if [ $ci = 1 ] && { [ "$missed" -gt 0 ] || [ $status -ne 0 ]; }; then
    exit 1
fi
