"""Every flow with real GOST signatures, two-phase, and object lifetimes."""

from __future__ import annotations

import base64
import gc

import pytest

import suz_auth
from conftest import (
    CONNECTION,
    MDLP_CLIENT_ID,
    MDLP_CLIENT_SECRET,
    OMS_ID,
    PHARMA_KEY,
    REGISTRATION_KEY,
    SM_CLIENT_ID,
    SM_CLIENT_SECRET,
    openssl_sign,
)


def test_every_flow(emulator, signer):
    with suz_auth.Client(emulator.config()) as client:
        connection = client.register_connection(OMS_ID, REGISTRATION_KEY, "Цех 1", signer)
        assert len(connection) == 36
        assert len(client.register_connection(OMS_ID, PHARMA_KEY, "Склад", pharma=True)) == 36

        with client.get_token_mdlp(connection, MDLP_CLIENT_ID, MDLP_CLIENT_SECRET, "1865725612", signer=signer) as t:
            assert t.flow is suz_auth.Flow.MDLP
            assert t.expires_at_ms - t.obtained_at_ms == 30 * 60 * 1000
            assert emulator.ping(t.value) == 200
        with client.get_token_mdlp(
            connection, MDLP_CLIENT_ID, MDLP_CLIENT_SECRET, "user@example.org", password="password123"
        ) as t:
            assert emulator.ping(t.value) == 200
        with client.get_token_gismt(connection, signer) as t:
            assert t.flow is suz_auth.Flow.GISMT
            assert t.expires_at_ms - t.obtained_at_ms == 10 * 3600 * 1000
            assert t.value not in repr(t)
        with client.get_token_trueapi(connection, "7707083893", signer) as t:
            assert t.flow is suz_auth.Flow.TRUE_API
            assert emulator.ping(t.value) == 200
        with client.get_token_smartmarket(SM_CLIENT_ID, SM_CLIENT_SECRET) as t:
            assert t.flow is suz_auth.Flow.SMART_MARKET
            answer = client.smartpush_request(t, {"requestPayload": {"text": "привет"}})
            assert answer["payload"]["echo"]["text"] == "привет"
    assert emulator.stats()["gost_signatures_verified"] >= 4


def test_two_phase_like_1c(emulator, gost_keys):
    cert, key = gost_keys
    with suz_auth.Client(emulator.config()) as client:
        with client.begin_gismt(CONNECTION) as pending:
            assert pending.kind is suz_auth.SignatureKind.ATTACHED
            der = openssl_sign(cert, key, pending.data, attached=True)
            # 1C hands back base64 with line breaks.
            text = base64.encodebytes(der).decode().replace("\n", "\r\n")
            with pending.finish_token(text) as token:
                assert emulator.ping(token.value) == 200
            # Finished once: a second finish is refused before anything is sent.
            with pytest.raises(suz_auth.InvalidArgumentError, match="already finished"):
                pending.finish_token(der)
        with client.begin_registration(OMS_ID, REGISTRATION_KEY, "Цех 2") as pending:
            assert pending.kind is suz_auth.SignatureKind.DETACHED
            der = openssl_sign(cert, key, pending.data, attached=False)
            assert len(pending.finish_registration(der)) == 36
        with client.begin_mdlp(CONNECTION, MDLP_CLIENT_ID, MDLP_CLIENT_SECRET, "1865725612") as pending:
            with pending.finish_token(openssl_sign(cert, key, pending.data, attached=False)) as token:
                assert token.flow is suz_auth.Flow.MDLP


def test_command_signer(emulator, gost_keys):
    cert, key = gost_keys
    base = ["openssl", "cms", "-sign", "-engine", "gost", "-binary", "-outform", "PEM", "-signer", cert, "-inkey", key]
    with suz_auth.Signer.command(base + ["-nodetach"], base) as command, suz_auth.Client(emulator.config()) as client:
        with client.get_token_gismt(CONNECTION, command) as token:
            assert emulator.ping(token.value) == 200


def test_close_twice_and_use_after_close(emulator, signer):
    client = suz_auth.Client(emulator.config())
    token = client.get_token_gismt(CONNECTION, signer)
    token.close()
    token.close()
    with pytest.raises(ValueError, match="closed"):
        token.value
    client.close()
    client.close()
    with pytest.raises(ValueError, match="closed"):
        client.get_token_gismt(CONNECTION, signer)


def test_gc_while_native_code_holds_the_callback(emulator, gost_keys):
    cert, key = gost_keys
    calls = []

    def make_signer():
        def sign(data: bytes, kind: suz_auth.SignatureKind) -> bytes:
            calls.append(kind)
            gc.collect()  # forced while native code is inside the call
            return openssl_sign(cert, key, data, kind == suz_auth.SignatureKind.ATTACHED)

        return sign

    with suz_auth.Client(emulator.config()) as client:
        # The only reference to the function is the one given to the native client.
        client.set_signer(make_signer())
        profile_config = emulator.config(
            profiles={"line": {"flow": "gismt", "oms_connection": CONNECTION}},
            cache={"persist": False},
        )
        with suz_auth.Client(profile_config) as profiled:
            profiled.set_signer(make_signer())
            gc.collect()
            with profiled.token_get("line") as token:
                assert emulator.ping(token.value) == 200
    assert calls == [suz_auth.SignatureKind.ATTACHED]


FINISH_ELSEWHERE = """
import sys, suz_auth, json
from conftest import openssl_sign
config, state, cert, key = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
with suz_auth.Client(config) as client:
    with suz_auth.Pending.load(client, state) as pending:
        # 1C signs detached; the library embeds the challenge.
        signature = openssl_sign(cert, key, pending.data, attached=False)
        with pending.finish_token(signature) as token:
            print("TOKEN=" + token.value)
"""


def test_begin_here_finish_in_another_process(emulator, gost_keys, tmp_path):
    """1C client-server: the server begins, the user's computer signs, another server process
    finishes. The state travels as a string."""
    import json
    import os
    import subprocess
    import sys

    cert, key = gost_keys
    config = emulator.config(cache={"dir": str(tmp_path / "cache")})
    with suz_auth.Client(config) as client:
        with client.begin_trueapi(CONNECTION, "7707083893") as pending:
            state = pending.export()
    assert state.startswith("suz-pending.2.") and state.isprintable() and " " not in state
    assert MDLP_CLIENT_SECRET not in state
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    here = os.path.dirname(__file__)
    child = subprocess.run(
        [sys.executable, "-c", FINISH_ELSEWHERE, json.dumps(config), state, cert, key],
        capture_output=True, text=True, cwd=here, env=env, timeout=60,
    )
    assert child.returncode == 0, child.stderr
    token = child.stdout.split("TOKEN=", 1)[1].split()[0]
    assert emulator.ping(token) == 200
    # The same state again, here: refused, nothing sent.
    with suz_auth.Client(config) as client:
        with suz_auth.Pending.load(client, state) as again:
            with pytest.raises(suz_auth.InvalidArgumentError, match="already finished"):
                again.finish_token(openssl_sign(cert, key, again.data, attached=False))
        with pytest.raises(suz_auth.InvalidArgumentError, match="altered"):
            suz_auth.Pending.load(client, state[:20] + ("A" if state[20] != "A" else "B") + state[21:])
    assert emulator.stats()["requests"]["trueapi.token"] == 1


def test_acquire_in_one_process_complete_in_another(emulator, gost_keys, tmp_path):
    """examples/sign_elsewhere.py: acquire in one process, sign detached (as 1C does), complete
    in another; meanwhile another caller waits instead of fetching; one token is issued."""
    import json
    import os
    import subprocess
    import sys

    cert, key = gost_keys
    config = emulator.config(
        cache={"dir": str(tmp_path / "cache"), "lock_timeout_ms": 300},
        profiles={"line": {"flow": "gismt", "oms_connection": CONNECTION}},
    )
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    example = os.path.join(os.path.dirname(__file__), "..", "examples", "sign_elsewhere.py")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))

    def step(*args: str) -> str:
        run = subprocess.run(
            [sys.executable, example, str(config_path), "line", *args],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    acquired = step("acquire")
    assert acquired.startswith("PENDING suz-pending.2."), acquired
    (tmp_path / "state.txt").write_text(acquired)
    with suz_auth.Client(config) as client:
        with pytest.raises(suz_auth.InProgressError, match="another caller is fetching"):
            client.acquire("line")
    signature = openssl_sign(cert, key, (tmp_path / "data.bin").read_bytes(), attached=False)
    (tmp_path / "signature.der").write_bytes(signature)
    assert step("complete", "state.txt", "signature.der").startswith("TOKEN ")
    with suz_auth.Client(config) as client:
        got = client.acquire("line")
        assert isinstance(got, suz_auth.Token)
        with got:
            assert emulator.ping(got.value) == 200
    assert emulator.stats()["tokens_issued_total"] == 1
    assert emulator.stats()["requests"]["gismt.key"] == 1


def test_a_released_lease_is_taken_at_once(emulator, gost_keys):
    cert, key = gost_keys
    config = emulator.config(
        cache={"persist": False, "lock_timeout_ms": 200},
        profiles={"line": {"flow": "trueapi", "oms_connection": CONNECTION}},
    )
    with suz_auth.Client(config) as client:
        first = client.acquire("line")
        assert isinstance(first, suz_auth.Pending) and first.kind == suz_auth.SignatureKind.ATTACHED
        with pytest.raises(suz_auth.InProgressError):
            client.acquire("line")
        client.release(first)
        first.close()
        with client.acquire("line") as second:
            token = client.complete(second, openssl_sign(cert, key, second.data, attached=True))
        with token:
            assert emulator.ping(token.value) == 200
        with pytest.raises(suz_auth.InvalidArgumentError, match="suz_token_acquire"):
            with client.begin_gismt(CONNECTION) as plain:
                client.complete(plain, b"x")


def test_every_flow_under_a_1_ms_timer(emulator, signer):
    """A host whose main thread takes a SIGALRM every millisecond (signal.setitimer) still gets
    every token, one per call: the library retries each wait a signal interrupts."""
    import signal

    # Each service answers once 200 ms late: waits long enough for hundreds of signals.
    for endpoint in ("gismt.token", "trueapi.token", "mdlp.token", "smartmarket.oauth"):
        emulator.fault(endpoint=endpoint, kind="delay", delay_ms=200, times=1)
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    try:
        with suz_auth.Client(emulator.config(cache={"persist": False})) as client:
            for _ in range(3):
                with client.get_token_gismt(CONNECTION, signer) as t:
                    assert t.flow is suz_auth.Flow.GISMT
                with client.get_token_trueapi(CONNECTION, None, signer) as t:
                    assert t.flow is suz_auth.Flow.TRUE_API
                with client.get_token_mdlp(
                    CONNECTION, MDLP_CLIENT_ID, MDLP_CLIENT_SECRET, "1865725612", signer=signer
                ) as t:
                    assert t.flow is suz_auth.Flow.MDLP
                with client.get_token_smartmarket(SM_CLIENT_ID, SM_CLIENT_SECRET) as t:
                    assert t.flow is suz_auth.Flow.SMART_MARKET
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, previous)
    stats = emulator.stats()
    assert stats["tokens_issued"][CONNECTION.lower()] == 9
    assert stats["smartmarket_tokens_issued"] == 3
    # (Python runs its handler only between bytecodes, so it counts far fewer signals than the
    # library's waits took: one per return to the interpreter at most.)
    assert fired
