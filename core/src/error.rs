//! Errors of the Rust API, and the one table of result codes.
//!
//! Every [`ErrorKind`] has a stable number and a name ([`ErrorKind::code`],
//! [`ErrorKind::name`]); the C ABI's `SuzResult`, its `suz_result_name`, the README's table and
//! the bindings' exception maps are checked against this table by the test suite.

use std::fmt;
use std::time::Duration;

/// Defines [`ErrorKind`] — each kind once, with its number and its C name — and derives
/// [`ErrorKind::ALL`] and [`ErrorKind::name`] from that one list, so a kind cannot be left out
/// of either.
macro_rules! error_kinds {
    ($($(#[$doc:meta])* $kind:ident = $code:literal => $name:literal,)+) => {
        /// What went wrong, as a stable category. The C ABI exposes it as `SuzResult`, with the
        /// same numbers (0 is success there). A retired kind keeps its number, which is never
        /// reused.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        #[repr(u32)]
        pub enum ErrorKind {
            $($(#[$doc])* $kind = $code,)+
        }

        impl ErrorKind {
            /// Every kind, in code order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind,)+];

            /// The C name of the code, e.g. `SUZ_RESULT_TIMEOUT`.
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => $name,)+
                }
            }
        }
    };
}

error_kinds! {
    /// A required pointer argument was NULL (C ABI only).
    NullArgument = 1 => "SUZ_RESULT_NULL_ARGUMENT",
    /// A string argument was not valid UTF-8 (C ABI only).
    InvalidUtf8 = 2 => "SUZ_RESULT_INVALID_UTF8",
    /// An argument has the wrong form: not a UUID, not JSON, a pending operation of another
    /// flow, no signer where one is needed.
    InvalidArgument = 3 => "SUZ_RESULT_INVALID_ARGUMENT",
    /// The configuration is malformed, names an unknown key, has a value of the wrong type, or
    /// lacks the URL of the service called.
    Config = 4 => "SUZ_RESULT_CONFIG",
    /// No connection could be made (refused, unreachable, DNS, proxy, cut before the answer).
    Connect = 5 => "SUZ_RESULT_CONNECT",
    /// The configured connect or total timeout ran out.
    Timeout = 6 => "SUZ_RESULT_TIMEOUT",
    /// TLS failed: an untrusted or invalid certificate, a handshake failure.
    Tls = 7 => "SUZ_RESULT_TLS",
    /// The server answered 401 or 403.
    Unauthorized = 8 => "SUZ_RESULT_UNAUTHORIZED",
    /// The server answered 413.
    PayloadTooLarge = 9 => "SUZ_RESULT_PAYLOAD_TOO_LARGE",
    /// The server answered 429; see [`Error::retry_after`].
    TooManyRequests = 10 => "SUZ_RESULT_TOO_MANY_REQUESTS",
    /// Any other 4xx answer.
    HttpClientError = 11 => "SUZ_RESULT_HTTP_CLIENT_ERROR",
    /// A 5xx answer.
    HttpServerError = 12 => "SUZ_RESULT_HTTP_SERVER_ERROR",
    /// The answer was not what the protocol says: not JSON, HTML from a proxy, a missing
    /// field, a truncated body.
    Protocol = 13 => "SUZ_RESULT_PROTOCOL",
    /// The SUZ answered `REJECTED` to an installation registration; see
    /// [`Error::server_message`].
    RegistrationRejected = 14 => "SUZ_RESULT_REGISTRATION_REJECTED",
    /// The signer failed or returned something that is not a signature.
    SignerFailed = 15 => "SUZ_RESULT_SIGNER_FAILED",
    /// A panic was caught at a boundary (a bug; please report it).
    Panic = 16 => "SUZ_RESULT_PANIC",
    /// The token store could not be used: a lock file that cannot be opened, Redis down (with
    /// `redis.on_unavailable: "error"`).
    Store = 17 => "SUZ_RESULT_STORE",
    /// Another caller holds the lease on this installation's token (it is signing or
    /// completing): nothing was started. Its token is in the cache once it completes; retry.
    InProgress = 18 => "SUZ_RESULT_IN_PROGRESS",
    /// The lease of a pending operation expired and another caller took it over: nothing was
    /// sent. Acquire again (the new holder's token will be there).
    LeaseLost = 19 => "SUZ_RESULT_LEASE_LOST",
    /// A profile served by a keeper (`served_by_keeper`) has no valid token in the shared
    /// store, and no keeper put one there within `cache.lock_timeout_ms`: this process signs
    /// nothing. Start (or repair) the keeper — `suz keep` where the key is.
    NotKept = 20 => "SUZ_RESULT_NOT_KEPT",
}

impl ErrorKind {
    /// The stable number of this kind: the C ABI's result code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The kind with this code; `None` for 0 (success) and for numbers that are no code.
    pub fn from_code(code: u32) -> Option<ErrorKind> {
        Self::ALL.iter().copied().find(|k| k.code() == code)
    }
}

/// The name of success in the C ABI.
pub const OK_NAME: &str = "SUZ_RESULT_OK";

/// An error with everything a caller may want to log or act on. Never contains a secret.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}{}", Detail(.message, .http_status, .server_code, .server_message))]
#[non_exhaustive]
pub struct Error {
    /// The category of the error (the C ABI's result code).
    pub kind: ErrorKind,
    /// What happened, in words; never a secret.
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

/// The ` (HTTP 401, server code 4: text)` part of an error's text.
struct Detail<'a>(
    &'a str,
    &'a Option<u16>,
    &'a Option<String>,
    &'a Option<String>,
);

/// The HTTP status (unless the message already names it) and the server's code and text.
impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Detail(message, status, code, text) = self;
        let mut parts = Vec::new();
        if let Some(status) = status {
            if !message.contains(&format!("HTTP {status}")) {
                parts.push(format!("HTTP {status}"));
            }
        }
        if let Some(code) = code {
            parts.push(format!("server code {code}"));
        }
        let head = parts.join(", ");
        match (head.is_empty(), text) {
            (true, None) => Ok(()),
            (true, Some(text)) => write!(f, " ({text})"),
            (false, None) => write!(f, " ({head})"),
            (false, Some(text)) => write!(f, " ({head}: {text})"),
        }
    }
}

impl Error {
    /// An error of `kind` with `message`, and no HTTP or server details.
    ///
    /// A message over [`MAX_MESSAGE`] bytes (one that echoes a huge input) is cut there.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: bounded(message.into()),
            http_status: None,
            server_code: None,
            server_message: None,
            retry_after: None,
            rquid: None,
        }
    }

    /// An [`ErrorKind::Config`] error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// An [`ErrorKind::InvalidArgument`] error.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// An [`ErrorKind::Protocol`] error.
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }

    /// An [`ErrorKind::SignerFailed`] error.
    pub fn signer(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::SignerFailed, message)
    }

    /// A wait for a lock or another party's fetch that ran out.
    pub fn lock_timeout(what: &str, waited: Duration) -> Self {
        Self::new(
            ErrorKind::Timeout,
            format!("waited {} ms for {what}", waited.as_millis()),
        )
    }

    /// Attaches the `RqUID` of the request, unless one is already there.
    pub fn with_rquid(mut self, rquid: Option<&str>) -> Self {
        if self.rquid.is_none() {
            self.rquid = rquid.map(str::to_owned);
        }
        self
    }
}

/// The longest message an error carries, in bytes: whatever a message echoes (a caller's
/// argument, a server's text) is cut so that the whole stays under this.
pub const MAX_MESSAGE: usize = 2048;

/// `text` cut at [`MAX_MESSAGE`] bytes (on a character boundary), saying how long it was.
pub(crate) fn bounded(mut text: String) -> String {
    if text.len() <= MAX_MESSAGE {
        return text;
    }
    let total = text.len();
    let mut cut = MAX_MESSAGE - 64;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(&format!("… (cut; {total} bytes in all)"));
    text
}

/// The result type of the library, with its [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_unique_and_named() {
        for (i, &kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(kind.code() as usize, i + 1);
            assert_eq!(ErrorKind::from_code(kind.code()), Some(kind));
            assert!(kind.name().starts_with("SUZ_RESULT_"));
        }
        assert_eq!(ErrorKind::from_code(0), None);
        assert_eq!(ErrorKind::from_code(21), None);
    }

    #[test]
    fn display_carries_the_server_fields() {
        let mut e = Error::new(ErrorKind::Unauthorized, "the server answered HTTP 401");
        assert_eq!(e.to_string(), "the server answered HTTP 401");
        e.http_status = Some(401);
        e.server_code = Some("4".into());
        e.server_message = Some("bad signature".into());
        assert_eq!(
            e.to_string(),
            "the server answered HTTP 401 (server code 4: bad signature)",
            "the status is not repeated"
        );
        e.message = "MDLP token: the answer has no valid `life_time`".into();
        assert_eq!(
            e.to_string(),
            "MDLP token: the answer has no valid `life_time` (HTTP 401, server code 4: bad signature)"
        );
    }
}
