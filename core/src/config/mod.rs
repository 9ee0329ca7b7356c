//! The client configuration: one JSON document, strictly checked.
//!
//! Unknown keys and values of the wrong type are errors that name the key (with its path,
//! e.g. `timeouts.total_ms`), so a typo never silently falls back to a default.

mod profile;
mod redis;
mod stands;
mod url;
mod values;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

pub use crate::value::Service;
pub use profile::{Profile, ProfileFlow, Secret, DEFAULT_SMARTMARKET_SCOPE};
pub use redis::{RedisConfig, RedisFallback, RedisServer};
pub(crate) use values::{millis, parse_command, RawSigner};
pub use values::{CommandConfig, TrustRoots, MAX_MS};

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
    suz_api: Option<String>,
    emulator_url: Option<String>,
    #[serde(default)]
    urls: RawUrls,
    #[serde(default)]
    timeouts: RawTimeouts,
    proxy: Option<String>,
    #[serde(default)]
    connect_to: BTreeMap<String, String>,
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
    suz_registration: Option<String>,
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

/// Which version of SUZ's API the library registers installations with (`suz_api`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuzApi {
    /// «API СУЗ 2.x»: `/api/v2/integration/connection` on the SUZ URL.
    V2,
    /// «API СУЗ 3.0»: `/api/v3/integration/connection` on the registration URL (`:16443`
    /// beside the API's 443 in production).
    V3,
}

impl SuzApi {
    /// The path segment: `v2` or `v3`.
    pub fn name(self) -> &'static str {
        match self {
            SuzApi::V2 => "v2",
            SuzApi::V3 => "v3",
        }
    }
}

/// The parsed, validated configuration.
#[derive(Clone)]
pub struct Config {
    urls: [Option<String>; 5],
    /// Where installations are registered: `urls.suz_registration`, else the stand's, else the
    /// SUZ URL.
    suz_registration: Option<String>,
    /// The SUZ API version of registration (`suz_api`, default v3).
    pub suz_api: SuzApi,
    /// Time allowed to connect (`timeouts.connect_ms`, default 10 000 ms).
    pub connect_timeout: Duration,
    /// Time allowed for one call, retries included (`timeouts.total_ms`, default 60 000 ms).
    pub total_timeout: Duration,
    /// `None`: direct connections. `Some("env")`: from `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY`.
    pub proxy: Option<String>,
    /// Where to connect instead of resolving a name (`connect_to`): `host:port` (lower case)
    /// → an address. TLS still checks the name.
    pub connect_to: BTreeMap<String, std::net::SocketAddr>,
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

/// `connect_to`: each key a `host:port` (a name, a port 1 to 65535), each value an IP address
/// and port (`127.0.0.1:8443`, `[::1]:8443`): never a name, so that nothing is looked up.
fn connect_to(raw: &BTreeMap<String, String>) -> Result<BTreeMap<String, std::net::SocketAddr>> {
    if raw.len() > 64 {
        return Err(Error::config(
            "config key `connect_to`: at most 64 entries".to_owned(),
        ));
    }
    raw.iter()
        .map(|(from, to)| {
            let key = format!("connect_to.{from}");
            let valid_name = |h: &str| {
                !h.is_empty()
                    && h.len() <= 253
                    && h
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            };
            match from.rsplit_once(':') {
                Some((host, port))
                    if valid_name(host) && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
                _ => {
                    return Err(Error::config(format!(
                        "config key `{key}`: the key must be host:port (e.g. \"markirovka.crpt.ru:443\")"
                    )))
                }
            }
            let addr = to.parse::<std::net::SocketAddr>().map_err(|_| {
                Error::config(format!(
                    "config key `{key}`: {to:?} is not an IP address and port (e.g. \"127.0.0.1:8443\"); names are not accepted"
                ))
            })?;
            Ok((from.to_ascii_lowercase(), addr))
        })
        .collect()
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
            .field(
                "suz_registration",
                &self.suz_registration.as_deref().map(redact_url),
            )
            .field("suz_api", &self.suz_api)
            .field("connect_timeout", &self.connect_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("proxy", &self.proxy.as_deref().map(redact_url))
            .field("connect_to", &self.connect_to)
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
        let suz_api = match raw.suz_api.as_deref() {
            None | Some("v3") => SuzApi::V3,
            Some("v2") => SuzApi::V2,
            Some(other) => {
                return Err(Error::config(format!(
                    "config key `suz_api`: unknown version {other:?} (use \"v3\" or \"v2\")"
                )))
            }
        };
        let mut urls: [Option<String>; 5] = Default::default();
        for (i, service) in Service::ALL.iter().enumerate() {
            let key = format!("urls.{}", service.name());
            let chosen = match (&explicit[i], stand) {
                // A stand name for SUZ means that stand's host for the configured API version.
                (Some(value), _) if *service == Service::Suz => {
                    match stands::suz_url(value, suz_api) {
                        Some(url) => Some(url.to_owned()),
                        None => Some(resolve_url_value(*service, value, &key)?),
                    }
                }
                (Some(value), _) => Some(resolve_url_value(*service, value, &key)?),
                (None, Some("emulator")) => {
                    let base = raw.emulator_url.as_deref().unwrap_or_default();
                    let base = check_url(base, "emulator_url")?;
                    Some(format!("{base}{}", service.emulator_path()))
                }
                (None, Some(s)) if *service == Service::Suz => {
                    stands::suz_url(s, suz_api).map(str::to_owned)
                }
                (None, Some(s)) => service.stand_url(s).map(str::to_owned),
                (None, None) => None,
            };
            urls[i] = chosen;
        }
        // `urls.suz` naming a stand: that stand's registration host.
        let named = explicit[0]
            .as_deref()
            .and_then(|s| stands::suz_registration_url(s, suz_api));
        let suz_registration = match (&raw.urls.suz_registration, stand) {
            (Some(value), _) => Some(check_url(value, "urls.suz_registration")?),
            (None, _) if named.is_some() => named.map(str::to_owned),
            (None, Some(s)) if s != "emulator" && explicit[0].is_none() => {
                stands::suz_registration_url(s, suz_api).map(str::to_owned)
            }
            // The emulator, or a SUZ URL given by hand: registration is there too.
            (None, _) => urls[0].clone(),
        };
        let connect_timeout = millis(raw.timeouts.connect_ms, 10_000, "timeouts.connect_ms", true)?;
        let total_timeout = millis(raw.timeouts.total_ms, 60_000, "timeouts.total_ms", true)?;
        if let Some(proxy) = &raw.proxy {
            if proxy != "env" {
                url::parse_proxy_url(proxy).map_err(|why| {
                    Error::config(format!("config key `proxy`: invalid proxy URL: {why}"))
                })?;
            }
        }
        let connect_to = connect_to(&raw.connect_to)?;
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
            suz_registration,
            suz_api,
            connect_timeout,
            total_timeout,
            proxy: raw.proxy,
            connect_to,
            extra_roots_pem: raw.tls.extra_roots_pem,
            trust_roots,
            user_agent,
            retry,
            command_signer,
        })
    }

    /// Where installations are registered, with the API version: `<registration URL>/api/v3`
    /// (or `/api/v2`); the registration path follows.
    pub fn registration_base(&self) -> Result<String> {
        let url = self.suz_registration.as_deref().ok_or_else(|| {
            Error::config(
                "no URL for suz: set \"stand\", \"urls.suz\" or \"urls.suz_registration\" in the config",
            )
        })?;
        Ok(format!("{url}/api/{}", self.suz_api.name()))
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

/// Five minutes: time for a person to confirm a signature on a token at their computer.
const DEFAULT_LEASE_MS: u64 = 5 * 60 * 1000;

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

#[cfg(test)]
mod tests;
