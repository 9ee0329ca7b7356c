#!/usr/bin/env bash
# The shared library exports the suz_* C ABI and nothing else.
set -euo pipefail
lib=${1:-target/debug/libsuz_auth.so}
symbols=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort)
unprefixed=$(echo "$symbols" | grep -v '^suz_' || true)
if [ -n "$unprefixed" ]; then
    echo "unprefixed symbols exported by $lib:" >&2
    echo "$unprefixed" >&2
    exit 1
fi
# Every function the header declares is exported (the Python agreement test checks the rest).
header=$(dirname "$0")/../include/suz_auth.h
required=$(grep -oE '\bsuz_[a-z0-9_]+\(' "$header" | tr -d '(' | sort -u)
[ -n "$required" ] || { echo "no function found in $header" >&2; exit 1; }
for s in $required; do
    echo "$symbols" | grep -qx "$s" || { echo "missing export: $s" >&2; exit 1; }
done
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libsuz_auth.so.0" ] || { echo "SONAME of $lib is '$soname', not libsuz_auth.so.0" >&2; exit 1; }
echo "exports: $(echo "$symbols" | wc -l) suz_* symbols, none unprefixed; SONAME $soname"
