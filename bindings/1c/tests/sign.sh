#!/bin/sh
# sign.sh CERT KEY DIR IN OUT: a detached GOST CMS (DER) of DIR/IN, left in DIR/OUT under its
# final name only when complete (the mock host polls for it). What 1C's
# МенеджерКриптографии.Подписать does on the user's computer, made with OpenSSL's GOST engine.
set -e
cd "$3"
openssl cms -sign -engine gost -binary -outform DER -signer "$1" -inkey "$2" \
    -in "$4" -out "$5.part" 2>/dev/null
mv "$5.part" "$5"
