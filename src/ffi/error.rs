//! Result codes, the panic boundary, and the error details kept per thread.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::lossless_c_string;
use crate::error::{Error, ErrorKind};

/// The result of every fallible function. Codes are stable: a retired code keeps its number
/// and is never reused.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuzResult {
    /// Success; out-parameters were written.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 2,
    /// An argument has the wrong form (not a UUID, not JSON, a pending operation of another
    /// flow, no signer where one is needed).
    InvalidArgument = 3,
    /// The configuration is malformed, has an unknown key or a value of the wrong type, or
    /// lacks the URL of the service called.
    Config = 4,
    /// No connection: refused, unreachable, DNS, proxy, or closed before an answer.
    Connect = 5,
    /// The connect timeout or the call's total timeout ran out.
    Timeout = 6,
    /// TLS failed (untrusted certificate, handshake).
    Tls = 7,
    /// HTTP 401 or 403: credentials, signature or token refused.
    Unauthorized = 8,
    /// HTTP 413.
    PayloadTooLarge = 9,
    /// HTTP 429; `suz_last_retry_after_ms` says when to try again.
    TooManyRequests = 10,
    /// Any other HTTP 4xx.
    HttpClientError = 11,
    /// HTTP 5xx.
    HttpServerError = 12,
    /// The answer broke the protocol: not JSON, an HTML page from a proxy, a missing field, a
    /// truncated body.
    Protocol = 13,
    /// The SUZ answered REJECTED to a registration; `suz_last_server_message` has the reason.
    RegistrationRejected = 14,
    /// The signer failed or returned something that is not a signature.
    SignerFailed = 15,
    /// A panic inside the library was caught (a bug; please report the message).
    Panic = 16,
    /// The token store could not be used (a lock file that cannot be opened, the cache
    /// directory not writable, Redis unavailable with `redis.on_unavailable: "error"`).
    Store = 17,
}

impl From<ErrorKind> for SuzResult {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::NullArgument => SuzResult::NullArgument,
            ErrorKind::InvalidUtf8 => SuzResult::InvalidUtf8,
            ErrorKind::InvalidArgument => SuzResult::InvalidArgument,
            ErrorKind::Config => SuzResult::Config,
            ErrorKind::Connect => SuzResult::Connect,
            ErrorKind::Timeout => SuzResult::Timeout,
            ErrorKind::Tls => SuzResult::Tls,
            ErrorKind::Unauthorized => SuzResult::Unauthorized,
            ErrorKind::PayloadTooLarge => SuzResult::PayloadTooLarge,
            ErrorKind::TooManyRequests => SuzResult::TooManyRequests,
            ErrorKind::HttpClientError => SuzResult::HttpClientError,
            ErrorKind::HttpServerError => SuzResult::HttpServerError,
            ErrorKind::Protocol => SuzResult::Protocol,
            ErrorKind::RegistrationRejected => SuzResult::RegistrationRejected,
            ErrorKind::SignerFailed => SuzResult::SignerFailed,
            ErrorKind::Panic => SuzResult::Panic,
            ErrorKind::Store => SuzResult::Store,
        }
    }
}

const RESULT_NAMES: [&str; 18] = [
    "SUZ_RESULT_OK\0",
    "SUZ_RESULT_NULL_ARGUMENT\0",
    "SUZ_RESULT_INVALID_UTF8\0",
    "SUZ_RESULT_INVALID_ARGUMENT\0",
    "SUZ_RESULT_CONFIG\0",
    "SUZ_RESULT_CONNECT\0",
    "SUZ_RESULT_TIMEOUT\0",
    "SUZ_RESULT_TLS\0",
    "SUZ_RESULT_UNAUTHORIZED\0",
    "SUZ_RESULT_PAYLOAD_TOO_LARGE\0",
    "SUZ_RESULT_TOO_MANY_REQUESTS\0",
    "SUZ_RESULT_HTTP_CLIENT_ERROR\0",
    "SUZ_RESULT_HTTP_SERVER_ERROR\0",
    "SUZ_RESULT_PROTOCOL\0",
    "SUZ_RESULT_REGISTRATION_REJECTED\0",
    "SUZ_RESULT_SIGNER_FAILED\0",
    "SUZ_RESULT_PANIC\0",
    "SUZ_RESULT_STORE\0",
];

struct LastError {
    code: SuzResult,
    message: CString,
    http_status: u16,
    server_code: CString,
    server_message: CString,
    retry_after_ms: i64,
    rquid: CString,
}

impl LastError {
    fn ok() -> Self {
        LastError {
            code: SuzResult::Ok,
            message: CString::default(),
            http_status: 0,
            server_code: CString::default(),
            server_message: CString::default(),
            retry_after_ms: -1,
            rquid: CString::default(),
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = RefCell::new(LastError::ok());
}

fn store(last: LastError) {
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = last;
        }
    });
}

fn record(e: &Error) -> SuzResult {
    let code = SuzResult::from(e.kind);
    let opt = |s: &Option<String>| lossless_c_string(s.as_deref().unwrap_or(""));
    store(LastError {
        code,
        message: lossless_c_string(&e.to_string()),
        http_status: e.http_status.unwrap_or(0),
        server_code: opt(&e.server_code),
        server_message: opt(&e.server_message),
        retry_after_ms: e.retry_after.map(|d| d.as_millis() as i64).unwrap_or(-1),
        rquid: opt(&e.rquid),
    });
    code
}

/// Runs the body of an exported function: catches panics, records the error details of this
/// thread, and turns the outcome into a result code.
pub(crate) fn guard<F>(body: F) -> SuzResult
where
    F: FnOnce() -> crate::error::Result<()>,
{
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            store(LastError::ok());
            SuzResult::Ok
        }
        Ok(Err(e)) => record(&e),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            record(&Error::new(
                ErrorKind::Panic,
                format!("internal panic caught at the C boundary: {what}"),
            ))
        }
    }
}

fn with_last<T>(f: impl FnOnce(&LastError) -> T, default: T) -> T {
    LAST_ERROR
        .try_with(|cell| cell.try_borrow().map(|l| f(&l)).ok())
        .ok()
        .flatten()
        .unwrap_or(default)
}

const EMPTY: *const c_char = c"".as_ptr();

/// The result code of the last call on this thread.
#[no_mangle]
pub extern "C" fn suz_last_error_code() -> SuzResult {
    with_last(|l| l.code, SuzResult::Ok)
}

/// A readable description of the last failure on this thread ("" after a success). Never
/// contains a secret. The pointer stays valid until the next `suz_*` call on this thread other
/// than the `suz_last_*` getters; do not free it.
#[no_mangle]
pub extern "C" fn suz_last_error_message() -> *const c_char {
    with_last(|l| l.message.as_ptr(), EMPTY)
}

/// HTTP status of the answer behind the last failure on this thread, or 0.
#[no_mangle]
pub extern "C" fn suz_last_http_status() -> u16 {
    with_last(|l| l.http_status, 0)
}

/// The server's own error code from the last failure ("" if none), read from whichever shape
/// it sent: `code`, `error_code`, `globalErrors[0].errorCode`, `errors[0].key`. Lifetime as
/// for `suz_last_error_message`.
#[no_mangle]
pub extern "C" fn suz_last_server_code() -> *const c_char {
    with_last(|l| l.server_code.as_ptr(), EMPTY)
}

/// The server's own error text from the last failure ("" if none): `error_message` and
/// `description`, `error_description`, `globalErrors[0].error`, `message`,
/// `errors[0].message`, or a registration's `rejectionReason`. Lifetime as for
/// `suz_last_error_message`.
#[no_mangle]
pub extern "C" fn suz_last_server_message() -> *const c_char {
    with_last(|l| l.server_message.as_ptr(), EMPTY)
}

/// `Retry-After` of the last failure (429 or 503) in milliseconds, or -1 if none was sent.
#[no_mangle]
pub extern "C" fn suz_last_retry_after_ms() -> i64 {
    with_last(|l| l.retry_after_ms, -1)
}

/// The `RqUID` of the SmartMarket request behind the last failure ("" if none), for support
/// requests to Sber. Lifetime as for `suz_last_error_message`.
#[no_mangle]
pub extern "C" fn suz_last_rquid() -> *const c_char {
    with_last(|l| l.rquid.as_ptr(), EMPTY)
}

/// The name of a result code, e.g. "SUZ_RESULT_TIMEOUT"; "SUZ_RESULT_UNKNOWN" for a number
/// that is not a code. A static string: do not free it.
#[no_mangle]
pub extern "C" fn suz_result_name(code: u32) -> *const c_char {
    RESULT_NAMES
        .get(code as usize)
        .copied()
        .unwrap_or("SUZ_RESULT_UNKNOWN\0")
        .as_ptr()
        .cast()
}
