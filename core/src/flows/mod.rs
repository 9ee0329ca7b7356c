//! The token flows, without I/O.
//!
//! Each step of a flow is a pair of pure functions: one builds the [`Request`] from its inputs,
//! the other parses the [`Response`] into a typed result or a typed error. The state between
//! the two phases of a signed flow is a [`PendingSignature`]: plain data, no secrets. The
//! client's driver sends the requests under one deadline; nothing here touches the network,
//! the clock (callers pass `now_ms`) or a random source (callers pass the `RqUID`).

pub mod api;
pub mod carry;
pub mod challenge;
pub mod envelope;
mod expiry;
pub mod mdlp;
pub mod registration;
pub mod smartmarket;

use serde_json::Value;

pub use mdlp::MdlpCredentials;

use crate::error::{Error, Result};
use crate::log::{log_at, Level};
use crate::signer::{conform_signature, SignatureKind};
use crate::transport::{Request, Response};
use crate::value::Lease;
use crate::value::{Certificate, Flow, SealKey, Token};
use envelope::server_error_fields;

/// The state between the two phases of a signed flow: what the host must sign, and what the
/// library needs to finish. Single-use server state (a challenge, an MDLP code) lives here, so
/// a pending operation is finished once. Holds no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingSignature {
    data: Vec<u8>,
    kind: SignatureKind,
    step: Step,
    /// A random id: names the operation in the store's record that it was finished.
    id: String,
    /// When phase one ended, Unix milliseconds: a carried state expires after
    /// [`carry::PENDING_LIFETIME_MS`].
    created_at_ms: i64,
    /// Whether the state was exported or imported: then its finishing is recorded in the file
    /// store, so that no copy of it is finished twice, in any process.
    carried: bool,
    /// The lease on the installation's token, for an operation begun by `acquire`.
    lease: Option<Lease>,
    /// The key an export seals the state with (see [`carry`]): the client's token store's,
    /// attached by the client that began or imported the operation.
    seal: Option<SealKey>,
    /// Why there is no key, when the client could not read its store's (an export says so).
    unsealed_because: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Register {
        url: String,
        oms_id: String,
        registration_key: String,
    },
    Mdlp {
        /// `Flow::Mdlp` (a SUZ token) or `Flow::MdlpSession` (MDLP's own session).
        flow: Flow,
        url: String,
        connection: String,
        code: String,
    },
    Challenge {
        flow: Flow,
        url: String,
        connection: String,
        uuid: String,
        inn: Option<String>,
    },
}

/// What a pending operation starts with, which the caller supplies (the flows read no clock
/// and no random source): a random id (32 hex digits) and the current time (Unix ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Start {
    /// A random id, 32 hex digits: names the operation in the store.
    pub id: String,
    /// When phase one ends, Unix milliseconds.
    pub at_ms: i64,
}

impl PendingSignature {
    fn new(data: Vec<u8>, kind: SignatureKind, step: Step, start: Start) -> PendingSignature {
        PendingSignature {
            data,
            kind,
            step,
            id: start.id,
            created_at_ms: start.at_ms,
            carried: false,
            lease: None,
            seal: None,
            unsealed_because: None,
        }
    }

    /// The base URL of the service this operation finishes at (the URL it sends to, less the
    /// flow's path).
    fn base_url(&self) -> &str {
        let (url, tail) = match &self.step {
            Step::Register { url, .. } => (url, registration::PATH.to_owned()),
            Step::Mdlp {
                flow,
                url,
                connection,
                ..
            } => (url, mdlp::token_path(*flow, connection)),
            Step::Challenge {
                flow,
                url,
                connection,
                ..
            } => (url, challenge::sign_in_path(*flow, connection)),
        };
        url.rfind(&tail).map_or(url.as_str(), |at| &url[..at])
    }

    /// This operation, exportable: sealed with `key` (see [`carry`]).
    pub fn with_seal(mut self, key: SealKey) -> PendingSignature {
        self.seal = Some(key);
        self.unsealed_because = None;
        self
    }

    /// This operation, not exportable: the client could not read its store's key, for `why`
    /// (an export fails saying so; finishing here is unaffected).
    pub fn without_seal(mut self, why: String) -> PendingSignature {
        self.seal = None;
        self.unsealed_because = Some(why);
        self
    }

    /// This operation, finishing into the token `lease` was taken for.
    pub fn with_lease(mut self, lease: Lease) -> PendingSignature {
        self.lease = Some(lease);
        self
    }

    /// The lease of an operation begun by `acquire`.
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// The operation's random id (32 hex digits).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether this state was exported or imported.
    pub fn is_carried(&self) -> bool {
        self.carried
    }

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
            Step::Mdlp { flow, .. } => Some(*flow),
            Step::Challenge { flow, .. } => Some(*flow),
        }
    }

    /// The certificate that made `signature` (a signature carries it unless its signer left it
    /// out), checked before anything is sent: it must be valid at `now_ms` — an expired or not
    /// yet valid one is a [`crate::ErrorKind::SignerFailed`] — and, when this operation names
    /// an `inn`, hold that INN (as ИНН or ИНН ЮЛ): otherwise a Warn naming both, or with
    /// `strict_inn` a `SignerFailed` (a certificate acting for another organisation under a
    /// power of attorney, МЧД, is legitimate: hence only a warning by default). `None` when the
    /// signature carries no certificate of its signer.
    pub fn signer_certificate(
        &self,
        signature: &[u8],
        now_ms: i64,
        strict_inn: bool,
    ) -> Result<Option<Certificate>> {
        let der = crate::signer::signature_bytes(signature)?;
        let Some(cert) = crate::cms::signer_certificate(&der) else {
            return Ok(None);
        };
        let who = format!(
            "{} ({}), thumbprint {}",
            cert.subject,
            cert.inns(),
            cert.thumbprint
        );
        if now_ms < cert.not_before_ms {
            return Err(Error::signer(format!(
                "the signing certificate of {who} is not valid until {}: nothing was sent",
                crate::civil::date(cert.not_before_ms)
            )));
        }
        if now_ms > cert.not_after_ms {
            return Err(Error::signer(format!(
                "the signing certificate of {who} expired on {}: nothing was sent; sign with a valid one",
                crate::civil::date(cert.not_after_ms)
            )));
        }
        if let Some(inn) = self.inn() {
            if cert.has_inn(inn) == Some(false) {
                let what =
                    format!("the profile's inn {inn} is not the signing certificate's ({who})");
                if strict_inn {
                    return Err(Error::signer(format!(
                        "{what}; the profile asks for them to match (`strict_inn`): nothing was sent"
                    )));
                }
                log_at!(
                    Level::Warn,
                    "{what}: sent as asked (legitimate under a power of attorney, МЧД)"
                );
            }
        }
        Ok(Some(cert))
    }

    /// The organisation this operation names (`inn`), if any.
    fn inn(&self) -> Option<&str> {
        match &self.step {
            Step::Challenge { inn, .. } => inn.as_deref(),
            Step::Register { .. } | Step::Mdlp { .. } => None,
        }
    }

    /// Phase two of a token flow: the request that sends `signature` (DER, base64 with or
    /// without line breaks, or PEM; normalised here). A signature that is not a CMS SignedData
    /// of [`PendingSignature::kind`] is a [`crate::ErrorKind::SignerFailed`] and nothing is built.
    pub fn token_request(&self, signature: &[u8]) -> Result<Request> {
        let signature = conform_signature(signature, self.kind, &self.data)?;
        match &self.step {
            Step::Mdlp { url, code, .. } => Ok(mdlp::signed_code_request(url, code, &signature)),
            Step::Challenge {
                flow,
                url,
                uuid,
                inn,
                ..
            } => Ok(challenge::sign_in_request(
                *flow,
                url,
                uuid,
                inn.as_deref(),
                &signature,
            )),
            Step::Register { .. } => Err(Error::invalid_argument(
                "this pending operation is a registration: finish it with the registration function",
            )),
        }
    }

    /// Parses the answer to [`PendingSignature::token_request`].
    pub fn parse_token(&self, response: &Response, now_ms: i64) -> Result<Token> {
        match &self.step {
            Step::Mdlp { flow, .. } => mdlp::parse_token(*flow, response, now_ms),
            Step::Challenge { flow, .. } => challenge::parse_token(*flow, response, now_ms),
            Step::Register { .. } => Err(Error::invalid_argument(
                "this pending operation is a registration, not a token flow",
            )),
        }
    }

    /// Phase two of a registration: the request with the body that was signed and, unless
    /// `signature` is `None` (the pharma group), its `X-Signature`, which must be a detached
    /// CMS SignedData (see [`PendingSignature::token_request`]).
    pub fn registration_request(&self, signature: Option<&[u8]>) -> Result<Request> {
        let Step::Register {
            url,
            registration_key,
            ..
        } = &self.step
        else {
            return Err(Error::invalid_argument(
                "this pending operation is not a registration",
            ));
        };
        let signature = signature
            .map(|s| conform_signature(s, self.kind, &self.data))
            .transpose()?;
        Ok(registration::request(
            url,
            registration_key,
            &self.data,
            signature,
        ))
    }
}

/// Checks that an argument is a UUID (any case), as the services require.
pub(crate) fn require_uuid(value: &str, what: &str) -> Result<()> {
    uuid::Uuid::try_parse(value.trim())
        .map(|_| ())
        .map_err(|_| Error::invalid_argument(format!("{what} must be a UUID, got {value:?}")))
}

/// Checks that `flow` is given an installation exactly when its kind names one: a UUID for a
/// SUZ token, nothing for a token the service keeps for itself.
pub(crate) fn require_installation(flow: Flow, oms_connection: &str) -> Result<()> {
    match (
        flow.kind().names_installation(),
        oms_connection.trim().is_empty(),
    ) {
        (true, _) => require_uuid(oms_connection, "omsConnection"),
        (false, true) => Ok(()),
        (false, false) => Err(Error::invalid_argument(format!(
            "the {} token is signed in without an installation (no omsConnection)",
            flow.name()
        ))),
    }
}

pub(crate) fn require_text(value: &str, what: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(Error::invalid_argument(format!("{what} must not be empty")))
    } else {
        Ok(())
    }
}

/// The JSON object of a 2xx answer, or the error the answer stands for.
pub use crate::value::MAX_TOKEN_LIFETIME_MS;

/// A token minted by a server, after checking what the server said: the value (visible
/// ASCII within [`crate::value::MAX_TOKEN_LEN`]) and the expiry (after `now_ms`, at most
/// [`MAX_TOKEN_LIFETIME_MS`] away). Anything else is [`crate::ErrorKind::Protocol`].
pub(crate) fn minted(
    response: &Response,
    what: &str,
    value: String,
    flow: Flow,
    now_ms: i64,
    expires_at_ms: i64,
) -> Result<Token> {
    crate::value::check_token_value(&value, &format!("{what} token"))
        .map_err(|e| response.protocol_error(e.message))?;
    let lifetime = expires_at_ms.saturating_sub(now_ms);
    if lifetime <= 0 || lifetime > MAX_TOKEN_LIFETIME_MS {
        return Err(response.protocol_error(format!(
            "{what}: the answer gives the token a lifetime of {} s, outside (0, {} s]",
            lifetime / 1000,
            MAX_TOKEN_LIFETIME_MS / 1000
        )));
    }
    Ok(Token::new(value, flow, now_ms, expires_at_ms))
}

pub(crate) fn success_json(response: &Response, what: &str) -> Result<Value> {
    envelope::checked(response)?.json(what)
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
            let (code, message) = server_error_fields(v);
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

/// Shared by the flows' unit tests: answers and assertions, with no server.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::error::{ErrorKind, Result};
    use crate::transport::{Method, Request, Response};

    pub const CONN: &str = "11b1abc9-f4ee-47db-8a20-f80ac83504e8";
    pub const NOW: i64 = 1_700_000_000_000;

    /// A pending operation's start, at [`NOW`] with a fixed id.
    pub fn start() -> super::Start {
        super::Start {
            id: "5e0f3c1a9b7d4e2f8a6c0b1d3e5f7a9c".to_owned(),
            at_ms: NOW,
        }
    }
    /// The smallest CMS SignedData the signature check takes for an attached signature (over
    /// `hi`, with one fake signer; `crate::cms::test_support::signed_data(Some(b"hi"))`).
    pub const ATTACHED_B64: &str = "MGMGCSqGSIb3DQEHAqBWMFQCAQExDDAKBggqhQMHAQECAjARBgkqhkiG9w0BBwGgBAQCaGkxLjAsAgEBMAUwAAIBATAKBggqhQMHAQECAjAKBggqhQMHAQEBAQQIWlpaWlpaWlo=";
    /// The same, detached (`signed_data(None)`).
    pub const DETACHED_B64: &str = "MF0GCSqGSIb3DQEHAqBQME4CAQExDDAKBggqhQMHAQECAjALBgkqhkiG9w0BBwExLjAsAgEBMAUwAAIBATAKBggqhQMHAQECAjAKBggqhQMHAQEBAQQIWlpaWlpaWlo=";

    /// [`ATTACHED_B64`] as DER.
    pub fn attached_der() -> Vec<u8> {
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, ATTACHED_B64).unwrap()
    }

    /// The minimal attached SignedData over `content`.
    pub fn attached_over(content: &[u8]) -> Vec<u8> {
        crate::cms::test_support::signed_data(Some(content))
    }

    /// [`attached_over`] as base64.
    pub fn attached_b64_over(content: &[u8]) -> String {
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            attached_over(content),
        )
    }

    /// [`DETACHED_B64`] as DER.
    pub fn detached_der() -> Vec<u8> {
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, DETACHED_B64).unwrap()
    }

    #[test]
    fn the_signatures_are_the_minimal_signed_data() {
        use crate::cms::test_support::signed_data;
        assert_eq!(attached_der(), signed_data(Some(b"hi")));
        assert_eq!(detached_der(), signed_data(None));
    }

    pub fn answer(status: u16, body: &str) -> Response {
        Response::json_answer(status, body)
    }

    pub fn html(status: u16) -> Response {
        Response {
            status,
            headers: {
                let mut headers = crate::transport::Headers::default();
                headers.push("content-type", "text/html");
                headers
            },
            body: b"<html><body>Bad Gateway</body></html>".to_vec(),
            rquid: None,
            secrets: Default::default(),
        }
    }

    /// The request line, headers and body as one comparable text.
    pub fn render(r: &Request) -> String {
        let mut out = format!("{} {}\n", r.method.as_str(), r.url);
        for (name, value) in &r.headers {
            out.push_str(&format!("{name}: {}\n", value.as_str()));
        }
        if let Some((content_type, body)) = &r.body {
            out.push_str(&format!(
                "Content-Type: {content_type}\n\n{}",
                String::from_utf8_lossy(body.as_slice())
            ));
        }
        out
    }

    pub fn assert_method(r: &Request, method: Method, repeatable: bool) {
        assert_eq!(r.method, method);
        assert_eq!(r.repeatable, repeatable, "repeatable");
    }

    /// Asserts an error's kind and fields.
    pub fn assert_error<T: std::fmt::Debug>(
        result: Result<T>,
        kind: ErrorKind,
        status: Option<u16>,
        code: Option<&str>,
        message: Option<&str>,
    ) -> crate::Error {
        let e = result.expect_err("an error");
        assert_eq!(e.kind, kind, "{e}");
        assert_eq!(e.http_status, status, "{e}");
        assert_eq!(e.server_code.as_deref(), code, "{e}");
        assert_eq!(e.server_message.as_deref(), message, "{e}");
        e
    }
}
