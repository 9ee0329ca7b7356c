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
required="suz_version suz_client_new suz_client_free suz_register_connection suz_get_token_mdlp
suz_get_token_gismt suz_get_token_trueapi suz_get_token_smartmarket suz_smartpush_request
suz_register_begin suz_mdlp_begin suz_gismt_begin suz_trueapi_begin suz_pending_data
suz_pending_kind suz_pending_finish_token suz_pending_finish_registration suz_pending_free"
for s in $required; do
    echo "$symbols" | grep -qx "$s" || { echo "missing export: $s" >&2; exit 1; }
done
echo "exports: $(echo "$symbols" | wc -l) suz_* symbols, none unprefixed"
