#!/usr/bin/env bash
# Builds every shipped artifact into one directory (default dist/), with SHA256SUMS:
#
#   suz-auth-VERSION-linux-x86_64.tar.gz   include/ (suz_auth.h, suz_auth.hpp), lib/libsuz_auth.so.0
#                                          (SONAME, glibc >= 2.17) and its link, libsuz_auth.a,
#                                          lib/cmake/suz_auth/ (find_package), lib/pkgconfig/
#   suz-auth-VERSION-windows-x86_64.zip    bin/suz_auth.dll (imports only Windows system DLLs),
#   suz-auth-VERSION-windows-x86.zip       lib/suz_auth.def, lib/libsuz_auth.dll.a (MinGW),
#                                          lib/suz_auth.lib (MSVC), include/
#   suz_auth-VERSION-py3-none-{manylinux2014_x86_64,win_amd64,win32}.whl
#   SuzAuth.VERSION.nupkg                  the C# binding with the three native libraries
#   SuzAuth1C-VERSION.zip                  the 1C:Enterprise add-in (scripts/package-1c.sh)
#
# Each archive's tree is also left unpacked beside it (dist/suz-auth-VERSION-*/). Every library
# is checked before it is packed: exports (the header's suz_* functions and nothing else),
# imports, SONAME, glibc floor; the Linux wheel with `auditwheel show`. Installs what it needs
# on a fresh machine (scripts/lib.sh: ensure_cross_tools).
#
# Usage: scripts/dist.sh [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib.sh

out=$(realpath -m "${1:-$root/dist}")
target_dir=${CARGO_TARGET_DIR:-$root/target}
profile=dist
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || { echo "no version in Cargo.toml" >&2; exit 1; }
ensure_cross_tools

echo "== building suz-auth $version ($profile): Linux x86_64 (glibc $GLIBC_FLOOR), Windows x86_64, Windows x86"
# The library everywhere; the `suz` tool (the keeper among its commands) for Linux and 64-bit
# Windows.
cargo zigbuild -p suz-auth -p suz --profile "$profile" --target "x86_64-unknown-linux-gnu.$GLIBC_FLOOR"
cargo build -p suz-auth -p suz --profile "$profile" --target x86_64-pc-windows-gnu
cargo build -p suz-auth --profile "$profile" --target i686-pc-windows-gnu
linux_lib=$target_dir/x86_64-unknown-linux-gnu/$profile
win64_dll=$target_dir/x86_64-pc-windows-gnu/$profile/suz_auth.dll
win64_exe=$target_dir/x86_64-pc-windows-gnu/$profile/suz.exe
win32_dll=$target_dir/i686-pc-windows-gnu/$profile/suz_auth.dll

rm -rf "$out"
mkdir -p "$out"

# --- Linux -----------------------------------------------------------------------------------
scripts/check-exports.sh "$linux_lib/libsuz_auth.so"
check_glibc_floor "$linux_lib/libsuz_auth.so"
check_glibc_floor "$linux_lib/suz"
linux=suz-auth-$version-linux-x86_64
scripts/install.sh "$out/$linux" "$linux_lib" >/dev/null
tar -C "$out" -czf "$out/$linux.tar.gz" --owner=0 --group=0 --sort=name "$linux"

# --- Windows ---------------------------------------------------------------------------------
header_exports=$(grep -oE '\bsuz_[a-z0-9_]+\(' include/suz_auth.h | tr -d '(' | sort -u)
# What a DLL of this library may import: Windows' own DLLs (and the API sets that stand for
# them); nothing from MinGW (libgcc, libwinpthread), since the runtime is linked statically.
system_dlls='^(kernel32|ntdll|advapi32|bcrypt|bcryptprimitives|msvcrt|userenv|ws2_32|crypt32|ncrypt|secur32|api-ms-win-[a-z0-9-]+)\.dll$'

# check_imports PE: it imports Windows system DLLs only; prints them.
check_imports() {
    local imports foreign
    imports=$(x86_64-w64-mingw32-objdump -p "$1" | sed -n 's/^\tDLL Name: //p' | tr 'A-Z' 'a-z' | sort -u)
    foreign=$(grep -Ev "$system_dlls" <<<"$imports" || true)
    if [ -n "$foreign" ]; then
        echo "$1 imports DLLs that are not part of Windows: $foreign" >&2
        return 1
    fi
    echo "$imports"
}

# check_dll DLL: its imports are Windows system DLLs and its exports exactly the header's.
check_dll() {
    local dll=$1 imports exports
    imports=$(check_imports "$dll")
    exports=$(x86_64-w64-mingw32-objdump -p "$dll" |
        awk '/\[Ordinal\/Name Pointer\] Table/ {t = 1; next} t && NF == 0 {t = 0} t {print $NF}' | sort -u)
    if [ "$exports" != "$header_exports" ]; then
        echo "$dll exports differ from include/suz_auth.h:" >&2
        diff <(echo "$header_exports") <(echo "$exports") >&2 || true
        return 1
    fi
    echo "$(basename "$(dirname "$(dirname "$dll")")")/bin/$(basename "$dll"): $(wc -l <<<"$exports") suz_* exports, nothing else; imports $(tr '\n' ' ' <<<"$imports")"
}

# windows_tree NAME DLL MACHINE(i386:x86-64|i386) MINGW_PREFIX [EXE]: the DLL, its .def, a
# MinGW import library (GNU dlltool) and an MSVC one (llvm-dlltool, the short import format
# lib.exe writes), the headers, and the `suz` tool when given.
windows_tree() {
    local name=$1 dll=$2 machine=$3 mingw=$4 exe=${5:-} dir=$out/$1
    mkdir -p "$dir/bin" "$dir/lib" "$dir/include"
    cp "$dll" "$dir/bin/suz_auth.dll"
    if [ -n "$exe" ]; then
        cp "$exe" "$dir/bin/suz.exe"
        echo "$name/bin/suz.exe: imports $(check_imports "$dir/bin/suz.exe" | tr '\n' ' ')"
    fi
    { echo "LIBRARY suz_auth.dll"; echo "EXPORTS"; sed 's/^/    /' <<<"$header_exports"; } >"$dir/lib/suz_auth.def"
    "$mingw-dlltool" -d "$dir/lib/suz_auth.def" -D suz_auth.dll -l "$dir/lib/libsuz_auth.dll.a"
    llvm-dlltool -m "$machine" -d "$dir/lib/suz_auth.def" -D suz_auth.dll -l "$dir/lib/suz_auth.lib"
    cp include/suz_auth.h include/suz_auth.hpp "$dir/include/"
    check_dll "$dir/bin/suz_auth.dll"
    # The MSVC library names each function as MSVC's compiler refers to it: x86 C functions
    # carry a leading underscore, x64 ones do not.
    local prefix=""
    [ "$machine" = i386 ] && prefix=_
    grep -q " __imp_${prefix}suz_client_new$" <<<"$(llvm-nm "$dir/lib/suz_auth.lib")" ||
        { echo "$dir/lib/suz_auth.lib lacks __imp_${prefix}suz_client_new" >&2; return 1; }
    (cd "$out" && rm -f "$name.zip" && zip -q -X -r "$name.zip" "$name")
}
windows_tree "suz-auth-$version-windows-x86_64" "$win64_dll" i386:x86-64 x86_64-w64-mingw32 "$win64_exe"
windows_tree "suz-auth-$version-windows-x86" "$win32_dll" i386 i686-w64-mingw32

# --- Python wheels ---------------------------------------------------------------------------
PYTHON=python3 bindings/python/build_wheel.sh "$linux_lib/libsuz_auth.so" "$out" manylinux2014_x86_64 >/dev/null
PYTHON=python3 bindings/python/build_wheel.sh "$win64_dll" "$out" win_amd64 >/dev/null
PYTHON=python3 bindings/python/build_wheel.sh "$win32_dll" "$out" win32 >/dev/null
linux_wheel=$out/suz_auth-$version-py3-none-manylinux2014_x86_64.whl
policy=$(auditwheel show "$linux_wheel")
echo "$policy" | tr '\n' ' ' | sed 's/  */ /g'
echo
grep -q 'manylinux_2_17_x86_64' <<<"$policy" ||
    { echo "auditwheel does not place $linux_wheel in manylinux2014 (manylinux_2_17)" >&2; exit 1; }

# --- C#, 1C --------------------------------------------------------------------------------
bindings/dotnet/pack.sh --linux-x64 "$out/$linux/lib/libsuz_auth.so.0" \
    --win-x64 "$win64_dll" --win-x86 "$win32_dll" --out "$out"
scripts/package-1c.sh "$out/SuzAuth1C-$version.zip" >/dev/null

(cd "$out" && sha256sum -- *.tar.gz *.zip *.whl *.nupkg >SHA256SUMS)
echo "== $out"
cat "$out/SHA256SUMS"
