//! The layer that keeps tokens (the values themselves are [`crate::value`]'s): the key a token is
//! kept under ([`key`]), the cache with single flight ([`manager`]), the file store
//! ([`store`]) and the Redis store ([`redis`]).

pub mod key;
pub mod lease;
pub mod manager;
#[cfg(feature = "redis")]
pub mod redis;
pub mod store;

pub use crate::value::{
    check_token_value, mask, now_ms, Flow, SealKey, Token, MAX_TOKEN_LEN, MAX_TOKEN_LIFETIME_MS,
    SEAL_KEY_LEN,
};

/// What the state of Redis looks like, for `suz inspect` and `suz doctor`.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RedisReport {
    /// `host:port` of the server the store talks to (the master, with Sentinel).
    pub server: String,
    /// TLS was used.
    pub tls: bool,
    /// The ACL user, if any.
    pub username: Option<String>,
    /// The round trip of a `PING`, in microseconds.
    pub ping_us: u128,
    /// Redis's clock minus this machine's, in milliseconds (`TIME`).
    pub clock_skew_ms: i64,
    /// Stored tokens: label, flow, masked value, expiry (Unix ms).
    pub tokens: Vec<(String, String, String, i64)>,
    /// Held locks and leases: label hash, remaining milliseconds.
    pub locks: Vec<(String, i64)>,
}
