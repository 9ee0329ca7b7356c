#!/usr/bin/env bash
# Installs the C library for C and C++ consumers into PREFIX:
#   PREFIX/include/suz_auth.h, suz_auth.hpp
#   PREFIX/lib/libsuz_auth.so.MAJOR (the SONAME) and the libsuz_auth.so link; libsuz_auth.a
#   PREFIX/lib/cmake/suz_auth/   find_package(suz_auth): suz_auth::suz_auth (+ _static)
#   PREFIX/lib/pkgconfig/suz_auth.pc
#   PREFIX/bin/suz, the tool (`suz keep`, `suz status`, …), when LIB_DIR has it
# The installed tree is relocatable (the CMake and pkg-config files find the prefix from
# their own place), so it can be moved or packed as is (scripts/dist.sh packs one).
#
# Usage: scripts/install.sh PREFIX [LIB_DIR]
#   LIB_DIR holds libsuz_auth.so (and libsuz_auth.a); default: a `dist` build, made here.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 PREFIX [LIB_DIR]" >&2; exit 2; }
prefix=$(realpath -m "$1")
lib_dir=${2:-}
if [ -z "$lib_dir" ]; then
    (cd "$root" && cargo build --profile dist -p suz-auth)
    lib_dir=${CARGO_TARGET_DIR:-$root/target}/dist
fi
[ -f "$lib_dir/libsuz_auth.so" ] || { echo "$lib_dir/libsuz_auth.so is missing" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}

for d in "$prefix/include" "$prefix/lib" "$prefix/lib/cmake/suz_auth" "$prefix/lib/pkgconfig"; do
    # Never write through a link planted where a directory of the tree belongs.
    [ ! -L "$d" ] || { echo "$d is a symbolic link: refusing to install through it" >&2; exit 1; }
    mkdir -p "$d"
done
install -m 644 "$root/include/suz_auth.h" "$root/include/suz_auth.hpp" "$prefix/include/"
rm -f "$prefix/lib/libsuz_auth.so.$major" "$prefix/lib/libsuz_auth.so"
install -m 755 "$lib_dir/libsuz_auth.so" "$prefix/lib/libsuz_auth.so.$major"
ln -s "libsuz_auth.so.$major" "$prefix/lib/libsuz_auth.so"
if [ -f "$lib_dir/libsuz_auth.a" ]; then
    rm -f "$prefix/lib/libsuz_auth.a"
    install -m 644 "$lib_dir/libsuz_auth.a" "$prefix/lib/libsuz_auth.a"
    strip --strip-debug "$prefix/lib/libsuz_auth.a"
fi
if [ -f "$lib_dir/suz" ]; then
    [ ! -L "$prefix/bin" ] || { echo "$prefix/bin is a symbolic link: refusing to install through it" >&2; exit 1; }
    mkdir -p "$prefix/bin"
    rm -f "$prefix/bin/suz"
    install -m 755 "$lib_dir/suz" "$prefix/bin/suz"
    strip "$prefix/bin/suz"
fi
fill() {
    sed -e "s/@VERSION@/$version/g" -e "s/@MAJOR@/$major/g" -e "s/@MINOR@/$minor/g" "$1" >"$2.tmp"
    mv "$2.tmp" "$2"
}
fill "$root/cmake/suz_authConfig.cmake.in" "$prefix/lib/cmake/suz_auth/suz_authConfig.cmake"
fill "$root/cmake/suz_authConfigVersion.cmake.in" "$prefix/lib/cmake/suz_auth/suz_authConfigVersion.cmake"
fill "$root/cmake/suz_auth.pc.in" "$prefix/lib/pkgconfig/suz_auth.pc"
echo "installed suz-auth $version into $prefix"
