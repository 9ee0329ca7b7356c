"""A SmartPush call with a SmartMarket OAuth token.

    python examples/smartpush.py BASE_URL CLIENT_ID CLIENT_SECRET

BASE_URL is the emulator's address for a try-out, e.g. http://127.0.0.1:8080; against Sber use
{"stand": "production"} instead of the emulator stand below.
"""

from __future__ import annotations

import sys

import suz_auth


def main(base_url: str, client_id: str, client_secret: str) -> None:
    config = {"stand": "emulator", "emulator_url": base_url}
    with suz_auth.Client(config) as client:
        with client.get_token_smartmarket(client_id, client_secret) as token:
            print("token", token.masked(), "expires", token.expires_at.isoformat())
            try:
                answer = client.smartpush_request(token, {"requestPayload": {"text": "Hello"}})
                print("answer", answer)
            except suz_auth.UnauthorizedError as e:
                print("refused:", e.server_code, e.server_message, "RqUID", e.rquid)


if __name__ == "__main__":
    main(*sys.argv[1:4])
