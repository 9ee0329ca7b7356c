//! The client configuration: one JSON document, strictly checked.
//!
//! Unknown keys and values of the wrong type are errors that name the key (with its path,
//! e.g. `timeouts.total_ms`), so a typo never silently falls back to a default.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

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
            (Service::SmartMarket, "demo" | "production") => "https://salute.online.sberbank.ru:9443",
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
        let command_signer = match raw.signer.and_then(|s| s.command) {
            None => None,
            Some(cmd) => {
                if cmd.attached.is_empty() || cmd.detached.is_empty() {
                    return Err(Error::config(
                        "config key `signer.command`: `attached` and `detached` must each be a non-empty argv array",
                    ));
                }
                Some(CommandConfig {
                    attached: cmd.attached,
                    detached: cmd.detached,
                    timeout: Duration::from_millis(cmd.timeout_ms.unwrap_or(60_000)),
                })
            }
        };
        Ok(Config {
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
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !value.contains(char::is_whitespace) => {
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
        assert_eq!(e.url(Service::Gismt).unwrap(), "http://127.0.0.1:9/gismt/api/v3");
        assert!(Config::from_json("{}").unwrap().url(Service::Suz).is_err());
    }
}
