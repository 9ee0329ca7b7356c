"""One token per installation from threads and processes; request; logging."""

from __future__ import annotations

import logging
import multiprocessing
import threading

import pytest
import suz_auth
from conftest import CONNECTION, MDLP_CLIENT_ID, MDLP_CLIENT_SECRET, OMS_ID, openssl_sign


def profile_config(emulator, cache_dir, cert, key) -> dict:
    def argv(attached):
        base = ["openssl", "cms", "-sign", "-engine", "gost", "-binary", "-outform", "DER", "-signer", cert, "-inkey", key]
        return base + (["-nodetach"] if attached else [])

    return emulator.config(
        cache={"dir": str(cache_dir)},
        profiles={
            "line": {
                "flow": "gismt",
                "oms_connection": CONNECTION,
                "oms_id": OMS_ID,
                "signer": {"command": {"attached": argv(True), "detached": argv(False)}},
            }
        },
    )


def _worker(config: dict, barrier, queue) -> None:
    with suz_auth.Client(config) as client:
        barrier.wait()
        with client.token_get("line") as token:
            queue.put(token.value)


def test_32_threads_and_4_processes_get_one_token(emulator, gost_keys, tmp_path):
    config = profile_config(emulator, tmp_path, *gost_keys)
    values = []
    with suz_auth.Client(config) as client:
        barrier = threading.Barrier(32)

        def get():
            barrier.wait()
            with client.token_get("line") as token:
                values.append(token.value)

        threads = [threading.Thread(target=get) for _ in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(values) == 32 and len(set(values)) == 1
    assert emulator.tokens_issued() == 1

    # Cold start for the processes: a new store directory and a revoked token.
    config = profile_config(emulator, tmp_path / "procs", *gost_keys)
    emulator.admin("POST", "/admin/revoke", {"all": True})
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(config, barrier, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    got = {queue.get(timeout=5) for _ in range(4)}
    assert len(got) == 1
    assert emulator.tokens_issued() == 2
    assert emulator.ping(got.pop()) == 200


def test_request_recovers_and_logs(emulator, gost_keys, tmp_path):
    records = []
    suz_auth.set_log_handler(lambda level, message: records.append((level, message)), logging.DEBUG)
    try:
        with suz_auth.Client(profile_config(emulator, tmp_path, *gost_keys)) as client:
            assert client.request("line", "GET", "/api/v2/pharma/ping").status == 200
            emulator.admin("POST", "/admin/revoke", {"omsConnection": CONNECTION})
            response = client.request("line", "GET", "/api/v2/pharma/ping")
            assert response.ok and response.json()["omsId"] == OMS_ID
            old = client.token_get("line")
            assert client.token_invalidate("line", old)
            assert not client.token_invalidate("line", old)
    finally:
        suz_auth.disable_logging()
    messages = " ".join(m for _, m in records)
    assert "fetching a new token" in messages and "401" in messages
    assert emulator.tokens_issued() == 2


@pytest.mark.parametrize(
    "flow, code, identity, inn, jwt",
    [
        ("trueapi_token", "TRUE_API_TOKEN", "trueapi", "7707083893", True),
        ("united_token", "UNITED_TOKEN", "united", "7707083893", False),
        ("gismt_token", "GISMT_TOKEN", "gismt", None, True),
    ],
)
def test_a_token_signed_in_without_an_installation_from_a_profile(
    emulator, gost_keys, tmp_path, flow, code, identity, inn, jwt
):
    """The flows signed in without an installation (True API's own token, the united token,
    GIS MT's own token) through the same profile calls as every other flow."""
    config = profile_config(emulator, tmp_path, *gost_keys)
    line = config["profiles"]["line"]
    config["profiles"]["own"] = {
        "flow": flow,
        "certificate": "python-test-cert",
        "signer": line["signer"],
    }
    if inn:
        config["profiles"]["own"]["inn"] = inn
    with suz_auth.Client(config) as client:
        with client.token_get("own") as token:
            assert token.flow is suz_auth.Flow[code]
            assert (token.value.count(".") == 2) == jwt  # a JWT, or the united token's UUID
            value = token.value
        with client.token_get("own") as again:
            assert again.value == value  # cached
        # The status: the cached token (masked) and the certificate that signed for it.
        (status,) = [p for p in client.status()["profiles"] if p["profile"] == "own"]
        assert status["flow"] == flow and value not in str(status)
        assert len(status["certificate"]["thumbprint"]) == 40
        assert status["certificate"]["days_left"] > 0
    issued = emulator.stats()["tokens_issued"]
    own = {k: n for k, n in issued.items() if k.startswith(identity + ":")}
    assert list(own.values()) == [1], own
    assert all(k.endswith(":" + (inn or "")) for k in own), own


def test_an_mdlp_session_from_a_profile(emulator, gost_keys, tmp_path):
    """An `mdlp_session` profile (MDLP's own session, no installation), signed or with a
    password, through the profile calls; `request` sends it as `Authorization: token`."""
    config = profile_config(emulator, tmp_path, *gost_keys)
    line = config["profiles"]["line"]
    creds = {"client_id": MDLP_CLIENT_ID, "client_secret": MDLP_CLIENT_SECRET}
    config["profiles"]["signed"] = {
        "flow": "mdlp_session", "user_id": "1865725612", "signer": line["signer"], **creds}
    config["profiles"]["password"] = {
        "flow": "mdlp_session", "user_id": "user@example.org", "password": "password123", **creds}
    with suz_auth.Client(config) as client:
        for profile in ("signed", "password"):
            with client.token_get(profile) as token:
                assert token.flow is suz_auth.Flow.MDLP_SESSION
                assert token.expires_at_ms - token.obtained_at_ms == 30 * 60 * 1000
            response = client.request(profile, "GET", "/documents/py-doc")
            assert response.status == 200 and b"py-doc" in response.body
    stats = emulator.stats()
    assert stats["requests"]["mdlp.session"] == 2
    assert stats["tokens_issued"]["mdlp_session:1865725612"] == 1
