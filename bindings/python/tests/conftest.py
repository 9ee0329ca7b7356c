"""Fixtures: the emulator binary on a free loopback port, a GOST key pair, an OpenSSL signer."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[3]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
EMULATOR_BIN = TARGET / "debug" / "suz-emulator"

OMS_ID = "cdf12109-10d3-11e6-8b6f-0050569977a1"
CONNECTION = "11b1abc9-f4ee-47db-8a20-f80ac83504e8"
REGISTRATION_KEY = "4344d884-7f21-456c-981e-cd68e92391e8"
PHARMA_KEY = "a1f3c2d4-0b5e-4c6f-8d7a-9e0b1c2d3e4f"
MDLP_CLIENT_ID = "7df0d06f-6510-44fe-a378-76cb53e2605f"
MDLP_CLIENT_SECRET = "49781b3a-19d5-4ad7-b1b6-abb57e598d41"
SM_CLIENT_ID = "e5623627-bb8c-412c-94b7-1a6998e8ef3a"
SM_CLIENT_SECRET = "887d15a2-cb4f-4998-9591-5b26d62d3751"


class Emulator:
    def __init__(self, url: str, process: subprocess.Popen) -> None:
        self.url = url
        self.process = process

    def admin(self, method: str, path: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def stats(self) -> dict:
        return self.admin("GET", "/admin/stats")  # type: ignore[return-value]

    def fault(self, **fault: object) -> None:
        self.admin("POST", "/admin/faults", fault)

    def tokens_issued(self, connection: str = CONNECTION) -> int:
        return int(self.stats()["tokens_issued"].get(connection.lower(), 0))

    def wait_for_request(self, endpoint: str, timeout: float = 20.0) -> None:
        """Returns once a request to ``endpoint`` has arrived (a delayed one is still in flight)."""
        deadline = time.monotonic() + timeout
        while not self.stats()["requests"].get(endpoint, 0):
            if time.monotonic() > deadline:
                pytest.fail(f"no {endpoint} request came in {timeout} s")
            time.sleep(0.02)

    def ping(self, token: str) -> int:
        request = urllib.request.Request(f"{self.url}/suz/api/v2/pharma/ping?omsId={OMS_ID}")
        request.add_header("clientToken", token)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code

    def config(self, **extra: object) -> dict:
        config = {"stand": "emulator", "emulator_url": self.url, "timeouts": {"total_ms": 20000}}
        config.update(extra)
        return config


def start_emulator(*args: str) -> Emulator:
    if not EMULATOR_BIN.exists():
        pytest.fail(f"{EMULATOR_BIN} is missing: run `cargo build` first")
    process = subprocess.Popen(
        [str(EMULATOR_BIN), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.match(r"suz-emulator listening on (\S+)", line)
    if not match:
        process.kill()
        pytest.fail(f"the emulator did not start: {line!r}")
    return Emulator(match.group(1), process)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = start_emulator()
    try:
        yield emu
    finally:
        emu.process.kill()
        emu.process.wait()


@pytest.fixture(scope="session")
def gost_keys() -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-engine", "gost", "-newkey", "gost2012_256", "-pkeyopt", "paramset:A",
             "-nodes", "-days", "30", "-set_serial", "1865725612", "-subj", "/CN=python test", "-keyout", key, "-out", cert],
            check=True,
            capture_output=True,
        )
        yield cert, key


def openssl_sign(cert: str, key: str, data: bytes, attached: bool) -> bytes:
    argv = ["openssl", "cms", "-sign", "-engine", "gost", "-binary", "-outform", "DER",
            "-signer", cert, "-inkey", key]
    if attached:
        argv.append("-nodetach")
    return subprocess.run(argv, input=data, capture_output=True, check=True).stdout


@pytest.fixture
def signer(gost_keys):
    """A plain Python signing function over the test GOST key."""
    import suz_auth

    cert, key = gost_keys

    def sign(data: bytes, kind: suz_auth.SignatureKind) -> bytes:
        return openssl_sign(cert, key, data, kind == suz_auth.SignatureKind.ATTACHED)

    return sign
