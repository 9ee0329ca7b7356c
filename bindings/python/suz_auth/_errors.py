"""Result codes as exceptions, carrying what the library knows about the failure."""

from __future__ import annotations

from typing import Optional

from ._ffi import lib


class SuzError(Exception):
    """Base of every error the library reports.

    Attributes:
        code: the numeric ``SuzResult``.
        code_name: its name, e.g. ``"SUZ_RESULT_TIMEOUT"``.
        message: a readable description (never contains a secret).
        http_status: HTTP status of the answer behind the failure, or None.
        server_code: the server's own error code, from whichever error shape it used.
        server_message: the server's own error text (or a registration's rejectionReason).
        retry_after: seconds from ``Retry-After`` (429/503), or None.
        rquid: the SmartMarket ``RqUID`` of the failed request, or None.
    """

    code: int = -1

    def __init__(
        self,
        message: str,
        *,
        code: Optional[int] = None,
        http_status: Optional[int] = None,
        server_code: Optional[str] = None,
        server_message: Optional[str] = None,
        retry_after: Optional[float] = None,
        rquid: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.http_status = http_status
        self.server_code = server_code
        self.server_message = server_message
        self.retry_after = retry_after
        self.rquid = rquid

    @property
    def code_name(self) -> str:
        return lib.suz_result_name(self.code).decode()


class ClosedError(ValueError):
    """A call on a client, signer, token or pending operation that is closed (or whose close()
    has begun), or a pending operation whose client is. Raised by this package, not the library:
    it is not a :class:`SuzError`. A ``ValueError``, like the use of a closed Python file."""


class NullArgumentError(SuzError, ValueError):
    code = 1


class InvalidUtf8Error(SuzError, ValueError):
    code = 2


class InvalidArgumentError(SuzError, ValueError):
    code = 3


class ConfigError(SuzError, ValueError):
    code = 4


class TransportError(SuzError, OSError):
    """The request did not get an answer."""


class ConnectError(TransportError):
    code = 5


class TimeoutError(TransportError):  # noqa: A001 - deliberately the library's own timeout
    code = 6


class TlsError(TransportError):
    code = 7


class HttpError(SuzError):
    """The server answered with an error status."""


class UnauthorizedError(HttpError):
    code = 8


class PayloadTooLargeError(HttpError):
    code = 9


class TooManyRequestsError(HttpError):
    code = 10


class ClientHttpError(HttpError):
    code = 11


class ServerHttpError(HttpError):
    code = 12


class ProtocolError(SuzError):
    code = 13


class RegistrationRejectedError(SuzError):
    code = 14


class SignerError(SuzError):
    code = 15


class InternalPanicError(SuzError):
    code = 16


class StoreError(SuzError):
    code = 17


class InProgressError(SuzError):
    """Another caller holds the lease on this installation's token; retry later."""

    code = 18


class LeaseLostError(SuzError):
    """The pending operation's lease expired and another caller took it over; acquire again."""

    code = 19


class NotKeptError(SuzError):
    """A keeper-served profile has no valid token and no keeper refreshed it; start the keeper."""

    code = 20


_BY_CODE = {
    cls.code: cls
    for cls in (
        NullArgumentError,
        InvalidUtf8Error,
        InvalidArgumentError,
        ConfigError,
        ConnectError,
        TimeoutError,
        TlsError,
        UnauthorizedError,
        PayloadTooLargeError,
        TooManyRequestsError,
        ClientHttpError,
        ServerHttpError,
        ProtocolError,
        RegistrationRejectedError,
        SignerError,
        InternalPanicError,
        StoreError,
        InProgressError,
        LeaseLostError,
        NotKeptError,
    )
}


def _text(raw: Optional[bytes]) -> Optional[str]:
    if not raw:
        return None
    return raw.decode("utf-8", "replace")


def last_error(code: int) -> SuzError:
    """The exception for a result code, filled from the calling thread's error details."""
    cls = _BY_CODE.get(code, SuzError)
    retry_ms = lib.suz_last_retry_after_ms()
    status = lib.suz_last_http_status()
    return cls(
        _text(lib.suz_last_error_message()) or f"suz-auth error {code}",
        code=code,
        http_status=status or None,
        server_code=_text(lib.suz_last_server_code()),
        server_message=_text(lib.suz_last_server_message()),
        retry_after=retry_ms / 1000 if retry_ms >= 0 else None,
        rquid=_text(lib.suz_last_rquid()),
    )
