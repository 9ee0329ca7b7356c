"""The Python binding next to its peers, all against the emulator's SmartMarket OAuth endpoint
in the same run:

- a cached token: ``Client.token_value`` (one native call) and ``Client.token_get(...).value``,
  next to the official GigaChat SDK's cached ``get_token()`` (the same Sber OAuth service) and
  a hand-written ``requests`` cache (a dict and an expiry check);
- a fetch: ``Client.get_token_smartmarket``, next to the GigaChat SDK's fetch, a plain
  ``requests`` session and an ``http.client`` keep-alive connection (the floor).

Each figure is the median (and p99) of its iterations, in microseconds.

    python_bench.py EMULATOR_URL [CACHED_N [FETCH_N]]
"""

from __future__ import annotations

import base64
import http.client
import sys
import time
import urllib.parse
import uuid

import gigachat
import requests

import suz_auth

CLIENT_ID = "e5623627-bb8c-412c-94b7-1a6998e8ef3a"
CLIENT_SECRET = "887d15a2-cb4f-4998-9591-5b26d62d3751"
SCOPE = "SMART_PUSH"


def measure(label: str, fn, n: int) -> float:
    fn()  # warm: connections made, tokens cached
    samples = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t = clock()
        fn()
        samples.append(clock() - t)
    samples.sort()
    p50, p99 = samples[n // 2] / 1000, samples[n * 99 // 100] / 1000
    print(f"{label:<48} n={n:<6} p50={p50:9.2f} us  p99={p99:9.2f} us")
    return p50


def main() -> None:
    url = sys.argv[1]
    cached_n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    fetch_n = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    oauth = f"{url}/smartmarket/api/v2/oauth"
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()

    client = suz_auth.Client(
        {
            "stand": "emulator",
            "emulator_url": url,
            "cache": {"persist": False},
            "profiles": {"push": {"flow": "smartmarket", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}},
        }
    )
    giga = gigachat.GigaChat(credentials=basic, scope=SCOPE, auth_url=oauth, verify_ssl_certs=False)

    session = requests.Session()
    cache: dict = {}

    def requests_fetch() -> str:
        r = session.post(
            oauth,
            headers={"Authorization": f"Basic {basic}", "RqUID": str(uuid.uuid4()), "Accept": "application/json"},
            data={"scope": SCOPE},
            timeout=10,
        )
        r.raise_for_status()
        return r.json()["access_token"]

    def requests_cached() -> str:
        token = cache.get("push")
        if token is None or token[1] <= time.time() * 1000 + 60000:
            value = requests_fetch()
            token = cache["push"] = (value, time.time() * 1000 + 1800000)
        return token[0]

    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    body = urllib.parse.urlencode({"scope": SCOPE})

    def http_client_fetch() -> bytes:
        conn.request(
            "POST",
            "/smartmarket/api/v2/oauth",
            body=body,
            headers={
                "Authorization": f"Basic {basic}",
                "RqUID": uuid.uuid4().hex,
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        return conn.getresponse().read()

    def giga_fetch() -> None:
        giga._reset_token()
        giga.get_token()

    print("cached token")
    ours = measure("suz_auth Client.token_value", lambda: client.token_value("push"), cached_n)
    measure("suz_auth Client.token_get().value", lambda: client.token_get("push").value, cached_n // 4)
    theirs = measure("GigaChat SDK get_token() (cached)", giga.get_token, cached_n)
    measure("requests + dict cache (cached)", requests_cached, cached_n)
    print(f"ratio cached: GigaChat SDK / token_value = {theirs / ours:.1f}x")

    print("fetch (SmartMarket OAuth)")

    def ours_fetch() -> None:
        client.get_token_smartmarket(CLIENT_ID, CLIENT_SECRET).close()

    fetch = measure("suz_auth get_token_smartmarket", ours_fetch, fetch_n)
    measure("GigaChat SDK fetch (httpx)", giga_fetch, fetch_n)
    measure("requests.Session", requests_fetch, fetch_n)
    floor = measure("http.client keep-alive (floor)", http_client_fetch, fetch_n)
    print(f"ratio fetch: suz_auth / http.client floor = {fetch / floor:.2f}x")
    client.close()


if __name__ == "__main__":
    main()
