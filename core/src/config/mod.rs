//! The client configuration: one JSON document, strictly checked.
//!
//! Unknown keys and values of the wrong type are errors that name the key (with its path,
//! e.g. `timeouts.total_ms`), so a typo never silently falls back to a default.

mod profile;
mod redis;
mod stands;
mod url;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

pub use profile::{Profile, ProfileFlow, Secret, DEFAULT_SMARTMARKET_SCOPE};
pub use redis::{RedisConfig, RedisFallback, RedisServer};
pub use stands::Service;

use crate::error::{Error, Result};
use profile::parse_profile;
use redis::{parse_redis, RawRedis, RedisContext};
pub use url::redact_url;
use url::{check_url, resolve_url_value};
pub(crate) use url::{parse_proxy_url, ProxyUrl};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    stand: Option<String>,
    emulator_url: Option<String>,
    #[serde(default)]
    urls: RawUrls,
    #[serde(default)]
    timeouts: RawTimeouts,
    proxy: Option<String>,
    #[serde(default)]
    tls: RawTls,
    user_agent: Option<String>,
    #[serde(default)]
    retry: RawRetry,
    signer: Option<RawSigner>,
    #[serde(default)]
    profiles: BTreeMap<String, Value>,
    #[serde(default)]
    cache: RawCache,
    redis: Option<RawRedis>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCache {
    dir: Option<PathBuf>,
    persist: Option<bool>,
    refresh_margin_ms: Option<u64>,
    lock_timeout_ms: Option<u64>,
    lease_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawUrls {
    suz: Option<String>,
    mdlp: Option<String>,
    gismt: Option<String>,
    trueapi: Option<String>,
    smartmarket: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    connect_ms: Option<u64>,
    total_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    extra_roots_pem: Option<PathBuf>,
    roots: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_attempts: Option<u32>,
    backoff_ms: Option<u64>,
    max_retry_after_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSigner {
    command: Option<RawCommand>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    attached: Vec<String>,
    detached: Vec<String>,
    timeout_ms: Option<u64>,
}

/// Which trust anchors verify server certificates (besides `extra_roots_pem`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustRoots {
    /// The operating system's store (default).
    Platform,
    /// Mozilla's roots compiled into the library.
    WebPki,
}

/// How HTTP requests are retried. Only requests that are safe to repeat are retried: the
/// challenge GETs, and SmartMarket's OAuth call (its tokens coexist). A SUZ token POST is
/// never repeated, because the server may have spent the challenge or issued a token.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, including the first (1 = no retry).
    pub max_attempts: u32,
    /// First pause between attempts; doubles with each retry.
    pub backoff: Duration,
    /// A 429/503 whose `Retry-After` is longer than this is returned to the caller at once.
    pub max_retry_after: Duration,
}

/// An external signing command: data on stdin (or `{in}`), signature on stdout (or `{out}`).
#[derive(Clone)]
pub struct CommandConfig {
    /// Command line (program, then arguments) for attached signatures; `{in}` and `{out}` arguments
    /// are replaced by temporary file paths.
    pub attached: Vec<String>,
    /// Command line for detached signatures, with the same `{in}` and `{out}` placeholders.
    pub detached: Vec<String>,
    /// How long one run may take before the command is killed (`timeout_ms`, default 60 000 ms).
    pub timeout: Duration,
}

/// The parsed, validated configuration.
#[derive(Clone)]
pub struct Config {
    urls: [Option<String>; 5],
    /// Time allowed to connect (`timeouts.connect_ms`, default 10 000 ms).
    pub connect_timeout: Duration,
    /// Time allowed for one call, retries included (`timeouts.total_ms`, default 60 000 ms).
    pub total_timeout: Duration,
    /// `None`: direct connections. `Some("env")`: from `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY`.
    pub proxy: Option<String>,
    /// A PEM file of CA certificates trusted in addition to `trust_roots` (`tls.extra_roots_pem`);
    /// `None` adds none.
    pub extra_roots_pem: Option<PathBuf>,
    /// The built-in trust anchors (`tls.roots`, default the platform's store).
    pub trust_roots: TrustRoots,
    /// The `User-Agent` sent with every request; `suz-auth/<version>` unless configured.
    pub user_agent: String,
    /// How safe requests are retried (`retry`).
    pub retry: RetryPolicy,
    /// The default external signing command (`signer.command`); `None` when none is configured.
    pub command_signer: Option<CommandConfig>,
    /// The named profiles (`profiles`), by name.
    pub profiles: BTreeMap<String, Profile>,
    /// The token cache settings (`cache`).
    pub cache: CacheConfig,
    /// The Redis store settings (`redis`); `None` when tokens are not shared through Redis.
    pub redis: Option<RedisConfig>,
}

/// Shows the programs and how many arguments, never the arguments: they may hold a PIN.
impl std::fmt::Debug for CommandConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |argv: &[String]| {
            format!(
                "{:?} and {} arguments",
                argv.first().map(String::as_str).unwrap_or(""),
                argv.len().saturating_sub(1)
            )
        };
        f.debug_struct("CommandConfig")
            .field("attached", &shown(&self.attached))
            .field("detached", &shown(&self.detached))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Shows URLs (the proxy's too) without their user and password.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<Option<String>> = self
            .urls
            .iter()
            .map(|u| u.as_deref().map(redact_url))
            .collect();
        f.debug_struct("Config")
            .field("urls", &urls)
            .field("connect_timeout", &self.connect_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("proxy", &self.proxy.as_deref().map(redact_url))
            .field("extra_roots_pem", &self.extra_roots_pem)
            .field("trust_roots", &self.trust_roots)
            .field("user_agent", &self.user_agent)
            .field("retry", &self.retry)
            .field("command_signer", &self.command_signer)
            .field("profiles", &self.profiles)
            .field("cache", &self.cache)
            .field("redis", &self.redis)
            .finish()
    }
}

/// The token cache.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// Where the file store lives; `None` when persistence is off (memory only).
    pub dir: Option<PathBuf>,
    /// A fixed refresh margin; `None` picks one from the token's lifetime.
    pub refresh_margin: Option<Duration>,
    /// How long to wait for another process's fetch (or, with Redis, another machine's).
    pub lock_timeout: Duration,
    /// How long a lease taken by `suz_token_acquire` lasts while its holder has the data
    /// signed; after that another caller may take it over.
    pub lease: Duration,
    /// How long a lease is held while a completion sends its request: the call's total
    /// timeout and 30 s more.
    pub send_hold: Duration,
}

impl Config {
    /// Parses and validates a configuration document.
    pub fn from_json(json: &str) -> Result<Config> {
        Self::from_raw(parse_document(json, "config", "config key ")?)
    }

    fn from_raw(raw: RawConfig) -> Result<Config> {
        let explicit = [
            raw.urls.suz,
            raw.urls.mdlp,
            raw.urls.gismt,
            raw.urls.trueapi,
            raw.urls.smartmarket,
        ];
        let stand = raw.stand.as_deref();
        if stand == Some("emulator") && raw.emulator_url.is_none() {
            return Err(Error::config(
                "config key `stand`: \"emulator\" needs `emulator_url` (e.g. \"http://127.0.0.1:8080\")",
            ));
        }
        if raw.emulator_url.is_some() && stand != Some("emulator") {
            return Err(Error::config(
                "config key `emulator_url` is only used with \"stand\": \"emulator\"",
            ));
        }
        if let Some(s) = stand {
            if s != "emulator" && Service::ALL.iter().all(|svc| svc.stand_url(s).is_none()) {
                return Err(Error::config(format!(
                    "config key `stand`: unknown stand {s:?} (known: demo, production, emulator)"
                )));
            }
        }
        let mut urls: [Option<String>; 5] = Default::default();
        for (i, service) in Service::ALL.iter().enumerate() {
            let key = format!("urls.{}", service.name());
            let chosen = match (&explicit[i], stand) {
                (Some(value), _) => Some(resolve_url_value(*service, value, &key)?),
                (None, Some("emulator")) => {
                    let base = raw.emulator_url.as_deref().unwrap_or_default();
                    let base = check_url(base, "emulator_url")?;
                    Some(format!("{base}{}", service.emulator_path()))
                }
                (None, Some(s)) => service.stand_url(s).map(str::to_owned),
                (None, None) => None,
            };
            urls[i] = chosen;
        }
        let connect_timeout = millis(raw.timeouts.connect_ms, 10_000, "timeouts.connect_ms", true)?;
        let total_timeout = millis(raw.timeouts.total_ms, 60_000, "timeouts.total_ms", true)?;
        if let Some(proxy) = &raw.proxy {
            if proxy != "env" {
                url::parse_proxy_url(proxy).map_err(|why| {
                    Error::config(format!("config key `proxy`: invalid proxy URL: {why}"))
                })?;
            }
        }
        let trust_roots = match raw.tls.roots.as_deref() {
            None | Some("platform") => TrustRoots::Platform,
            Some("webpki") => TrustRoots::WebPki,
            Some(other) => {
                return Err(Error::config(format!(
                "config key `tls.roots`: unknown value {other:?} (use \"platform\" or \"webpki\")"
            )))
            }
        };
        let retry = RetryPolicy {
            max_attempts: raw.retry.max_attempts.unwrap_or(3).clamp(1, 100),
            backoff: millis(raw.retry.backoff_ms, 200, "retry.backoff_ms", false)?,
            max_retry_after: millis(
                raw.retry.max_retry_after_ms,
                5_000,
                "retry.max_retry_after_ms",
                false,
            )?,
        };
        let user_agent = match raw.user_agent {
            None => format!("suz-auth/{}", env!("CARGO_PKG_VERSION")),
            Some(ua) => {
                if ua.is_empty()
                    || ua.len() > 256
                    || !ua.bytes().all(|b| (0x20..=0x7e).contains(&b))
                {
                    return Err(Error::config(
                        "config key `user_agent`: must be 1 to 256 printable ASCII characters (no CR, LF or other control characters)",
                    ));
                }
                ua
            }
        };
        let command_signer = parse_command(raw.signer, "signer.command")?;
        let mut profiles = BTreeMap::new();
        for (name, raw) in raw.profiles {
            profiles.insert(name.clone(), parse_profile(&name, raw)?);
        }
        let cache = CacheConfig {
            dir: match raw.cache.persist {
                Some(false) => None,
                _ => Some(raw.cache.dir.unwrap_or_else(default_cache_dir)),
            },
            refresh_margin: raw
                .cache
                .refresh_margin_ms
                .map(|ms| millis(Some(ms), 0, "cache.refresh_margin_ms", false))
                .transpose()?,
            lock_timeout: millis(
                raw.cache.lock_timeout_ms,
                total_timeout.as_millis() as u64 * 2,
                "cache.lock_timeout_ms",
                true,
            )?,
            lease: millis(raw.cache.lease_ms, DEFAULT_LEASE_MS, "cache.lease_ms", true)?,
            send_hold: total_timeout + Duration::from_secs(30),
        };
        let redis = raw
            .redis
            .map(|r| {
                parse_redis(
                    r,
                    RedisContext {
                        connect_timeout,
                        extra_roots_pem: raw.tls.extra_roots_pem.clone(),
                        trust_roots,
                    },
                )
            })
            .transpose()?;
        Ok(Config {
            profiles,
            cache,
            redis,
            urls,
            connect_timeout,
            total_timeout,
            proxy: raw.proxy,
            extra_roots_pem: raw.tls.extra_roots_pem,
            trust_roots,
            user_agent,
            retry,
            command_signer,
        })
    }

    /// The base URL of a service, or a configuration error saying how to set it.
    pub fn url(&self, service: Service) -> Result<&str> {
        let index = Service::ALL.iter().position(|s| *s == service).unwrap_or(0);
        self.urls[index].as_deref().ok_or_else(|| {
            Error::config(format!(
                "no URL for {name}: set \"stand\" or \"urls.{name}\" in the config",
                name = service.name()
            ))
        })
    }
}

/// Parses one whole JSON document: an error names the key (`{key_prefix}`path``) or, at the
/// top, the document (`{what}: ...`); text after the document is an error too.
pub(crate) fn parse_document<T: serde::de::DeserializeOwned>(
    json: &str,
    what: &str,
    key_prefix: &str,
) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(json);
    let value: T = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            Error::config(format!("{what}: {inner}"))
        } else {
            Error::config(format!("{key_prefix}`{path}`: {inner}"))
        }
    })?;
    de.end().map_err(|e| {
        Error::config(format!(
            "{what}: text after the end of the JSON document ({e})"
        ))
    })?;
    Ok(value)
}

/// The largest value any `*_ms` setting takes: a day. Larger values are mistakes (and some
/// would overflow the arithmetic on them).
pub const MAX_MS: u64 = 24 * 3600 * 1000;

/// A `*_ms` setting: `default` when absent (a default derived from another setting may exceed
/// a day), an error naming `key` when a given value is over [`MAX_MS`] or (with `nonzero`)
/// zero.
/// Five minutes: time for a person to confirm a signature on a token at their computer.
const DEFAULT_LEASE_MS: u64 = 5 * 60 * 1000;

pub(crate) fn millis(
    value: Option<u64>,
    default: u64,
    key: &str,
    nonzero: bool,
) -> Result<Duration> {
    let Some(ms) = value else {
        return Ok(Duration::from_millis(default));
    };
    if ms > MAX_MS {
        return Err(Error::config(format!(
            "config key `{key}`: {ms} ms is more than a day ({MAX_MS} ms)"
        )));
    }
    if nonzero && ms == 0 {
        return Err(Error::config(format!(
            "config key `{key}`: must be greater than zero"
        )));
    }
    Ok(Duration::from_millis(ms))
}

fn default_cache_dir() -> PathBuf {
    cache_dir_from(|name| std::env::var_os(name), std::env::temp_dir())
}

/// The last resort of the default chain: a directory of this user's own in the temporary
/// directory (`suz-auth-<uid>` on Unix), so users never share one; the store refuses it if
/// another user created it first.
fn temp_cache_name() -> String {
    #[cfg(unix)]
    {
        format!("suz-auth-{}", rustix::process::geteuid().as_raw())
    }
    #[cfg(not(unix))]
    {
        "suz-auth".to_owned()
    }
}

/// The default cache directory from the environment `var` gives: `$SUZ_AUTH_CACHE_DIR`, then
/// `$XDG_CACHE_HOME/suz-auth`, `%LOCALAPPDATA%\suz-auth`, `~/.cache/suz-auth`, else
/// `temp/suz-auth-<uid>`.
fn cache_dir_from(var: impl Fn(&str) -> Option<std::ffi::OsString>, temp: PathBuf) -> PathBuf {
    let under = |name: &str, parts: &[&str]| {
        var(name).map(|base| {
            parts
                .iter()
                .fold(PathBuf::from(base), |p, part| p.join(part))
        })
    };
    under("SUZ_AUTH_CACHE_DIR", &[])
        .or_else(|| under("XDG_CACHE_HOME", &["suz-auth"]))
        .or_else(|| under("LOCALAPPDATA", &["suz-auth"]))
        .or_else(|| under("HOME", &[".cache", "suz-auth"]))
        .unwrap_or_else(|| temp.join(temp_cache_name()))
}

pub(crate) fn parse_command(raw: Option<RawSigner>, key: &str) -> Result<Option<CommandConfig>> {
    match raw.and_then(|s| s.command) {
        None => Ok(None),
        Some(cmd) => {
            if cmd.attached.is_empty() || cmd.detached.is_empty() {
                return Err(Error::config(format!(
                    "config key `{key}`: `attached` and `detached` must each be a non-empty argv array"
                )));
            }
            Ok(Some(CommandConfig {
                attached: cmd.attached,
                detached: cmd.detached,
                timeout: millis(cmd.timeout_ms, 60_000, &format!("{key}.timeout_ms"), true)?,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_dir_default_follows_the_documented_chain() {
        let chain = [
            ("SUZ_AUTH_CACHE_DIR", "/a", "/a"),
            ("XDG_CACHE_HOME", "/x", "/x/suz-auth"),
            ("LOCALAPPDATA", "/l", "/l/suz-auth"),
            ("HOME", "/h", "/h/.cache/suz-auth"),
        ];
        for first in 0..=chain.len() {
            let set = &chain[first..];
            let dir = cache_dir_from(
                |name| {
                    set.iter()
                        .find(|(n, _, _)| *n == name)
                        .map(|(_, v, _)| (*v).into())
                },
                PathBuf::from("/tmp"),
            );
            let fallback = format!("/tmp/{}", temp_cache_name());
            #[cfg(unix)]
            assert_eq!(
                fallback,
                format!("/tmp/suz-auth-{}", rustix::process::geteuid().as_raw())
            );
            let expected = set.first().map_or(fallback.as_str(), |(_, _, e)| *e);
            assert_eq!(dir, PathBuf::from(expected), "set from {first}");
        }
    }

    /// Values that used to be accepted and then broke a request or the arithmetic on them.
    #[test]
    fn config_gaps_are_config_errors_naming_the_key() {
        let max = u64::MAX;
        for (json, key) in [
            (r#"{"user_agent": "a\r\nX-Evil: 1"}"#.to_owned(), "user_agent"),
            (r#"{"user_agent": ""}"#.to_owned(), "user_agent"),
            (format!(r#"{{"timeouts": {{"total_ms": {max}}}}}"#), "timeouts.total_ms"),
            (format!(r#"{{"timeouts": {{"connect_ms": {max}}}}}"#), "timeouts.connect_ms"),
            (format!(r#"{{"cache": {{"refresh_margin_ms": {max}}}}}"#), "cache.refresh_margin_ms"),
            (format!(r#"{{"cache": {{"lock_timeout_ms": {max}}}}}"#), "cache.lock_timeout_ms"),
            (format!(r#"{{"retry": {{"backoff_ms": {max}}}}}"#), "retry.backoff_ms"),
            (
                r#"{"redis": {"url": "redis://h", "lock_ttl_ms": 100}}"#.to_owned(),
                "redis.lock_ttl_ms",
            ),
            (
                r#"{"redis": {"url": "redis://h", "command_timeout_ms": 0}}"#.to_owned(),
                "redis.command_timeout_ms",
            ),
            (
                r#"{"redis": {"url": "redis://h", "master_name": "m"}}"#.to_owned(),
                "redis",
            ),
            (
                r#"{"redis": {"sentinels": ["s:1"], "url": "redis://h"}}"#.to_owned(),
                "redis.url",
            ),
            (
                r#"{"redis": {"sentinels": ["s:1"]}}"#.to_owned(),
                "redis.master_name",
            ),
            (
                r#"{"redis": {"sentinels": ["s:x"], "master_name": "m"}}"#.to_owned(),
                "redis.sentinels",
            ),
            (
                r#"{"redis": {"url": "redis://user@h"}}"#.to_owned(),
                "redis.url",
            ),
            (
                r#"{"redis": {"url": "http://h"}}"#.to_owned(),
                "redis.url",
            ),
            (
                r#"{"signer": {"command": {"attached": ["a"], "detached": ["d"], "timeout_ms": 0}}}"#
                    .to_owned(),
                "signer.command.timeout_ms",
            ),
        ] {
            let e = Config::from_json(&json).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::Config, "{json}");
            assert!(e.message.contains(&format!("`{key}`")), "{json}: {e}");
        }
        for trailing in [r#"{} x"#, r#"{}{}"#, r#"{"stand": "demo"} // comment"#] {
            let e = Config::from_json(trailing).unwrap_err();
            assert!(e.message.contains("text after the end"), "{trailing}: {e}");
        }
        // The longest total timeout with every derived default (twice it, plus 30 s) is fine.
        let c = Config::from_json(
            r#"{"timeouts": {"total_ms": 86400000}, "redis": {"url": "redis://h"}}"#,
        )
        .unwrap();
        assert_eq!(c.cache.lock_timeout, Duration::from_millis(2 * 86_400_000));
        assert_eq!(c.redis.unwrap().lock_ttl, Duration::from_millis(15_000));
        // A lock shorter than the longest fetch is fine: its holder renews it.
        let c = Config::from_json(
            r#"{"timeouts": {"total_ms": 20000}, "redis": {"url": "redis://h", "lock_ttl_ms": 700}}"#,
        )
        .unwrap();
        assert_eq!(c.redis.unwrap().lock_ttl, Duration::from_millis(700));
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_json(r#"{"stand":"demo","timeouts":{"totl_ms":5}}"#).unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::Config);
        assert!(err.message.contains("totl_ms"), "{}", err.message);
    }

    #[test]
    fn mistyped_value_names_its_path() {
        let err = Config::from_json(r#"{"timeouts":{"total_ms":"5"}}"#).unwrap_err();
        assert!(err.message.contains("timeouts.total_ms"), "{}", err.message);
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let c = Config::from_json(
            r#"{"stand":"demo","cache":{"persist":false},
                "redis":{"url":"redis://:redis-pass-123@127.0.0.1:6379/2"},
                "profiles":{
                  "a":{"flow":"mdlp","oms_connection":"11b1abc9-f4ee-47db-8a20-f80ac83504e8",
                       "client_id":"7df0d06f-6510-44fe-a378-76cb53e2605f","client_secret":"mdlp-secret-456",
                       "user_id":"u","password":"mdlp-password-789"},
                  "b":{"flow":"smartmarket","client_id":"id","client_secret":"sber-secret-000"}}}"#,
        )
        .unwrap();
        let shown = format!("{c:?}");
        for secret in [
            "redis-pass-123",
            "mdlp-secret-456",
            "mdlp-password-789",
            "sber-secret-000",
        ] {
            assert!(!shown.contains(secret), "{secret} leaked into Debug");
        }
        assert_eq!(c.redis.as_ref().unwrap().db, 2);
    }

    #[test]
    fn defaults_as_documented() {
        let c = Config::from_json("{}").unwrap();
        assert_eq!(c.connect_timeout, Duration::from_millis(10_000));
        assert_eq!(c.total_timeout, Duration::from_millis(60_000));
        assert_eq!(c.retry.max_attempts, 3);
        assert_eq!(c.retry.backoff, Duration::from_millis(200));
        assert_eq!(c.retry.max_retry_after, Duration::from_millis(5_000));
        assert_eq!(c.user_agent, "suz-auth/0.1.0");
        assert_eq!(c.trust_roots, TrustRoots::Platform);
        assert_eq!(c.cache.lock_timeout, Duration::from_millis(120_000));
        assert_eq!(c.cache.lease, Duration::from_millis(300_000));
        assert_eq!(c.cache.refresh_margin, None);
        assert!(c.proxy.is_none() && c.redis.is_none() && c.command_signer.is_none());
        let r = Config::from_json(r#"{"redis": {"url": "redis://h"}}"#).unwrap();
        let r = r.redis.unwrap();
        assert!(matches!(&r.server, RedisServer::Direct { host, port: 6379 } if host == "h"));
        assert_eq!((r.db, r.tls, r.username.is_none()), (0, false, true));
        assert_eq!(r.key_prefix, "suz-auth:");
        assert_eq!(r.lock_ttl, Duration::from_millis(15_000));
        assert_eq!(r.command_timeout, Duration::from_millis(5_000));
        assert_eq!(r.on_unavailable, RedisFallback::Error);
    }

    #[test]
    fn redis_urls_users_tls_and_sentinels() {
        let r = Config::from_json(
            r#"{"redis": {"url": "rediss://app:p%40ss%3Aw@[::1]:6380/3"}, "tls": {"extra_roots_pem": "/ca.pem"}}"#,
        )
        .unwrap()
        .redis
        .unwrap();
        assert!(matches!(&r.server, RedisServer::Direct { host, port: 6380 } if host == "::1"));
        assert_eq!((r.tls, r.db, r.username.as_deref()), (true, 3, Some("app")));
        assert_eq!(r.password.as_ref().unwrap().expose(), "p@ss:w");
        assert_eq!(r.extra_roots_pem, Some(PathBuf::from("/ca.pem")));
        let debug = format!("{r:?}");
        assert!(
            !debug.contains("p@ss") && !debug.contains("p%40ss"),
            "{debug}"
        );
        let r = Config::from_json(
            r#"{"redis": {"sentinels": ["127.0.0.1", "s2:26380"], "master_name": "m",
                          "sentinel_password": "sentinel-secret", "url": "rediss://:pw@/1"}}"#,
        )
        .unwrap()
        .redis
        .unwrap();
        let RedisServer::Sentinel {
            sentinels,
            master_name,
            password,
            ..
        } = &r.server
        else {
            panic!("{r:?}")
        };
        assert_eq!(
            sentinels,
            &[("127.0.0.1".to_owned(), 26379), ("s2".to_owned(), 26380)]
        );
        assert_eq!(master_name, "m");
        assert_eq!(password.as_ref().unwrap().expose(), "sentinel-secret");
        assert_eq!((r.tls, r.db), (true, 1));
        assert_eq!(r.password.as_ref().unwrap().expose(), "pw");
        assert_eq!(r.describe(), "Sentinel master \"m\"");
        assert!(!format!("{:?}", r.server).contains("sentinel-secret"));
    }

    #[test]
    fn values_checked_beyond_their_type() {
        let err = |json: &str| Config::from_json(json).unwrap_err().message;
        assert_eq!(
            err(r#"{"urls": {"suz": "https://a b"}}"#),
            "config key `urls.suz`: \"https://a b\" is neither a stand name nor an http(s) URL"
        );
        assert!(err(r#"{"urls": {"suz": "https://"}}"#).contains("urls.suz"));
        assert!(err(r#"{"urls": {"suz": "https:///x"}}"#).contains("urls.suz"));
        assert!(err(r#"{"timeouts": {"connect_ms": 0}}"#).contains("greater than zero"));
        assert!(err(r#"{"timeouts": {"total_ms": 0}}"#).contains("greater than zero"));
        assert_eq!(
            err(r#"{"signer": {"command": {"attached": ["a"], "detached": []}}}"#),
            "config key `signer.command`: `attached` and `detached` must each be a non-empty argv array"
        );
        let c = Config::from_json(
            r#"{"signer": {"command": {"attached": ["a"], "detached": ["d"], "timeout_ms": 7}}}"#,
        )
        .unwrap();
        let cmd = c.command_signer.unwrap();
        assert_eq!(
            (cmd.attached, cmd.detached, cmd.timeout),
            (
                vec!["a".to_owned()],
                vec!["d".to_owned()],
                Duration::from_millis(7)
            )
        );
        assert!(err(r#"{"stand": "emulator"}"#).contains("emulator_url"));
        assert!(err(r#"{"emulator_url": "http://127.0.0.1:9"}"#).contains("only used with"));
        let r = Config::from_json(r#"{"redis": {"url": "redis://h:7000/"}}"#).unwrap();
        assert_eq!(r.redis.unwrap().db, 0);
        assert!(format!("{:?}", Secret::new("hunter2")) == "\"***\"");
        for s in [
            Service::Suz,
            Service::Mdlp,
            Service::Gismt,
            Service::TrueApi,
            Service::SmartMarket,
        ] {
            let e = Config::from_json("{}").unwrap().url(s).unwrap_err().message;
            assert_eq!(
                e,
                format!(
                    "no URL for {0}: set \"stand\" or \"urls.{0}\" in the config",
                    s.name()
                )
            );
        }
        assert_eq!(Service::TrueApi.name(), "trueapi");
        assert_eq!(Service::SmartMarket.name(), "smartmarket");
    }

    #[test]
    fn every_stand_url() {
        let url = |stand: &str, service| {
            Config::from_json(&format!(r#"{{"stand": "{stand}"}}"#))
                .unwrap()
                .url(service)
                .map(str::to_owned)
                .ok()
        };
        use Service::*;
        let expected = [
            ("demo", Suz, "https://intuot.crpt.ru:16443"),
            ("production", Suz, "https://suzgrid.crpt.ru:16443"),
            ("demo", Mdlp, "https://api.sb.mdlp.crpt.ru/api/v1"),
            ("sandbox", Mdlp, "https://api.sb.mdlp.crpt.ru/api/v1"),
            ("production", Mdlp, "https://api.mdlp.crpt.ru/api/v1"),
            ("demo", Gismt, "https://demo.lp.crpt.tech/api/v3"),
            ("production", Gismt, "https://ismpr.crpt.ru/api/v3"),
            (
                "demo",
                TrueApi,
                "https://int01.gismt.crpt.tech/api/v3/true-api",
            ),
            (
                "production",
                TrueApi,
                "https://markirovka.crpt.ru/api/v3/true-api",
            ),
            (
                "demo",
                SmartMarket,
                "https://salute.online.sberbank.ru:9443",
            ),
            (
                "production",
                SmartMarket,
                "https://salute.online.sberbank.ru:9443",
            ),
        ];
        for (stand, service, want) in expected {
            assert_eq!(
                url(stand, service).as_deref(),
                Some(want),
                "{stand} {service:?}"
            );
        }
        let one = |value: &str| {
            Config::from_json(&format!(r#"{{"urls": {{"mdlp": "{value}"}}}}"#))
                .unwrap()
                .url(Mdlp)
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            one("demo-nonresident"),
            "https://nrz.api.sb.mdlp.crpt.ru/api/v1"
        );
        assert_eq!(
            one("production-nonresident"),
            "https://nrz.api.mdlp.crpt.ru/api/v1"
        );
        assert_eq!(one("http://127.0.0.1:9/mdlp/"), "http://127.0.0.1:9/mdlp");
        assert!(Config::from_json(r#"{"urls": {"mdlp": "ftp://x"}}"#).is_err());
        assert!(Config::from_json(r#"{"stand": "staging"}"#).is_err());
    }

    #[test]
    fn stands_and_overrides() {
        let c = Config::from_json(r#"{"stand":"demo","urls":{"trueapi":"production-tobacco"}}"#)
            .unwrap();
        assert_eq!(c.url(Service::Suz).unwrap(), "https://intuot.crpt.ru:16443");
        assert_eq!(
            c.url(Service::TrueApi).unwrap(),
            "https://ismotp.crptech.ru/api/v3/true-api"
        );
        let e = Config::from_json(r#"{"stand":"emulator","emulator_url":"http://127.0.0.1:9/"}"#)
            .unwrap();
        assert_eq!(
            e.url(Service::Gismt).unwrap(),
            "http://127.0.0.1:9/gismt/api/v3"
        );
        assert!(Config::from_json("{}").unwrap().url(Service::Suz).is_err());
    }
}
