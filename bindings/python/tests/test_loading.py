"""How the package finds the native library, and what a token shows of itself."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import suz_auth
from conftest import SM_CLIENT_ID, SM_CLIENT_SECRET

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO = PACKAGE_ROOT.parents[1]


def loaded_from(env_library: str | None) -> subprocess.CompletedProcess:
    """Imports the package from this checkout in a fresh interpreter; prints the library path."""
    env = {k: v for k, v in os.environ.items() if k not in ("SUZ_AUTH_LIBRARY", "CARGO_TARGET_DIR")}
    env["PYTHONPATH"] = str(PACKAGE_ROOT)
    if env_library is not None:
        env["SUZ_AUTH_LIBRARY"] = env_library
    return subprocess.run(
        [sys.executable, "-c", "import suz_auth._ffi as f; print(f.lib._name)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_suz_auth_library_comes_first(tmp_path):
    copy = tmp_path / "libsuz_auth.so"
    shutil.copy(os.environ["SUZ_AUTH_LIBRARY"], copy)
    run = loaded_from(str(copy))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(copy)


def test_a_missing_suz_auth_library_is_an_import_error_naming_it(tmp_path):
    missing = tmp_path / "nowhere" / "libsuz_auth.so"
    run = loaded_from(str(missing))
    assert run.returncode != 0
    assert f"ImportError: SUZ_AUTH_LIBRARY points to {missing}, which does not exist" in run.stderr


def test_without_it_a_checkout_uses_its_target_directory():
    run = loaded_from(None)
    assert run.returncode == 0, run.stderr
    path = Path(run.stdout.strip())
    assert path.name == "libsuz_auth.so"
    assert path.parent in (REPO / "target" / "release", REPO / "target" / "debug"), path


def test_a_token_shows_itself_masked_with_its_expiry(emulator):
    before = time.time()
    with suz_auth.Client(emulator.config()) as client:
        with client.get_token_smartmarket(SM_CLIENT_ID, SM_CLIENT_SECRET) as token:
            value = token.value
            masked = token.masked()
            assert masked == f"{value[:4]}…({len(value)} chars)"
            assert value not in repr(token) and masked in repr(token)
            assert token.expires_at.tzinfo is dt.timezone.utc
            assert token.expires_at.timestamp() * 1000 == token.expires_at_ms
            # The emulator's SmartMarket tokens live 30 minutes.
            left = token.expires_at.timestamp() - before
            assert 30 * 60 - 5 < left <= 30 * 60 + 5, left
