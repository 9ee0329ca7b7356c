"""The Python face of the library: clients, tokens, signers, two-phase operations."""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import enum
import itertools
import json
import logging
import threading
import time
from ctypes import POINTER, c_bool, c_char_p, c_size_t, c_uint8, c_void_p
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence, Tuple, Union

from ._errors import ClosedError, SuzError, last_error
from ._ffi import LOG_CALLBACK, SIGN_CALLBACK, TOKEN_VALUE_MAX, USERDATA_FREE, encode, lib, take_string


class SignatureKind(enum.IntEnum):
    """Which CMS structure a signer must produce."""

    ATTACHED = 1
    """The CMS contains the signed bytes (GIS MT and True API challenges)."""
    DETACHED = 2
    """The CMS carries no content (registration body, MDLP code)."""


class Flow(enum.IntEnum):
    """The flow that minted a token."""

    MDLP = 1
    GISMT = 2
    TRUE_API = 3
    SMART_MARKET = 4
    TRUE_API_TOKEN = 5
    UNITED_TOKEN = 6
    GISMT_TOKEN = 7
    MDLP_SESSION = 8


SignFunction = Callable[[bytes, SignatureKind], Union[bytes, str]]
"""A signer: takes the exact bytes and the kind, returns the signature as DER bytes or base64
text (line breaks allowed)."""


# --- callbacks -------------------------------------------------------------------------------
#
# One module-level trampoline per callback type, never garbage-collected. Python callables live
# in a registry keyed by the integer passed as userdata; the native side frees the entry (via
# USERDATA_FREE) when it drops its last reference to the signer, so a callable stays alive for
# as long as native code can call it, whatever the Python side does.

_registry: Dict[int, SignFunction] = {}
_buffers = threading.local()  # each thread's buffer for Client.token_value
_time = time.time
_registry_lock = threading.Lock()
_ids = itertools.count(1)
_pending = threading.local()  # the exception a callback raised on this thread


def _register(fn: SignFunction) -> int:
    with _registry_lock:
        key = next(_ids)
        _registry[key] = fn
        return key


@USERDATA_FREE
def _release(userdata: Optional[int]) -> None:
    with _registry_lock:
        _registry.pop(userdata or 0, None)


@SIGN_CALLBACK
def _sign_trampoline(userdata, data, length, kind, sink) -> int:
    try:
        with _registry_lock:
            fn = _registry[userdata or 0]
        payload = ctypes.string_at(data, length) if length else b""
        result = fn(payload, SignatureKind(kind))
        if isinstance(result, str):
            result = result.encode("ascii")
        if not isinstance(result, (bytes, bytearray, memoryview)):
            raise TypeError(f"a signer must return bytes or str, not {type(result).__name__}")
        raw = bytes(result)
        buffer = (c_uint8 * len(raw)).from_buffer_copy(raw) if raw else None
        if lib.suz_signature_sink_write(sink, buffer, len(raw)) != 0:
            lib.suz_signature_sink_fail(sink, b"the signature was rejected by the sink")
            return 1
        return 0
    except BaseException as exc:  # noqa: BLE001 - carried across the C call and re-raised
        _pending.exception = exc
        try:
            lib.suz_signature_sink_fail(sink, f"{type(exc).__name__}: {exc}".encode("utf-8", "replace"))
        except BaseException:  # noqa: BLE001
            pass
        return 1


def _check(code: int) -> None:
    """Raises for a non-zero result; an exception from a Python signer wins, unchanged."""
    exc = getattr(_pending, "exception", None)
    _pending.exception = None
    if code == 0:
        return
    if exc is not None:
        raise exc
    raise last_error(code)


_log_handler: Optional[Callable[[int, str], None]] = None
_LOG_LEVELS = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG}


@LOG_CALLBACK
def _log_trampoline(_userdata, level, message) -> None:
    handler = _log_handler
    if handler is None:
        return
    try:
        handler(_LOG_LEVELS.get(level, logging.DEBUG), (message or b"").decode("utf-8", "replace"))
    except BaseException:  # noqa: BLE001 - a logging failure must not break a token fetch
        pass


def set_log_handler(handler: Optional[Callable[[int, str], None]] = None, level: int = logging.INFO) -> None:
    """Receives the library's log: ``handler(logging_level, message)``; messages never hold
    secrets. With no handler, messages go to the ``suz_auth`` logger. ``level`` is a
    :mod:`logging` level. Process-wide."""
    global _log_handler
    if handler is None:
        logger = logging.getLogger("suz_auth")
        handler = logger.log
    _log_handler = handler
    native = 4 if level <= logging.DEBUG else 3 if level <= logging.INFO else 2 if level <= logging.WARNING else 1
    _check(lib.suz_set_log_callback(_log_trampoline, None, native))


def disable_logging() -> None:
    """Stops the library's log."""
    global _log_handler
    _log_handler = None
    _check(lib.suz_set_log_callback(LOG_CALLBACK(), None, 1))


# --- native objects --------------------------------------------------------------------------


class _Native:
    """An owned native handle, freed once by close().

    Every native call that uses the handle runs inside ``with self._use() as ptr:``, which
    counts it as in flight (per thread). close() refuses new calls at once (ClosedError), waits
    for the calls in flight to return, then frees the handle: never under a call. A close() from
    a thread that is itself inside a call on the handle (a signer callback) would wait for
    itself forever, so it raises RuntimeError instead.
    """

    _free: Callable[[c_void_p], None]
    _what = "object"

    def __init__(self, handle: c_void_p) -> None:
        self._handle: Optional[c_void_p] = handle
        self._calls = threading.Condition()
        self._in_flight: Dict[int, int] = {}  # thread ident -> calls of that thread
        # The fast path's calls in flight, by thread ident: list.append and list.remove are
        # atomic, so a call costs no lock; close() waits for the list to empty.
        self._fast: list = []

    @contextlib.contextmanager
    def _use(self) -> Iterator[c_void_p]:
        """The handle, held for one native call: close() waits until the block ends."""
        me = threading.get_ident()
        with self._calls:
            handle = self._handle
            if handle is None:
                raise ClosedError(f"this {self._what} is closed")
            self._in_flight[me] = self._in_flight.get(me, 0) + 1
        try:
            yield handle
        finally:
            with self._calls:
                self._in_flight[me] -= 1
                if not self._in_flight[me]:
                    del self._in_flight[me]
                if not self._in_flight:
                    self._calls.notify_all()

    @property
    def closed(self) -> bool:
        """True from the moment close() begins."""
        return self._handle is None

    def close(self) -> None:
        """Frees the native object once the calls using it have returned; calls that start
        after close() began raise :class:`~suz_auth.ClosedError`. Closing twice is harmless.

        Blocks until every call in flight that uses this object (on any thread) has returned:
        up to the configuration's ``timeouts.total_ms`` (``cache.lock_timeout_ms`` for a
        ``token_get`` waiting for another process), plus however long a Python signer takes.
        Raises RuntimeError, and changes nothing, when called from inside such a call on the
        same thread (from a signer callback), which could otherwise never return.
        """
        me = threading.get_ident()
        with self._calls:
            if me in self._in_flight or me in self._fast:
                raise RuntimeError(
                    f"close() called from inside a call on this {self._what} (a signer callback?): "
                    "it would wait for itself; close it after the call returns"
                )
            # From here on no call starts: the fast path reads the handle after it registers.
            handle, self._handle = self._handle, None
            while self._in_flight:
                self._calls.wait()
            pause = 0.0001
            while self._fast:
                self._calls.wait(pause)
                pause = min(pause * 2, 0.01)
            if handle is not None:
                type(self)._free(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class Token(_Native):
    """A token: value, flow, when it was obtained and when it expires. The value is a secret:
    ``repr`` shows it masked."""

    _free = staticmethod(lib.suz_token_free)
    _what = "token"

    @property
    def value(self) -> str:
        with self._use() as token:
            return lib.suz_token_value(token).decode("utf-8")

    @property
    def flow(self) -> Flow:
        with self._use() as token:
            return Flow(lib.suz_token_flow(token))

    @property
    def obtained_at_ms(self) -> int:
        with self._use() as token:
            return lib.suz_token_obtained_at_ms(token)

    @property
    def expires_at_ms(self) -> int:
        with self._use() as token:
            return lib.suz_token_expires_at_ms(token)

    @property
    def obtained_at(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.obtained_at_ms / 1000, _dt.timezone.utc)

    @property
    def expires_at(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.expires_at_ms / 1000, _dt.timezone.utc)

    def masked(self) -> str:
        value = self.value
        return f"{value[:4] if len(value) >= 16 else ''}…({len(value)} chars)"

    def __repr__(self) -> str:
        if self.closed:
            return "<Token closed>"
        return f"<Token {self.flow.name} {self.masked()} expires {self.expires_at.isoformat()}>"


class Signer(_Native):
    """A native signer: from a Python callable, or an external command.

    A callable receives ``(data: bytes, kind: SignatureKind)`` and returns the signature (DER
    bytes, or base64 text with or without line breaks). An exception it raises comes out of the
    call that needed the signature, with its type and traceback.

    With ``any_thread=True`` the callable may also run on a thread of the library's, which then
    refreshes a token ahead of its expiry while every caller gets the valid one; an exception
    raised there is logged and the valid token kept.
    """

    _free = staticmethod(lib.suz_signer_free)
    _what = "signer"

    def __init__(self, function: SignFunction, any_thread: bool = False) -> None:
        if not callable(function):
            raise TypeError("a signer must be callable")
        key = _register(function)
        out = c_void_p()
        make = lib.suz_signer_new_callback_any_thread if any_thread else lib.suz_signer_new_callback
        code = make(_sign_trampoline, c_void_p(key), _release, ctypes.byref(out))
        if code != 0:
            with _registry_lock:
                _registry.pop(key, None)
            _check(code)
        super().__init__(out)

    @classmethod
    def command(cls, attached: Sequence[str], detached: Sequence[str], timeout_ms: int = 60000) -> "Signer":
        """Runs an external command per signature: data on stdin (or an ``{in}`` argument's
        file), signature on stdout (or ``{out}``)."""
        spec = json.dumps({"attached": list(attached), "detached": list(detached), "timeout_ms": timeout_ms})
        out = c_void_p()
        _check(lib.suz_signer_new_command(spec.encode(), ctypes.byref(out)))
        signer = cls.__new__(cls)
        _Native.__init__(signer, out)
        return signer


SignerLike = Union[Signer, SignFunction, None]


def _signer_handle(signer: SignerLike, call: contextlib.ExitStack) -> Optional[c_void_p]:
    """A native handle for a Signer, held until ``call`` ends; a callable is wrapped in a Signer
    closed when ``call`` ends (a client given it with set_signer keeps its own reference)."""
    if signer is None:
        return None
    if not isinstance(signer, Signer):
        signer = call.enter_context(Signer(signer))
    return call.enter_context(signer._use())


def _bytes_arg(data: Union[bytes, str]):
    raw = data.encode("ascii") if isinstance(data, str) else bytes(data)
    return ((c_uint8 * len(raw)).from_buffer_copy(raw) if raw else None), len(raw)


class Pending(_Native):
    """A signed flow between its two phases (the way 1C works): sign :attr:`data` with
    :attr:`kind`, then call :meth:`finish_token` (or :meth:`finish_registration`)."""

    _free = staticmethod(lib.suz_pending_free)
    _what = "pending operation"

    def __init__(self, handle: c_void_p, client: "Client") -> None:
        super().__init__(handle)
        self._client = client

    @property
    def data(self) -> bytes:
        """The exact bytes to sign."""
        ptr = POINTER(c_uint8)()
        length = c_size_t()
        with self._use() as pending:
            _check(lib.suz_pending_data(pending, ctypes.byref(ptr), ctypes.byref(length)))
            return ctypes.string_at(ptr, length.value) if length.value else b""

    @property
    def kind(self) -> SignatureKind:
        with self._use() as pending:
            return SignatureKind(lib.suz_pending_kind(pending))

    def export(self) -> str:
        """The operation as a printable string, to finish it in another process or on another
        machine with :meth:`Pending.load` (within 10 minutes). It holds no client secret or
        password. From now on the operation, and any copy, is finished once in all."""
        out = c_void_p()
        with self._use() as pending:
            _check(lib.suz_pending_export(pending, ctypes.byref(out)))
        return take_string(out)

    @classmethod
    def load(cls, client: "Client", exported: str) -> "Pending":
        """Restores an operation exported with :meth:`export`, for ``client`` (same
        configuration). A damaged, altered, foreign or expired string raises
        :class:`InvalidArgumentError` saying which; nothing is sent."""
        out = c_void_p()
        with client._use() as native:
            _check(lib.suz_pending_import(native, exported.encode("utf-8"), ctypes.byref(out)))
        return cls(out, client)

    def finish_token(self, signature: Union[bytes, str]) -> Token:
        buffer, length = _bytes_arg(signature)
        out = c_void_p()
        with self._client._use() as client, self._use() as pending:
            _check(lib.suz_pending_finish_token(client, pending, buffer, length, ctypes.byref(out)))
        return Token(out)

    def finish_registration(self, signature: Union[bytes, str]) -> str:
        """Sends the signed registration; returns the new omsConnection."""
        buffer, length = _bytes_arg(signature)
        out = c_void_p()
        with self._client._use() as client, self._use() as pending:
            _check(lib.suz_pending_finish_registration(client, pending, buffer, length, ctypes.byref(out)))
        return take_string(out)


class Response:
    """An HTTP answer from :meth:`Client.request`."""

    def __init__(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def __repr__(self) -> str:
        return f"<Response {self.status} {len(self.body)} bytes>"


ConfigLike = Union[str, Mapping[str, Any]]


class Client(_Native):
    """A configured client (see the README's config reference for the keys).

    Safe to share between threads. Use it as a context manager, or call :meth:`close`, which
    waits for the calls in flight on other threads to return before it frees the client; a call
    that starts after close() raises :class:`~suz_auth.ClosedError`.
    """

    _free = staticmethod(lib.suz_client_free)
    _what = "client"

    def __init__(self, config: ConfigLike) -> None:
        # token_value's values by profile, with when the library stops handing each out.
        self._memo: Dict[str, Tuple[str, float]] = {}
        self._memo_lock = threading.Lock()
        self._memo_generation = 0
        text = config if isinstance(config, str) else json.dumps(config)
        out = c_void_p()
        _check(lib.suz_client_new(encode(text, "config"), ctypes.byref(out)))
        super().__init__(out)

    def _token_call(self, fn, *args) -> Token:
        out = c_void_p()
        with self._use() as client:
            _check(fn(client, *args, ctypes.byref(out)))
        return Token(out)

    # -- installation registration
    def register_connection(
        self, oms_id: str, registration_key: str, address: str, signer: SignerLike = None, *, pharma: bool = False
    ) -> str:
        """Registers an installation; returns its omsConnection. ``pharma=True`` sends no
        signature (the pharma group needs none). Raises RegistrationRejectedError with the
        reason in ``server_message`` when the SUZ rejects it."""
        out = c_void_p()
        with contextlib.ExitStack() as call:
            _check(
                lib.suz_register_connection(
                    call.enter_context(self._use()),
                    encode(oms_id, "oms_id"),
                    encode(registration_key, "registration_key"),
                    encode(address, "address"),
                    c_bool(pharma),
                    _signer_handle(signer, call),
                    ctypes.byref(out),
                )
            )
        return take_string(out)

    # -- token flows
    def get_token_mdlp(
        self,
        oms_connection: str,
        client_id: str,
        client_secret: str,
        user_id: str,
        *,
        password: Optional[str] = None,
        signer: SignerLike = None,
    ) -> Token:
        """A SUZ clientToken through MDLP: with ``password`` (PASSWORD) or a signer
        (SIGNED_CODE, detached signature of the code)."""
        with contextlib.ExitStack() as call:
            return self._token_call(
                lib.suz_get_token_mdlp,
                encode(oms_connection, "oms_connection"),
                encode(client_id, "client_id"),
                encode(client_secret, "client_secret"),
                encode(user_id, "user_id"),
                encode(password, "password"),
                _signer_handle(signer, call),
            )

    def get_token_gismt(self, oms_connection: str, signer: SignerLike = None) -> Token:
        """A SUZ clientToken through GIS MT (attached signature of a challenge)."""
        with contextlib.ExitStack() as call:
            return self._token_call(
                lib.suz_get_token_gismt, encode(oms_connection, "oms_connection"), _signer_handle(signer, call)
            )

    def get_token_trueapi(self, oms_connection: str, inn: Optional[str] = None, signer: SignerLike = None) -> Token:
        """A SUZ clientToken through True API; ``inn`` picks the organisation."""
        with contextlib.ExitStack() as call:
            return self._token_call(
                lib.suz_get_token_trueapi,
                encode(oms_connection, "oms_connection"),
                encode(inn, "inn"),
                _signer_handle(signer, call),
            )

    def get_token_smartmarket(self, client_id: str, client_secret: str, scope: Optional[str] = None) -> Token:
        """A SmartMarket OAuth access_token (scope SMART_PUSH unless given)."""
        return self._token_call(
            lib.suz_get_token_smartmarket,
            encode(client_id, "client_id"),
            encode(client_secret, "client_secret"),
            encode(scope, "scope"),
        )

    def smartpush_request(self, access_token: Union[str, Token], body: Union[str, Mapping[str, Any]]) -> Any:
        """The SmartPush apprequest call; ``body`` is the whole JSON body
        (``{"requestPayload": {...}}``). Returns the parsed answer."""
        token = access_token.value if isinstance(access_token, Token) else access_token
        text = body if isinstance(body, str) else json.dumps(body)
        out = c_void_p()
        with self._use() as client:
            _check(
                lib.suz_smartpush_request(client, encode(token, "access_token"), encode(text, "body"), ctypes.byref(out))
            )
        return json.loads(take_string(out))

    # -- two-phase
    def _pending_call(self, fn, *args) -> Pending:
        out = c_void_p()
        with self._use() as client:
            _check(fn(client, *args, ctypes.byref(out)))
        return Pending(out, self)

    def begin_registration(self, oms_id: str, registration_key: str, address: str) -> Pending:
        return self._pending_call(
            lib.suz_register_begin,
            encode(oms_id, "oms_id"),
            encode(registration_key, "registration_key"),
            encode(address, "address"),
        )

    def begin_mdlp(self, oms_connection: str, client_id: str, client_secret: str, user_id: str) -> Pending:
        return self._pending_call(
            lib.suz_mdlp_begin,
            encode(oms_connection, "oms_connection"),
            encode(client_id, "client_id"),
            encode(client_secret, "client_secret"),
            encode(user_id, "user_id"),
        )

    def begin_gismt(self, oms_connection: str) -> Pending:
        return self._pending_call(lib.suz_gismt_begin, encode(oms_connection, "oms_connection"))

    def begin_trueapi(self, oms_connection: str, inn: Optional[str] = None) -> Pending:
        return self._pending_call(lib.suz_trueapi_begin, encode(oms_connection, "oms_connection"), encode(inn, "inn"))

    # -- profiles
    def set_signer(self, signer: Union[Signer, SignFunction], profile: Optional[str] = None) -> None:
        """The signer of one profile, or (no profile) of every profile without its own. The
        client keeps its own reference: ``signer`` may be closed afterwards."""
        with contextlib.ExitStack() as call:
            _check(
                lib.suz_client_set_signer(
                    call.enter_context(self._use()), encode(profile, "profile"), _signer_handle(signer, call)
                )
            )

    def token_get(self, profile: str) -> Token:
        """The profile's token: cached while fresh, otherwise fetched once for every thread and
        process on this machine."""
        try:
            return self._token_call(lib.suz_token_get, encode(profile, "profile"))
        finally:
            self._forget()

    def token_value(self, profile: str) -> str:
        """The value of :meth:`token_get`'s token, and nothing else: the same cached token (or
        the same single fetch) — the call to make per request.

        The value is kept in Python until the library would refresh it (its expiry less the
        refresh margin), so a repeated call is a dictionary lookup and a clock read. Anything
        on this client that can replace a token (``token_get``, ``acquire``, ``complete``,
        ``release``, ``token_invalidate``, ``request``, a fetch for another profile) drops
        what was kept.
        """
        hit = self._memo.get(profile)
        if hit is not None and _time() < hit[1]:
            return hit[0]
        return self._token_value_native(profile)

    def _token_value_native(self, profile: str) -> str:
        name = encode(profile, "profile")
        buffer = getattr(_buffers, "buffer", None)
        if buffer is None:
            buffer = _buffers.buffer = ctypes.create_string_buffer(TOKEN_VALUE_MAX)
        fresh_until = ctypes.c_int64(0)
        generation = self._memo_generation
        me = threading.get_ident()
        fast = self._fast
        fast.append(me)
        try:
            handle = self._handle
            if handle is None:
                raise ClosedError(f"this {self._what} is closed")
            code = lib.suz_token_get_value(handle, name, buffer, TOKEN_VALUE_MAX, None, None, ctypes.byref(fresh_until))
        finally:
            fast.remove(me)
        _check(code)
        value = buffer.value.decode("ascii")
        with self._memo_lock:
            if self._memo_generation == generation:
                if not any(kept == value for kept, _ in self._memo.values()):
                    # A new token: another profile of the same installation may hold the one
                    # it replaced.
                    self._memo.clear()
                if len(self._memo) < 256:
                    self._memo[profile] = (value, fresh_until.value / 1000.0)
        return value

    def close(self) -> None:
        self._forget()
        super().close()

    def _forget(self) -> None:
        """Drops the values token_value keeps: the library's cache may have changed."""
        with self._memo_lock:
            self._memo.clear()
            self._memo_generation += 1

    def acquire(self, profile: str) -> Union[Token, Pending]:
        """The profile's token when the signature is made elsewhere (1C, a signing service,
        a person at another computer), still one fetch per installation.

        Returns the cached :class:`Token`, or — when a fetch is needed — a :class:`Pending`
        holding the installation's lease: sign its :attr:`~Pending.data` and pass the
        signature to :meth:`complete` (here, or in another process after
        :meth:`Pending.export` / :meth:`Pending.load`), or give it up with :meth:`release`.
        A caller that finds another's lease waits for its token, at most
        ``cache.lock_timeout_ms``, then raises :class:`~suz_auth.InProgressError`."""
        token, pending = c_void_p(), c_void_p()
        try:
            with self._use() as client:
                _check(
                    lib.suz_token_acquire(
                        client, encode(profile, "profile"), ctypes.byref(token), ctypes.byref(pending)
                    )
                )
        finally:
            self._forget()
        return Token(token) if token.value else Pending(pending, self)

    def complete(self, pending: Pending, signature: Union[bytes, str]) -> Token:
        """Completes a :class:`Pending` from :meth:`acquire` (or its loaded copy): sends the
        signature (any CMS form), stores the token for every caller, releases the lease.
        :class:`~suz_auth.LeaseLostError` if the lease expired and another caller took it."""
        buffer, length = _bytes_arg(signature)
        out = c_void_p()
        try:
            with self._use() as client, pending._use() as native:
                _check(lib.suz_token_complete(client, native, buffer, length, ctypes.byref(out)))
        finally:
            self._forget()
        return Token(out)

    def release(self, pending: Pending) -> None:
        """Gives up the lease of a :class:`Pending` from :meth:`acquire` without completing
        it: the next caller takes the lease at once instead of when it expires."""
        try:
            with self._use() as client, pending._use() as native:
                _check(lib.suz_token_release(client, native))
        finally:
            self._forget()

    def status(self) -> dict[str, Any]:
        """The status of every profile (``suz_client_status``): its flow, the cached token
        (masked) with its expiry and refresh time, and the signing certificate's facts
        (holder, INN, thumbprint, days left). Reads the cache; fetches nothing."""
        out = c_void_p()
        with self._use() as client:
            _check(lib.suz_client_status(client, ctypes.byref(out)))
        result: dict[str, Any] = json.loads(take_string(out))
        return result

    def token_invalidate(self, profile: str, token: Token) -> bool:
        """Drops the cached token only if it is still ``token``; returns whether it did."""
        dropped = c_bool(False)
        try:
            with self._use() as client, token._use() as seen:
                _check(lib.suz_token_invalidate(client, encode(profile, "profile"), seen, ctypes.byref(dropped)))
        finally:
            self._forget()
        return bool(dropped.value)

    def request(
        self, profile: str, method: str, path: str, body: Union[None, str, Mapping[str, Any]] = None
    ) -> Response:
        """An authorized call with the profile's token; retried once with a new token on 401."""
        text = None if body is None else body if isinstance(body, str) else json.dumps(body)
        out = c_void_p()
        try:
            with self._use() as client:
                _check(
                    lib.suz_request(
                        client,
                        encode(profile, "profile"),
                        encode(method, "method"),
                        encode(path, "path"),
                        encode(text, "body"),
                        ctypes.byref(out),
                    )
                )
        finally:
            # On a 401 the library replaced the token.
            self._forget()
        try:
            status = lib.suz_response_status(out)
            ptr = POINTER(c_uint8)()
            length = c_size_t()
            _check(lib.suz_response_body(out, ctypes.byref(ptr), ctypes.byref(length)))
            body_bytes = ctypes.string_at(ptr, length.value) if length.value else b""
            headers: Dict[str, str] = {}
            for i in range(lib.suz_response_header_count(out)):
                name, value = c_char_p(), c_char_p()
                _check(lib.suz_response_header_at(out, i, ctypes.byref(name), ctypes.byref(value)))
                headers[(name.value or b"").decode()] = (value.value or b"").decode("utf-8", "replace")
            return Response(status, headers, body_bytes)
        finally:
            lib.suz_response_free(out)


def version() -> str:
    """The native library's version."""
    return lib.suz_version().decode()


__all__ = [
    "Client",
    "Flow",
    "Pending",
    "Response",
    "SignatureKind",
    "Signer",
    "SuzError",
    "Token",
    "disable_logging",
    "set_log_handler",
    "version",
]
