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

/// Records a verification's outcome in the counters.
pub(crate) fn count(state: &State, result: &Result<Verified, Refusal>) {
    let mut s = state.lock();
    match result {
        Ok(v) => {
            s.counters.signatures_verified += 1;
            if v.gost {
                s.counters.gost_signatures_verified += 1;
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
        require_gost: s.config.require_gost,
        allow_expired: s.config.allow_expired_certificates,
    }
}

/// Whether the signer may act for `installation`: when both the installation (registered
/// with a certificate carrying an INN) and the signer's certificate name a participant, it
/// must be the same one.
pub(crate) fn same_participant(
    installation: &Installation,
    signer: &cms::Signer,
) -> Result<(), String> {
    match (&installation.inn, signer.owner_inn()) {
        (Some(owner), Some(signer_inn)) if *owner != signer_inn => Err(format!(
            "the signer's certificate belongs to INN {signer_inn}, the installation to INN {owner}"
        )),
        _ => Ok(()),
    }
}
