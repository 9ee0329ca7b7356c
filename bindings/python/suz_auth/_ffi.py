"""Loading the native library and declaring every function it exports.

The library is found by absolute path, in this order:

1. the ``SUZ_AUTH_LIBRARY`` environment variable (a path to the library file);
2. a copy inside this package (what the platform wheel ships);
3. the repository's build output (``target/release``, then ``target/debug``), for a checkout.

A missing library, or one whose version differs from this package's, raises ``ImportError``
that says where it looked.
"""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    c_bool,
    c_char_p,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint16,
    c_uint32,
    c_void_p,
)
from pathlib import Path

__version__ = "0.1.0"

if sys.platform == "win32":
    _LIB_NAME = "suz_auth.dll"
elif sys.platform == "darwin":
    _LIB_NAME = "libsuz_auth.dylib"
else:
    _LIB_NAME = "libsuz_auth.so"


def _candidates() -> list[Path]:
    found: list[Path] = []
    override = os.environ.get("SUZ_AUTH_LIBRARY")
    if override:
        found.append(Path(override).expanduser().resolve())
    here = Path(__file__).resolve().parent
    found.append(here / _LIB_NAME)
    for parent in here.parents:
        if (parent / "Cargo.toml").is_file() and (parent / "include" / "suz_auth.h").is_file():
            target = Path(os.environ.get("CARGO_TARGET_DIR", parent / "target"))
            found.append(target / "release" / _LIB_NAME)
            found.append(target / "debug" / _LIB_NAME)
            break
    return found


def _load() -> ctypes.CDLL:
    tried = _candidates()
    override = os.environ.get("SUZ_AUTH_LIBRARY")
    for path in tried:
        if not path.is_file():
            if override and path == tried[0]:
                raise ImportError(f"SUZ_AUTH_LIBRARY points to {path}, which does not exist")
            continue
        lib = ctypes.CDLL(str(path))
        lib.suz_version.restype = c_char_p
        lib.suz_version.argtypes = []
        version = lib.suz_version().decode()
        if version != __version__:
            raise ImportError(
                f"{path} is suz-auth {version}, but this Python package is {__version__}; "
                "rebuild the library or reinstall the package"
            )
        return lib
    where = "\n  ".join(str(p) for p in tried)
    raise ImportError(
        f"the suz-auth native library ({_LIB_NAME}) was not found; looked in:\n  {where}\n"
        "set SUZ_AUTH_LIBRARY to its absolute path, install the platform wheel, "
        "or run `cargo build` in the repository"
    )


lib = _load()

# Opaque handles are plain void pointers on this side.
Handle = c_void_p

SIGN_CALLBACK = CFUNCTYPE(c_int32, c_void_p, POINTER(c_uint8), c_size_t, c_uint32, c_void_p)
USERDATA_FREE = CFUNCTYPE(None, c_void_p)
LOG_CALLBACK = CFUNCTYPE(None, c_void_p, c_uint32, c_char_p)


def _declare(name: str, restype, *argtypes) -> None:
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)


R = c_uint32  # SuzResult
_declare("suz_string_free", None, c_void_p)
_declare("suz_result_name", c_char_p, c_uint32)
_declare("suz_last_error_code", R)
_declare("suz_last_error_message", c_char_p)
_declare("suz_last_http_status", c_uint16)
_declare("suz_last_server_code", c_char_p)
_declare("suz_last_server_message", c_char_p)
_declare("suz_last_retry_after_ms", c_int64)
_declare("suz_last_rquid", c_char_p)
_declare("suz_client_new", R, c_char_p, POINTER(Handle))
_declare("suz_client_free", None, Handle)
_declare("suz_signer_new_callback", R, SIGN_CALLBACK, c_void_p, USERDATA_FREE, POINTER(Handle))
_declare("suz_signer_new_callback_any_thread", R, SIGN_CALLBACK, c_void_p, USERDATA_FREE, POINTER(Handle))
_declare("suz_signer_new_command", R, c_char_p, POINTER(Handle))
_declare("suz_signer_free", None, Handle)
_declare("suz_signature_sink_write", R, c_void_p, POINTER(c_uint8), c_size_t)
_declare("suz_signature_sink_fail", R, c_void_p, c_char_p)
_declare(
    "suz_register_connection", R, Handle, c_char_p, c_char_p, c_char_p, c_bool, Handle, POINTER(c_void_p)
)
_declare(
    "suz_get_token_mdlp",
    R,
    Handle,
    c_char_p,
    c_char_p,
    c_char_p,
    c_char_p,
    c_char_p,
    Handle,
    POINTER(Handle),
)
_declare("suz_get_token_gismt", R, Handle, c_char_p, Handle, POINTER(Handle))
_declare("suz_get_token_trueapi", R, Handle, c_char_p, c_char_p, Handle, POINTER(Handle))
_declare("suz_get_token_smartmarket", R, Handle, c_char_p, c_char_p, c_char_p, POINTER(Handle))
_declare("suz_smartpush_request", R, Handle, c_char_p, c_char_p, POINTER(c_void_p))
_declare("suz_register_begin", R, Handle, c_char_p, c_char_p, c_char_p, POINTER(Handle))
_declare("suz_mdlp_begin", R, Handle, c_char_p, c_char_p, c_char_p, c_char_p, POINTER(Handle))
_declare("suz_gismt_begin", R, Handle, c_char_p, POINTER(Handle))
_declare("suz_trueapi_begin", R, Handle, c_char_p, c_char_p, POINTER(Handle))
_declare("suz_pending_data", R, Handle, POINTER(POINTER(c_uint8)), POINTER(c_size_t))
_declare("suz_pending_kind", c_uint32, Handle)
_declare("suz_pending_finish_token", R, Handle, Handle, POINTER(c_uint8), c_size_t, POINTER(Handle))
_declare(
    "suz_pending_finish_registration", R, Handle, Handle, POINTER(c_uint8), c_size_t, POINTER(c_void_p)
)
_declare("suz_pending_export", R, Handle, POINTER(c_void_p))
_declare("suz_pending_import", R, Handle, c_char_p, POINTER(Handle))
_declare("suz_pending_free", None, Handle)
_declare("suz_token_value", c_char_p, Handle)
_declare("suz_token_flow", c_uint32, Handle)
_declare("suz_token_obtained_at_ms", c_int64, Handle)
_declare("suz_token_expires_at_ms", c_int64, Handle)
_declare("suz_token_free", None, Handle)
_declare("suz_set_log_callback", R, LOG_CALLBACK, c_void_p, c_uint32)
_declare("suz_client_set_signer", R, Handle, c_char_p, Handle)
_declare("suz_token_get", R, Handle, c_char_p, POINTER(Handle))
_declare(
    "suz_token_get_value",
    R,
    Handle,
    c_char_p,
    POINTER(ctypes.c_char),
    c_size_t,
    POINTER(c_size_t),
    POINTER(c_int64),
    POINTER(c_int64),
)
TOKEN_VALUE_MAX = 8193  # SUZ_TOKEN_VALUE_MAX: the longest token with its NUL
_declare("suz_token_invalidate", R, Handle, c_char_p, Handle, POINTER(c_bool))
_declare("suz_client_status", R, Handle, POINTER(c_void_p))
_declare("suz_token_acquire", R, Handle, c_char_p, POINTER(Handle), POINTER(Handle))
_declare("suz_token_complete", R, Handle, Handle, POINTER(c_uint8), c_size_t, POINTER(Handle))
_declare("suz_token_release", R, Handle, Handle)
_declare("suz_request", R, Handle, c_char_p, c_char_p, c_char_p, c_char_p, POINTER(Handle))
_declare("suz_response_status", c_uint16, Handle)
_declare("suz_response_body", R, Handle, POINTER(POINTER(c_uint8)), POINTER(c_size_t))
_declare("suz_response_header_count", c_size_t, Handle)
_declare("suz_response_header", c_char_p, Handle, c_char_p)
_declare("suz_response_header_at", R, Handle, c_size_t, POINTER(c_char_p), POINTER(c_char_p))
_declare("suz_response_free", None, Handle)


def take_string(ptr: c_void_p) -> str:
    """Copies a library-owned string and frees it."""
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        lib.suz_string_free(ptr)


def encode(value: str | None, name: str) -> bytes | None:
    """A Python string as UTF-8 for the library; None stays NULL."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"{name} must not contain NUL characters")
    return value.encode("utf-8", "surrogatepass")
