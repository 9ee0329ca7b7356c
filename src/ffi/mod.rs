//! The C ABI. No logic lives here: argument checks (NULL, UTF-8), the panic boundary, result
//! codes and the per-thread error details, over the Rust API.
//!
//! Conventions (also stated in the generated header):
//! - every fallible function returns a `SuzResult`; outputs go through trailing out-parameters
//!   that are written only on success;
//! - strings the library returns are freed with `suz_string_free`, objects with their own
//!   `_free`; `_free(NULL)` does nothing;
//! - no panic crosses the boundary: one is caught and reported as `SUZ_RESULT_PANIC`.

#![allow(clippy::missing_safety_doc)]

mod client;
mod error;
mod flows;
mod lifecycle;
mod signer;

use std::ffi::{c_char, CStr, CString};

pub use client::*;
pub use error::*;
pub use flows::*;
pub use lifecycle::*;
pub use signer::*;

use crate::error::{Error, ErrorKind, Result};

pub(crate) unsafe fn str_arg<'a>(p: *const c_char, name: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::new(
            ErrorKind::NullArgument,
            format!("argument `{name}` is NULL"),
        ));
    }
    CStr::from_ptr(p).to_str().map_err(|e| {
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

pub(crate) unsafe fn ref_arg<'a, T>(p: *const T, name: &str) -> Result<&'a T> {
    p.as_ref().ok_or_else(|| {
        Error::new(
            ErrorKind::NullArgument,
            format!("argument `{name}` is NULL"),
        )
    })
}

pub(crate) unsafe fn out_arg<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T> {
    p.as_mut().ok_or_else(|| {
        Error::new(
            ErrorKind::NullArgument,
            format!("out-parameter `{name}` is NULL"),
        )
    })
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

/// Drops a boxed object handed out by this library; NULL does nothing, and a panic in a
/// destructor stays on this side.
pub(crate) unsafe fn free_box<T>(p: *mut T) {
    if !p.is_null() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(Box::from_raw(p));
        }));
    }
}

/// A C string for the caller to own (freed with `suz_string_free`).
pub(crate) fn owned_c_string(s: &str) -> *mut c_char {
    lossless_c_string(s).into_raw()
}

/// A C string from any Rust string: an interior NUL (never expected) becomes U+FFFD.
pub(crate) fn lossless_c_string(s: &str) -> CString {
    CString::new(s)
        .unwrap_or_else(|_| CString::new(s.replace('\0', "\u{fffd}")).unwrap_or_default())
}

/// Frees a string returned by this library. NULL does nothing. Never pass a string that the
/// library did not return, and never free one with `free()`.
#[no_mangle]
pub unsafe extern "C" fn suz_string_free(s: *mut c_char) {
    if !s.is_null() {
        let _ = std::panic::catch_unwind(|| {
            let mut bytes = CString::from_raw(s).into_bytes();
            zeroize::Zeroize::zeroize(&mut bytes);
        });
    }
}

/// The library version, e.g. "0.1.0" (the same as `SUZ_AUTH_VERSION`). A static string: do not
/// free it.
#[no_mangle]
pub extern "C" fn suz_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
