//! The C ABI, tested from Rust against the bundled emulator over real HTTP: every flow, every
//! result code, the token lifecycle across threads, processes and Redis, and hostile input.
//! One test binary; the modules share the helpers in `common`.
//!
//! Tests that need OpenSSL's GOST engine or `redis-server` print why they are skipped when the
//! tool is missing, unless `SUZ_AUTH_REQUIRE_ALL=1` (set by `scripts/test.sh`) makes a missing
//! tool a failure.

#[macro_use]
mod common;
mod carry;
mod certificates;
mod errors;
mod flows;
mod intercept;
mod keeper;
mod lease;
mod lifecycle;
mod mdlp_session;
mod redis;
mod robustness;
mod safety;
mod signals;
mod signed_in;
mod suz_v3;
mod threads;
