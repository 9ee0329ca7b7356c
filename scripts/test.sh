#!/usr/bin/env bash
# Every test, on a fresh machine: installs what is missing, then format, lints, header check,
# Rust tests (which run the emulator in-process), the C tests (plain, ASan+UBSan, valgrind),
# the export check and the Python tests. Tests that need the GOST engine or redis-server are
# required here (SUZ_AUTH_REQUIRE_ALL=1); a bare `cargo test` skips them with a reason.
#
#   scripts/test.sh           everything (what CI runs); prints each stage's time at the end
#   scripts/test.sh --quick   format, lints, the Rust tests and the C tests (plain only): the
#                             inner loop, a few minutes
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib.sh

quick=0
case "${1:-}" in
    --quick) quick=1 ;;
    "") ;;
    *) echo "usage: scripts/test.sh [--quick]" >&2; exit 2 ;;
esac

# Each stage's name and time, printed at the end.
stage_names=()
stage_times=()
stage_name=""
stage_start=$SECONDS
stage() {
    if [ -n "$stage_name" ]; then
        stage_names+=("$stage_name")
        stage_times+=($((SECONDS - stage_start)))
    fi
    stage_name=$1
    stage_start=$SECONDS
    if [ -n "$1" ]; then echo "== $1"; fi
}
report_stages() {
    stage ""
    echo "stage times (s):"
    for i in "${!stage_names[@]}"; do
        printf '%6d  %s\n' "${stage_times[$i]}" "${stage_names[$i]}"
    done
    printf '%6d  in all\n' "$SECONDS"
}

stage "packages (installed when missing)"
ensure_packages libengine-gost-openssl valgrind gcc python3 python3-venv binutils redis-server strace \
    gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 wine64 zip unzip prometheus \
    softhsm2 libsofthsm2 libengine-pkcs11-openssl opensc stunnel4 curl
command -v cargo-clippy >/dev/null || rustup component add clippy
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
command -v rustfmt >/dev/null || rustup component add rustfmt

export SUZ_AUTH_REQUIRE_ALL=1

stage "cargo fmt --check"
cargo fmt --all -- --check
stage "build (regenerates include/suz_auth.h)"
cargo build --workspace --all-targets
if git rev-parse --git-dir >/dev/null 2>&1; then
    git diff --exit-code -- include/ || { echo "include/suz_auth.h is stale: commit the regenerated header" >&2; exit 1; }
fi
stage "cargo clippy -D warnings (default features, and without the redis feature)"
cargo clippy --workspace --all-targets -- -D warnings
if [ $quick = 0 ]; then
cargo clippy -p suz-auth-core -p suz-auth -p suz -p suz-auth-1c --no-default-features -- -D warnings
# The 1C add-in and the core as they build for Windows (x86_64 and x86: C `long` and usize are
# 32-bit there, and the cfg(windows) code only compiles for these targets).
for t in x86_64-pc-windows-gnu i686-pc-windows-gnu; do
    rustup target list --installed | grep -qx "$t" || rustup target add "$t"
    cargo clippy -p suz-auth-core -p suz-auth-1c --target "$t" -- -D warnings
done
# The CLI with its Windows service code (cfg(windows)).
cargo clippy -p suz --target x86_64-pc-windows-gnu -- -D warnings
# The core's tests too, as they build for Windows (the Unix-only ones are cfg'd out).
cargo clippy -p suz-auth-core --all-targets --target x86_64-pc-windows-gnu -- -D warnings
stage "exports"
scripts/check-exports.sh target/debug/libsuz_auth.so
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
stage "cargo nextest (each test in its own process, with the time limit of .config/nextest.toml)"
# --all-targets: unit and integration tests; doc-tests run next but are not counted, as the
# crate docs' examples only compile (they would need a real service).
cargo nextest run --workspace --all-targets 2>&1 | tee "$log"
cargo test --workspace --doc 2>&1 | tail -3
stage "C tests"
if [ $quick = 1 ]; then
    SUZ_C_TESTS_PLAIN_ONLY=1 tests/c/run.sh 2>&1 | tee -a "$log"
else
    tests/c/run.sh 2>&1 | tee -a "$log"
fi
if [ $quick = 0 ]; then
stage "1C add-in: the packaged zip under the mock 1C platform (Linux, valgrind, wine64)"
bindings/1c/tests/run.sh 2>&1 | tee -a "$log"
stage "1C add-in: the BSL modules parsed (tree-sitter-bsl), their calls checked against the method table"
bindings/1c/tests/bsl.sh 2>&1 | tee -a "$log"
stage "every shipped artifact (scripts/dist.sh), each library checked before it is packed"
dist=$root/dist
scripts/dist.sh "$dist"
stage "the Windows DLLs: linked through both import libraries; x86_64 under wine64"
tests/windows/run.sh "$dist" 2>&1 | tee -a "$log"
stage "C++: suz_auth.hpp (plain, ASan + UBSan), the CMake and pkg-config consumers"
tests/cpp/run.sh 2>&1 | tee -a "$log"
stage "C#: the binding under Mono"
bindings/dotnet/tests/run.sh 2>&1 | tee -a "$log"
stage "Python tests"
venv=${CARGO_TARGET_DIR:-$root/target}/python-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check pytest setuptools wheel
# The library just built and tested, never a stale one from another profile.
export SUZ_AUTH_LIBRARY=${CARGO_TARGET_DIR:-$root/target}/debug/libsuz_auth.so
# The shipped manylinux wheel is installed into a fresh venv too.
export SUZ_AUTH_DIST_DIR=$dist
(cd bindings/python && PYTHON="$venv/bin/python" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests) 2>&1 | tee -a "$log"

stage "the emulator's web console in headless Chromium"
tests/console/run.sh 2>&1 | tee -a "$log"

stage "signing presets and stunnel routes (docs/SIGNING.md)"
tests/presets/run.sh "${CARGO_TARGET_DIR:-$root/target}/debug" 2>&1 | tee -a "$log"

stage "the demo (README's first command)"
scripts/demo.sh
stage "mutation testing, the fixed CI subset (scripts/mutants.sh runs the whole pass)"
scripts/mutants.sh --ci
fi

report_stages
passed=$(grep -Eo '([0-9]+) passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '([0-9]+) failed' "$log" | awk '{s+=$1} END {print s+0}')
# The C programs run the same checks in three modes: counted once each, and said apart.
c_checks=$(awk '/\(plain\)$/ {p = 1; next} p && /^checks: / {s += $2; p = 0} END {print s + 0}' "$log")
if [ $quick = 1 ]; then
    echo "C tests: $c_checks checks, run plain (--quick)"
else
    echo "C tests: $c_checks checks, each run plain and under valgrind, the C ABI's also under ASan + UBSan (test_flows also against the static library), the 1C mock platform's also under wine64"
fi
passed=$((passed + c_checks))
echo "total: $passed passed, $failed failed"
[ "$failed" = 0 ]
