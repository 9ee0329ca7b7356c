//! Result codes and the error details kept per thread. The numbers and names are
//! `suz_auth_core::ErrorKind`'s table; `SuzResult` spells them out for the header.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CStr, CString};

use suz_auth_core::error::OK_NAME;
use suz_auth_core::{Error, ErrorKind};

use crate::panics::{get, lossless_c_string};

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
    /// Another caller holds the lease on this installation's token (it is signing or
    /// completing) and `cache.lock_timeout_ms` ran out waiting: nothing was started. Its token
    /// is in the cache once it completes; call again.
    InProgress = 18,
    /// `suz_token_complete`: the pending operation's lease expired and another caller took it
    /// over; nothing was sent. Call `suz_token_acquire` again.
    LeaseLost = 19,
    /// A profile served by a keeper (`served_by_keeper`) has no valid token in the shared store
    /// and no keeper put one there within `cache.lock_timeout_ms`; this process signs nothing.
    /// Start the keeper (`suz keep`) where the key is.
    NotKept = 20,
}

impl SuzResult {
    /// The result code of an error kind: the same number (the table is `ErrorKind`'s).
    pub fn from_kind(kind: ErrorKind) -> SuzResult {
        Self::from_code(kind.code()).unwrap_or(SuzResult::Panic)
    }

    /// The code with this number, if there is one.
    pub fn from_code(code: u32) -> Option<SuzResult> {
        use SuzResult::*;
        const ALL: [SuzResult; 21] = [
            Ok,
            NullArgument,
            InvalidUtf8,
            InvalidArgument,
            Config,
            Connect,
            Timeout,
            Tls,
            Unauthorized,
            PayloadTooLarge,
            TooManyRequests,
            HttpClientError,
            HttpServerError,
            Protocol,
            RegistrationRejected,
            SignerFailed,
            Panic,
            Store,
            InProgress,
            LeaseLost,
            NotKept,
        ];
        ALL.into_iter().find(|r| *r as u32 == code)
    }
}

impl From<ErrorKind> for SuzResult {
    fn from(kind: ErrorKind) -> Self {
        SuzResult::from_kind(kind)
    }
}

/// The last call's outcome on one thread. An empty string is `None`: a thread's first call,
/// and every success, allocate nothing (a first allocation on a new thread can cost the host
/// a whole malloc arena).
struct LastError {
    code: SuzResult,
    message: Option<CString>,
    http_status: u16,
    server_code: Option<CString>,
    server_message: Option<CString>,
    retry_after_ms: i64,
    rquid: Option<CString>,
}

impl LastError {
    const fn ok() -> Self {
        LastError {
            code: SuzResult::Ok,
            message: None,
            http_status: 0,
            server_code: None,
            server_message: None,
            retry_after_ms: -1,
            rquid: None,
        }
    }
}

/// `s` as a C string, `None` when empty.
fn non_empty(s: &str) -> Option<CString> {
    (!s.is_empty()).then(|| lossless_c_string(s))
}

/// The pointer a getter hands out: "" for `None`.
fn c_ptr(s: &Option<CString>) -> *const c_char {
    s.as_deref().map_or(EMPTY, CStr::as_ptr)
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = const { RefCell::new(LastError::ok()) };
    /// Whether `LAST_ERROR` holds a failure. Until a thread's first failure, its `LAST_ERROR`
    /// is never touched, so it never registers that slot's destructor (which allocates).
    static FAILED: Cell<bool> = const { Cell::new(false) };
}

fn store(last: LastError) {
    let failed = last.code != SuzResult::Ok;
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = last;
            FAILED.set(failed);
        }
    });
}

pub(crate) fn record_ok() -> SuzResult {
    // The common case, a success after a success, touches nothing: no strings made or freed.
    if FAILED.get() {
        store(LastError::ok());
    }
    SuzResult::Ok
}

pub(crate) fn record_error(e: &Error) -> SuzResult {
    let code = SuzResult::from_kind(e.kind);
    let opt = |s: &Option<String>| non_empty(s.as_deref().unwrap_or(""));
    store(LastError {
        code,
        message: non_empty(&e.to_string()),
        http_status: e.http_status.unwrap_or(0),
        server_code: opt(&e.server_code),
        server_message: opt(&e.server_message),
        retry_after_ms: e
            .retry_after
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(-1),
        rquid: opt(&e.rquid),
    });
    code
}

fn with_last<T>(f: impl FnOnce(&LastError) -> T, default: T) -> T {
    get(default, || {
        if !FAILED.get() {
            return Some(f(&LastError::ok()));
        }
        LAST_ERROR
            .try_with(|cell| cell.try_borrow().map(|l| f(&l)).ok())
            .ok()
            .flatten()
    })
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
    with_last(|l| c_ptr(&l.message), EMPTY)
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
    with_last(|l| c_ptr(&l.server_code), EMPTY)
}

/// The server's own error text from the last failure ("" if none): `error_message` and
/// `description`, `error_description`, `globalErrors[0].error`, `message`,
/// `errors[0].message`, or a registration's `rejectionReason`. Lifetime as for
/// `suz_last_error_message`.
#[no_mangle]
pub extern "C" fn suz_last_server_message() -> *const c_char {
    with_last(|l| c_ptr(&l.server_message), EMPTY)
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
    with_last(|l| c_ptr(&l.rquid), EMPTY)
}

/// The name of a result code, e.g. "SUZ_RESULT_TIMEOUT"; "SUZ_RESULT_UNKNOWN" for a number
/// that is not a code. A static string: do not free it.
#[no_mangle]
pub extern "C" fn suz_result_name(code: u32) -> *const c_char {
    get(c"SUZ_RESULT_UNKNOWN".as_ptr(), || {
        let name = match code {
            0 => OK_NAME,
            _ => ErrorKind::from_code(code)?.name(),
        };
        Some(name_c(name).as_ptr())
    })
}

/// The names as static C strings, made once.
fn name_c(name: &'static str) -> &'static CStr {
    use std::sync::OnceLock;
    static NAMES: OnceLock<Vec<(&'static str, CString)>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        std::iter::once(OK_NAME)
            .chain(ErrorKind::ALL.iter().map(|k| k.name()))
            .map(|n| (n, lossless_c_string(n)))
            .collect()
    });
    names
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| c.as_c_str())
        .unwrap_or(c"SUZ_RESULT_UNKNOWN")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `SuzResult` has the number and name of the `ErrorKind` it stands for.
    #[test]
    fn the_c_codes_follow_the_core_table() {
        for &kind in ErrorKind::ALL {
            let code = SuzResult::from_kind(kind);
            assert_eq!(code as u32, kind.code(), "{kind:?}");
            assert_eq!(format!("{code:?}"), format!("{kind:?}"));
            let name = unsafe { CStr::from_ptr(suz_result_name(code as u32)) };
            assert_eq!(name.to_str().unwrap(), kind.name());
        }
        assert_eq!(SuzResult::from_code(0), Some(SuzResult::Ok));
        assert_eq!(SuzResult::from_code(ErrorKind::ALL.len() as u32 + 1), None);
        let unknown = unsafe { CStr::from_ptr(suz_result_name(999)) };
        assert_eq!(unknown.to_str().unwrap(), "SUZ_RESULT_UNKNOWN");
    }
}
