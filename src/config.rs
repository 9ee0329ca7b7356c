//! The client configuration: one JSON document, strictly checked.
//!
//! Unknown keys and values of the wrong type are errors that name the key (with its path,
//! e.g. `timeouts.total_ms`), so a typo never silently falls back to a default.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The services whose base URLs the configuration holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// SUZ (order management station): installation registration and the protected API.
    Suz,
    /// MDLP (pharma) authentication, including the API version (`.../api/v1`).
    Mdlp,
    /// GIS MT authentication (`.../api/v3`).
    Gismt,
    /// True API authentication (`.../api/v3/true-api`).
    TrueApi,
    /// Sber SmartMarket (OAuth and SmartPush).
    SmartMarket,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Suz => "suz",
            Service::Mdlp => "mdlp",
            Service::Gismt => "gismt",
            Service::TrueApi => "trueapi",
            Service::SmartMarket => "smartmarket",
        }
    }

    /// Base URL of a named stand, from PROTOCOL.md (the CRPT instruction v1.2 and Sber's
    /// SmartMarket documentation). `None` when the stand does not exist for this service.
    pub fn stand_url(self, stand: &str) -> Option<&'static str> {
        Some(match (self, stand) {
            (Service::Suz, "demo") => "https://intuot.crpt.ru:16443",
            (Service::Suz, "production") => "https://suzgrid.crpt.ru:16443",
            (Service::Mdlp, "demo" | "sandbox") => "https://api.sb.mdlp.crpt.ru/api/v1",
            (Service::Mdlp, "production") => "https://api.mdlp.crpt.ru/api/v1",
            (Service::Mdlp, "demo-nonresident" | "sandbox-nonresident") => {
                "https://nrz.api.sb.mdlp.crpt.ru/api/v1"
            }
            (Service::Mdlp, "production-nonresident") => "https://nrz.api.mdlp.crpt.ru/api/v1",
            (Service::Gismt, "demo") => "https://demo.lp.crpt.tech/api/v3",
            (Service::Gismt, "production") => "https://ismpr.crpt.ru/api/v3",
            (Service::TrueApi, "demo") => "https://int01.gismt.crpt.tech/api/v3/true-api",
            (Service::TrueApi, "production") => "https://markirovka.crpt.ru/api/v3/true-api",
            (Service::TrueApi, "production-tobacco") => "https://ismotp.crptech.ru/api/v3/true-api",
            // SmartMarket publishes one address for everything.
            (Service::SmartMarket, "demo" | "production") => {
                "https://salute.online.sberbank.ru:9443"
            }
            _ => return None,
        })
    }

    /// Path of this service under the bundled emulator's base URL.
    pub fn emulator_path(self) -> &'static str {
        match self {
            Service::Suz => "/suz",
            Service::Mdlp => "/mdlp/api/v1",
            Service::Gismt => "/gismt/api/v3",
            Service::TrueApi => "/trueapi/api/v3/true-api",
            Service::SmartMarket => "/smartmarket",
        }
    }

    const ALL: [Service; 5] = [
        Service::Suz,
        Service::Mdlp,
        Service::Gismt,
        Service::TrueApi,
        Service::SmartMarket,
    ];
}

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
    profiles: BTreeMap<String, RawProfile>,
    #[serde(default)]
    cache: RawCache,
    redis: Option<RawRedis>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    flow: String,
    oms_connection: Option<String>,
    oms_id: Option<String>,
    inn: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    user_id: Option<String>,
    password: Option<String>,
    scope: Option<String>,
    signer: Option<RawSigner>,
    refresh_margin_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCache {
    dir: Option<PathBuf>,
    persist: Option<bool>,
    refresh_margin_ms: Option<u64>,
    lock_timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedis {
    url: String,
    on_unavailable: Option<String>,
    lock_ttl_ms: Option<u64>,
    key_prefix: Option<String>,
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
struct RawSigner {
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
#[derive(Clone, Debug)]
pub struct CommandConfig {
    pub attached: Vec<String>,
    pub detached: Vec<String>,
    pub timeout: Duration,
}

/// The parsed, validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    urls: [Option<String>; 5],
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    /// `None`: direct connections. `Some("env")`: from `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY`.
    pub proxy: Option<String>,
    pub extra_roots_pem: Option<PathBuf>,
    pub trust_roots: TrustRoots,
    pub user_agent: String,
    pub retry: RetryPolicy,
    pub command_signer: Option<CommandConfig>,
    pub profiles: BTreeMap<String, Profile>,
    pub cache: CacheConfig,
    pub redis: Option<RedisConfig>,
}

/// A secret string: wiped on drop, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: &str) -> Secret {
        Secret(Zeroizing::new(value.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// How a profile's token is minted.
#[derive(Clone, Debug)]
pub enum ProfileFlow {
    Gismt,
    TrueApi {
        inn: Option<String>,
    },
    MdlpSigned {
        client_id: String,
        client_secret: Secret,
        user_id: String,
    },
    MdlpPassword {
        client_id: String,
        client_secret: Secret,
        user_id: String,
        password: Secret,
    },
    SmartMarket {
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
    },
}

/// A named profile: which flow mints its token and with what, and which API it is for.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    pub flow: ProfileFlow,
    /// The installation (SUZ flows).
    pub oms_connection: Option<String>,
    /// The SUZ instance, added as `omsId` to `suz_request` paths that lack it.
    pub oms_id: Option<String>,
    pub signer: Option<CommandConfig>,
    pub refresh_margin: Option<Duration>,
}

impl Profile {
    /// The API this profile's token is for.
    pub fn api(&self) -> Service {
        match self.flow {
            ProfileFlow::SmartMarket { .. } => Service::SmartMarket,
            _ => Service::Suz,
        }
    }

    pub fn needs_signer(&self) -> bool {
        matches!(
            self.flow,
            ProfileFlow::Gismt | ProfileFlow::TrueApi { .. } | ProfileFlow::MdlpSigned { .. }
        )
    }
}

/// The token cache.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// Where the file store lives; `None` when persistence is off (memory only).
    pub dir: Option<PathBuf>,
    /// A fixed refresh margin; `None` picks one from the token's lifetime.
    pub refresh_margin: Option<Duration>,
    /// How long to wait for another process's fetch.
    pub lock_timeout: Duration,
}

/// What to do when Redis cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisFallback {
    /// Fail the call (`SUZ_RESULT_STORE`): no chance of a second token from another machine.
    Error,
    /// Log an error and coordinate through the local file store only.
    Local,
}

#[derive(Clone, Debug)]
pub struct RedisConfig {
    pub host: String,
    pub port: u16,
    pub password: Option<Secret>,
    pub db: u32,
    pub on_unavailable: RedisFallback,
    pub lock_ttl: Duration,
    pub key_prefix: String,
}

impl Config {
    /// Parses and validates a configuration document.
    pub fn from_json(json: &str) -> Result<Config> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path.is_empty() || path == "." {
                Error::config(format!("config: {inner}"))
            } else {
                Error::config(format!("config key `{path}`: {inner}"))
            }
        })?;
        Self::from_raw(raw)
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
        let connect_timeout = Duration::from_millis(raw.timeouts.connect_ms.unwrap_or(10_000));
        let total_timeout = Duration::from_millis(raw.timeouts.total_ms.unwrap_or(60_000));
        if connect_timeout.is_zero() || total_timeout.is_zero() {
            return Err(Error::config(
                "config key `timeouts`: timeouts must be greater than zero",
            ));
        }
        if let Some(proxy) = &raw.proxy {
            if proxy != "env" {
                ureq::Proxy::new(proxy).map_err(|e| {
                    Error::config(format!("config key `proxy`: invalid proxy URL: {e}"))
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
            max_attempts: raw.retry.max_attempts.unwrap_or(3).max(1),
            backoff: Duration::from_millis(raw.retry.backoff_ms.unwrap_or(200)),
            max_retry_after: Duration::from_millis(raw.retry.max_retry_after_ms.unwrap_or(5_000)),
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
            refresh_margin: raw.cache.refresh_margin_ms.map(Duration::from_millis),
            lock_timeout: Duration::from_millis(
                raw.cache
                    .lock_timeout_ms
                    .unwrap_or(total_timeout.as_millis() as u64 * 2),
            ),
        };
        let redis = raw.redis.map(parse_redis).transpose()?;
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
            user_agent: raw
                .user_agent
                .unwrap_or_else(|| format!("suz-auth/{}", env!("CARGO_PKG_VERSION"))),
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

fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("SUZ_AUTH_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("suz-auth")))
        .or_else(|| std::env::var_os("LOCALAPPDATA").map(|d| PathBuf::from(d).join("suz-auth")))
        .or_else(|| {
            std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache").join("suz-auth"))
        });
    base.unwrap_or_else(|| std::env::temp_dir().join("suz-auth"))
}

fn parse_command(raw: Option<RawSigner>, key: &str) -> Result<Option<CommandConfig>> {
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
                timeout: Duration::from_millis(cmd.timeout_ms.unwrap_or(60_000)),
            }))
        }
    }
}

fn parse_profile(name: &str, raw: RawProfile) -> Result<Profile> {
    let key = |field: &str| format!("profiles.{name}.{field}");
    let need = |value: Option<String>, field: &str| -> Result<String> {
        match value {
            Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
            _ => Err(Error::config(format!(
                "config key `{}`: required for flow {:?}",
                key(field),
                raw.flow
            ))),
        }
    };
    let forbid = |present: bool, field: &str| -> Result<()> {
        if present {
            Err(Error::config(format!(
                "config key `{}`: not used by flow {:?}",
                key(field),
                raw.flow
            )))
        } else {
            Ok(())
        }
    };
    let uuid_field = |value: &str, field: &str| -> Result<()> {
        uuid::Uuid::try_parse(value).map(|_| ()).map_err(|_| {
            Error::config(format!(
                "config key `{}`: {value:?} is not a UUID",
                key(field)
            ))
        })
    };
    let flow = match raw.flow.as_str() {
        "gismt" | "trueapi" => {
            forbid(raw.client_id.is_some(), "client_id")?;
            forbid(raw.client_secret.is_some(), "client_secret")?;
            forbid(raw.user_id.is_some(), "user_id")?;
            forbid(raw.password.is_some(), "password")?;
            forbid(raw.scope.is_some(), "scope")?;
            if raw.flow == "gismt" {
                forbid(raw.inn.is_some(), "inn")?;
                ProfileFlow::Gismt
            } else {
                ProfileFlow::TrueApi {
                    inn: raw.inn.clone(),
                }
            }
        }
        "mdlp" => {
            forbid(raw.inn.is_some(), "inn")?;
            forbid(raw.scope.is_some(), "scope")?;
            let client_id = need(raw.client_id.clone(), "client_id")?;
            uuid_field(&client_id, "client_id")?;
            let client_secret = Secret::new(&need(raw.client_secret.clone(), "client_secret")?);
            let user_id = need(raw.user_id.clone(), "user_id")?;
            match &raw.password {
                Some(p) => ProfileFlow::MdlpPassword {
                    client_id,
                    client_secret,
                    user_id,
                    password: Secret::new(p),
                },
                None => ProfileFlow::MdlpSigned {
                    client_id,
                    client_secret,
                    user_id,
                },
            }
        }
        "smartmarket" => {
            forbid(raw.oms_connection.is_some(), "oms_connection")?;
            forbid(raw.oms_id.is_some(), "oms_id")?;
            forbid(raw.inn.is_some(), "inn")?;
            forbid(raw.user_id.is_some(), "user_id")?;
            forbid(raw.password.is_some(), "password")?;
            forbid(raw.signer.is_some(), "signer")?;
            ProfileFlow::SmartMarket {
                client_id: need(raw.client_id.clone(), "client_id")?,
                client_secret: Secret::new(&need(raw.client_secret.clone(), "client_secret")?),
                scope: raw.scope.clone(),
            }
        }
        other => {
            return Err(Error::config(format!(
                "config key `{}`: unknown flow {other:?} (use gismt, trueapi, mdlp or smartmarket)",
                key("flow")
            )))
        }
    };
    let oms_connection = match flow {
        ProfileFlow::SmartMarket { .. } => None,
        _ => {
            let c = need(raw.oms_connection, "oms_connection")?;
            uuid_field(&c, "oms_connection")?;
            Some(c)
        }
    };
    if let Some(id) = &raw.oms_id {
        uuid_field(id, "oms_id")?;
    }
    Ok(Profile {
        name: name.to_owned(),
        flow,
        oms_connection,
        oms_id: raw.oms_id,
        signer: parse_command(raw.signer, &key("signer.command"))?,
        refresh_margin: raw.refresh_margin_ms.map(Duration::from_millis),
    })
}

fn parse_redis(raw: RawRedis) -> Result<RedisConfig> {
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
        lock_ttl: Duration::from_millis(raw.lock_ttl_ms.unwrap_or(60_000)),
        key_prefix: raw.key_prefix.unwrap_or_else(|| "suz-auth:".to_owned()),
    })
}

fn resolve_url_value(service: Service, value: &str, key: &str) -> Result<String> {
    if let Some(url) = service.stand_url(value) {
        return Ok(url.to_owned());
    }
    check_url(value, key)
}

/// Checks that a value is an absolute http(s) URL and returns it without a trailing slash.
fn check_url(value: &str, key: &str) -> Result<String> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !value.contains(char::is_whitespace) =>
        {
            Ok(value.trim_end_matches('/').to_owned())
        }
        _ => Err(Error::config(format!(
            "config key `{key}`: {value:?} is neither a stand name nor an http(s) URL"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
