//! A pending operation as a string: exported after phase one, imported in any process of any
//! machine with the same configuration, and finished there. This is what 1C needs in
//! client-server mode: the server begins, the form carries the string to the user's computer,
//! which signs, and a server process (maybe another one) finishes.
//!
//! The string is `suz-pending.1.<payload>.<check>`: `1` the format version, `<payload>` the
//! state as JSON in unpadded base64url, `<check>` the first 8 bytes of the payload's SHA-256 in
//! hex. It is printable ASCII with no spaces, so it fits a 1C form attribute or a JSON field.
//! It holds what finishing needs — the flow, the service URL, the bytes to sign and the
//! challenge's uuid, the MDLP code, the inn, or the registration key, and the lease of a
//! pending operation from `acquire` — and no client secret or password. The check catches a damaged or edited string; a deliberately forged one can do no
//! harm either: its URL must be the importing client's own, and the server verifies the
//! signature.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{PendingSignature, Step};
use crate::config::{redact_url, Service};
use crate::error::{Error, Result};
use crate::signer::SignatureKind;
use crate::token::lease::Lease;
use crate::token::Flow;

/// How long an exported state can be imported and finished: ten minutes from phase one, the
/// order of the services' challenge lifetime. Later, begin again.
pub const PENDING_LIFETIME_MS: i64 = 10 * 60 * 1000;

/// The longest string [`PendingSignature::import`] reads.
pub const MAX_EXPORTED_LEN: usize = 64 * 1024;

const PREFIX: &str = "suz-pending.";
const VERSION: &str = "1";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Carried {
    id: String,
    created_at_ms: i64,
    flow: String,
    /// The bytes to sign, base64.
    data: String,
    url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registration_key: Option<String>,
    /// The lease taken by `acquire` (no secret: a profile name, a key hash, an owner id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease: Option<Lease>,
}

fn check_of(payload: &str) -> String {
    Sha256::digest(payload.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn refuse(why: impl std::fmt::Display) -> Error {
    Error::invalid_argument(format!("cannot import this pending operation: {why}"))
}

impl PendingSignature {
    /// The state as a printable string (see the module documentation), and from now on a
    /// carried state: finishing it, or any copy, is recorded in the token store.
    pub fn export(&mut self) -> String {
        self.carried = true;
        let mut carried = Carried {
            id: self.id.clone(),
            created_at_ms: self.created_at_ms,
            flow: String::new(),
            data: URL_SAFE_NO_PAD.encode(&self.data),
            url: String::new(),
            uuid: None,
            inn: None,
            code: None,
            registration_key: None,
            lease: self.lease.clone(),
        };
        match &self.step {
            Step::Register {
                url,
                registration_key,
            } => {
                carried.flow = "register".into();
                carried.url = url.clone();
                carried.registration_key = Some(registration_key.clone());
            }
            Step::Mdlp { url, code } => {
                carried.flow = Flow::Mdlp.name().into();
                carried.url = url.clone();
                carried.code = Some(code.clone());
            }
            Step::Challenge {
                flow,
                url,
                uuid,
                inn,
            } => {
                carried.flow = flow.name().into();
                carried.url = url.clone();
                carried.uuid = Some(uuid.clone());
                carried.inn = inn.clone();
            }
        }
        // A struct of strings and integers always serialises.
        let json = serde_json::to_vec(&carried).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let check = check_of(&payload);
        format!("{PREFIX}{VERSION}.{payload}.{check}")
    }

    /// A state exported by [`PendingSignature::export`], for a client whose base URL for each
    /// service `base_url` gives; `now_ms` is the current time. A string that is damaged or
    /// altered, from a newer version, made with another configuration, or expired is an
    /// [`crate::ErrorKind::InvalidArgument`] whose message says which (and nothing is sent).
    pub fn import(
        text: &str,
        base_url: &dyn Fn(Service) -> Option<String>,
        now_ms: i64,
    ) -> Result<PendingSignature> {
        let text = text.trim();
        if text.len() > MAX_EXPORTED_LEN {
            return Err(refuse(format!(
                "the string is {} bytes long; an exported state is far shorter",
                text.len()
            )));
        }
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| refuse("it is not a state exported by suz_pending_export"))?;
        let mut parts = rest.split('.');
        let (Some(version), Some(payload), Some(check), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(refuse(
                "the string is damaged (it does not have its four parts)",
            ));
        };
        if version != VERSION {
            return Err(refuse(format!(
                "it is in format version {version:.8}, written by another version of suz-auth (this one reads version {VERSION})"
            )));
        }
        if check_of(payload) != check {
            return Err(refuse(
                "the string is damaged or was altered (its check does not match)",
            ));
        }
        let carried: Carried = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or_else(|| refuse("the string is damaged (its contents cannot be read)"))?;
        let age = now_ms.saturating_sub(carried.created_at_ms);
        if age > PENDING_LIFETIME_MS {
            return Err(refuse(format!(
                "it expired: phase one ended {} s ago, and a pending operation can be finished for {} s; begin again",
                age / 1000,
                PENDING_LIFETIME_MS / 1000
            )));
        }
        let data = URL_SAFE_NO_PAD
            .decode(&carried.data)
            .map_err(|_| refuse("the string is damaged (the data to sign cannot be read)"))?;
        let missing = |what: &str| refuse(format!("the string is damaged (no {what})"));
        let (service, kind, step) = match carried.flow.as_str() {
            "register" => (
                Service::Suz,
                SignatureKind::Detached,
                Step::Register {
                    url: carried.url.clone(),
                    registration_key: carried
                        .registration_key
                        .ok_or_else(|| missing("registration key"))?,
                },
            ),
            "mdlp" => (
                Service::Mdlp,
                SignatureKind::Detached,
                Step::Mdlp {
                    url: carried.url.clone(),
                    code: carried.code.ok_or_else(|| missing("code"))?,
                },
            ),
            name @ ("gismt" | "trueapi") => {
                let (flow, service) = if name == "gismt" {
                    (Flow::Gismt, Service::Gismt)
                } else {
                    (Flow::TrueApi, Service::TrueApi)
                };
                (
                    service,
                    SignatureKind::Attached,
                    Step::Challenge {
                        flow,
                        url: carried.url.clone(),
                        uuid: carried.uuid.ok_or_else(|| missing("challenge uuid"))?,
                        inn: carried.inn,
                    },
                )
            }
            _ => return Err(missing("known flow")),
        };
        let ours = base_url(service).unwrap_or_default();
        let belongs = !ours.is_empty()
            && carried
                .url
                .strip_prefix(&ours)
                .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?'));
        if !belongs {
            return Err(refuse(format!(
                "it was made with another configuration: it is for {}, and this client's {} URL is {}",
                redact_url(&carried.url),
                service.name(),
                if ours.is_empty() {
                    "not set".to_owned()
                } else {
                    redact_url(&ours)
                }
            )));
        }
        if carried.id.len() != 32 || !carried.id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(missing("valid id"));
        }
        Ok(PendingSignature {
            data,
            kind,
            step,
            id: carried.id,
            created_at_ms: carried.created_at_ms,
            carried: true,
            lease: carried.lease,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::challenge::ChallengeInputs;
    use crate::flows::test_support::*;

    const GISMT: &str = "https://api.test/v3";

    fn urls(service: Service) -> Option<String> {
        match service {
            Service::TrueApi => Some(GISMT.into()),
            Service::Suz => Some("https://suz.test".into()),
            Service::Mdlp => Some("https://mdlp.test/api/v1".into()),
            _ => None,
        }
    }

    fn gismt_pending() -> PendingSignature {
        let i = ChallengeInputs::new(Flow::TrueApi, GISMT, CONN, Some("7700000000")).unwrap();
        i.parse_key(&answer(
            200,
            r#"{"uuid":"f1b2c3d4-0000-4000-8000-00000000000a","data":"ZKTYWXSNLHBNLQLYOIJVIVRZCZWPMU"}"#,
        ))
        .unwrap()
    }

    #[test]
    fn every_flow_survives_the_round_trip() {
        let mut pendings = vec![
            gismt_pending(),
            crate::flows::mdlp::pending("https://mdlp.test/api/v1", CONN, "c0de-1".into()),
            crate::flows::registration::begin(
                "https://suz.test",
                "cdf12109-10d3-11e6-8b6f-0050569977a1",
                "4344d884-7f23-4ea6-9f2b-b2ba4a4bbc5e",
                "Moscow",
            )
            .unwrap(),
        ];
        for original in &mut pendings {
            assert!(!original.is_carried());
            let text = original.export();
            assert!(original.is_carried());
            assert!(text.starts_with("suz-pending.1."));
            assert!(text.bytes().all(|b| b.is_ascii_graphic()), "{text}");
            let back = PendingSignature::import(&text, &urls, original.created_at_ms).unwrap();
            assert_eq!(&back, original);
            // And the request it finishes with is the same.
            let signature = if original.kind() == SignatureKind::Attached {
                attached_over(original.data())
            } else {
                detached_der()
            };
            match original.flow() {
                Some(_) => assert_eq!(
                    back.token_request(&signature).unwrap(),
                    original.token_request(&signature).unwrap()
                ),
                None => assert_eq!(
                    back.registration_request(Some(&signature)).unwrap(),
                    original.registration_request(Some(&signature)).unwrap()
                ),
            }
        }
    }

    #[test]
    fn tampered_foreign_expired_and_foreign_version_states_are_refused() {
        let mut p = gismt_pending();
        let text = p.export();
        let now = p.created_at_ms;
        let refused = |t: &str, now: i64, urls: &dyn Fn(Service) -> Option<String>| {
            let e = PendingSignature::import(t, urls, now).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::InvalidArgument);
            e.message
        };
        // One character changed in the payload.
        let mut bytes = text.clone().into_bytes();
        let at = "suz-pending.1.".len() + 5;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(refused(&tampered, now, &urls).contains("damaged or was altered"));
        assert!(refused("hello", now, &urls).contains("not a state exported"));
        assert!(refused(&text.replace(".1.", ".9."), now, &urls).contains("version 9"));
        assert!(refused(&text[..text.len() - 3], now, &urls).contains("damaged"));
        let later = now + PENDING_LIFETIME_MS + 1000;
        assert!(refused(&text, later, &urls).contains("expired"));
        let other =
            |s: Service| (s == Service::TrueApi).then(|| "https://other.test/v3".to_owned());
        let message = refused(&text, now, &other);
        assert!(message.contains("another configuration"), "{message}");
        // A prefix of the right URL is not the right URL.
        let prefix = |s: Service| (s == Service::TrueApi).then(|| "https://api.test/v".to_owned());
        assert!(refused(&text, now, &prefix).contains("another configuration"));
        assert!(refused(&"x".repeat(MAX_EXPORTED_LEN + 1), now, &urls).contains("bytes long"));
    }

    #[test]
    fn no_secret_is_exported() {
        let mut p = crate::flows::mdlp::pending("https://mdlp.test/api/v1", CONN, "c0de".into());
        let text = p.export();
        let payload = text.split('.').nth(2).unwrap();
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        for field in ["secret", "password"] {
            assert!(!json.contains(field), "{json}");
        }
    }
}
