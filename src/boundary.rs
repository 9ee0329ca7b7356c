//! The boundary idiom every export follows.
//!
//! - A fallible export's body runs inside [`call`]: panics are caught, the error details are
//!   recorded for this thread, and the outcome becomes a `SuzResult`.
//! - A getter's body runs inside [`get`]: panics are caught and the getter's documented
//!   fallback returned; the last error is left alone.
//! - Arguments are read with the macros below, which name the argument in the message:
//!   `arg!(p)` for a required handle, `str_arg!(p)` / `opt_str_arg!(p)` for strings,
//!   `bytes_arg!(p, len)` for byte slices, `out_arg!(p)` for out-parameters.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use suz_auth_core::{Error, ErrorKind, Result};

pub(crate) use crate::panics::{get, lossless_c_string};
use crate::result::{record_error, record_ok, SuzResult};

/// Runs the body of a fallible export.
pub(crate) fn call(body: impl FnOnce() -> Result<()>) -> SuzResult {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => record_ok(),
        Ok(Err(e)) => record_error(&e),
        Err(payload) => record_error(&panic_error(payload)),
    }
}

/// Frees an object handed out by this library with `free`; NULL does nothing, and a panic in
/// a destructor stays on this side.
pub(crate) unsafe fn free_with<T>(p: *mut T, free: impl FnOnce(*mut T)) {
    if !p.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| free(p)));
    }
}

/// Drops a boxed object handed out by this library.
pub(crate) unsafe fn free_box<T>(p: *mut T) {
    free_with(p, |p| drop(Box::from_raw(p)))
}

fn panic_error(payload: Box<dyn std::any::Any + Send>) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    Error::new(
        ErrorKind::Panic,
        format!("internal panic caught at the C boundary: {what}"),
    )
}

fn null(what: &str, name: &str) -> Error {
    Error::new(ErrorKind::NullArgument, format!("{what} `{name}` is NULL"))
}

pub(crate) unsafe fn ref_arg<'a, T>(p: *const T, name: &str) -> Result<&'a T> {
    p.as_ref().ok_or_else(|| null("argument", name))
}

pub(crate) unsafe fn mut_arg<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T> {
    p.as_mut().ok_or_else(|| null("argument", name))
}

pub(crate) unsafe fn out_arg<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T> {
    p.as_mut().ok_or_else(|| null("out-parameter", name))
}

pub(crate) unsafe fn str_arg<'a>(p: *const c_char, name: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(null("argument", name));
    }
    let bytes = CStr::from_ptr(p).to_bytes();
    // Profile names, ids and most other arguments are ASCII: checking that a word at a time
    // is several times cheaper than full UTF-8 validation of a short string (for a cached
    // get's profile name, 72 instructions instead of 157).
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Ok(std::str::from_utf8_unchecked(bytes));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        Error::new(
            ErrorKind::InvalidUtf8,
            format!(
                "argument `{name}` is not valid UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

pub(crate) unsafe fn opt_str_arg<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        str_arg(p, name).map(Some)
    }
}

pub(crate) unsafe fn bytes_arg<'a>(p: *const u8, len: usize, name: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::new(
            ErrorKind::NullArgument,
            format!("argument `{name}` is NULL with a length of {len}"),
        ));
    }
    Ok(std::slice::from_raw_parts(p, len))
}

/// A required handle or pointer argument.
macro_rules! arg {
    ($p:ident) => {
        $crate::boundary::ref_arg($p, stringify!($p))
    };
}

/// A required out-parameter.
macro_rules! out_arg {
    ($p:ident) => {
        $crate::boundary::out_arg($p, stringify!($p))
    };
}

/// A required NUL-terminated UTF-8 string.
macro_rules! str_arg {
    ($p:ident) => {
        $crate::boundary::str_arg($p, stringify!($p))
    };
}

/// An optional string: NULL is `None`.
macro_rules! opt_str_arg {
    ($p:ident) => {
        $crate::boundary::opt_str_arg($p, stringify!($p))
    };
}

/// `len` bytes at `p` (NULL allowed when `len` is 0).
macro_rules! bytes_arg {
    ($p:ident, $len:ident) => {
        $crate::boundary::bytes_arg($p, $len, stringify!($p))
    };
}

/// A C string for the caller to own (freed with `suz_string_free`).
pub(crate) fn owned_c_string(s: &str) -> *mut c_char {
    lossless_c_string(s).into_raw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    use crate::result::{suz_last_error_code, suz_last_error_message};

    #[test]
    fn a_panic_is_a_result_code_and_a_getter_keeps_the_last_error() {
        let code = call(|| panic!("a bug"));
        assert_eq!(code, SuzResult::Panic);
        assert_eq!(suz_last_error_code(), SuzResult::Panic);
        let message = unsafe { CStr::from_ptr(suz_last_error_message()) };
        assert_eq!(
            message.to_str().unwrap(),
            "internal panic caught at the C boundary: a bug"
        );
        assert_eq!(get(7, || -> Option<i32> { panic!("a getter bug") }), 7);
        assert_eq!(suz_last_error_code(), SuzResult::Panic, "a getter reset it");
        assert_eq!(call(|| Ok(())), SuzResult::Ok);
        assert_eq!(suz_last_error_code(), SuzResult::Ok);
        let message = unsafe { CStr::from_ptr(suz_last_error_message()) };
        assert_eq!(message.to_bytes(), b"", "a success clears the message");
    }

    #[test]
    fn a_new_thread_starts_with_no_error_and_its_errors_are_its_own() {
        assert_eq!(
            call(|| Err(Error::invalid_argument("here"))),
            SuzResult::InvalidArgument
        );
        std::thread::spawn(|| {
            assert_eq!(suz_last_error_code(), SuzResult::Ok);
            let message = unsafe { CStr::from_ptr(suz_last_error_message()) };
            assert_eq!(message.to_bytes(), b"");
            assert_eq!(call(|| Ok(())), SuzResult::Ok);
            assert_eq!(
                call(|| Err(Error::invalid_argument("there"))),
                SuzResult::InvalidArgument
            );
            let message = unsafe { CStr::from_ptr(suz_last_error_message()) };
            assert_eq!(message.to_str().unwrap(), "there");
        })
        .join()
        .unwrap();
        let message = unsafe { CStr::from_ptr(suz_last_error_message()) };
        assert_eq!(message.to_str().unwrap(), "here");
    }

    #[test]
    fn a_string_argument_is_ascii_or_any_valid_utf8_and_nothing_else() {
        let text = |bytes: &[u8]| unsafe {
            let c = std::ffi::CString::new(bytes).unwrap();
            str_arg(c.as_ptr(), "profile").map(str::to_owned)
        };
        assert_eq!(text(b"line-1").unwrap(), "line-1");
        assert_eq!(text("линия №1".as_bytes()).unwrap(), "линия №1");
        assert_eq!(text(b"").unwrap(), "");
        for (bad, offset) in [(&b"line\xff"[..], 4), (b"\xd0", 0), (b"ab\xed\xa0\x80", 2)] {
            let e = text(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidUtf8);
            assert_eq!(
                e.message,
                format!("argument `profile` is not valid UTF-8 (bad byte at offset {offset})")
            );
        }
        assert_eq!(
            unsafe { str_arg(std::ptr::null(), "profile") }
                .unwrap_err()
                .kind,
            ErrorKind::NullArgument
        );
    }
}
