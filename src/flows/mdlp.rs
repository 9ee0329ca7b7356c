//! MDLP (pharma): `POST .../auth` for a code, then `POST .../token/{omsConnection}` with either a
//! detached signature of the code (`SIGNED_CODE`) or a password (`PASSWORD`).

use std::fmt;
use std::time::Instant;

use serde_json::json;
use zeroize::Zeroizing;

use super::{number_field, require_text, require_uuid, string_field, PendingSignature, Step};
use crate::client::Client;
use crate::config::Service;
use crate::error::{Error, Result};
use crate::http::{Method, Request};
use crate::signer::{normalize_signature, SignatureKind, Signer};
use crate::token::{now_ms, Flow, Token};

/// The MDLP account: `client_id` and `client_secret` of the accounting system, and `user_id`
/// (certificate serial or SHA1 thumbprint for residents, e-mail for non-residents).
#[derive(Clone)]
pub struct MdlpCredentials {
    pub client_id: String,
    pub client_secret: Zeroizing<String>,
    pub user_id: String,
}

impl MdlpCredentials {
    pub fn new(client_id: &str, client_secret: &str, user_id: &str) -> Self {
        MdlpCredentials {
            client_id: client_id.to_owned(),
            client_secret: Zeroizing::new(client_secret.to_owned()),
            user_id: user_id.to_owned(),
        }
    }
}

impl fmt::Debug for MdlpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MdlpCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("user_id", &self.user_id)
            .finish()
    }
}

impl Client {
    fn mdlp_code(
        &self,
        oms_connection: &str,
        creds: &MdlpCredentials,
        auth_type: &str,
        deadline: Instant,
    ) -> Result<(String, String)> {
        require_uuid(oms_connection, "omsConnection")?;
        require_uuid(&creds.client_id, "MDLP client_id")?;
        require_text(&creds.client_secret, "MDLP client_secret")?;
        require_text(&creds.user_id, "MDLP user_id")?;
        let body = Zeroizing::new(
            serde_json::to_vec(&json!({
                "client_id": creds.client_id,
                "client_secret": creds.client_secret.as_str(),
                "user_id": creds.user_id.trim(),
                "auth_type": auth_type,
            }))
            .map_err(|e| Error::invalid_argument(e.to_string()))?,
        );
        let request = Request::new(Method::Post, self.url(Service::Mdlp, "/auth")?).json(&body);
        let response = self.transport.send_ok(&request, deadline)?;
        let what = "MDLP auth";
        let code = string_field(&response.json(what)?, "code", &response, what)?;
        let token_url = self.url(Service::Mdlp, &format!("/token/{}", oms_connection.trim()))?;
        Ok((code, token_url))
    }

    /// Phase one of MDLP `SIGNED_CODE`: asks for a code; the host signs it (detached).
    pub fn mdlp_begin(
        &self,
        oms_connection: &str,
        creds: &MdlpCredentials,
    ) -> Result<PendingSignature> {
        let (code, url) = self.mdlp_code(
            oms_connection,
            creds,
            "SIGNED_CODE",
            self.transport.deadline(),
        )?;
        Ok(PendingSignature {
            data: code.clone().into_bytes(),
            kind: SignatureKind::Detached,
            step: Step::Mdlp { url, code },
        })
    }

    /// MDLP token with a signed code, in one call.
    pub fn token_mdlp_signed(
        &self,
        oms_connection: &str,
        creds: &MdlpCredentials,
        signer: Option<&dyn Signer>,
    ) -> Result<Token> {
        let signer = self.pick_signer(signer)?;
        let deadline = self.transport.deadline();
        let (code, url) = self.mdlp_code(oms_connection, creds, "SIGNED_CODE", deadline)?;
        let pending = PendingSignature {
            data: code.clone().into_bytes(),
            kind: SignatureKind::Detached,
            step: Step::Mdlp { url, code },
        };
        let signature = self.sign_pending(&pending, signer, deadline)?;
        self.finish_token_by(&pending, &signature, deadline)
    }

    /// MDLP token with a password (non-residents).
    pub fn token_mdlp_password(
        &self,
        oms_connection: &str,
        creds: &MdlpCredentials,
        password: &str,
    ) -> Result<Token> {
        require_text(password, "MDLP password")?;
        let deadline = self.transport.deadline();
        let (code, url) = self.mdlp_code(oms_connection, creds, "PASSWORD", deadline)?;
        let body = Zeroizing::new(
            serde_json::to_vec(&json!({ "code": code, "password": password }))
                .map_err(|e| Error::invalid_argument(e.to_string()))?,
        );
        self.mdlp_token(&url, &body, deadline)
    }

    pub(super) fn mdlp_finish(
        &self,
        url: &str,
        code: &str,
        signature: &[u8],
        deadline: Instant,
    ) -> Result<Token> {
        let signature = normalize_signature(signature)?;
        let body = serde_json::to_vec(&json!({ "code": code, "signature": signature }))
            .map_err(|e| Error::invalid_argument(e.to_string()))?;
        self.mdlp_token(url, &body, deadline)
    }

    fn mdlp_token(&self, url: &str, body: &[u8], deadline: Instant) -> Result<Token> {
        let request = Request::new(Method::Post, url.to_owned()).json(body);
        let response = self.transport.send_ok(&request, deadline)?;
        let what = "MDLP token";
        let v = response.json(what)?;
        let token = string_field(&v, "token", &response, what)?;
        let minutes = number_field(&v, "life_time")
            .filter(|m| m.is_finite() && *m > 0.0)
            .ok_or_else(|| {
                response.protocol_error(format!("{what}: the answer has no valid `life_time`"))
            })?;
        let now = now_ms();
        Ok(Token::new(
            token,
            Flow::Mdlp,
            now,
            now + (minutes * 60_000.0) as i64,
        ))
    }
}
