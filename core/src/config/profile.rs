//! Profiles: one serde type per flow, chosen by the profile's `flow` key. A key that the flow
//! does not use is refused with its full path, as is a value of the wrong type.

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::{parse_command, CommandConfig, RawSigner, Service};
use crate::error::{Error, Result};
use crate::value::{Flow, Kind};

/// The scope a SmartMarket profile uses when it names none: what SmartPush needs.
pub const DEFAULT_SMARTMARKET_SCOPE: &str = "SMART_PUSH";

/// A secret string: wiped on drop, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// A secret holding a copy of `value`.
    pub fn new(value: &str) -> Secret {
        Secret(Zeroizing::new(value.to_owned()))
    }
    /// The secret value itself; never log it.
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
#[non_exhaustive]
pub enum ProfileFlow {
    /// A SUZ token through GIS MT: a challenge signed (attached) with the profile's signer.
    Gismt,
    /// A SUZ token through True API: a challenge signed (attached) with the profile's signer.
    TrueApi {
        /// The organisation's INN (10 or 12 digits) when the certificate covers several; `None`
        /// sends none.
        inn: Option<String>,
    },
    /// A service's own token ([`Kind::SignedIn`]: True API's JWT, the united token, GIS MT's
    /// token), signed in without an installation: a challenge signed (attached) with the
    /// profile's signer. The server binds the token to the signing certificate and the
    /// organisation, so the cache keeps one per service, `certificate` and `inn`.
    SignedIn {
        /// Which flow: one whose [`Flow::kind`] is [`Kind::SignedIn`].
        flow: Flow,
        /// The organisation's INN (10 or 12 digits) chosen under a power of attorney (МЧД) when
        /// the certificate covers several; `None` sends none.
        inn: Option<String>,
        /// Names the signing certificate (its thumbprint, or any label): profiles that sign
        /// with the same certificate for the same `inn` share one token, others do not.
        certificate: String,
    },
    /// A SUZ token (`Flow::Mdlp`) or MDLP's own session (`Flow::MdlpSession`) through MDLP with
    /// `SIGNED_CODE`: the code signed (detached) with the profile's signer (residents).
    MdlpSigned {
        /// `Flow::Mdlp` or `Flow::MdlpSession`.
        flow: Flow,
        /// The accounting system's MDLP `client_id` (a UUID).
        client_id: String,
        /// The accounting system's MDLP `client_secret`.
        client_secret: Secret,
        /// The MDLP user: the certificate's serial number or SHA1 thumbprint.
        user_id: String,
    },
    /// A SUZ token (`Flow::Mdlp`) or MDLP's own session (`Flow::MdlpSession`) through MDLP with
    /// `PASSWORD` (non-residents); no signer needed.
    MdlpPassword {
        /// `Flow::Mdlp` or `Flow::MdlpSession`.
        flow: Flow,
        /// The accounting system's MDLP `client_id` (a UUID).
        client_id: String,
        /// The accounting system's MDLP `client_secret`.
        client_secret: Secret,
        /// The MDLP user (for non-residents, an e-mail address).
        user_id: String,
        /// The MDLP user's password.
        password: Secret,
    },
    /// A Sber SmartMarket OAuth `access_token`, obtained with the client's id and secret (Basic
    /// auth).
    SmartMarket {
        /// The SmartMarket OAuth client id.
        client_id: String,
        /// The SmartMarket OAuth client secret.
        client_secret: Secret,
        /// The scope asked for; [`DEFAULT_SMARTMARKET_SCOPE`] when the config names none.
        scope: String,
    },
}

/// A named profile: which flow mints its token and with what, and which API it is for.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The profile's name: its key under `profiles` in the configuration.
    pub name: String,
    /// Which flow mints the token, with that flow's credentials.
    pub flow: ProfileFlow,
    /// The installation (SUZ flows).
    pub oms_connection: Option<String>,
    /// The SUZ instance, added as `omsId` to `suz_request` paths that lack it.
    pub oms_id: Option<String>,
    /// The profile's own signing command (`signer.command`); a signer registered for the profile at
    /// run time takes precedence, and `None` falls back to the client's default signer.
    pub signer: Option<CommandConfig>,
    /// Refresh margin for this profile's token (`refresh_margin_ms`); `None` uses
    /// `cache.refresh_margin_ms`, or else one picked from the token's lifetime.
    pub refresh_margin: Option<Duration>,
    /// `strict_inn`: a signing certificate whose ИНН / ИНН ЮЛ is not the profile's `inn` is an
    /// error (nothing sent), not a warning.
    pub strict_inn: bool,
    /// `served_by_keeper`: the token is kept fresh in the shared store by a keeper (`suz keep`,
    /// where the key is); this process never fetches it, only takes it from the store.
    pub served_by_keeper: bool,
}

impl Profile {
    /// The API this profile's token is for.
    pub fn api(&self) -> Service {
        match self.flow {
            ProfileFlow::SmartMarket { .. } => Service::SmartMarket,
            ProfileFlow::SignedIn { flow, .. } => flow.service(),
            ProfileFlow::MdlpSigned { flow, .. } | ProfileFlow::MdlpPassword { flow, .. } => {
                if flow.kind().names_installation() {
                    Service::Suz
                } else {
                    flow.service()
                }
            }
            ProfileFlow::Gismt | ProfileFlow::TrueApi { .. } => Service::Suz,
        }
    }

    /// Whether minting this profile's token needs a signature (GIS MT, True API, MDLP
    /// `SIGNED_CODE`).
    pub fn needs_signer(&self) -> bool {
        match self.flow {
            ProfileFlow::Gismt
            | ProfileFlow::TrueApi { .. }
            | ProfileFlow::SignedIn { .. }
            | ProfileFlow::MdlpSigned { .. } => true,
            ProfileFlow::MdlpPassword { .. } | ProfileFlow::SmartMarket { .. } => false,
        }
    }
}

/// The keys every SUZ profile has.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GismtProfile {
    oms_connection: String,
    oms_id: Option<String>,
    signer: Option<RawSigner>,
    refresh_margin_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrueApiProfile {
    oms_connection: String,
    oms_id: Option<String>,
    inn: Option<String>,
    #[serde(default)]
    strict_inn: bool,
    signer: Option<RawSigner>,
    refresh_margin_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedInProfile {
    certificate: String,
    inn: Option<String>,
    #[serde(default)]
    strict_inn: bool,
    signer: Option<RawSigner>,
    refresh_margin_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MdlpProfile {
    oms_connection: String,
    oms_id: Option<String>,
    client_id: String,
    client_secret: String,
    user_id: String,
    /// `PASSWORD` authentication (non-residents) instead of a signed code.
    password: Option<String>,
    signer: Option<RawSigner>,
    refresh_margin_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MdlpSessionProfile {
    client_id: String,
    client_secret: String,
    user_id: String,
    /// `PASSWORD` authentication (non-residents) instead of a signed code.
    password: Option<String>,
    signer: Option<RawSigner>,
    refresh_margin_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmartMarketProfile {
    client_id: String,
    client_secret: String,
    scope: Option<String>,
    refresh_margin_ms: Option<u64>,
}

/// The flows a profile may name, for messages: `mdlp, gismt, … or smartmarket`.
fn flow_names() -> String {
    let names: Vec<&str> = Flow::ALL.iter().map(|f| f.name()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// Parses `profiles.<name>`: reads `flow`, then the rest as that flow's type.
pub(super) fn parse_profile(name: &str, raw: Value) -> Result<Profile> {
    let key = |field: &str| format!("profiles.{name}.{field}");
    let Value::Object(mut fields) = raw else {
        return Err(Error::config(format!(
            "config key `profiles.{name}`: a profile is a JSON object"
        )));
    };
    let flow = match fields.remove("flow") {
        Some(Value::String(flow)) => flow,
        Some(other) => {
            return Err(Error::config(format!(
                "config key `{}`: expected a string ({}), got {other}",
                key("flow"),
                flow_names()
            )))
        }
        None => {
            return Err(Error::config(format!(
                "config key `{}`: required ({})",
                key("flow"),
                flow_names()
            )))
        }
    };
    let served_by_keeper = match fields.remove("served_by_keeper") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            return Err(Error::config(format!(
                "config key `{}`: expected true or false, got {other}",
                key("served_by_keeper")
            )))
        }
    };
    let fields = Value::Object(fields);
    let checked = Checked { name, flow: &flow };
    let base =
        |oms_connection: String, oms_id: Option<String>| -> Result<(String, Option<String>)> {
            let connection = checked.required(oms_connection, "oms_connection")?;
            checked.uuid(&connection, "oms_connection")?;
            let oms_id = oms_id.map(|id| id.trim().to_owned());
            if let Some(id) = &oms_id {
                checked.uuid(id, "oms_id")?;
            }
            Ok((connection, oms_id))
        };
    let Some(named) = Flow::from_name(&flow) else {
        return Err(Error::config(format!(
            "config key `{}`: unknown flow {flow:?} (use {})",
            key("flow"),
            flow_names()
        )));
    };
    // The profile's section follows from the flow's kind: a flow of a new kind breaks the
    // build here until its section is written.
    let mut strict_inn = false;
    let (flow, oms_connection, oms_id, signer, margin) = match named.kind() {
        Kind::SuzChallenge if named == Flow::Gismt => {
            let p: GismtProfile = checked.fields(fields)?;
            let (c, id) = base(p.oms_connection, p.oms_id)?;
            (
                ProfileFlow::Gismt,
                Some(c),
                id,
                p.signer,
                p.refresh_margin_ms,
            )
        }
        Kind::SuzChallenge => {
            let p: TrueApiProfile = checked.fields(fields)?;
            strict_inn = p.strict_inn;
            let (c, id) = base(p.oms_connection, p.oms_id)?;
            let inn = p.inn.map(|i| i.trim().to_owned());
            (
                ProfileFlow::TrueApi { inn },
                Some(c),
                id,
                p.signer,
                p.refresh_margin_ms,
            )
        }
        Kind::SignedIn => {
            let p: SignedInProfile = checked.fields(fields)?;
            strict_inn = p.strict_inn;
            let certificate = checked.required(p.certificate, "certificate")?;
            let inn = p.inn.map(|i| i.trim().to_owned());
            if let Some(inn) = &inn {
                if !(inn.len() == 10 || inn.len() == 12) || !inn.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(Error::config(format!(
                        "config key `{}`: an INN is 10 or 12 digits, got {inn:?}",
                        key("inn")
                    )));
                }
            }
            (
                ProfileFlow::SignedIn {
                    flow: named,
                    inn,
                    certificate,
                },
                None,
                None,
                p.signer,
                p.refresh_margin_ms,
            )
        }
        Kind::SuzMdlp => {
            let p: MdlpProfile = checked.fields(fields)?;
            let (c, id) = base(p.oms_connection, p.oms_id)?;
            let flow = mdlp_flow(
                &checked,
                named,
                p.client_id,
                p.client_secret,
                p.user_id,
                p.password,
            )?;
            (flow, Some(c), id, p.signer, p.refresh_margin_ms)
        }
        Kind::MdlpSession => {
            let p: MdlpSessionProfile = checked.fields(fields)?;
            let flow = mdlp_flow(
                &checked,
                named,
                p.client_id,
                p.client_secret,
                p.user_id,
                p.password,
            )?;
            (flow, None, None, p.signer, p.refresh_margin_ms)
        }
        Kind::OAuth => {
            let p: SmartMarketProfile = checked.fields(fields)?;
            let flow = ProfileFlow::SmartMarket {
                client_id: checked.required(p.client_id, "client_id")?,
                client_secret: Secret::new(&checked.required(p.client_secret, "client_secret")?),
                scope: match p.scope {
                    Some(scope) => checked.required(scope, "scope")?,
                    None => DEFAULT_SMARTMARKET_SCOPE.to_owned(),
                },
            };
            (flow, None, None, None, p.refresh_margin_ms)
        }
    };
    Ok(Profile {
        name: name.to_owned(),
        flow,
        oms_connection,
        oms_id,
        signer: parse_command(signer, &key("signer.command"))?,
        refresh_margin: margin
            .map(|ms| super::millis(Some(ms), 0, &key("refresh_margin_ms"), false))
            .transpose()?,
        strict_inn,
        served_by_keeper,
    })
}

/// An MDLP profile's flow: `SIGNED_CODE`, or `PASSWORD` when it names a password.
fn mdlp_flow(
    checked: &Checked<'_>,
    flow: Flow,
    client_id: String,
    client_secret: String,
    user_id: String,
    password: Option<String>,
) -> Result<ProfileFlow> {
    let client_id = checked.required(client_id, "client_id")?;
    checked.uuid(&client_id, "client_id")?;
    let client_secret = Secret::new(&checked.required(client_secret, "client_secret")?);
    let user_id = checked.required(user_id, "user_id")?;
    Ok(match password {
        Some(password) => ProfileFlow::MdlpPassword {
            flow,
            client_id,
            client_secret,
            user_id,
            password: Secret::new(&password),
        },
        None => ProfileFlow::MdlpSigned {
            flow,
            client_id,
            client_secret,
            user_id,
        },
    })
}

/// Checks on one profile's values, with messages that name the key and the flow.
struct Checked<'a> {
    name: &'a str,
    flow: &'a str,
}

impl Checked<'_> {
    fn key(&self, field: &str) -> String {
        format!("profiles.{}.{field}", self.name)
    }

    /// The profile's keys as the flow's type; every mistake names its full key path.
    fn fields<T: DeserializeOwned>(&self, fields: Value) -> Result<T> {
        serde_path_to_error::deserialize(fields).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            // The path names the object the field is missing from (`signer.command`), or
            // nothing for the profile itself.
            let inside = |field: &str| match path.as_str() {
                "" | "." => self.key(field),
                path => self.key(&format!("{path}.{field}")),
            };
            if let Some(field) = quoted_after(&inner, "missing field `") {
                return Error::config(format!(
                    "config key `{}`: required for flow {:?}",
                    inside(field),
                    self.flow
                ));
            }
            if let Some(field) = quoted_after(&inner, "unknown field `") {
                let allowed = inner
                    .split_once("expected one of ")
                    .or_else(|| inner.split_once("expected "))
                    .map(|(_, rest)| format!(" (it takes {rest})"))
                    .unwrap_or_default();
                // Here the path names the unknown key itself.
                let key = match path.as_str() {
                    "" | "." => self.key(field),
                    path => self.key(path),
                };
                return Error::config(format!(
                    "config key `{key}`: not used by flow {:?}{allowed}",
                    self.flow
                ));
            }
            let key = if path.is_empty() || path == "." {
                format!("profiles.{}", self.name)
            } else {
                self.key(&path)
            };
            Error::config(format!("config key `{key}`: {inner}"))
        })
    }

    fn required(&self, value: String, field: &str) -> Result<String> {
        let value = value.trim();
        if value.is_empty() {
            return Err(Error::config(format!(
                "config key `{}`: must not be empty (flow {:?})",
                self.key(field),
                self.flow
            )));
        }
        Ok(value.to_owned())
    }

    fn uuid(&self, value: &str, field: &str) -> Result<()> {
        uuid::Uuid::try_parse(value).map(|_| ()).map_err(|_| {
            Error::config(format!(
                "config key `{}`: {value:?} is not a UUID",
                self.key(field)
            ))
        })
    }
}

/// The text between `prefix` and the next backquote.
fn quoted_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(profile: Value) -> String {
        parse_profile("p", profile).unwrap_err().message
    }

    const CONN: &str = "11b1abc9-f4ee-47db-8a20-f80ac83504e8";

    #[test]
    fn each_flow_takes_its_own_keys() {
        let p = parse_profile(
            "p",
            json!({"flow": "trueapi", "oms_connection": CONN, "inn": "7700000000"}),
        )
        .unwrap();
        assert!(matches!(p.flow, ProfileFlow::TrueApi { inn: Some(ref i) } if i == "7700000000"));
        assert_eq!(
            err(json!({"flow": "gismt", "oms_connection": CONN, "inn": "7700000000"})),
            "config key `profiles.p.inn`: not used by flow \"gismt\" (it takes `oms_connection`, `oms_id`, `signer`, `refresh_margin_ms`)"
        );
        assert_eq!(
            err(json!({"flow": "smartmarket", "client_id": "a", "client_secret": "b", "oms_connection": CONN})),
            "config key `profiles.p.oms_connection`: not used by flow \"smartmarket\" (it takes `client_id`, `client_secret`, `scope`, `refresh_margin_ms`)"
        );
    }

    #[test]
    fn missing_and_empty_keys_are_named() {
        assert_eq!(
            err(
                json!({"flow": "mdlp", "oms_connection": CONN, "client_secret": "s", "user_id": "u"})
            ),
            "config key `profiles.p.client_id`: required for flow \"mdlp\""
        );
        // A key missing inside the profile is named with its whole path.
        assert_eq!(
            err(json!({"flow": "gismt", "oms_connection": CONN,
                       "signer": {"command": {"attached": ["sign"]}}})),
            "config key `profiles.p.signer.command.detached`: required for flow \"gismt\""
        );
        assert_eq!(
            err(json!({"flow": "gismt", "oms_connection": CONN,
                       "signer": {"command": {"attached": ["sign"], "detached": ["s"], "x": 1}}})),
            "config key `profiles.p.signer.command.x`: not used by flow \"gismt\" (it takes `attached`, `detached`, `timeout_ms`)"
        );
        assert_eq!(
            err(json!({"flow": "smartmarket", "client_id": " ", "client_secret": "b"})),
            "config key `profiles.p.client_id`: must not be empty (flow \"smartmarket\")"
        );
        assert_eq!(
            err(json!({"oms_connection": CONN})),
            "config key `profiles.p.flow`: required (gismt, gismt_token, trueapi, trueapi_token, united_token, mdlp, mdlp_session or smartmarket)"
        );
        assert_eq!(
            err(json!({"flow": "gost", "oms_connection": CONN})),
            "config key `profiles.p.flow`: unknown flow \"gost\" (use gismt, gismt_token, trueapi, trueapi_token, united_token, mdlp, mdlp_session or smartmarket)"
        );
    }

    #[test]
    fn a_type_error_names_the_full_path() {
        assert_eq!(
            err(json!({"flow": "gismt", "oms_connection": CONN, "refresh_margin_ms": "60000"})),
            "config key `profiles.p.refresh_margin_ms`: invalid type: string \"60000\", expected u64"
        );
        assert_eq!(
            err(json!({"flow": "gismt", "oms_connection": CONN,
                       "signer": {"command": {"attached": "openssl", "detached": ["x"]}}})),
            "config key `profiles.p.signer.command.attached`: invalid type: string \"openssl\", expected a sequence"
        );
        assert_eq!(
            err(json!({"flow": "gismt", "oms_connection": "not-a-uuid"})),
            "config key `profiles.p.oms_connection`: \"not-a-uuid\" is not a UUID"
        );
    }

    #[test]
    fn mdlp_with_a_password_is_the_password_flow_and_scope_defaults() {
        let p = parse_profile(
            "p",
            json!({"flow": "mdlp", "oms_connection": CONN, "client_id": CONN,
                   "client_secret": "s", "user_id": "u", "password": "pw"}),
        )
        .unwrap();
        assert!(matches!(p.flow, ProfileFlow::MdlpPassword { .. }));
        let p = parse_profile(
            "p",
            json!({"flow": "smartmarket", "client_id": "a", "client_secret": "b"}),
        )
        .unwrap();
        assert!(
            matches!(p.flow, ProfileFlow::SmartMarket { ref scope, .. } if scope == "SMART_PUSH")
        );
        assert_eq!(p.api(), Service::SmartMarket);
        assert!(!p.needs_signer());
        let g = parse_profile("g", json!({"flow": "gismt", "oms_connection": CONN})).unwrap();
        assert_eq!(g.api(), Service::Suz);
        assert!(g.needs_signer());
    }
}
