//! What the services' handlers share: reading a request's body, checking a signature against
//! the emulator's policy, and the random values the real services hand out.

use serde_json::Value;

use crate::cms::{self, Refusal, Verified};
use crate::server::Request;
use crate::state::{now_ms, Inner, Installation, State};

pub(crate) fn random_letters(n: usize) -> String {
    let bytes = uuid::Uuid::new_v4();
    let more = uuid::Uuid::new_v4();
    bytes
        .as_bytes()
        .iter()
        .chain(more.as_bytes())
        .take(n)
        .map(|b| (b'A' + b % 26) as char)
        .collect()
}

/// The body as a JSON object; a UTF-8 byte order mark (1C's JSON writer can emit one) is
/// skipped.
pub(crate) fn body_json(req: &Request) -> Option<Value> {
    let body = req.body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&req.body);
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
}

pub(crate) fn str_field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

std::thread_local! {
    /// Set when the request this thread is answering passed a non-GOST signature (each
    /// connection's thread answers its requests one at a time; reset for every request).
    pub(crate) static NON_GOST_ACCEPTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What the request log and stderr say of an answer that accepted a non-GOST signature.
pub(crate) const NON_GOST_NOTE: &str =
    "accepted a signature that is not GOST (--allow-rsa): production refuses it";

/// Records a verification's outcome in the counters.
pub(crate) fn count(state: &State, result: &Result<Verified, Refusal>) {
    let mut s = state.lock();
    match result {
        Ok(v) => {
            s.counters.signatures_verified += 1;
            if v.gost {
                s.counters.gost_signatures_verified += 1;
            } else {
                // Only under allow_rsa: this answer is noted as one production would refuse.
                s.counters.non_gost_signatures_accepted += 1;
                NON_GOST_ACCEPTED.with(|f| f.set(true));
            }
        }
        Err(_) => s.counters.signatures_refused += 1,
    }
}

/// Verifies outside the state lock (other requests go on meanwhile) and counts the outcome.
pub(crate) fn verify(
    state: &State,
    policy: cms::Policy,
    signature: &str,
    expected: &[u8],
    attached: bool,
) -> Result<Verified, Refusal> {
    let result = cms::verify(signature, expected, attached, policy, now_ms());
    count(state, &result);
    result
}

pub(crate) fn policy(s: &Inner) -> cms::Policy {
    cms::Policy {
        require_gost: !s.config.allow_rsa,
        allow_expired: s.config.allow_expired_certificates,
    }
}

/// True API's text for a certificate without an INN (True API v553.0, `/auth/simpleSignIn`:
/// 403 `{"error_message": "В сертификате отсутствует ИНН"}`).
pub(crate) const NO_INN: &str = "В сертификате отсутствует ИНН";

/// Whether the signer may act for `installation`: when the installation was registered with
/// a certificate carrying an INN, the signer's certificate must carry the same INN — one
/// without an INN is refused with [`NO_INN`], as True API refuses it.
pub(crate) fn same_participant(
    installation: &Installation,
    signer: &cms::Signer,
) -> Result<(), String> {
    match (&installation.inn, signer.owner_inn()) {
        (Some(_), None) => Err(NO_INN.to_owned()),
        (Some(owner), Some(signer_inn)) if *owner != signer_inn => Err(format!(
            "the signer's certificate belongs to INN {signer_inn}, the installation to INN {owner}"
        )),
        _ => Ok(()),
    }
}
