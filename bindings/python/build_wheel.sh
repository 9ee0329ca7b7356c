#!/usr/bin/env bash
# Builds the platform wheel with the native library inside:
#   bindings/python/build_wheel.sh [LIBRARY] [OUT_DIR] [PLATFORM_TAG]
# LIBRARY defaults to the shipped build, target/dist/libsuz_auth.so (cargo's `dist` profile:
# LTO, stripped); OUT_DIR to dist/. The wheel is tagged for this machine's platform unless
# PLATFORM_TAG names the one LIBRARY was built for (manylinux2014_x86_64 for a library linked
# against glibc 2.17, win_amd64 or win32 for suz_auth.dll): scripts/dist.sh builds all three.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
lib=${1:-}
out=${2:-$here/dist}
plat=${3:-}
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
built=$stage/wheel
"$python" -m pip wheel --no-deps "${isolation[@]}" --quiet -w "$built" "$stage"
wheel=$(ls "$built"/suz_auth-*.whl)
if [ -n "$plat" ]; then
    "$python" -m wheel tags --remove --platform-tag "$plat" "$wheel" >/dev/null
    wheel=$(ls "$built"/suz_auth-*.whl)
fi
mkdir -p "$out"
mv "$wheel" "$out/"
ls "$out/$(basename "$wheel")"
