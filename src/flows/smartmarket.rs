//! Sber SmartMarket: OAuth `access_token` (Basic auth, a fresh `RqUID`, form `scope`) and the
//! SmartPush `apprequest` call that uses it.

use base64::Engine;
use serde_json::Value;
use zeroize::Zeroizing;

use super::{require_text, string_field};
use crate::client::Client;
use crate::config::Service;
use crate::error::{Error, Result};
use crate::http::{status_error, Method, Request, Response};
use crate::token::{now_ms, Flow, Token};

/// The scope SmartPush needs; the same endpoint serves other Sber scopes.
pub const DEFAULT_SCOPE: &str = "SMART_PUSH";

impl Client {
    /// An OAuth `access_token` for `scope` (default `SMART_PUSH`).
    pub fn token_smartmarket(
        &self,
        client_id: &str,
        client_secret: &str,
        scope: Option<&str>,
    ) -> Result<Token> {
        require_text(client_id, "SmartMarket client_id")?;
        require_text(client_secret, "SmartMarket client_secret")?;
        if client_id.contains(':') {
            return Err(Error::invalid_argument(
                "SmartMarket client_id must not contain ':' (Basic auth joins id and secret with it)",
            ));
        }
        let scope = scope.unwrap_or(DEFAULT_SCOPE).trim();
        if scope.is_empty() || scope.chars().any(char::is_control) {
            return Err(Error::invalid_argument(format!(
                "scope must be a non-empty printable string, got {scope:?}"
            )));
        }
        let basic = Zeroizing::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{client_id}:{client_secret}"))
        ));
        let form = format!("scope={}", form_encode(scope));
        let mut request = Request::new(
            Method::Post,
            self.url(Service::SmartMarket, "/api/v2/oauth")?,
        )
        .header("Authorization", basic.as_str())
        .rquid(new_rquid());
        request.body = Some(("application/x-www-form-urlencoded", form.as_bytes()));
        // A second OAuth call only mints another token; the first one stays valid.
        request.repeatable = true;
        let deadline = self.transport.deadline();
        let response = self.transport.send_ok(&request, deadline)?;
        let what = "SmartMarket OAuth";
        let rquid = request.rquid.as_deref();
        let v = response.json(what).map_err(|e| e.with_rquid(rquid))?;
        let token =
            string_field(&v, "access_token", &response, what).map_err(|e| e.with_rquid(rquid))?;
        let now = now_ms();
        let expires = super::number_field(&v, "expires_at")
            .and_then(|raw| expires_at_ms(raw, now))
            .ok_or_else(|| {
                response
                    .protocol_error(format!("{what}: the answer has no valid `expires_at`"))
                    .with_rquid(rquid)
            })?;
        Ok(Token::new(token, Flow::SmartMarket, now, expires))
    }

    /// The SmartPush `apprequest` call: `body_json` is the whole request body
    /// (`{"requestPayload": {...}}`); returns the answer's JSON text.
    pub fn smartpush_request(&self, access_token: &str, body_json: &str) -> Result<String> {
        require_text(access_token, "access_token")?;
        match serde_json::from_str::<Value>(body_json) {
            Ok(Value::Object(_)) => {}
            _ => {
                return Err(Error::invalid_argument(
                    "the SmartPush body must be a JSON object such as {\"requestPayload\": {}}",
                ))
            }
        }
        let request = Request::new(
            Method::Post,
            self.url(Service::SmartMarket, "/api/v2/smartpush/apprequest")?,
        )
        .header("Authorization", format!("Bearer {access_token}"))
        .rquid(new_rquid())
        .json(body_json.as_bytes());
        let rquid = request.rquid.clone();
        let response = self
            .transport
            .send_ok(&request, self.transport.deadline())?;
        let v = response
            .json("SmartPush")
            .map_err(|e| e.with_rquid(rquid.as_deref()))?;
        // The service may report a failure inside a 200 body: {"code": 401, "errors": [...]}.
        if let Some(code) = v.get("code").and_then(Value::as_u64).filter(|c| *c >= 400) {
            if v.get("errors").is_some() {
                let inner = Response {
                    status: code as u16,
                    ..response.clone()
                };
                return Err(status_error(&inner).with_rquid(rquid.as_deref()));
            }
        }
        Ok(String::from_utf8_lossy(&response.body).into_owned())
    }
}

/// A fresh RqUID: a random UUID, which matches the documented 32-hex-digit pattern.
fn new_rquid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `expires_at` as absolute Unix ms. The documentation calls it seconds but its example
/// (`1617814516729`) is absolute milliseconds, so: above 10^11 it is absolute ms; above 10^9
/// absolute seconds; anything smaller is a lifetime in seconds from now.
pub(crate) fn expires_at_ms(raw: f64, now_ms: i64) -> Option<i64> {
    if !raw.is_finite() || raw <= 0.0 {
        return None;
    }
    Some(if raw >= 1e11 {
        raw as i64
    } else if raw >= 1e9 {
        (raw * 1000.0) as i64
    } else {
        now_ms + (raw * 1000.0) as i64
    })
}

fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_at_in_ms_seconds_or_lifetime() {
        let now = 1_700_000_000_000;
        assert_eq!(expires_at_ms(1617814516729.0, now), Some(1617814516729));
        assert_eq!(expires_at_ms(1617814516.0, now), Some(1617814516000));
        assert_eq!(expires_at_ms(1800.0, now), Some(now + 1_800_000));
        assert_eq!(expires_at_ms(0.0, now), None);
    }

    #[test]
    fn scope_is_form_encoded() {
        assert_eq!(form_encode("SMART_PUSH"), "SMART_PUSH");
        assert_eq!(form_encode("A B&C"), "A+B%26C");
    }
}
