#!/usr/bin/env bash
# Builds the platform wheel with the native library inside:
#   bindings/python/build_wheel.sh [LIBRARY] [OUT_DIR]
# LIBRARY defaults to the shipped build, target/dist/libsuz_auth.so (cargo's `dist` profile:
# LTO, stripped); OUT_DIR to dist/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
lib=${1:-}
out=${2:-$here/dist}
if [ -z "$lib" ]; then
    (cd "$root" && cargo build --profile dist -p suz-auth)
    lib=${CARGO_TARGET_DIR:-$root/target}/dist/libsuz_auth.so
fi
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -r "$here/pyproject.toml" "$here/setup.py" "$here/README.md" "$here/suz_auth" "$stage/"
rm -rf "$stage/suz_auth/__pycache__"
cp "$lib" "$stage/suz_auth/"
python=${PYTHON:-python3}
# Build offline with the installed setuptools and wheel when present; otherwise let pip fetch
# them into an isolated build environment.
isolation=()
"$python" -c "import setuptools, wheel" 2>/dev/null && isolation=(--no-build-isolation)
"$python" -m pip wheel --no-deps "${isolation[@]}" --quiet -w "$out" "$stage"
ls "$out"/suz_auth-*.whl
