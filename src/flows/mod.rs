//! The token flows. Each signed flow is written once as `begin` (bytes to sign and the kind of
//! signature) and `finish` (signature -> result); the one-shot functions are begin, sign, finish.

mod challenge;
mod mdlp;
mod registration;
mod smartmarket;

use std::time::Instant;

use serde_json::Value;

pub use mdlp::MdlpCredentials;
pub use smartmarket::DEFAULT_SCOPE;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::http::Response;
use crate::signer::SignatureKind;
use crate::token::{Flow, Token};

/// The state between the two phases of a signed flow: what the host must sign, and what the
/// library needs to finish. Single-use server state (a challenge, an MDLP code) lives here, so
/// a pending operation is finished once.
#[derive(Debug)]
pub struct PendingSignature {
    data: Vec<u8>,
    kind: SignatureKind,
    step: Step,
}

#[derive(Debug)]
enum Step {
    Register {
        url: String,
        registration_key: String,
    },
    Mdlp {
        url: String,
        code: String,
    },
    Challenge {
        flow: Flow,
        url: String,
        uuid: String,
        inn: Option<String>,
    },
}

impl PendingSignature {
    /// The exact bytes to sign.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Attached or detached.
    pub fn kind(&self) -> SignatureKind {
        self.kind
    }

    /// The token flow this operation finishes into; `None` for an installation registration.
    pub fn flow(&self) -> Option<Flow> {
        match &self.step {
            Step::Register { .. } => None,
            Step::Mdlp { .. } => Some(Flow::Mdlp),
            Step::Challenge { flow, .. } => Some(*flow),
        }
    }
}

/// Checks that an argument is a UUID (any case), as the services require.
pub(crate) fn require_uuid(value: &str, what: &str) -> Result<()> {
    uuid::Uuid::try_parse(value.trim())
        .map(|_| ())
        .map_err(|_| Error::invalid_argument(format!("{what} must be a UUID, got {value:?}")))
}

pub(crate) fn require_text(value: &str, what: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(Error::invalid_argument(format!("{what} must not be empty")))
    } else {
        Ok(())
    }
}

/// A required non-empty string field of a JSON answer.
pub(crate) fn string_field(
    v: &Value,
    field: &str,
    response: &Response,
    what: &str,
) -> Result<String> {
    match v.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => {
            let (code, message) = crate::http::server_error_fields(v);
            let mut e = response.protocol_error(format!(
                "{what}: the answer has no `{field}`{}",
                message
                    .as_deref()
                    .map(|m| format!(" (server says: {m})"))
                    .unwrap_or_default()
            ));
            e.server_code = code;
            e.server_message = message;
            Err(e)
        }
    }
}

/// A numeric field that some services send as a string.
pub(crate) fn number_field(v: &Value, field: &str) -> Option<f64> {
    match v.get(field)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Client {
    /// Phase two of any signed token flow (MDLP code, GIS MT or True API challenge).
    pub fn finish_token(&self, pending: &PendingSignature, signature: &[u8]) -> Result<Token> {
        self.finish_token_by(pending, signature, self.transport.deadline())
    }

    pub(crate) fn finish_token_by(
        &self,
        pending: &PendingSignature,
        signature: &[u8],
        deadline: Instant,
    ) -> Result<Token> {
        match &pending.step {
            Step::Mdlp { url, code } => self.mdlp_finish(url, code, signature, deadline),
            Step::Challenge {
                flow,
                url,
                uuid,
                inn,
            } => self.challenge_finish(*flow, url, uuid, inn.as_deref(), signature, deadline),
            Step::Register { .. } => Err(Error::invalid_argument(
                "this pending operation is a registration: finish it with the registration function",
            )),
        }
    }
}
