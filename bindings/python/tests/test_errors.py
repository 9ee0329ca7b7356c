"""Every error family raised as its exception type, with the server's fields filled in."""

from __future__ import annotations

import socket

import pytest

import suz_auth
from conftest import (
    CONNECTION,
    MDLP_CLIENT_ID,
    OMS_ID,
    REGISTRATION_KEY,
    SM_CLIENT_ID,
    SM_CLIENT_SECRET,
    start_emulator,
)


def test_config_and_argument_errors(emulator, signer):
    with pytest.raises(suz_auth.ConfigError, match="stnd"):
        suz_auth.Client({"stnd": "demo"})
    with suz_auth.Client(emulator.config()) as client:
        with pytest.raises(suz_auth.InvalidArgumentError, match="UUID"):
            client.get_token_gismt("nope", signer)
        with pytest.raises(suz_auth.InvalidArgumentError):
            client.get_token_gismt(CONNECTION)  # no signer anywhere
        with pytest.raises(ValueError, match="NUL"):
            client.get_token_gismt("a\0b", signer)
        with pytest.raises(TypeError):
            client.get_token_gismt(42, signer)  # type: ignore[arg-type]
    with pytest.raises(suz_auth.InvalidUtf8Error):
        suz_auth.Client('{"stand": "\udcff"}')


def test_http_families(emulator, signer):
    with suz_auth.Client(emulator.config(retry={"max_attempts": 1})) as client:
        with pytest.raises(suz_auth.UnauthorizedError) as e:
            client.get_token_smartmarket(SM_CLIENT_ID, "wrong")
        assert e.value.http_status == 401 and e.value.rquid and e.value.server_code
        with pytest.raises(suz_auth.UnauthorizedError) as e:
            client.get_token_mdlp(CONNECTION, MDLP_CLIENT_ID, "wrong", "1865725612", signer=signer)
        assert e.value.server_code and e.value.server_message
        with pytest.raises(suz_auth.ClientHttpError) as e:
            client.get_token_smartmarket(SM_CLIENT_ID, SM_CLIENT_SECRET, "bad scope!")
        assert e.value.server_code == "1"  # Sber's code for a malformed scope
        emulator.fault(endpoint="gismt.key", kind="status", status=429, retry_after=3)
        with pytest.raises(suz_auth.TooManyRequestsError) as e:
            client.get_token_gismt(CONNECTION, signer)
        assert e.value.retry_after == 3.0 and e.value.http_status == 429
        emulator.fault(endpoint="gismt.key", kind="status", status=413)
        with pytest.raises(suz_auth.PayloadTooLargeError):
            client.get_token_gismt(CONNECTION, signer)
        emulator.fault(endpoint="gismt.key", kind="status", status=500, body='{"code":"E1","error_message":"db down"}')
        with pytest.raises(suz_auth.ServerHttpError) as e:
            client.get_token_gismt(CONNECTION, signer)
        assert (e.value.server_code, e.value.server_message) == ("E1", "db down")
        emulator.fault(endpoint="gismt.key", kind="html", status=200)
        with pytest.raises(suz_auth.ProtocolError, match="HTML"):
            client.get_token_gismt(CONNECTION, signer)
        emulator.fault(endpoint="gismt.key", kind="cut")
        with pytest.raises(suz_auth.ConnectError):
            client.get_token_gismt(CONNECTION, signer)
        with pytest.raises(suz_auth.RegistrationRejectedError) as e:
            client.register_connection(OMS_ID, "00000000-0000-4000-8000-000000000009", "x", signer)
        assert e.value.server_message


def test_timeout_and_tls(emulator, signer):
    emulator.fault(endpoint="gismt.key", kind="delay", delay_ms=3000)
    with suz_auth.Client(emulator.config(timeouts={"total_ms": 500}, retry={"max_attempts": 1})) as client:
        with pytest.raises(suz_auth.TimeoutError):
            client.get_token_gismt(CONNECTION, signer)
    tls = start_emulator("--tls")
    try:
        with suz_auth.Client({"stand": "emulator", "emulator_url": tls.url, "tls": {"roots": "webpki"}}) as client:
            with pytest.raises(suz_auth.TlsError):
                client.get_token_smartmarket(SM_CLIENT_ID, SM_CLIENT_SECRET)
    finally:
        tls.process.kill()
        tls.process.wait()


def test_connect_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with suz_auth.Client({"stand": "emulator", "emulator_url": f"http://127.0.0.1:{port}", "retry": {"max_attempts": 1}}) as client:
        with pytest.raises(suz_auth.ConnectError):
            client.get_token_smartmarket(SM_CLIENT_ID, SM_CLIENT_SECRET)


class HostSignerBroke(RuntimeError):
    pass


def test_signer_exception_keeps_its_type_and_traceback(emulator):
    def broken(data: bytes, kind: suz_auth.SignatureKind) -> bytes:
        raise HostSignerBroke("the token's PIN is locked")

    with suz_auth.Client(emulator.config()) as client:
        for _ in range(50):  # no leak, no crash, every time
            with pytest.raises(HostSignerBroke, match="PIN") as e:
                client.get_token_gismt(CONNECTION, broken)
            assert any(frame.name == "broken" for frame in e.traceback)
        with pytest.raises(suz_auth.SignerError):
            client.get_token_gismt(CONNECTION, lambda data, kind: b"not a signature")
        with pytest.raises(TypeError):
            client.get_token_gismt(CONNECTION, lambda data, kind: 42)
    assert emulator.stats()["requests"].get("gismt.token", 0) == 0
