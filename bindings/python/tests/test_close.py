"""close() against calls in flight: it waits for them, later calls raise ClosedError, and a
close() from inside a call on the same object raises instead of waiting for itself."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest

import suz_auth
from conftest import CONNECTION, SM_CLIENT_ID, SM_CLIENT_SECRET, openssl_sign

LIMIT = 30.0  # seconds any single step may take before the test fails instead of hanging


class Background:
    """Runs ``fn`` on a daemon thread; :meth:`result` gives its value or raises its exception,
    and fails the test if it has not returned within LIMIT seconds (so a deadlock cannot hang
    the suite)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._outcome: dict = {}
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self._outcome["error"] = exc

    def result(self) -> Any:
        self._thread.join(LIMIT)
        if self._thread.is_alive():
            pytest.fail(f"still running after {LIMIT} s: a deadlock?")
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["value"]


def bounded(fn: Callable[[], Any]) -> Any:
    return Background(fn).result()


def slow_signer(sign, pause: float = 1.0):
    """A signer that sleeps ``pause`` seconds first; ``signing`` is set when it is entered and
    ``signed`` when it returns."""
    signing, signed = threading.Event(), threading.Event()

    def slow(data: bytes, kind: suz_auth.SignatureKind) -> bytes:
        signing.set()
        time.sleep(pause)
        signature = sign(data, kind)
        signed.set()
        return signature

    return slow, signing, signed


def test_close_waits_for_a_call_in_flight(emulator, signer):
    slow, signing, signed = slow_signer(signer)
    # After the signer's 1 s, the token request itself is answered 1 s late: the call is in
    # native code for at least 2 s after the signer is entered.
    emulator.fault(endpoint="gismt.token", kind="delay", delay_ms=1000)
    client = suz_auth.Client(emulator.config())
    call = Background(lambda: client.get_token_gismt(CONNECTION, slow))
    assert signing.wait(LIMIT)
    entered = time.monotonic()
    bounded(client.close)
    waited = time.monotonic() - entered
    assert signed.is_set(), "close() returned while the call was still in its signer"
    assert waited >= 1.9, f"close() returned {waited:.2f} s after the signer was entered, before the call ended"
    assert client.closed
    with call.result() as token:  # the call completed normally
        assert emulator.ping(token.value) == 200


def test_a_call_after_close_raises_closed_error(emulator, signer, gost_keys):
    client = suz_auth.Client(emulator.config())
    token = client.get_token_smartmarket(SM_CLIENT_ID, SM_CLIENT_SECRET)
    pending = client.begin_gismt(CONNECTION)
    signature = openssl_sign(*gost_keys, pending.data, attached=True)
    own_signer = suz_auth.Signer(signer)

    # A call that starts while close() is still waiting for one in flight is refused too.
    slow, signing, _ = slow_signer(signer)
    call = Background(lambda: client.get_token_gismt(CONNECTION, slow))
    assert signing.wait(LIMIT)
    closer = Background(client.close)
    deadline = time.monotonic() + LIMIT
    while not client.closed:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(suz_auth.ClosedError, match="this client is closed"):
        client.get_token_smartmarket(SM_CLIENT_ID, SM_CLIENT_SECRET)
    closer.result()
    call.result().close()

    for later in (
        lambda: client.get_token_gismt(CONNECTION, signer),
        lambda: client.token_get("line"),
        lambda: client.set_signer(signer),
        lambda: client.begin_gismt(CONNECTION),
        lambda: pending.finish_token(signature),  # its client is closed
    ):
        with pytest.raises(suz_auth.ClosedError, match="this client is closed"):
            later()
    assert issubclass(suz_auth.ClosedError, ValueError)  # as Python's own closed files

    pending.close()
    with pytest.raises(suz_auth.ClosedError, match="this pending operation is closed"):
        pending.data
    token.close()
    with pytest.raises(suz_auth.ClosedError, match="this token is closed"):
        token.value
    own_signer.close()
    with suz_auth.Client(emulator.config()) as other:
        with pytest.raises(suz_auth.ClosedError, match="this signer is closed"):
            other.get_token_gismt(CONNECTION, own_signer)
    client.close()  # closing again is harmless
    own_signer.close()


def test_close_inside_a_signer_callback_raises(emulator, signer):
    with suz_auth.Client(emulator.config()) as client:

        def closes_the_client(data: bytes, kind: suz_auth.SignatureKind) -> bytes:
            client.close()
            return signer(data, kind)

        with pytest.raises(RuntimeError, match="inside a call"):
            bounded(lambda: client.get_token_gismt(CONNECTION, closes_the_client))
        assert not client.closed  # the refused close() changed nothing
        with client.get_token_gismt(CONNECTION, signer) as token:
            assert emulator.ping(token.value) == 200

        def closes_its_signer(data: bytes, kind: suz_auth.SignatureKind) -> bytes:
            own.close()
            return signer(data, kind)

        own = suz_auth.Signer(closes_its_signer)
        with pytest.raises(RuntimeError, match="inside a call"):
            bounded(lambda: client.get_token_gismt(CONNECTION, own))
        assert not own.closed
        own.close()


def test_signer_and_pending_close_wait_too(emulator, signer, gost_keys):
    with suz_auth.Client(emulator.config()) as client:
        slow, signing, signed = slow_signer(signer)
        own = suz_auth.Signer(slow)
        call = Background(lambda: client.get_token_gismt(CONNECTION, own))
        assert signing.wait(LIMIT)
        bounded(own.close)
        assert signed.is_set(), "Signer.close() returned while a call was still using it"
        with call.result() as token:
            assert emulator.ping(token.value) == 200

        pending = client.begin_gismt(CONNECTION)
        signature = openssl_sign(*gost_keys, pending.data, attached=True)
        emulator.fault(endpoint="gismt.token", kind="delay", delay_ms=1000)
        started = time.monotonic()
        call = Background(lambda: pending.finish_token(signature))
        emulator.wait_for_request("gismt.token")
        bounded(pending.close)
        # The answer comes at least 1 s after the request, itself sent after `started`.
        waited = time.monotonic() - started
        assert waited >= 1.0, f"Pending.close() returned after {waited:.2f} s, before the call ended"
        with call.result() as token:
            assert emulator.ping(token.value) == 200


def test_token_value_is_the_cached_token_and_close_waits_for_it(emulator, signer):
    profiles = {"line": {"flow": "gismt", "oms_connection": CONNECTION}}
    slow, signing, signed = slow_signer(signer)
    client = suz_auth.Client(emulator.config(profiles=profiles, cache={"persist": False}))
    client.set_signer(slow, "line")
    # The first call fetches (through the slow signer); close() waits for it like any call.
    call = Background(lambda: client.token_value("line"))
    assert signing.wait(LIMIT)
    bounded(client.close)
    assert signed.is_set(), "close() returned while token_value was still in its signer"
    assert emulator.ping(call.result()) == 200
    with pytest.raises(suz_auth.ClosedError, match="this client is closed"):
        client.token_value("line")


def test_token_value_matches_token_get_and_reports_errors_like_it(emulator, signer):
    profiles = {
        "line": {"flow": "gismt", "oms_connection": CONNECTION},
        "push": {"flow": "smartmarket", "client_id": SM_CLIENT_ID, "client_secret": SM_CLIENT_SECRET},
    }
    with suz_auth.Client(emulator.config(profiles=profiles, cache={"persist": False})) as client:
        client.set_signer(signer, "line")
        value = client.token_value("line")
        with client.token_get("line") as token:
            assert token.value == value
        assert client.token_value("line") == value, "the cached token, not a new one"
        assert client.token_value("push") != value
        with pytest.raises(suz_auth.InvalidArgumentError, match="unknown profile"):
            client.token_value("nope")
        with pytest.raises(TypeError):
            client.token_value(b"line")  # type: ignore[arg-type]

        def closes_the_client(data: bytes, kind: suz_auth.SignatureKind) -> bytes:
            client.close()
            return signer(data, kind)

        client.token_invalidate("line", client.token_get("line"))
        client.set_signer(closes_the_client, "line")
        with pytest.raises(RuntimeError, match="inside a call"):
            bounded(lambda: client.token_value("line"))
        assert not client.closed


def test_token_value_never_keeps_a_replaced_token(emulator, signer):
    # Two profiles of one installation; `early` refreshes as soon as it has a 10-hour token, so
    # its first call replaces the token `line` was given (a new SUZ token revokes the old).
    profiles = {
        "line": {"flow": "gismt", "oms_connection": CONNECTION},
        "early": {"flow": "gismt", "oms_connection": CONNECTION, "refresh_margin_ms": 10 * 3600 * 1000},
    }
    with suz_auth.Client(emulator.config(profiles=profiles, cache={"persist": False})) as client:
        client.set_signer(signer)
        first = client.token_value("line")
        assert client.token_value("line") == first
        replaced = client.token_value("early")
        assert replaced != first and emulator.ping(first) == 401
        assert client.token_value("line") == replaced
        # Invalidated through this client: the next value is a new token.
        with client.token_get("line") as token:
            assert client.token_invalidate("line", token)
        again = client.token_value("line")
        assert again != replaced and emulator.ping(again) == 200


def test_a_signer_callable_from_any_thread_refreshes_ahead(emulator, signer):
    # `early` is due for refresh as soon as it has a token. With `any_thread=True` the refresh
    # runs on a thread of the library's: a caller gets the valid token while it signs.
    threads: list = []
    gate = threading.Event()
    gate.set()

    def sign(data: bytes, kind: suz_auth.SignatureKind) -> bytes:
        threads.append(threading.current_thread())
        gate.wait(LIMIT)
        return signer(data, kind)

    profiles = {"early": {"flow": "gismt", "oms_connection": CONNECTION, "refresh_margin_ms": 10 * 3600 * 1000}}
    with suz_auth.Client(emulator.config(profiles=profiles, cache={"persist": False})) as client:
        with suz_auth.Signer(sign, any_thread=True) as native:
            client.set_signer(native)
        first = client.token_value("early")
        assert threads == [threading.main_thread()]
        gate.clear()
        assert Background(lambda: client.token_value("early")).result() == first
        deadline = time.monotonic() + LIMIT
        while len(threads) < 2:
            assert time.monotonic() < deadline, "no refresh began"
            time.sleep(0.005)
        assert threads[1] is not threading.main_thread()
        assert client.token_value("early") == first, "the valid token while the refresh signs"
        gate.set()
        while client.token_value("early") == first:
            assert time.monotonic() < deadline, "the refresh never landed"
            time.sleep(0.01)
        assert emulator.ping(client.token_value("early")) == 200
