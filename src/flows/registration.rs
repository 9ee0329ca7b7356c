//! SUZ installation registration: `POST {suz}/api/v2/integration/connection?omsId=...` with
//! `X-RegistrationKey` and `X-Signature` (a detached signature of the exact body bytes).

use std::time::Instant;

use super::{require_text, require_uuid, string_field, PendingSignature, Step};
use crate::client::Client;
use crate::config::Service;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{Method, Request};
use crate::signer::{normalize_signature, SignatureKind, Signer};

impl Client {
    /// Phase one of a registration: builds the body; no network. The host signs
    /// [`PendingSignature::data`] (detached) and calls [`Client::register_finish`].
    pub fn register_begin(
        &self,
        oms_id: &str,
        registration_key: &str,
        address: &str,
    ) -> Result<PendingSignature> {
        require_uuid(oms_id, "omsId")?;
        require_uuid(registration_key, "registration key")?;
        require_text(address, "address")?;
        let body = serde_json::to_vec(&serde_json::json!({ "address": address }))
            .map_err(|e| Error::invalid_argument(format!("address: {e}")))?;
        Ok(PendingSignature {
            data: body,
            kind: SignatureKind::Detached,
            step: Step::Register {
                url: self.url(
                    Service::Suz,
                    &format!("/api/v2/integration/connection?omsId={}", oms_id.trim()),
                )?,
                registration_key: registration_key.trim().to_owned(),
            },
        })
    }

    /// Phase two: sends the body that was signed with its signature; returns `omsConnection`.
    pub fn register_finish(&self, pending: &PendingSignature, signature: &[u8]) -> Result<String> {
        let signature = normalize_signature(signature)?;
        self.register_send(pending, Some(signature), self.transport.deadline())
    }

    /// Registers an installation in one call. `signer: None` sends no `X-Signature`, which only
    /// the pharma group may do; other groups pass a signer (or configure `signer.command` and
    /// use [`Client::register_connection_signed`]).
    pub fn register_connection(
        &self,
        oms_id: &str,
        registration_key: &str,
        address: &str,
        signer: Option<&dyn Signer>,
    ) -> Result<String> {
        let deadline = self.transport.deadline();
        let pending = self.register_begin(oms_id, registration_key, address)?;
        let signature = match signer {
            Some(signer) => Some(normalize_signature(
                &self.sign_pending(&pending, signer, deadline)?,
            )?),
            None => None,
        };
        self.register_send(&pending, signature, deadline)
    }

    /// Registration signed by the configured `signer.command`.
    pub fn register_connection_signed(
        &self,
        oms_id: &str,
        registration_key: &str,
        address: &str,
    ) -> Result<String> {
        let signer = self.pick_signer(None)?;
        self.register_connection(oms_id, registration_key, address, Some(signer))
    }

    fn register_send(
        &self,
        pending: &PendingSignature,
        signature: Option<String>,
        deadline: Instant,
    ) -> Result<String> {
        let Step::Register {
            url,
            registration_key,
        } = &pending.step
        else {
            return Err(Error::invalid_argument(
                "this pending operation is not a registration",
            ));
        };
        let mut request = Request::new(Method::Post, url.clone())
            .header("X-RegistrationKey", registration_key.clone());
        if let Some(signature) = signature {
            request = request.header("X-Signature", signature);
        }
        let request = request.json(&pending.data);
        let response = self.transport.send_ok(&request, deadline)?;
        let what = "installation registration";
        let v = response.json(what)?;
        let status = string_field(&v, "status", &response, what)?;
        match status.to_ascii_uppercase().as_str() {
            "SUCCESS" => {
                let connection = string_field(&v, "omsConnection", &response, what)?;
                require_uuid(&connection, "omsConnection in the answer").map_err(|_| {
                    response.protocol_error(format!(
                        "{what}: omsConnection {connection:?} is not a UUID"
                    ))
                })?;
                Ok(connection)
            }
            "REJECTED" => {
                let reason = v
                    .get("rejectionReason")
                    .and_then(|r| r.as_str())
                    .unwrap_or("no reason given")
                    .to_owned();
                let mut e = Error::new(
                    ErrorKind::RegistrationRejected,
                    format!("the SUZ rejected the registration: {reason}"),
                );
                e.http_status = Some(response.status);
                e.server_code = Some("REJECTED".to_owned());
                e.server_message = Some(reason);
                Err(e)
            }
            other => Err(response.protocol_error(format!("{what}: unknown status {other:?}"))),
        }
    }
}
