//! What a machine can read about each profile: its flow and service, the cached token (masked,
//! when obtained, when it expires, when it will be refreshed) and the certificate that signed
//! for it. Read from the cache only: nothing is fetched or signed.

use serde_json::{json, Value};

use super::Client;
use crate::error::Result;
use crate::token::now_ms;
use crate::value::Certificate;

impl Client {
    /// The status of every configured profile, as JSON:
    /// `{"now_ms", "profiles": [{"profile", "flow", "service", "token", "certificate"}],
    /// "keeper"}` where `keeper` is the keeper's last heartbeat (`null` when none serves this
    /// store: `{"pid", "at_ms", "age_ms", "profiles": {name: {"at_ms", "outcome", "server_code",
    /// "server_message"}}}`), and
    /// `token` is `null` when nothing is cached, else `{"masked", "obtained_at_ms",
    /// "expires_at_ms", "refresh_at_ms", "expired"}`, and `certificate` is `null` when unknown
    /// (a flow that signs nothing, or a signature without its certificate), else the
    /// certificate's facts with `days_left`.
    pub fn status(&self) -> Result<Value> {
        let tokens = self.tokens()?;
        let now = now_ms();
        let profiles: Vec<Value> = self
            .config
            .profiles
            .values()
            .map(|profile| {
                let key = self.token_key(profile);
                let token = tokens.peek(&key);
                let flow = token.as_ref().map_or_else(
                    || profile_flow_name(profile),
                    |t| t.flow().name().to_owned(),
                );
                json!({
                    "profile": profile.name,
                    "flow": flow,
                    "service": profile.api().name(),
                    "token": token.as_ref().map(|t| json!({
                        "masked": t.masked(),
                        "obtained_at_ms": t.obtained_at_ms(),
                        "expires_at_ms": t.expires_at_ms(),
                        "refresh_at_ms": tokens.fresh_until_ms(profile, t),
                        "expired": t.expires_at_ms() <= now,
                    })),
                    "certificate": token
                        .as_ref()
                        .and_then(|t| t.certificate())
                        .map(|c| certificate_json(c, now)),
                })
            })
            .collect();
        // The keeper's heartbeat, when one serves this store: when it last looked, its pid and
        // each kept profile's last look (when, outcome, the server's code and message).
        let keeper = tokens.heartbeat().map(|mut h| {
            let at = h["at_ms"].as_i64().unwrap_or(0);
            h["age_ms"] = json!(now.saturating_sub(at));
            h
        });
        Ok(json!({"now_ms": now, "profiles": profiles, "keeper": keeper}))
    }
}

/// The profile's flow name before any token says it.
fn profile_flow_name(profile: &crate::config::Profile) -> String {
    use crate::config::ProfileFlow::*;
    use crate::value::Flow;
    match &profile.flow {
        Gismt => Flow::Gismt.name().to_owned(),
        TrueApi { .. } => Flow::TrueApi.name().to_owned(),
        SignedIn { flow, .. } | MdlpSigned { flow, .. } | MdlpPassword { flow, .. } => {
            flow.name().to_owned()
        }
        SmartMarket { .. } => Flow::SmartMarket.name().to_owned(),
    }
}

/// A certificate's facts, and the whole days left until it expires.
pub(crate) fn certificate_json(c: &Certificate, now: i64) -> Value {
    json!({
        "subject": c.subject,
        "organization": c.organization,
        "issuer": c.issuer,
        "serial": c.serial,
        "thumbprint": c.thumbprint,
        "inn": c.inn,
        "inn_le": c.inn_le,
        "ogrn": c.ogrn,
        "snils": c.snils,
        "not_before_ms": c.not_before_ms,
        "not_after_ms": c.not_after_ms,
        "days_left": c.not_after_ms.saturating_sub(now).div_euclid(86_400_000),
    })
}
