"""suz-auth for Python: dynamic API tokens for Chestny ZNAK SUZ and Sber SmartMarket.

A thin ctypes layer over the suz-auth native library; no compiler is needed on the target
machine. Start with :class:`Client`::

    import suz_auth

    with suz_auth.Client({"stand": "demo"}) as client:
        token = client.get_token_gismt(oms_connection, signer=my_gost_signer)
        print(token.masked(), token.expires_at)
"""

from ._errors import (
    ClientHttpError,
    ClosedError,
    ConfigError,
    ConnectError,
    HttpError,
    InternalPanicError,
    InvalidArgumentError,
    InvalidUtf8Error,
    NullArgumentError,
    PayloadTooLargeError,
    ProtocolError,
    RegistrationRejectedError,
    ServerHttpError,
    SignerError,
    StoreError,
    InProgressError,
    LeaseLostError,
    NotKeptError,
    SuzError,
    TimeoutError,
    TlsError,
    TooManyRequestsError,
    TransportError,
    UnauthorizedError,
)
from ._client import (
    Client,
    Flow,
    Pending,
    Response,
    SignatureKind,
    Signer,
    Token,
    disable_logging,
    set_log_handler,
    version,
)
from ._ffi import __version__

__all__ = [
    "Client",
    "ClientHttpError",
    "ClosedError",
    "ConfigError",
    "ConnectError",
    "Flow",
    "HttpError",
    "InternalPanicError",
    "InvalidArgumentError",
    "InvalidUtf8Error",
    "NullArgumentError",
    "PayloadTooLargeError",
    "Pending",
    "ProtocolError",
    "RegistrationRejectedError",
    "Response",
    "ServerHttpError",
    "SignatureKind",
    "Signer",
    "SignerError",
    "StoreError",
    "InProgressError",
    "LeaseLostError",
    "NotKeptError",
    "SuzError",
    "TimeoutError",
    "TlsError",
    "Token",
    "TooManyRequestsError",
    "TransportError",
    "UnauthorizedError",
    "__version__",
    "disable_logging",
    "set_log_handler",
    "version",
]
