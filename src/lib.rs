//! suz-auth: the C ABI of suz-auth-core. Nothing here decides anything: every export checks its
//! arguments, calls the Rust API inside one panic boundary ([`boundary`]), and turns the outcome
//! into a [`SuzResult`] with the details kept per thread ([`result`]).
//!
//! Conventions (also stated in the generated header):
//! - every fallible function returns a `SuzResult`; outputs go through trailing out-parameters
//!   that are written only on success;
//! - strings the library returns are freed with `suz_string_free`, objects with their own
//!   `_free`; `_free(NULL)` does nothing;
//! - enums that come from C are taken as integers and checked, never trusted;
//! - no panic crosses the boundary: one is caught and reported as `SUZ_RESULT_PANIC`.

#![allow(clippy::missing_safety_doc)]

#[macro_use]
mod boundary;
mod client;
mod flows;
mod panics;
mod result;
mod signer;
mod tokens;

use std::ffi::{c_char, CString};

pub use client::*;
pub use flows::*;
pub use result::*;
pub use signer::*;
pub use tokens::*;

/// Frees a string returned by this library. NULL does nothing. Never pass a string that the
/// library did not return, and never free one with `free()`.
#[no_mangle]
pub unsafe extern "C" fn suz_string_free(s: *mut c_char) {
    boundary::free_with(s, |s| {
        let mut bytes = CString::from_raw(s).into_bytes();
        zeroize::Zeroize::zeroize(&mut bytes);
    })
}

/// The library version, e.g. "0.1.0" (the same as `SUZ_AUTH_VERSION`). A static string: do not
/// free it.
#[no_mangle]
pub extern "C" fn suz_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
