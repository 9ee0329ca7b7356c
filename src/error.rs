//! Errors of the Rust API. Each [`ErrorKind`] maps one-to-one onto a result code of the C ABI.

use std::fmt;
use std::time::Duration;

/// What went wrong, as a stable category. The C ABI exposes it as `SuzResult`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A required pointer argument was NULL (C ABI only).
    NullArgument,
    /// A string argument was not valid UTF-8 (C ABI only).
    InvalidUtf8,
    /// An argument has the wrong form: not a UUID, not JSON, a pending operation of another flow.
    InvalidArgument,
    /// The configuration JSON is malformed, names an unknown key or has a value of the wrong type.
    Config,
    /// No connection could be made (refused, unreachable, DNS, proxy, cut before the response).
    Connect,
    /// The configured connect or total timeout ran out.
    Timeout,
    /// TLS failed: an untrusted or invalid certificate, a handshake failure.
    Tls,
    /// The server answered 401 or 403.
    Unauthorized,
    /// The server answered 413.
    PayloadTooLarge,
    /// The server answered 429; see [`Error::retry_after`].
    TooManyRequests,
    /// Any other 4xx answer.
    HttpClientError,
    /// A 5xx answer.
    HttpServerError,
    /// The answer was not what the protocol says: not JSON, HTML from a proxy, a missing field,
    /// a truncated body.
    Protocol,
    /// The SUZ answered `REJECTED` to an installation registration; see [`Error::server_message`].
    RegistrationRejected,
    /// The signer failed or returned something that is not a signature.
    SignerFailed,
    /// A panic was caught at the C boundary (a bug; please report it).
    Panic,
    /// The token store could not be used: a lock file that cannot be opened, Redis down (with
    /// `redis.on_unavailable: "error"`).
    Store,
}

/// An error with everything a caller may want to log or act on. Never contains a secret.
#[derive(Clone, Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// HTTP status of the answer that caused the error, if there was one.
    pub http_status: Option<u16>,
    /// The server's own error code, from whichever error shape it sent.
    pub server_code: Option<String>,
    /// The server's own error text.
    pub server_message: Option<String>,
    /// `Retry-After` of a 429 or 503 answer.
    pub retry_after: Option<Duration>,
    /// The `RqUID` sent with the request (SmartMarket).
    pub rquid: Option<String>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            http_status: None,
            server_code: None,
            server_message: None,
            retry_after: None,
            rquid: None,
        }
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }

    pub fn signer(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::SignerFailed, message)
    }

    pub(crate) fn with_rquid(mut self, rquid: Option<&str>) -> Self {
        if self.rquid.is_none() {
            self.rquid = rquid.map(str::to_owned);
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(status) = self.http_status {
            write!(f, " (HTTP {status}")?;
            if let Some(code) = &self.server_code {
                write!(f, ", server code {code}")?;
            }
            if let Some(text) = &self.server_message {
                write!(f, ": {text}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
