"""One token per installation when the signature is made elsewhere — the way 1C works in
client-server mode: a server process asks for the token, the user's computer signs, and a
(maybe different) server process completes. Each step below is a separate process; they share
the cache directory of the config, so every other caller waits for this one token.

    python examples/sign_elsewhere.py config.json line acquire > state.txt
    # sign the bytes of data.bin (written by `acquire`) on the user's computer, detached or
    # attached, e.g. with CryptoPro or `openssl cms -sign -engine gost ... -outform DER`
    python examples/sign_elsewhere.py config.json line complete state.txt signature.der

`acquire` prints `TOKEN <masked value>` when a fresh token is cached (nothing to sign), or
`PENDING <state>` and writes the bytes to sign to data.bin. `complete` prints `TOKEN <masked>`.
"""

from __future__ import annotations

import json
import sys

import suz_auth


def acquire(config: dict, profile: str, data_path: str = "data.bin") -> str:
    """Phase one; returns the line to print."""
    with suz_auth.Client(config) as client:
        got = client.acquire(profile)
        if isinstance(got, suz_auth.Token):
            with got:
                return f"TOKEN {got.masked()}"
        with got as pending:
            with open(data_path, "wb") as f:
                f.write(pending.data)
            # The state carries the lease: freeing `pending` here keeps it for `complete`.
            return f"PENDING {pending.export()}"


def complete(config: dict, state: str, signature: bytes) -> str:
    """Phase two, in any process that shares the cache; returns the line to print."""
    with suz_auth.Client(config) as client:
        with suz_auth.Pending.load(client, state) as pending:
            try:
                token = client.complete(pending, signature)
            except suz_auth.SignerError:
                # A wrong signature: nothing was sent, the lease is kept; give it up so the
                # next caller starts at once.
                client.release(pending)
                raise
        with token:
            return f"TOKEN {token.masked()}"


def main(argv: list[str]) -> None:
    with open(argv[1], encoding="utf-8") as f:
        config = json.load(f)
    if argv[3] == "acquire":
        print(acquire(config, argv[2]))
    else:
        with open(argv[4], encoding="utf-8") as f:
            state = f.read().split()[-1]
        with open(argv[5], "rb") as f:
            print(complete(config, state, f.read()))


if __name__ == "__main__":
    main(sys.argv)
