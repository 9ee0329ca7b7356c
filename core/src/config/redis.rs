//! The Redis store's settings: `redis://[:password@]host[:port][/db]`, what to do when Redis is
//! down, the lock's time to live and the key prefix.

use std::time::Duration;

use serde::Deserialize;

use super::Secret;
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRedis {
    url: String,
    on_unavailable: Option<String>,
    lock_ttl_ms: Option<u64>,
    key_prefix: Option<String>,
}

/// What to do when Redis cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisFallback {
    /// Fail the call (`SUZ_RESULT_STORE`): no chance of a second token from another machine.
    Error,
    /// Log an error and coordinate through the local file store only.
    Local,
}

/// The Redis store's settings (`redis`): tokens and the fetch lock shared across machines.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// The Redis host, from `redis.url`.
    pub host: String,
    /// The Redis port; 6379 when the URL names none.
    pub port: u16,
    /// The password sent with `AUTH`; `None` when the URL has none.
    pub password: Option<Secret>,
    /// The database selected with `SELECT`; 0 when the URL names none.
    pub db: u32,
    /// What to do when Redis cannot be reached (`redis.on_unavailable`, default `error`).
    pub on_unavailable: RedisFallback,
    /// Time to live of the fetch lock, so it expires if its owner dies (`redis.lock_ttl_ms`,
    /// default `timeouts.total_ms` + 30 000 ms; at least `timeouts.total_ms` + 5 000 ms, so the
    /// lock outlives the longest fetch). A waiter tries for it for
    /// `cache.lock_timeout_ms`.
    pub lock_ttl: Duration,
    /// Prefix of every Redis key (`redis.key_prefix`, default `suz-auth:`).
    pub key_prefix: String,
}

/// How much longer than the longest fetch (`timeouts.total_ms`) the Redis lock must live: time
/// for the holder to store the token after its fetch ends.
pub const LOCK_TTL_SLACK: Duration = Duration::from_secs(5);

/// The lock's lifetime when `redis.lock_ttl_ms` is not set: the longest fetch plus 30 s.
pub const DEFAULT_LOCK_TTL_EXTRA: Duration = Duration::from_secs(30);

pub(super) fn parse_redis(raw: RawRedis, total_timeout: Duration) -> Result<RedisConfig> {
    let lock_ttl = super::millis(
        raw.lock_ttl_ms,
        (total_timeout + DEFAULT_LOCK_TTL_EXTRA).as_millis() as u64,
        "redis.lock_ttl_ms",
        true,
    )?;
    if lock_ttl < total_timeout + LOCK_TTL_SLACK {
        return Err(Error::config(format!(
            "config key `redis.lock_ttl_ms`: {} ms is too short: the lock must outlive the longest fetch, `timeouts.total_ms` ({} ms) plus {} ms, or two machines could fetch at once",
            lock_ttl.as_millis(),
            total_timeout.as_millis(),
            LOCK_TTL_SLACK.as_millis()
        )));
    }
    let bad = |why: &str| {
        Error::config(format!(
            "config key `redis.url`: {why} (expected redis://[:password@]host:port[/db])"
        ))
    };
    let rest = raw
        .url
        .strip_prefix("redis://")
        .ok_or_else(|| bad("not a redis:// URL"))?;
    let (auth, hostpart) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    let (hostport, db) = match hostpart.split_once('/') {
        Some((hp, db)) if !db.is_empty() => (
            hp,
            db.parse::<u32>().map_err(|_| bad("bad database number"))?,
        ),
        Some((hp, _)) => (hp, 0),
        None => (hostpart, 0),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("bad port"))?),
        None => (hostport, 6379),
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let password = auth
        .map(|a| a.strip_prefix(':').unwrap_or(a))
        .filter(|p| !p.is_empty())
        .map(Secret::new);
    let on_unavailable = match raw.on_unavailable.as_deref() {
        None | Some("error") => RedisFallback::Error,
        Some("local") => RedisFallback::Local,
        Some(other) => {
            return Err(Error::config(format!(
                "config key `redis.on_unavailable`: {other:?} (use \"error\" or \"local\")"
            )))
        }
    };
    Ok(RedisConfig {
        host: host.to_owned(),
        port,
        password,
        db,
        on_unavailable,
        lock_ttl,
        key_prefix: raw.key_prefix.unwrap_or_else(|| "suz-auth:".to_owned()),
    })
}
