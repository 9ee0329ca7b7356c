#!/usr/bin/env bash
# The demo: starts the bundled emulator and obtains a token through every flow via the C ABI,
# with real GOST R 34.10-2012 signatures (OpenSSL's GOST engine) that the emulator verifies.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib.sh

ensure_packages libengine-gost-openssl gcc python3
cargo build -q -p suz-auth -p suz-emulator
lib_dir=${CARGO_TARGET_DIR:-$root/target}/debug
link_soname "$lib_dir"
work=$(mktemp -d)
trap 'kill ${EMULATOR_PID:-} 2>/dev/null || true; rm -rf "$work"' EXIT

make_gost_cert "$work"
start_emulator "$lib_dir/suz-emulator" "$work/emulator.log"
gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude -Iexamples/c \
    examples/c/demo.c examples/c/openssl_signer.c \
    -L"$lib_dir" -lsuz_auth -Wl,-rpath,"$lib_dir" -o "$work/demo"

"$work/demo" "$EMULATOR_URL" "$work/cert.pem" "$work/key.pem"

python3 - "$EMULATOR_URL" <<'PY'
import json, sys, urllib.request
stats = json.load(urllib.request.urlopen(sys.argv[1] + "/admin/stats"))
print("the emulator verified %d signatures (%d GOST R 34.10-2012), refused %d; issued %d Chestny ZNAK tokens (SUZ and True API) and %d SmartMarket tokens"
      % (stats["signatures_verified"], stats["gost_signatures_verified"], stats["signatures_refused"],
         stats["tokens_issued_total"], stats["smartmarket_tokens_issued"]))
PY
