"""A GOST signer for suz_auth that runs `openssl cms` with OpenSSL's GOST engine.

    python examples/openssl_signer.py cert.pem key.pem < data > signature.der

With CryptoPro CSP instead of OpenSSL, the same function shape calls `cryptcp`, which works
with files (check `cryptcp -help` for your CSP version):

    cryptcp -sign -thumbprint <SHA1 of the certificate> -der [-detached] in.bin out.sig

or, with no code at all, configure it as the client's command signer:

    {"signer": {"command": {
        "attached": ["cryptcp", "-sign", "-thumbprint", "<SHA1>", "-der", "{in}", "{out}"],
        "detached": ["cryptcp", "-sign", "-thumbprint", "<SHA1>", "-der", "-detached", "{in}", "{out}"]}}}
"""

from __future__ import annotations

import subprocess
import sys

import suz_auth


def openssl_gost_signer(cert_pem: str, key_pem: str):
    """A signing function for suz_auth: attached or detached CMS, DER."""

    def sign(data: bytes, kind: suz_auth.SignatureKind) -> bytes:
        argv = ["openssl", "cms", "-sign", "-engine", "gost", "-binary", "-outform", "DER",
                "-signer", cert_pem, "-inkey", key_pem]
        if kind == suz_auth.SignatureKind.ATTACHED:
            argv.append("-nodetach")
        done = subprocess.run(argv, input=data, capture_output=True)
        if done.returncode != 0:
            raise RuntimeError("openssl cms failed: " + done.stderr.decode(errors="replace").strip())
        return done.stdout

    return sign


if __name__ == "__main__":
    signature = openssl_gost_signer(sys.argv[1], sys.argv[2])(sys.stdin.buffer.read(), suz_auth.SignatureKind.ATTACHED)
    sys.stdout.buffer.write(signature)
