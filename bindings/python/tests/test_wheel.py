"""The platform wheel, installed into a fresh virtual environment, obtains a token with no
other setup."""

from __future__ import annotations

import os
import sys
import sysconfig
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

import suz_auth
from conftest import CONNECTION, SM_CLIENT_ID, SM_CLIENT_SECRET, TARGET

HERE = Path(__file__).resolve().parents[1]


def test_wheel_in_a_fresh_venv(emulator, gost_keys, tmp_path):
    dist = tmp_path / "dist"
    built = subprocess.run(
        [str(HERE / "build_wheel.sh"), str(TARGET / "debug" / "libsuz_auth.so"), str(dist)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert built.returncode == 0, built.stderr
    wheel = next(dist.glob("suz_auth-*.whl"))
    # The README's name: version, any Python 3, no ABI, this platform (never "any").
    platform_tag = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    assert wheel.name == f"suz_auth-{suz_auth.__version__}-py3-none-{platform_tag}.whl", wheel.name
    _install_and_use(wheel, emulator, gost_keys, tmp_path)


def test_manylinux_wheel_from_dist_in_a_fresh_venv(emulator, gost_keys, tmp_path):
    """The wheel scripts/dist.sh ships (library linked against glibc 2.17), installed the way a
    user installs it."""
    dist = os.environ.get("SUZ_AUTH_DIST_DIR")
    if not dist:
        if os.environ.get("SUZ_AUTH_REQUIRE_ALL") == "1":
            pytest.fail("SUZ_AUTH_DIST_DIR is not set: run scripts/dist.sh and point it at its output")
        pytest.skip("SUZ_AUTH_DIST_DIR is not set (scripts/dist.sh writes the wheels)")
    wheel = Path(dist) / f"suz_auth-{suz_auth.__version__}-py3-none-manylinux2014_x86_64.whl"
    assert wheel.is_file(), f"{wheel} is missing"
    _install_and_use(wheel, emulator, gost_keys, tmp_path)


def _install_and_use(wheel, emulator, gost_keys, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-index", "--quiet", str(wheel)], check=True)

    cert, key = gost_keys
    script = textwrap.dedent(
        f"""
        import subprocess, suz_auth
        def sign(data, kind):
            argv = ["openssl", "cms", "-sign", "-engine", "gost", "-binary", "-outform", "DER",
                    "-signer", {cert!r}, "-inkey", {key!r}]
            if kind == suz_auth.SignatureKind.ATTACHED:
                argv.append("-nodetach")
            return subprocess.run(argv, input=data, capture_output=True, check=True).stdout
        with suz_auth.Client({{"stand": "emulator", "emulator_url": {emulator.url!r}}}) as c:
            print(c.get_token_gismt({CONNECTION!r}, sign).value)
            print(c.get_token_smartmarket({SM_CLIENT_ID!r}, {SM_CLIENT_SECRET!r}).flow.name)
            print(suz_auth._ffi.lib._name)
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("SUZ_AUTH_LIBRARY", "PYTHONPATH")}
    run = subprocess.run([str(python), "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    token, flow, loaded = run.stdout.split()
    assert emulator.ping(token) == 200
    assert flow == "SMART_MARKET"
    assert str(env_dir) in loaded, f"the library came from {loaded}, not the wheel"
