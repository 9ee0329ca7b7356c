#!/usr/bin/env bash
# The emulator's web console (GET /admin/) in headless Chromium: Debian's chromium driven by
# playwright-core from npm. It loads the console, sees the token a flow obtained through the
# library (masked), revokes it with the button, and sees the library recover on its next request.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. scripts/lib.sh

ensure_packages chromium libengine-gost-openssl
command -v node >/dev/null || ensure_packages nodejs npm
target=${CARGO_TARGET_DIR:-$root/target}
modules=$target/console-node
if [ ! -d "$modules/node_modules/playwright-core" ]; then
    npm install --prefix "$modules" --no-audit --no-fund --silent playwright-core@1.65.1
fi
cargo build -q -p suz -p suz-emulator

work=$(mktemp -d)
trap 'kill ${EMULATOR_PID:-} 2>/dev/null || true; rm -rf "$work"' EXIT
make_gost_cert "$work"
start_emulator "$target/debug/suz-emulator" "$work/emulator.log"
conn=11b1abc9-f4ee-47db-8a20-f80ac83504e8
oms=cdf12109-10d3-11e6-8b6f-0050569977a1
python3 - "$work" "$EMULATOR_URL" "$conn" "$oms" <<'PY'
import json, sys
work, url, conn, oms = sys.argv[1:]
sign = ["openssl", "cms", "-sign", "-engine", "gost", "-binary", "-outform", "DER",
        "-signer", f"{work}/cert.pem", "-inkey", f"{work}/key.pem"]
json.dump({"stand": "emulator", "emulator_url": url, "cache": {"dir": f"{work}/cache"},
           "profiles": {"line": {"flow": "gismt", "oms_connection": conn, "oms_id": oms,
                                 "signer": {"command": {"attached": sign + ["-nodetach"],
                                                        "detached": sign}}},
                        "push": {"flow": "smartmarket",
                                 "client_id": "e5623627-bb8c-412c-94b7-1a6998e8ef3a",
                                 "client_secret": "887d15a2-cb4f-4998-9591-5b26d62d3751"},
                        "united": {"flow": "united_token", "certificate": "console-cert",
                                   "signer": {"command": {"attached": sign + ["-nodetach"],
                                                          "detached": sign}}}}},
          open(f"{work}/config.json", "w"))
PY
shots=$target/console-screenshots
mkdir -p "$shots"
CONSOLE_NODE_MODULES=$modules/node_modules node tests/console/console.test.mjs \
    "$EMULATOR_URL" "$target/debug/suz" "$work/config.json" "$conn" "$oms" "$shots"
