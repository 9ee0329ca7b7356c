"""A worker that shares one SUZ token per installation with every other worker on the machine.

Run as many copies as you like (processes, threads): the library fetches one token for the
installation, stores it in the cache directory under an OS file lock, and every worker uses it
until shortly before it expires. A 401 is handled by `request` (compare-and-invalidate, then
one retry with a new token).

    python examples/installation_worker.py config.json line
"""

from __future__ import annotations

import json
import logging
import sys
import time

import suz_auth

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


def main(config_path: str, profile: str) -> None:
    suz_auth.set_log_handler()  # the library's log into the `suz_auth` logger
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    with suz_auth.Client(config) as client:
        for _ in range(3):
            response = client.request(profile, "GET", "/api/v2/pharma/ping")
            logging.info("ping: HTTP %s %s", response.status, response.text[:80])
            time.sleep(1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
