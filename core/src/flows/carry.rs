//! A pending operation as a string: exported after phase one, imported in any process of any
//! machine with the same configuration and token store, and finished there. This is what 1C
//! needs in client-server mode: the server begins, the form carries the string to the user's
//! computer, which signs, and a server process (maybe another one) finishes.
//!
//! The string is `suz-pending.2.<sealed>`: `2` the format version, `<sealed>` in unpadded
//! base64url a random 12-byte nonce and the state as JSON sealed with ChaCha20-Poly1305 under
//! the token store's [`SealKey`] (a random key created once in the cache directory, or in Redis
//! for a fleet: see `TokenManager::seal_key` in the token cache). The string travels
//! through hands that must not be trusted — a 1C form goes to the user's computer and back —
//! so it is authentic and opaque: only a client sharing the store opens it, any change to it
//! is refused, and nothing in it can be read, the registration key included.
//!
//! What is carried is only what the server handed out and the caller chose: the flow, the
//! bytes to sign, the installation, the challenge's uuid or the MDLP code, the inn, the
//! registration key, the lease of an operation from `acquire`, and when phase one ended. The
//! URL is not carried: the importing client rebuilds it from its own configuration. A state
//! is importable from its start (a minute of clock difference allowed) for
//! [`PENDING_LIFETIME_MS`]; each operation is finished once, wherever it is imported (see
//! [`PendingSignature::finish_id`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{challenge, mdlp, registration, require_uuid, PendingSignature, Step};
use crate::config::{redact_url, Service};
use crate::error::{Error, Result};
use crate::signer::SignatureKind;
use crate::value::Lease;
use crate::value::{Flow, Kind, SealKey};

/// How long an exported state can be imported and finished: ten minutes from phase one, the
/// order of the services' challenge lifetime. Later, begin again.
pub const PENDING_LIFETIME_MS: i64 = 10 * 60 * 1000;

/// How far in the future a state's start may lie: the clocks of two machines differ a little.
const MAX_CLOCK_SKEW_MS: i64 = 60 * 1000;

/// The longest string [`PendingSignature::import`] reads.
pub const MAX_EXPORTED_LEN: usize = 64 * 1024;

const PREFIX: &str = "suz-pending.";

/// The carried name of an installation registration (token flows carry [`Flow::name`]).
const REGISTER: &str = "register";
const VERSION: &str = "2";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Carried {
    id: String,
    created_at_ms: i64,
    flow: String,
    /// The bytes to sign, base64url.
    data: String,
    /// The installation (`omsConnection`) of a token flow; the `omsId` of a registration.
    installation: String,
    /// The service's base URL at export: an importing client configured for another server
    /// refuses the state (the URL sent to is always the importing client's own).
    base: String,
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

fn refuse(why: impl std::fmt::Display) -> Error {
    Error::invalid_argument(format!("cannot import this pending operation: {why}"))
}

fn aead_key(key: &SealKey) -> LessSafeKey {
    // A 32-byte key is what ChaCha20-Poly1305 takes: this cannot fail.
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key.bytes()[..]).expect("a 32-byte key"))
}

/// What the seal authenticates beside the state: the prefix and version.
fn aad() -> Aad<[u8; 14]> {
    let mut bytes = [0u8; 14];
    bytes[..12].copy_from_slice(PREFIX.as_bytes());
    bytes[12..].copy_from_slice(b"2.");
    Aad::from(bytes)
}

impl PendingSignature {
    /// The name under which finishing this operation is recorded: a digest of what the server
    /// spends (the challenge's uuid, the MDLP code, a registration's installation and body),
    /// so every copy of one operation — whatever else differs — is finished once.
    pub fn finish_id(&self) -> String {
        let mut digest = Sha256::new();
        match &self.step {
            Step::Register { oms_id, .. } => {
                digest.update(b"register\n");
                digest.update(oms_id.as_bytes());
                digest.update(b"\n");
                digest.update(&self.data);
            }
            Step::Mdlp { code, .. } => {
                digest.update(b"mdlp\n");
                digest.update(code.as_bytes());
            }
            Step::Challenge { flow, uuid, .. } => {
                digest.update(flow.name().as_bytes());
                digest.update(b"\n");
                digest.update(uuid.as_bytes());
            }
        }
        digest.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The state as a printable string (see the module documentation), and from now on a
    /// carried state: finishing it, or any copy, is recorded in the token store. An operation
    /// that no client began (built from the flow functions alone) has no key to be sealed with:
    /// [`crate::ErrorKind::InvalidArgument`].
    pub fn export(&mut self) -> Result<String> {
        let key = match (&self.seal, &self.unsealed_because) {
            (Some(key), _) => key.clone(),
            (None, Some(why)) => {
                return Err(Error::new(
                    crate::ErrorKind::Store,
                    format!(
                        "this pending operation cannot be exported: the token store's key could not be read when it began ({why}); begin again once the store is reachable"
                    ),
                ))
            }
            (None, None) => {
                return Err(Error::invalid_argument(
                    "this pending operation was not begun through a client, so it has no token store key to be exported with",
                ))
            }
        };
        let mut carried = Carried {
            id: self.id.clone(),
            created_at_ms: self.created_at_ms,
            flow: String::new(),
            data: URL_SAFE_NO_PAD.encode(&self.data),
            installation: String::new(),
            base: String::new(),
            uuid: None,
            inn: None,
            code: None,
            registration_key: None,
            lease: self.lease.clone(),
        };
        match &self.step {
            Step::Register {
                oms_id,
                registration_key,
                ..
            } => {
                carried.flow = REGISTER.into();
                carried.installation = oms_id.clone();
                carried.registration_key = Some(registration_key.clone());
            }
            Step::Mdlp {
                flow,
                connection,
                code,
                ..
            } => {
                carried.flow = flow.name().into();
                carried.installation = connection.clone();
                carried.code = Some(code.clone());
            }
            Step::Challenge {
                flow,
                connection,
                uuid,
                inn,
                ..
            } => {
                carried.flow = flow.name().into();
                carried.installation = connection.clone();
                carried.uuid = Some(uuid.clone());
                carried.inn = inn.clone();
            }
        }
        carried.base = self.base_url().to_owned();
        // A struct of strings and integers always serialises.
        let json = zeroize::Zeroizing::new(serde_json::to_vec(&carried).unwrap_or_default());
        let mut nonce = [0u8; NONCE_LEN];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce).map_err(
            |_| {
                Error::new(
                    crate::ErrorKind::Store,
                    "the system's random generator failed",
                )
            },
        )?;
        let mut sealed = zeroize::Zeroizing::new(Vec::with_capacity(NONCE_LEN + json.len() + 16));
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&json);
        let (head, body) = sealed.split_at_mut(NONCE_LEN);
        let tag = aead_key(&key)
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), aad(), body)
            .map_err(|_| Error::invalid_argument("this pending operation cannot be sealed"))?;
        let _ = head;
        sealed.extend_from_slice(tag.as_ref());
        self.carried = true;
        Ok(format!(
            "{PREFIX}{VERSION}.{}",
            URL_SAFE_NO_PAD.encode(&sealed[..])
        ))
    }

    /// A state exported by [`PendingSignature::export`], opened with the importing client's
    /// token store `key`, for a client whose base URL for each service `base_url` gives;
    /// `now_ms` is the current time. A string that is damaged, altered, sealed by another
    /// store, from another format version, expired or dated in the future is an
    /// [`crate::ErrorKind::InvalidArgument`] whose message says which (and nothing is sent).
    pub fn import(
        text: &str,
        key: &SealKey,
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
        let (version, body) = rest
            .split_once('.')
            .ok_or_else(|| refuse("the string is damaged (it does not have its three parts)"))?;
        if version == "1" {
            return Err(refuse(
                "it was exported by an earlier version of suz-auth, whose states were not sealed; begin the operation again",
            ));
        }
        if version != VERSION {
            return Err(refuse(format!(
                "it is in format version {version:.8}, written by another version of suz-auth (this one reads version {VERSION}); begin the operation again"
            )));
        }
        let mut sealed = zeroize::Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(body)
                .map_err(|_| refuse("the string is damaged (it is not base64url)"))?,
        );
        if sealed.len() < NONCE_LEN + 16 {
            return Err(refuse("the string is damaged (it is too short)"));
        }
        let (nonce, body) = sealed.split_at_mut(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| refuse("the string is damaged"))?;
        let json = aead_key(key).open_in_place(nonce, aad(), body).map_err(|_| {
            refuse(
                "its seal does not match: it was altered, or exported by a client that does not share this token store (its cache directory, or its Redis); begin the operation again",
            )
        })?;
        let carried: Carried = serde_json::from_slice(json)
            .map_err(|_| refuse("the string is damaged (its contents cannot be read)"))?;
        if carried.created_at_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(refuse(
                "it says phase one ended in the future (the clocks of the two machines differ by more than a minute?)",
            ));
        }
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
        // A token flow by its name; an installation registration is the one other operation.
        let flow = match carried.flow.as_str() {
            REGISTER => None,
            name => Some(Flow::from_name(name).ok_or_else(|| missing("known flow"))?),
        };
        // A token signed in without an installation names none; every other operation names one.
        if flow.is_some_and(|f| !f.kind().names_installation()) {
            if !carried.installation.is_empty() {
                return Err(missing("empty installation"));
            }
        } else {
            require_uuid(&carried.installation, "the carried installation")
                .map_err(|_| missing("valid installation"))?;
        }
        let installation = carried.installation.trim().to_owned();
        let service = flow.map_or(Service::Suz, Flow::service);
        let base = base_url(service).ok_or_else(|| {
            refuse(format!(
                "this client has no {} URL configured",
                service.name()
            ))
        })?;
        if base != carried.base {
            return Err(refuse(format!(
                "it was made with another configuration: it is for {}, and this client's {} URL is {}",
                redact_url(&carried.base),
                service.name(),
                redact_url(&base)
            )));
        }
        let (kind, step) = match flow.map(|f| (f, f.kind())) {
            None => (
                SignatureKind::Detached,
                Step::Register {
                    url: registration::url(&base, &installation),
                    oms_id: installation,
                    registration_key: carried
                        .registration_key
                        .ok_or_else(|| missing("registration key"))?,
                },
            ),
            Some((flow, Kind::SuzMdlp | Kind::MdlpSession)) => (
                SignatureKind::Detached,
                Step::Mdlp {
                    flow,
                    url: mdlp::token_url(flow, &base, &installation),
                    connection: installation,
                    code: carried.code.ok_or_else(|| missing("code"))?,
                },
            ),
            Some((flow, Kind::SuzChallenge | Kind::SignedIn)) => (
                SignatureKind::Attached,
                Step::Challenge {
                    flow,
                    url: challenge::sign_in_url(flow, &base, &installation)?,
                    connection: installation,
                    uuid: carried.uuid.ok_or_else(|| missing("challenge uuid"))?,
                    inn: carried.inn,
                },
            ),
            Some((flow, Kind::OAuth)) => {
                return Err(refuse(format!(
                    "a {} token has no pending operation",
                    flow.name()
                )))
            }
        };
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
            seal: Some(key.clone()),
            unsealed_because: None,
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

    fn key() -> SealKey {
        SealKey::from_bytes(&[7; 32]).unwrap()
    }

    fn gismt_pending() -> PendingSignature {
        let i = ChallengeInputs::new(Flow::TrueApi, GISMT, CONN, Some("7700000000")).unwrap();
        i.parse_key(&answer(
            200,
            r#"{"uuid":"f1b2c3d4-0000-4000-8000-00000000000a","data":"ZKTYWXSNLHBNLQLYOIJVIVRZCZWPMU"}"#,
        ), start())
        .unwrap()
        .with_seal(key())
    }

    /// The JSON inside a state sealed with [`key`], edited by `edit` and sealed again: what
    /// someone holding the store's key could make.
    fn resealed(text: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let body = text.strip_prefix("suz-pending.2.").unwrap();
        let mut sealed = URL_SAFE_NO_PAD.decode(body).unwrap();
        let (nonce, rest) = sealed.split_at_mut(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).unwrap();
        let json = aead_key(&key()).open_in_place(nonce, aad(), rest).unwrap();
        let mut value: serde_json::Value = serde_json::from_slice(json).unwrap();
        edit(&mut value);
        let json = serde_json::to_vec(&value).unwrap();
        let nonce = [9u8; NONCE_LEN];
        let mut out = json.clone();
        let tag = aead_key(&key())
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), aad(), &mut out)
            .unwrap();
        let mut all = nonce.to_vec();
        all.extend_from_slice(&out);
        all.extend_from_slice(tag.as_ref());
        format!("suz-pending.2.{}", URL_SAFE_NO_PAD.encode(all))
    }

    #[test]
    fn every_flow_survives_the_round_trip() {
        let own = ChallengeInputs::new(Flow::TrueApiToken, GISMT, "", Some("7700000000"))
            .unwrap()
            .parse_key(
                &answer(
                    200,
                    r#"{"uuid":"f1b2c3d4-0000-4000-8000-00000000000b","data":"QWERTY"}"#,
                ),
                start(),
            )
            .unwrap()
            .with_seal(key());
        let mut pendings = vec![
            own,
            gismt_pending(),
            crate::flows::mdlp::pending(
                Flow::Mdlp,
                "https://mdlp.test/api/v1",
                CONN,
                "c0de-1".into(),
                start(),
            )
            .with_seal(key()),
            crate::flows::registration::begin(
                "https://suz.test",
                "cdf12109-10d3-11e6-8b6f-0050569977a1",
                "4344d884-7f23-4ea6-9f2b-b2ba4a4bbc5e",
                "Moscow",
                start(),
            )
            .unwrap()
            .with_seal(key()),
        ];
        for original in &mut pendings {
            assert!(!original.is_carried());
            let text = original.export().unwrap();
            assert!(original.is_carried());
            assert!(text.starts_with("suz-pending.2."));
            assert!(text.bytes().all(|b| b.is_ascii_graphic()), "{text}");
            let back =
                PendingSignature::import(&text, &key(), &urls, original.created_at_ms).unwrap();
            assert_eq!(&back, original);
            assert_eq!(back.finish_id(), original.finish_id());
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
    fn an_operation_no_client_began_cannot_be_exported() {
        let i = ChallengeInputs::new(Flow::TrueApi, GISMT, CONN, None).unwrap();
        let mut p = i
            .parse_key(&answer(200, r#"{"uuid":"u","data":"d"}"#), start())
            .unwrap();
        let e = p.export().unwrap_err();
        assert!(e.message.contains("no token store key"), "{e}");
    }

    #[test]
    fn tampered_foreign_expired_future_and_old_states_are_refused() {
        let mut p = gismt_pending();
        let text = p.export().unwrap();
        let now = p.created_at_ms;
        let refused = |t: &str, now: i64, k: &SealKey, urls: &dyn Fn(Service) -> Option<String>| {
            let e = PendingSignature::import(t, k, urls, now).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::InvalidArgument);
            e.message
        };
        // One character changed.
        let mut bytes = text.clone().into_bytes();
        let at = "suz-pending.2.".len() + 20;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(refused(&tampered, now, &key(), &urls).contains("seal does not match"));
        // Sealed by another store.
        let other_key = SealKey::from_bytes(&[8; 32]).unwrap();
        assert!(refused(&text, now, &other_key, &urls).contains("seal does not match"));
        assert!(refused("hello", now, &key(), &urls).contains("not a state exported"));
        // The unsealed format of earlier versions, however well its check is recomputed.
        assert!(
            refused("suz-pending.1.e30.44136fa355b3678a", now, &key(), &urls)
                .contains("earlier version")
        );
        assert!(refused(&text.replace(".2.", ".9."), now, &key(), &urls).contains("version 9"));
        assert!(refused(&text[..text.len() - 3], now, &key(), &urls).contains("seal"));
        let later = now + PENDING_LIFETIME_MS + 1000;
        assert!(refused(&text, later, &key(), &urls).contains("expired"));
        // Even with the key: a start far in the future is refused, not trusted forever.
        let future = resealed(&text, |v| v["created_at_ms"] = i64::MAX.into());
        assert!(refused(&future, now, &key(), &urls).contains("future"));
        let other =
            |s: Service| (s == Service::TrueApi).then(|| "https://other.test/v3".to_owned());
        let message = refused(&text, now, &key(), &other);
        assert!(message.contains("another configuration"), "{message}");
        // A prefix of the right URL is not the right URL.
        let prefix = |s: Service| (s == Service::TrueApi).then(|| "https://api.test/v".to_owned());
        assert!(refused(&text, now, &key(), &prefix).contains("another configuration"));
        // A URL in the state (earlier versions carried one) is not read.
        let with_url = resealed(&text, |v| {
            v["url"] = "https://api.test/v3/../../admin".into()
        });
        assert!(refused(&with_url, now, &key(), &urls).contains("damaged"));
        assert!(
            refused(&"x".repeat(MAX_EXPORTED_LEN + 1), now, &key(), &urls).contains("bytes long")
        );
    }

    #[test]
    fn the_url_is_rebuilt_from_the_configuration_and_the_finish_id_ignores_the_id() {
        let mut p = gismt_pending();
        let text = p.export().unwrap();
        let now = p.created_at_ms;
        let fresh_id = resealed(&text, |v| {
            v["id"] = "0123456789abcdef0123456789abcdef".into()
        });
        let back = PendingSignature::import(&fresh_id, &key(), &urls, now).unwrap();
        assert_eq!(back.finish_id(), p.finish_id(), "one finish per challenge");
        let signature = attached_over(p.data());
        assert_eq!(
            back.token_request(&signature).unwrap().url,
            format!("{GISMT}/auth/simpleSignIn/{CONN}")
        );
    }

    #[test]
    fn no_secret_is_readable_in_an_exported_state() {
        let mut p = crate::flows::registration::begin(
            "https://suz.test",
            "cdf12109-10d3-11e6-8b6f-0050569977a1",
            "4344d884-7f23-4ea6-9f2b-b2ba4a4bbc5e",
            "Moscow",
            start(),
        )
        .unwrap()
        .with_seal(key());
        let text = p.export().unwrap();
        let body = URL_SAFE_NO_PAD
            .decode(text.strip_prefix("suz-pending.2.").unwrap())
            .unwrap();
        let shown = String::from_utf8_lossy(&body);
        for secret in ["4344d884", "registration_key", "Moscow"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
