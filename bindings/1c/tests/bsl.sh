#!/usr/bin/env bash
# The BSL modules (bindings/1c/bsl): parsed with tree-sitter-bsl, their calls on the component
# checked against the add-in's method table, the server-call module checked to expose only the
# signing round trip (bindings/1c/tests/test_bsl.py). Installs pytest and the grammar (pinned:
# the accepted grammar gaps are this version's) into a virtual environment under target/.
#
# Usage: bindings/1c/tests/bsl.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
. scripts/lib.sh

ensure_packages python3 python3-venv
venv=${CARGO_TARGET_DIR:-$root/target}/bsl-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    pytest tree-sitter==0.26.1 tree-sitter-bsl==0.1.6
"$venv/bin/python" -m pytest -q -p no:cacheprovider bindings/1c/tests/test_bsl.py
