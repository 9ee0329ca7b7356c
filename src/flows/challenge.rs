//! GIS MT and True API: a challenge (`{uuid, data}`), an attached signature of `data`, a token
//! that lives 10 hours. The two differ only in paths and True API's optional `inn`.

use std::time::Instant;

use base64::Engine;
use serde_json::{json, Value};

use super::{require_uuid, string_field, PendingSignature, Step};
use crate::client::Client;
use crate::config::Service;
use crate::error::{Error, Result};
use crate::http::{Method, Request};
use crate::signer::{normalize_signature, SignatureKind, Signer};
use crate::token::{now_ms, Flow, Token};

/// Both services document a 10-hour token.
const CHALLENGE_TOKEN_LIFETIME_MS: i64 = 10 * 60 * 60 * 1000;

impl Client {
    fn challenge_paths(
        flow: Flow,
        oms_connection: &str,
    ) -> Result<(Service, &'static str, String)> {
        match flow {
            Flow::Gismt => Ok((
                Service::Gismt,
                "/auth/cert/key",
                format!("/auth/cert/{oms_connection}"),
            )),
            Flow::TrueApi => Ok((
                Service::TrueApi,
                "/auth/key",
                format!("/auth/simpleSignIn/{oms_connection}"),
            )),
            _ => Err(Error::invalid_argument("not a challenge flow")),
        }
    }

    fn challenge_begin(
        &self,
        flow: Flow,
        oms_connection: &str,
        inn: Option<&str>,
        deadline: Instant,
    ) -> Result<PendingSignature> {
        require_uuid(oms_connection, "omsConnection")?;
        if let Some(inn) = inn {
            let digits = inn.trim();
            if !(digits.len() == 10 || digits.len() == 12)
                || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(Error::invalid_argument(format!(
                    "inn must be 10 or 12 digits, got {inn:?}"
                )));
            }
        }
        let (service, key_path, sign_in_path) = Self::challenge_paths(flow, oms_connection.trim())?;
        let request = Request::new(Method::Get, self.url(service, key_path)?);
        let response = self.transport.send_ok(&request, deadline)?;
        let what = format!("{} challenge", flow.name());
        let v = response.json(&what)?;
        let uuid = string_field(&v, "uuid", &response, &what)?;
        let data = string_field(&v, "data", &response, &what)?;
        Ok(PendingSignature {
            data: data.into_bytes(),
            kind: SignatureKind::Attached,
            step: Step::Challenge {
                flow,
                url: self.url(service, &sign_in_path)?,
                uuid,
                inn: inn.map(|i| i.trim().to_owned()),
            },
        })
    }

    pub(super) fn challenge_finish(
        &self,
        flow: Flow,
        url: &str,
        uuid: &str,
        inn: Option<&str>,
        signature: &[u8],
        deadline: Instant,
    ) -> Result<Token> {
        let signature = normalize_signature(signature)?;
        let mut body = json!({ "uuid": uuid, "data": signature });
        if let Some(inn) = inn {
            body["inn"] = Value::String(inn.to_owned());
        }
        let body = serde_json::to_vec(&body).map_err(|e| Error::invalid_argument(e.to_string()))?;
        let request = Request::new(Method::Post, url.to_owned()).json(&body);
        let response = self.transport.send_ok(&request, deadline)?;
        let what = format!("{} token", flow.name());
        let v = response.json(&what)?;
        let token = string_field(&v, "token", &response, &what)?;
        let now = now_ms();
        let expires = jwt_expiry_ms(&token).unwrap_or(now + CHALLENGE_TOKEN_LIFETIME_MS);
        Ok(Token::new(token, flow, now, expires))
    }

    /// Phase one of GIS MT: fetches a challenge; the host signs it (attached).
    pub fn gismt_begin(&self, oms_connection: &str) -> Result<PendingSignature> {
        self.challenge_begin(Flow::Gismt, oms_connection, None, self.transport.deadline())
    }

    /// Phase one of True API; `inn` selects the organisation when the certificate covers several.
    pub fn trueapi_begin(
        &self,
        oms_connection: &str,
        inn: Option<&str>,
    ) -> Result<PendingSignature> {
        self.challenge_begin(
            Flow::TrueApi,
            oms_connection,
            inn,
            self.transport.deadline(),
        )
    }

    /// GIS MT token in one call.
    pub fn token_gismt(&self, oms_connection: &str, signer: Option<&dyn Signer>) -> Result<Token> {
        self.challenge_one_shot(Flow::Gismt, oms_connection, None, signer)
    }

    /// True API token in one call.
    pub fn token_trueapi(
        &self,
        oms_connection: &str,
        inn: Option<&str>,
        signer: Option<&dyn Signer>,
    ) -> Result<Token> {
        self.challenge_one_shot(Flow::TrueApi, oms_connection, inn, signer)
    }

    fn challenge_one_shot(
        &self,
        flow: Flow,
        oms_connection: &str,
        inn: Option<&str>,
        signer: Option<&dyn Signer>,
    ) -> Result<Token> {
        let signer = self.pick_signer(signer)?;
        let deadline = self.transport.deadline();
        let pending = self.challenge_begin(flow, oms_connection, inn, deadline)?;
        let signature = self.sign_pending(&pending, signer, deadline)?;
        self.finish_token_by(&pending, &signature, deadline)
    }
}

/// The `exp` claim of a JWT, in ms, when the token is one (True API tokens are); otherwise None.
fn jwt_expiry_ms(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let exp = serde_json::from_slice::<Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_i64()?;
    (exp > 1_000_000_000).then_some(exp * 1000)
}
