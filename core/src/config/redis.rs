//! The Redis store's settings: a server (`redis://` or `rediss://` with an ACL user or a
//! password and a database number) or a Sentinel deployment (`sentinels`, `master_name`), what
//! to do when Redis is down, the lock's time to live, timeouts and the key prefix.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::url::{host_port, percent_decode};
use super::{Secret, TrustRoots};
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRedis {
    url: Option<String>,
    sentinels: Option<Vec<String>>,
    master_name: Option<String>,
    sentinel_username: Option<String>,
    sentinel_password: Option<String>,
    on_unavailable: Option<String>,
    lock_ttl_ms: Option<u64>,
    command_timeout_ms: Option<u64>,
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

/// Where the Redis server is.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RedisServer {
    /// One server, from `redis.url`.
    Direct {
        /// The host name or IP address.
        host: String,
        /// The port; 6379 when the URL names none.
        port: u16,
    },
    /// The current master of a Sentinel deployment (`redis.sentinels`, `redis.master_name`).
    Sentinel {
        /// The sentinels' `(host, port)`, asked in this order.
        sentinels: Vec<(String, u16)>,
        /// The name the sentinels monitor the master under.
        master_name: String,
        /// The ACL user for the sentinels (`redis.sentinel_username`).
        username: Option<String>,
        /// The sentinels' password (`redis.sentinel_password`).
        password: Option<Secret>,
    },
}

/// The Redis store's settings (`redis`): tokens and the fetch lock shared across machines.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// The server, or the Sentinel deployment that names it.
    pub server: RedisServer,
    /// TLS to the server (and the sentinels): the `rediss://` scheme. Certificates are checked
    /// against the same roots as HTTPS (`tls.roots`) plus `tls.extra_roots_pem`.
    pub tls: bool,
    /// The ACL user (`redis://user:password@…`); `None` for the default user.
    pub username: Option<String>,
    /// The password sent with `AUTH`; `None` when the URL has none.
    pub password: Option<Secret>,
    /// The database selected with `SELECT`; 0 when the URL names none.
    pub db: u32,
    /// What to do when Redis cannot be reached (`redis.on_unavailable`, default `error`).
    pub on_unavailable: RedisFallback,
    /// Time to live of the fetch lock (`redis.lock_ttl_ms`, default 15 000 ms). The holder
    /// renews it every third of this while it fetches, so it never expires under a live fetch,
    /// and a dead holder's lock is free after at most this long.
    pub lock_ttl: Duration,
    /// The longest one command may take, connecting included, and never past the call's
    /// deadline (`redis.command_timeout_ms`, default 5 000 ms).
    pub command_timeout: Duration,
    /// How long connecting may take (`timeouts.connect_ms`).
    pub connect_timeout: Duration,
    /// Prefix of every Redis key (`redis.key_prefix`, default `suz-auth:`).
    pub key_prefix: String,
    /// CA certificates trusted besides the roots (`tls.extra_roots_pem`).
    pub extra_roots_pem: Option<PathBuf>,
    /// Which roots verify the server's certificate (`tls.roots`).
    pub trust_roots: TrustRoots,
}

impl RedisConfig {
    /// `host:port` of the server, or `sentinel master NAME` — for messages (no credentials).
    pub fn describe(&self) -> String {
        match &self.server {
            RedisServer::Direct { host, port } => format!("{host}:{port}"),
            RedisServer::Sentinel { master_name, .. } => format!("Sentinel master {master_name:?}"),
        }
    }
}

/// The lock's lifetime when `redis.lock_ttl_ms` is not set.
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(15);

/// The shortest lock lifetime accepted: the holder renews it every third of it.
pub const MIN_LOCK_TTL: Duration = Duration::from_millis(300);

const DEFAULT_COMMAND_TIMEOUT_MS: u64 = 5_000;

/// What the rest of the configuration gives the Redis settings.
pub(super) struct RedisContext {
    pub connect_timeout: Duration,
    pub extra_roots_pem: Option<PathBuf>,
    pub trust_roots: TrustRoots,
}

const URL_FORM: &str = "redis[s]://[[user]:password@]host[:port][/db]";

fn bad_url(why: &str) -> Error {
    Error::config(format!(
        "config key `redis.url`: {why} (expected {URL_FORM})"
    ))
}

struct ParsedUrl {
    tls: bool,
    username: Option<String>,
    password: Option<Secret>,
    host_port: Option<(String, u16)>,
    db: u32,
}

fn parse_url(url: &str) -> Result<ParsedUrl> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("redis://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("rediss://") {
        (true, rest)
    } else {
        return Err(bad_url("not a redis:// or rediss:// URL"));
    };
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, p),
        None => (rest, ""),
    };
    if path.contains(['?', '#', '/']) {
        return Err(bad_url("nothing may follow the database number"));
    }
    let db = match path {
        "" => 0,
        n => n
            .parse::<u32>()
            .map_err(|_| bad_url("bad database number"))?,
    };
    let (userinfo, hostpart) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(u) => {
            let Some((user, pass)) = u.split_once(':') else {
                return Err(bad_url(
                    "a user without a password: write redis://user:password@host or redis://:password@host",
                ));
            };
            let user = percent_decode(user).ok_or_else(|| bad_url("bad %-escape in the user"))?;
            let pass =
                percent_decode(pass).ok_or_else(|| bad_url("bad %-escape in the password"))?;
            (
                (!user.is_empty()).then_some(user),
                (!pass.is_empty()).then(|| Secret::new(&pass)),
            )
        }
    };
    let host_port = match hostpart {
        "" => None,
        h => Some(host_port(h, 6379).ok_or_else(|| bad_url("bad host or port"))?),
    };
    Ok(ParsedUrl {
        tls,
        username,
        password,
        host_port,
        db,
    })
}

pub(super) fn parse_redis(raw: RawRedis, context: RedisContext) -> Result<RedisConfig> {
    let lock_ttl = super::millis(
        raw.lock_ttl_ms,
        DEFAULT_LOCK_TTL.as_millis() as u64,
        "redis.lock_ttl_ms",
        true,
    )?;
    if lock_ttl < MIN_LOCK_TTL {
        return Err(Error::config(format!(
            "config key `redis.lock_ttl_ms`: {} ms is too short (at least {} ms: the holder renews the lock every third of it)",
            lock_ttl.as_millis(),
            MIN_LOCK_TTL.as_millis()
        )));
    }
    let command_timeout = super::millis(
        raw.command_timeout_ms,
        DEFAULT_COMMAND_TIMEOUT_MS,
        "redis.command_timeout_ms",
        true,
    )?;
    let url = match (&raw.url, &raw.sentinels) {
        (Some(url), _) => parse_url(url)?,
        (None, Some(_)) => parse_url("redis://")?,
        (None, None) => {
            return Err(Error::config(
                "config key `redis`: give `url` (one server) or `sentinels` and `master_name`",
            ))
        }
    };
    let server = match raw.sentinels {
        None => {
            if raw.master_name.is_some()
                || raw.sentinel_username.is_some()
                || raw.sentinel_password.is_some()
            {
                return Err(Error::config(
                    "config key `redis`: `master_name`, `sentinel_username` and `sentinel_password` need `sentinels`",
                ));
            }
            let (host, port) = url.host_port.ok_or_else(|| bad_url("no host"))?;
            RedisServer::Direct { host, port }
        }
        Some(list) => {
            if url.host_port.is_some() {
                return Err(bad_url(
                    "with `sentinels` the URL names no host (the sentinels name the master): write e.g. rediss://user:password@/0",
                ));
            }
            if list.is_empty() {
                return Err(Error::config("config key `redis.sentinels`: empty"));
            }
            let sentinels = list
                .iter()
                .map(|s| {
                    host_port(s, 26379).ok_or_else(|| {
                        Error::config(format!(
                            "config key `redis.sentinels`: {s:?} is not host[:port]"
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let master_name = raw
                .master_name
                .filter(|n| !n.is_empty())
                .ok_or_else(|| Error::config("config key `redis.master_name`: missing"))?;
            RedisServer::Sentinel {
                sentinels,
                master_name,
                username: raw.sentinel_username.filter(|u| !u.is_empty()),
                password: raw
                    .sentinel_password
                    .filter(|p| !p.is_empty())
                    .map(|p| Secret::new(&p)),
            }
        }
    };
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
        server,
        tls: url.tls,
        username: url.username,
        password: url.password,
        db: url.db,
        on_unavailable,
        lock_ttl,
        command_timeout,
        connect_timeout: context.connect_timeout,
        key_prefix: raw.key_prefix.unwrap_or_else(|| "suz-auth:".to_owned()),
        extra_roots_pem: context.extra_roots_pem,
        trust_roots: context.trust_roots,
    })
}
