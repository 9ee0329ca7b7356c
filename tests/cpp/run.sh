#!/usr/bin/env bash
# The C++ interface against the emulator:
#   - tests/cpp/test_hpp.cpp built with -std=c++17 -Wall -Wextra -Wpedantic -Werror, run plain
#     and under AddressSanitizer + UndefinedBehaviorSanitizer (leaks included);
#   - scripts/install.sh into a temporary prefix, then two consumers of what it installed:
#     examples/cpp built by CMake with find_package(suz_auth) (under ASan + UBSan), and a
#     one-file program built with `pkg-config --cflags --libs suz_auth`. Both find the library
#     through the installed files alone; they run with LD_LIBRARY_PATH=PREFIX/lib, as a
#     program installed beside the library would find it through its own rpath or ldconfig.
#
# Usage: tests/cpp/run.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. scripts/lib.sh

ensure_packages g++ cmake make pkg-config libengine-gost-openssl python3
target_dir=${CARGO_TARGET_DIR:-$root/target}
cargo build -q -p suz-auth -p suz-emulator
lib_dir=$target_dir/debug
link_soname "$lib_dir"

work=$(mktemp -d)
trap 'kill ${EMULATOR_PID:-} 2>/dev/null || true; rm -rf "$work"' EXIT
make_gost_cert "$work"
start_emulator "$lib_dir/suz-emulator" "$work/emulator.log"
args=("$EMULATOR_URL" "$work/cert.pem" "$work/key.pem")

strict=(-std=c++17 -Wall -Wextra -Wpedantic -Werror -g -pthread)
sanitize=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
link=(-L"$lib_dir" -lsuz_auth -Wl,-rpath,"$lib_dir")
g++ "${strict[@]}" -Iinclude tests/cpp/test_hpp.cpp "${link[@]}" -o "$work/test_hpp"
g++ "${strict[@]}" "${sanitize[@]}" -Iinclude tests/cpp/test_hpp.cpp "${link[@]}" -o "$work/test_hpp_asan"
echo "== C++ test_hpp (plain)"
"$work/test_hpp" "${args[@]}"
echo "== C++ test_hpp (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1 "$work/test_hpp_asan" "${args[@]}"

prefix=$work/prefix
scripts/install.sh "$prefix" "$lib_dir"
echo "== the CMake consumer (examples/cpp, find_package(suz_auth)), ASan + UBSan"
cmake -S examples/cpp -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS="${strict[*]} ${sanitize[*]}" >"$work/cmake.log" 2>&1 ||
    { cat "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
grep -q "$prefix/lib/libsuz_auth.so" "$work/build/CMakeFiles/tokens.dir/link.txt" ||
    { echo "the CMake consumer did not link the installed library" >&2; exit 1; }
LD_LIBRARY_PATH=$prefix/lib ASAN_OPTIONS=detect_leaks=1 "$work/build/tokens" "${args[@]}"
echo "== the pkg-config consumer"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion suz_auth)" = "$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)" ]
# shellcheck disable=SC2046 # pkg-config's output is words on purpose
g++ "${strict[@]}" examples/cpp/tokens.cpp $(pkg-config --cflags --libs suz_auth) -o "$work/tokens_pc"
LD_LIBRARY_PATH=$prefix/lib "$work/tokens_pc" "${args[@]}"
echo "C++ consumers: CMake and pkg-config passed"
