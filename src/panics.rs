//! The two helpers every part of the C layer leans on, with no dependency of their own: a
//! getter's body run so that a panic stays on this side, and a C string made from any Rust
//! string.

use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs the body of a getter: a panic gives `fallback`, and the last error stays as it was.
pub(crate) fn get<T>(fallback: T, body: impl FnOnce() -> Option<T>) -> T {
    catch_unwind(AssertUnwindSafe(body))
        .ok()
        .flatten()
        .unwrap_or(fallback)
}

/// A C string from any Rust string: an interior NUL (never expected) becomes U+FFFD.
pub(crate) fn lossless_c_string(s: &str) -> CString {
    CString::new(s)
        .unwrap_or_else(|_| CString::new(s.replace('\0', "\u{fffd}")).unwrap_or_default())
}
