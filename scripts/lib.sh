# Shared by the scripts: start the emulator binary, make a GOST key pair. Sourced, not run.

# make_gost_cert DIR -> DIR/cert.pem, DIR/key.pem (GOST R 34.10-2012, 256 bit). The serial is
# the MDLP user_id the tests and demos send (MDLP checks user_id against the signer's serial).
make_gost_cert() {
    openssl req -x509 -engine gost -newkey gost2012_256 -pkeyopt paramset:A -nodes -days 30 \
        -set_serial 1865725612 -subj "/CN=suz-auth demo/O=Demo LLC" -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
}

# start_emulator BINARY LOGFILE [ARGS...] -> sets EMULATOR_PID and EMULATOR_URL
start_emulator() {
    local bin=$1 log=$2
    shift 2
    "$bin" --port 0 "$@" >"$log" 2>&1 &
    EMULATOR_PID=$!
    for _ in $(seq 1 100); do
        EMULATOR_URL=$(sed -n 's/^suz-emulator listening on \(http[s]*:\/\/[0-9.:]*\).*/\1/p' "$log" | head -1)
        [ -n "$EMULATOR_URL" ] && return 0
        kill -0 "$EMULATOR_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "the emulator did not start:" >&2
    cat "$log" >&2
    return 1
}

# ensure_packages PKG... : installs missing Debian packages when run as root.
ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ]; then
        echo "installing: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
        return 1
    fi
}

# link_soname DIR: the library carries the SONAME libsuz_auth.so.0, so programs linked against
# it look for that name at run time; an install makes it a link to the library, as here.
link_soname() {
    ln -sf libsuz_auth.so "$1/libsuz_auth.so.0"
}

# ensure_cross_tools: what the packaging scripts build with, on a fresh machine: mingw-w64 for
# the Windows DLLs, llvm-dlltool for their MSVC import libraries, the Rust targets, and a venv
# (target/build-venv, put first on PATH) with zig and cargo-zigbuild (the Linux build against
# an old glibc) and wheel and auditwheel (the Python wheels).
ensure_cross_tools() {
    ensure_packages gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 llvm zip unzip binutils python3-venv
    local t
    for t in x86_64-pc-windows-gnu i686-pc-windows-gnu x86_64-unknown-linux-gnu; do
        rustup target list --installed | grep -qx "$t" || rustup target add "$t"
    done
    local tools=${CARGO_TARGET_DIR:-$root/target}/build-venv
    [ -x "$tools/bin/auditwheel" ] || {
        python3 -m venv "$tools"
        "$tools/bin/pip" install --quiet --disable-pip-version-check ziglang cargo-zigbuild \
            wheel setuptools auditwheel
    }
    export PATH=$tools/bin:$PATH
}

# The oldest glibc the Linux libraries link against: what the older distributions servers run
# (CentOS 7, Astra Linux 1.6, Debian 8 and newer) have, and manylinux2014's baseline.
GLIBC_FLOOR=2.17

# check_glibc_floor LIB: fails when LIB needs a glibc newer than GLIBC_FLOOR.
check_glibc_floor() {
    local newest
    newest=$(objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
    if [ "$(printf '%s\n%s\n' "GLIBC_$GLIBC_FLOOR" "$newest" | sort -V | tail -1)" != "GLIBC_$GLIBC_FLOOR" ]; then
        echo "$1 needs $newest, newer than GLIBC_$GLIBC_FLOOR" >&2
        return 1
    fi
    echo "$(basename "$1"): newest glibc symbol version $newest"
}
