#!/bin/sh
# sign.sh WORKDIR CERT KEY IN OUT: a detached GOST CMS (DER) of WORKDIR/IN, left in WORKDIR/OUT
# under its final name only when complete (the mock host polls for it). What 1C's
# МенеджерКриптографии.Подписать does on the user's computer, made with OpenSSL's GOST engine.
set -e
cd "$1"
openssl cms -sign -engine gost -binary -outform DER -signer "$2" -inkey "$3" \
    -in "$4" -out "$5.part" 2>/dev/null
mv "$5.part" "$5"
