#!/usr/bin/env bash
# The signing presets and the stunnel routes of docs/SIGNING.md, each run against the emulator
# over real HTTP on 127.0.0.1, each ending in a token the `suz` CLI obtained:
#   a. OpenSSL with the GOST engine: an encrypted GOST key, its passphrase from the environment
#      (`-passin env:`), never in any process's argv;
#   b. PKCS#11: a SoftHSM2 token through libp11's `pkcs11` engine, the PIN from a file named in
#      the key's URI (`pin-source=file:`) or from the environment (`-passin env:`);
#   c. stunnel in client mode in front of the emulator's HTTPS, verifying its certificate:
#      directly, and through an HTTP CONNECT proxy (`protocol = connect`) while the library's own
#      `proxy` ("env") skips 127.0.0.1;
#   d. a GOST-TLS-only endpoint (stunnel in server mode with a GOST certificate and only GOST
#      cipher suites, in front of the emulator), which the library cannot reach itself, reached
#      through stunnel with the GOST engine.
# Usage: tests/presets/run.sh [DIR holding suz and suz-emulator] (default: target/debug).
# Installs what it needs from Debian when run as root. Ends with `presets: N passed`.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/scripts/lib.sh"

bin=${1:-${CARGO_TARGET_DIR:-$root/target}/debug}
for b in suz suz-emulator; do
    [ -x "$bin/$b" ] || { echo "presets: $bin/$b is missing (cargo build -p suz -p suz-emulator)" >&2; exit 1; }
done
bin=$(cd "$bin" && pwd)
ensure_packages libengine-gost-openssl softhsm2 libsofthsm2 libengine-pkcs11-openssl opensc stunnel4 python3
stunnel=$(command -v stunnel4 || command -v stunnel)
# Nothing from the caller's environment: the secrets are set per command below, and proxies
# only where a check asks for one.
unset SUZ_KEY_PASS SUZ_TOKEN_PIN HTTP_PROXY http_proxy HTTPS_PROXY https_proxy ALL_PROXY all_proxy NO_PROXY no_proxy
softhsm=$(dpkg -L libsofthsm2 | grep '/libsofthsm2\.so$')
softhsm=${softhsm%%$'\n'*}

work=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

passed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
# fail WHAT [FILE...]: the check's name and the tail of each file that tells why.
fail() {
    echo "FAIL $1" >&2
    shift
    local f
    for f in "$@"; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 25 "$f" >&2; }; done
    exit 1
}

# free_ports N: N distinct free ports on 127.0.0.1 (all held open while they are picked).
free_ports() {
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# stats URL FIELD [CAFILE]: one field of the emulator's /admin/stats.
stats() {
    python3 - "$@" <<'PY'
import json, ssl, sys, urllib.request
url, field = sys.argv[1:3]
context = ssl.create_default_context(cafile=sys.argv[3]) if len(sys.argv) > 3 else None
print(json.load(urllib.request.urlopen(url + "/admin/stats", context=context, timeout=10))[field])
PY
}

# emulator LOG [ARGS...]: lib.sh's start_emulator (GOST signatures only, the default); sets EMULATOR_URL.
emulator() {
    local rc=0
    start_emulator "$bin/suz-emulator" "$@" || rc=$?
    pids+=("$EMULATOR_PID")
    [ "$rc" -eq 0 ] || fail "the emulator did not start" "$1"
}

# emulator_without_gost LOG: the same with --allow-rsa (SoftHSM has no GOST mechanism).
emulator_without_gost() {
    "$bin/suz-emulator" --port 0 --allow-rsa >"$1" 2>&1 &
    EMULATOR_PID=$!
    pids+=("$EMULATOR_PID")
    for _ in $(seq 1 100); do
        EMULATOR_URL=$(sed -n 's/^suz-emulator listening on \(http[s]*:\/\/[0-9.:]*\).*/\1/p' "$1" | head -1)
        [ -n "$EMULATOR_URL" ] && return 0
        kill -0 "$EMULATOR_PID" 2>/dev/null || break
        sleep 0.1
    done
    fail "the emulator did not start" "$1"
}

# start_stunnel NAME: runs $work/NAME.conf in the foreground (log: $work/NAME.log), waits until
# it accepts connections, sets STUNNEL_PID.
start_stunnel() {
    "$stunnel" "$work/$1.conf" >"$work/$1.log" 2>&1 &
    STUNNEL_PID=$!
    pids+=("$STUNNEL_PID")
    for _ in $(seq 1 100); do
        grep -q 'Accepting new connections' "$work/$1.log" && return 0
        kill -0 "$STUNNEL_PID" 2>/dev/null || break
        sleep 0.05
    done
    fail "stunnel $1 did not start" "$work/$1.log"
}

# token NAME CONFIG PROFILE: `suz token` with the environment the caller set; its output in
# $work/NAME.out and .err. Succeeds when it printed a token.
token() {
    "$bin/suz" --config "$2" token "$3" >"$work/$1.out" 2>"$work/$1.err" && [ -s "$work/$1.out" ]
}

# The signing command of every preset goes through this recorder: it writes its own argv as
# the kernel shows it to every local user (/proc/PID/cmdline), then becomes openssl with the
# same arguments.
cat >"$work/record-argv" <<'SH'
#!/bin/sh
{ tr '\0' ' ' </proc/$$/cmdline; echo; } >>"$SUZ_ARGV_LOG"
exec openssl "$@"
SH
chmod +x "$work/record-argv"
argv_log=$work/argv.log
touch "$argv_log"

key_pass=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
token_pin=$(od -An -N4 -tu4 /dev/urandom | tr -d ' \n')

# --- keys ---------------------------------------------------------------------------------------
# a: a GOST R 34.10-2012 key encrypted with a passphrase (PKCS#8, PBES2), a self-signed certificate
# with the serial MDLP's user_id names.
SUZ_KEY_PASS=$key_pass openssl req -x509 -engine gost -newkey gost2012_256 -pkeyopt paramset:A \
    -passout env:SUZ_KEY_PASS -days 30 -set_serial 1865725612 -subj "/CN=suz-auth preset/O=Demo LLC" \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>"$work/keygen.err" || fail "GOST key" "$work/keygen.err"
grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$work/key.pem" || fail "the GOST key is not encrypted"

# b: a SoftHSM2 token of its own, an EC P-256 key on it, a self-signed certificate made with
# that key through the engine. (Setting the token up passes PINs in argv; signing does not.)
export SOFTHSM2_CONF=$work/softhsm2.conf PKCS11_MODULE_PATH=$softhsm
mkdir "$work/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$work/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label suz-preset --so-pin 87654321 --pin "$token_pin" >"$work/p11.log" 2>&1 ||
    fail "SoftHSM token" "$work/p11.log"
pkcs11-tool --module "$softhsm" --token-label suz-preset --login --pin "$token_pin" --keypairgen \
    --key-type EC:prime256v1 --id 01 --label suz-key >>"$work/p11.log" 2>&1 || fail "key on the token" "$work/p11.log"
(umask 077 && printf '%s' "$token_pin" >"$work/token.pin") # no newline: libp11 0.4.12 would send it
p11_key="pkcs11:token=suz-preset;object=suz-key;type=private"
openssl req -new -x509 -engine pkcs11 -keyform engine -key "$p11_key?pin-source=file:$work/token.pin" \
    -sha256 -days 30 -set_serial 1865725612 -subj "/CN=suz-auth pkcs11 preset/O=Demo LLC" \
    -out "$work/p11cert.pem" >>"$work/p11.log" 2>&1 || fail "certificate of the token's key" "$work/p11.log"

# d: the GOST-TLS-only endpoint's certificate.
openssl req -x509 -engine gost -newkey gost2012_256 -pkeyopt paramset:A -nodes -days 30 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$work/gost-tls.key" -out "$work/gost-tls.pem" 2>>"$work/keygen.err" || fail "GOST TLS key" "$work/keygen.err"

# --- servers ------------------------------------------------------------------------------------
emulator "$work/emu-gost.log"
gost_url=$EMULATOR_URL
gost_port=${gost_url##*:}
emulator_without_gost "$work/emu-plain.log"
plain_url=$EMULATOR_URL
emulator "$work/emu-tls.log" --tls --ca-out "$work/emu-ca.pem"
tls_url=$EMULATOR_URL
tls_port=${tls_url##*:}

# An HTTP CONNECT proxy that opens tunnels to 127.0.0.1 only and logs each CONNECT line.
python3 - "$work/proxy.log" >"$work/proxy.port" 2>"$work/proxy.err" <<'PY' &
import socket, sys, threading
log = open(sys.argv[1], "a", buffering=1)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(32)
print(server.getsockname()[1], flush=True)

def pump(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def serve(client):
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = client.recv(1)
        if not byte or len(head) > 8192:
            return client.close()
        head += byte
    line = head.split(b"\r\n")[0].decode("latin-1")
    method, target, _ = (line.split(" ") + ["", ""])[:3]
    host, _, port = target.rpartition(":")
    if method != "CONNECT" or host != "127.0.0.1" or not port.isdigit():
        client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        return client.close()
    log.write(line + "\n")
    try:
        upstream = socket.create_connection((host, int(port)), timeout=5)
    except OSError:
        client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        return client.close()
    upstream.settimeout(None)
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
    pump(client, upstream)

while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
PY
pids+=("$!")
for _ in $(seq 1 100); do [ -s "$work/proxy.port" ] && break; sleep 0.05; done
proxy_port=$(head -1 "$work/proxy.port")
[ -n "$proxy_port" ] || fail "the CONNECT proxy did not start" "$work/proxy.err"
touch "$work/proxy.log"

read -r tunnel_port via_proxy_port wrong_ca_port gost_server_port gost_client_port < <(free_ports 5)
gost_ciphers=GOST2012-KUZNYECHIK-KUZNYECHIKOMAC:GOST2012-MAGMA-MAGMAOMAC:GOST2012-GOST8912-GOST8912

# c: three client services: the emulator's HTTPS verified against its CA; the same through the
# CONNECT proxy; and one that trusts another CA (it must refuse the emulator).
cat >"$work/tunnel.conf" <<EOF
foreground = yes
pid =
debug = info

[emulator]
client = yes
accept = 127.0.0.1:$tunnel_port
connect = 127.0.0.1:$tls_port
sni = localhost
verifyChain = yes
CAfile = $work/emu-ca.pem
checkHost = localhost

[emulator-through-proxy]
client = yes
accept = 127.0.0.1:$via_proxy_port
connect = 127.0.0.1:$proxy_port
protocol = connect
protocolHost = 127.0.0.1:$tls_port
sni = localhost
verifyChain = yes
CAfile = $work/emu-ca.pem
checkHost = localhost

[another-ca]
client = yes
accept = 127.0.0.1:$wrong_ca_port
connect = 127.0.0.1:$tls_port
sni = localhost
verifyChain = yes
CAfile = $work/p11cert.pem
checkHost = localhost
EOF

# d: the GOST-TLS-only endpoint, and the client that reaches it.
cat >"$work/gost-endpoint.conf" <<EOF
foreground = yes
pid =
debug = info
engine = gost
engineDefault = ALL

[gost-only]
accept = 127.0.0.1:$gost_server_port
connect = 127.0.0.1:$gost_port
cert = $work/gost-tls.pem
key = $work/gost-tls.key
sslVersion = TLSv1.2
ciphers = $gost_ciphers
EOF
cat >"$work/gost-client.conf" <<EOF
foreground = yes
pid =
debug = info
engine = gost
engineDefault = ALL

[gost-endpoint]
client = yes
accept = 127.0.0.1:$gost_client_port
connect = 127.0.0.1:$gost_server_port
sni = localhost
verifyChain = yes
CAfile = $work/gost-tls.pem
checkHost = localhost
sslVersion = TLSv1.2
ciphers = $gost_ciphers
EOF

start_stunnel tunnel
tunnel_pid=$STUNNEL_PID
start_stunnel gost-endpoint
start_stunnel gost-client

# --- configurations -----------------------------------------------------------------------------
python3 - "$work" "$gost_url" "$plain_url" "$tunnel_port" "$via_proxy_port" "$wrong_ca_port" \
    "$gost_server_port" "$gost_client_port" "$p11_key" <<'PY'
import json, sys
work, gost_url, plain_url, tunnel, via_proxy, wrong_ca, gost_server, gost_client, p11_key = sys.argv[1:]
record = f"{work}/record-argv"
conn = "11b1abc9-f4ee-47db-8a20-f80ac83504e8"
mdlp = {"client_id": "7df0d06f-6510-44fe-a378-76cb53e2605f",
        "client_secret": "49781b3a-19d5-4ad7-b1b6-abb57e598d41", "user_id": "1865725612"}

def signer(tail):
    # cms -sign, DER on stdout; attached adds -nodetach.
    base = [record, "cms", "-sign", "-binary", "-outform", "DER"] + tail
    return {"command": {"attached": base + ["-nodetach"], "detached": base, "timeout_ms": 20000}}

gost = signer(["-engine", "gost", "-signer", f"{work}/cert.pem", "-inkey", f"{work}/key.pem",
               "-passin", "env:SUZ_KEY_PASS"])
# The token's presets read the data from {in}: stdin is then /dev/null, and a PIN prompt can
# never read the data to sign as its answer.
p11_file = signer(["-engine", "pkcs11", "-keyform", "engine",
                   "-inkey", f"{p11_key}?pin-source=file:{work}/token.pin",
                   "-signer", f"{work}/p11cert.pem", "-in", "{in}"])
p11_env = signer(["-engine", "pkcs11", "-keyform", "engine", "-inkey", p11_key,
                  "-passin", "env:SUZ_TOKEN_PIN", "-signer", f"{work}/p11cert.pem", "-in", "{in}"])
p11_none = signer(["-engine", "pkcs11", "-keyform", "engine", "-inkey", p11_key,
                   "-signer", f"{work}/p11cert.pem", "-in", "{in}"])

def write(name, url, profiles, **extra):
    doc = {"stand": "emulator", "emulator_url": url, "cache": {"persist": False},
           "retry": {"max_attempts": 1}, "timeouts": {"total_ms": 20000}, "profiles": profiles}
    doc.update(extra)
    with open(f"{work}/{name}.json", "w") as f:
        json.dump(doc, f, indent=1)

gost_profiles = {
    "trueapi": {"flow": "trueapi_token", "certificate": "preset-gost", "signer": gost},
    "mdlp": {"flow": "mdlp", "oms_connection": conn, "signer": gost, **mdlp},
}
write("a", gost_url, gost_profiles)
write("b", plain_url, {
    "gismt": {"flow": "gismt_token", "certificate": "preset-pkcs11", "signer": p11_file},
    "mdlp": {"flow": "mdlp", "oms_connection": conn, "signer": p11_env, **mdlp},
    "no-pin": {"flow": "mdlp", "oms_connection": conn, "signer": p11_none, **mdlp},
})
write("c", f"http://127.0.0.1:{tunnel}", gost_profiles)
write("c-proxy", f"http://127.0.0.1:{via_proxy}", gost_profiles, proxy="env")
write("c-another-ca", f"http://127.0.0.1:{wrong_ca}", gost_profiles)
write("d-direct", f"https://127.0.0.1:{gost_server}", gost_profiles)
write("d", f"http://127.0.0.1:{gost_client}", gost_profiles)
PY

# --- a. OpenSSL, GOST engine, encrypted key, passphrase from the environment --------------------
before=$(stats "$gost_url" gost_signatures_verified)
SUZ_KEY_PASS=$key_pass SUZ_ARGV_LOG=$argv_log token a-trueapi "$work/a.json" trueapi ||
    fail "a: True API token (attached) with the encrypted GOST key" "$work/a-trueapi.err"
SUZ_KEY_PASS=$key_pass SUZ_ARGV_LOG=$argv_log token a-mdlp "$work/a.json" mdlp ||
    fail "a: MDLP token (detached) with the encrypted GOST key" "$work/a-mdlp.err"
[ "$(stats "$gost_url" gost_signatures_verified)" -eq $((before + 2)) ] ||
    fail "a: the emulator did not verify two GOST signatures" "$work/emu-gost.log"
ok "a: True API (attached) and MDLP (detached) tokens; the emulator verified 2 GOST signatures"

[ "$(grep -c 'env:SUZ_KEY_PASS' "$argv_log")" -eq 2 ] || fail "a: the recorder did not see both commands" "$argv_log"
! grep -qF -- "$key_pass" "$argv_log" || fail "a: the passphrase is in a command's argv" "$argv_log"
! grep -qF -- "$key_pass" "$work/a-trueapi.err" "$work/a-mdlp.err" || fail "a: the passphrase is in suz's output"
# The recorder would have seen it: the same passphrase given as pass: shows up.
SUZ_ARGV_LOG=$work/control.log "$work/record-argv" pkey -engine gost -in "$work/key.pem" -passin "pass:$key_pass" -noout \
    >"$work/control.err" 2>&1 ||
    fail "a: the control run did not open the key" "$work/control.err"
grep -qF -- "$key_pass" "$work/control.log" || fail "a: the recorder misses an argument"
ok "a: the passphrase reached openssl (-passin env:SUZ_KEY_PASS) and is in no argv (pass: would be)"

if SUZ_ARGV_LOG=$argv_log token a-unset "$work/a.json" trueapi; then
    fail "a: a token without the passphrase in the environment" "$work/a-unset.out"
fi
{ grep -q 'SUZ_RESULT_SIGNER_FAILED' "$work/a-unset.err" && grep -q 'No environment variable SUZ_KEY_PASS' "$work/a-unset.err"; } ||
    fail "a: without the passphrase: not the signer's failure" "$work/a-unset.err"
ok "a: without SUZ_KEY_PASS in its environment the signer fails (SUZ_RESULT_SIGNER_FAILED), nothing signed"

# --- b. PKCS#11: SoftHSM2 through libp11's engine ------------------------------------------------
: >"$argv_log"
before=$(stats "$plain_url" signatures_verified)
SUZ_ARGV_LOG=$argv_log token b-file "$work/b.json" gismt ||
    fail "b: GIS MT token, PIN from pin-source=file:" "$work/b-file.err"
ok "b: GIS MT token signed on the SoftHSM token, PIN from pin-source=file: in the key URI"
SUZ_TOKEN_PIN=$token_pin SUZ_ARGV_LOG=$argv_log token b-env "$work/b.json" mdlp ||
    fail "b: MDLP token (detached), PIN from -passin env:" "$work/b-env.err"
[ "$(stats "$plain_url" signatures_verified)" -eq $((before + 2)) ] ||
    fail "b: the emulator did not verify two signatures" "$work/emu-plain.log"
ok "b: MDLP token (detached) signed on the SoftHSM token, PIN from -passin env:SUZ_TOKEN_PIN"
[ "$(grep -c 'engine pkcs11' "$argv_log")" -eq 2 ] || fail "b: the recorder did not see both commands" "$argv_log"
grep -q -- '-in /.*/suz-auth-[0-9]*-[0-9a-f]*\.in' "$argv_log" || fail "b: {in} was not replaced by the data file" "$argv_log"
! grep -qE -- "(^| |[=:])$token_pin( |$)" "$argv_log" || fail "b: the PIN is in a command's argv" "$argv_log"
ok "b: the PIN is in no argv"
if SUZ_ARGV_LOG=$argv_log token b-none "$work/b.json" no-pin; then
    fail "b: a token without the PIN" "$work/b-none.out"
fi
{ grep -q 'SUZ_RESULT_SIGNER_FAILED' "$work/b-none.err" && grep -q 'UI_process' "$work/b-none.err"; } ||
    fail "b: without the PIN: not the prompt's failure" "$work/b-none.err"
SUZ_TOKEN_PIN=$token_pin SUZ_ARGV_LOG=$argv_log token b-after "$work/b.json" mdlp ||
    fail "b: the token refused the right PIN after a run without one" "$work/b-after.err"
ok "b: with no PIN given, openssl's prompt reads /dev/null ({in}): SUZ_RESULT_SIGNER_FAILED; the token still signs"

# --- c. stunnel in front of the emulator's HTTPS ------------------------------------------------
before=$(stats "$tls_url" tokens_issued_total "$work/emu-ca.pem")
SUZ_KEY_PASS=$key_pass SUZ_ARGV_LOG=$argv_log token c "$work/c.json" trueapi ||
    fail "c: token through stunnel" "$work/c.err" "$work/tunnel.log"
[ "$(stats "$tls_url" tokens_issued_total "$work/emu-ca.pem")" -eq $((before + 1)) ] ||
    fail "c: the HTTPS emulator issued no token" "$work/emu-tls.log"
{ grep -q 'Service \[emulator\] accepted connection' "$work/tunnel.log" &&
    grep -q 'Certificate accepted at depth=0: CN=suz-emulator' "$work/tunnel.log"; } ||
    fail "c: stunnel's log shows no verified connection" "$work/tunnel.log"
ok "c: token from the HTTPS emulator through stunnel (http://127.0.0.1:$tunnel_port), certificate verified"

SUZ_KEY_PASS=$key_pass SUZ_ARGV_LOG=$argv_log HTTP_PROXY=http://127.0.0.1:$proxy_port NO_PROXY=127.0.0.1 \
    token c-proxy "$work/c-proxy.json" trueapi || fail "c: token through stunnel and the CONNECT proxy" "$work/c-proxy.err" "$work/tunnel.log"
grep -qx "CONNECT 127.0.0.1:$tls_port HTTP/1.1" "$work/proxy.log" || fail "c: stunnel did not CONNECT through the proxy" "$work/proxy.log"
! grep -q "CONNECT 127.0.0.1:$via_proxy_port " "$work/proxy.log" || fail "c: the library tunnelled to stunnel through the proxy" "$work/proxy.log"
ok "c: token through stunnel's protocol = connect; the library's proxy \"env\" skipped 127.0.0.1 (NO_PROXY)"

if SUZ_KEY_PASS=$key_pass SUZ_ARGV_LOG=$argv_log token c-another-ca "$work/c-another-ca.json" trueapi; then
    fail "c: a token although stunnel trusts another CA" "$work/c-another-ca.out"
fi
grep -q 'SUZ_RESULT_CONNECT' "$work/c-another-ca.err" || fail "c: another CA: not a connection failure" "$work/c-another-ca.err"
{ grep -q 'Service \[another-ca\] accepted connection' "$work/tunnel.log" &&
    grep -q 'Rejected by CERT at depth=' "$work/tunnel.log"; } || fail "c: stunnel did not reject the certificate" "$work/tunnel.log"
ok "c: stunnel trusting another CA refuses the emulator; the CLI fails (SUZ_RESULT_CONNECT)"

kill "$tunnel_pid"
wait "$tunnel_pid" 2>/dev/null || true
if SUZ_KEY_PASS=$key_pass SUZ_ARGV_LOG=$argv_log token c-stopped "$work/c.json" trueapi; then
    fail "c: a token with stunnel stopped" "$work/c-stopped.out"
fi
grep -q 'SUZ_RESULT_CONNECT' "$work/c-stopped.err" || fail "c: stunnel stopped: not a connect error" "$work/c-stopped.err"
ok "c: stunnel stopped, the same configuration fails with SUZ_RESULT_CONNECT"

# --- d. a GOST-TLS-only endpoint ----------------------------------------------------------------
if SUZ_KEY_PASS=$key_pass SUZ_ARGV_LOG=$argv_log token d-direct "$work/d-direct.json" trueapi; then
    fail "d: the library reached the GOST-only endpoint itself" "$work/d-direct.out"
fi
grep -q 'SUZ_RESULT_TLS' "$work/d-direct.err" || fail "d: direct: not a TLS failure" "$work/d-direct.err"
ok "d: the library alone cannot reach the GOST-TLS-only endpoint (SUZ_RESULT_TLS)"
before=$(stats "$gost_url" tokens_issued_total)
SUZ_KEY_PASS=$key_pass SUZ_ARGV_LOG=$argv_log token d "$work/d.json" mdlp ||
    fail "d: token through the GOST stunnel" "$work/d.err" "$work/gost-client.log" "$work/gost-endpoint.log"
[ "$(stats "$gost_url" tokens_issued_total)" -eq $((before + 1)) ] || fail "d: the emulator issued no token" "$work/emu-gost.log"
{ grep -q 'Certificate accepted at depth=0: CN=localhost' "$work/gost-client.log" &&
    grep -q 'TLSv1.2 ciphersuite: GOST2012-' "$work/gost-client.log"; } ||
    fail "d: the client's log shows no verified GOST TLS connection" "$work/gost-client.log"
ok "d: token through stunnel with the GOST engine: $(grep -o -m1 'GOST2012-[A-Z0-9-]*' "$work/gost-client.log"), certificate verified"

echo "presets: $passed passed"
