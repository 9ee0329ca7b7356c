//! The values the flows make and the cache keeps: a token with the flow that minted it and its
//! times, the lease a two-phase fetch carries, the key that seals an exported state, and the
//! checks every token passes — whoever hands it out. Nothing here keeps or fetches anything.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The services whose base URLs the configuration holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Service {
    /// SUZ (order management station): installation registration and the protected API.
    Suz,
    /// MDLP (pharma) authentication, including the API version (`.../api/v1`).
    Mdlp,
    /// GIS MT authentication (`.../api/v3`).
    Gismt,
    /// True API authentication (`.../api/v3/true-api`).
    TrueApi,
    /// Sber SmartMarket (OAuth and SmartPush).
    SmartMarket,
}

impl Service {
    /// The service's name in config keys (`urls.<name>`), e.g. `trueapi`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Suz => "suz",
            Service::Mdlp => "mdlp",
            Service::Gismt => "gismt",
            Service::TrueApi => "trueapi",
            Service::SmartMarket => "smartmarket",
        }
    }
}

/// How a flow's token is minted: what its profile names, and which steps fetch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A SUZ `clientToken` for an installation, through MDLP's code (signed or with a password).
    SuzMdlp,
    /// A SUZ `clientToken` for an installation, through a challenge signed attached.
    SuzChallenge,
    /// A service's own token, through a challenge signed attached and sent without an
    /// installation: one per service, signing certificate and organisation (`inn`).
    SignedIn,
    /// An MDLP API session for MDLP's own calls, through MDLP's code (signed or with a
    /// password), without an installation: one per MDLP, client and user.
    MdlpSession,
    /// An OAuth client-credentials `access_token`.
    OAuth,
}

impl Kind {
    /// Whether a flow of this kind mints a SUZ token for an installation (`omsConnection`).
    pub fn names_installation(self) -> bool {
        match self {
            Kind::SuzMdlp | Kind::SuzChallenge => true,
            Kind::SignedIn | Kind::MdlpSession | Kind::OAuth => false,
        }
    }
}

/// Defines [`Flow`] — each flow once, with its stored name, the C ABI's number for it
/// (`SuzFlow`), the service that mints it and its [`Kind`] — and derives [`Flow::ALL`], [`Flow::name`],
/// [`Flow::code`], [`Flow::service`], [`Flow::kind`] and [`Flow::from_name`] from that one list. `Flow` is not
/// `#[non_exhaustive]`: a new flow breaks the build of every `match` that must handle it, here
/// and in the C ABI.
macro_rules! flows {
    ($($(#[$doc:meta])* $flow:ident => $name:literal, $code:literal, $service:ident, $kind:ident;)+) => {
        /// Which flow minted a token.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Flow {
            $($(#[$doc])* $flow,)+
        }

        impl Flow {
            /// Every flow.
            pub const ALL: &'static [Flow] = &[$(Flow::$flow,)+];

            /// The flow's lowercase name, e.g. `trueapi` (as written in the stores).
            pub fn name(self) -> &'static str {
                match self {
                    $(Flow::$flow => $name,)+
                }
            }

            /// The flow's number in the C ABI (`SuzFlow`; 0 is never a flow).
            pub fn code(self) -> u32 {
                match self {
                    $(Flow::$flow => $code,)+
                }
            }

            /// The service whose sign-in mints the flow's token.
            pub fn service(self) -> Service {
                match self {
                    $(Flow::$flow => Service::$service,)+
                }
            }

            /// How the flow's token is minted.
            pub fn kind(self) -> Kind {
                match self {
                    $(Flow::$flow => Kind::$kind,)+
                }
            }

            /// The flow named `name` (as [`Flow::name`] gives it).
            pub fn from_name(name: &str) -> Option<Flow> {
                Self::ALL.iter().copied().find(|f| f.name() == name)
            }
        }
    };
}

// The flows themselves: one line each, in a file of their own that the C layer's build script
// reads too (it writes the C enum `SuzFlow` from the same lines).
include!("flow_table.in");

/// A token with its provenance and lifetime. The value is wiped from memory on drop and never
/// shown by `Debug`.
///
/// Cloning shares the value (a reference count, no copy): the cache hands out clones of one
/// token to every caller. The value is kept with a terminating NUL, so C callers get a
/// pointer to it without a copy per call.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The value followed by one NUL byte.
    value: Arc<Zeroizing<String>>,
    flow: Flow,
    obtained_at_ms: i64,
    expires_at_ms: i64,
    /// The certificate that signed for it, when the flow signs and the signature carried it.
    certificate: Option<Arc<Certificate>>,
}

impl Token {
    /// A token from its value, the flow that minted it, and when it was obtained and expires (Unix
    /// time in milliseconds). A NUL inside the value (which no server token passes
    /// [`check_token_value`] with) becomes U+FFFD.
    pub fn new(value: String, flow: Flow, obtained_at_ms: i64, expires_at_ms: i64) -> Token {
        let mut value = Zeroizing::new(value);
        if value.contains('\0') {
            *value = value.replace('\0', "\u{fffd}");
        }
        value.push('\0');
        Token {
            value: Arc::new(value),
            flow,
            obtained_at_ms,
            expires_at_ms,
            certificate: None,
        }
    }

    /// This token, with the certificate that signed for it.
    pub fn with_certificate(mut self, certificate: Option<Certificate>) -> Token {
        self.certificate = certificate.map(Arc::new);
        self
    }

    /// The certificate that signed for the token, when known.
    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_deref()
    }

    /// The secret value, to put in a `clientToken` or `Authorization: Bearer` header.
    pub fn value(&self) -> &str {
        self.value.strip_suffix('\0').unwrap_or(&self.value)
    }

    /// A copy of this token with a value of its own (not shared with this one): what one
    /// thread keeps so that handing it out touches nothing another thread writes.
    pub(crate) fn own_copy(&self) -> Token {
        Token {
            value: Arc::new(Zeroizing::new(String::clone(&self.value))),
            certificate: self.certificate.clone(),
            ..*self
        }
    }

    /// The value followed by one NUL byte, the only NUL in it: a C string, borrowed, valid as
    /// long as this token (or a clone) lives.
    pub fn value_with_nul(&self) -> &[u8] {
        self.value.as_bytes()
    }

    /// The flow that minted the token.
    pub fn flow(&self) -> Flow {
        self.flow
    }

    /// When the token was received, Unix time in milliseconds.
    pub fn obtained_at_ms(&self) -> i64 {
        self.obtained_at_ms
    }

    /// When the token stops working, Unix time in milliseconds.
    pub fn expires_at_ms(&self) -> i64 {
        self.expires_at_ms
    }

    /// A form safe to log: the first four characters and the length.
    pub fn masked(&self) -> String {
        mask(self.value())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &self.masked())
            .field("flow", &self.flow)
            .field("obtained_at_ms", &self.obtained_at_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// What the library reads of a signing certificate. Nothing here is secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The subject's common name (CN): the holder, or the organisation.
    pub subject: String,
    /// The subject's organisation (O), when it names one.
    pub organization: Option<String>,
    /// The issuer's common name (CN), or its organisation.
    pub issuer: String,
    /// The serial number, in upper-case hex.
    pub serial: String,
    /// SHA-1 of the certificate, in upper-case hex: CryptoPro's thumbprint (отпечаток).
    pub thumbprint: String,
    /// ИНН (OID 1.2.643.3.131.1.1): a person's 12 digits, or for older certificates an
    /// organisation's 10 (zero-padded to 12).
    pub inn: Option<String>,
    /// ИНН ЮЛ (OID 1.2.643.100.4): an organisation's 10 digits.
    pub inn_le: Option<String>,
    /// ОГРН (OID 1.2.643.100.1), or ОГРНИП (1.2.643.100.5).
    pub ogrn: Option<String>,
    /// СНИЛС (OID 1.2.643.100.3).
    pub snils: Option<String>,
    /// Valid from, Unix ms.
    pub not_before_ms: i64,
    /// Valid until, Unix ms.
    pub not_after_ms: i64,
}

impl Certificate {
    /// Whether `inn` (10 or 12 digits) is the certificate's ИНН or ИНН ЮЛ; `None` when the
    /// certificate names neither.
    pub fn has_inn(&self, inn: &str) -> Option<bool> {
        let own: Vec<&str> = [&self.inn, &self.inn_le]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if own.is_empty() {
            return None;
        }
        // A 10-digit INN written in the 12-digit field is padded with two zeros in front.
        Some(
            own.iter()
                .any(|o| *o == inn || o.strip_prefix("00") == Some(inn)),
        )
    }

    /// The certificate's INNs, for a message: `ИНН 7707083893` or `no INN`.
    pub fn inns(&self) -> String {
        let mut parts = Vec::new();
        if let Some(inn) = &self.inn_le {
            parts.push(format!("ИНН ЮЛ {inn}"));
        }
        if let Some(inn) = &self.inn {
            parts.push(format!("ИНН {inn}"));
        }
        if parts.is_empty() {
            "no INN".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// The longest token accepted from a server, in bytes. Tokens are sent back in HTTP headers
/// (`clientToken`, `Authorization: Bearer`); the real services issue UUIDs and JWTs of about a
/// kilobyte.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The key that seals exported pending operations (see `crate::flows::carry`): 32 random
/// bytes created once and shared by every process — and, with Redis, every machine — that
/// shares the token store, so a state exported by one of them is opened by any other and by
/// nobody else. Never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey(Arc<Zeroizing<[u8; SEAL_KEY_LEN]>>);

/// The length of a [`SealKey`].
pub const SEAL_KEY_LEN: usize = 32;

impl SealKey {
    /// A new random key; an error only if the system's generator fails.
    pub(crate) fn random() -> crate::error::Result<SealKey> {
        let mut bytes = Zeroizing::new([0u8; SEAL_KEY_LEN]);
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes[..]).map_err(
            |_| {
                crate::error::Error::new(
                    crate::error::ErrorKind::Store,
                    "the system's random generator failed",
                )
            },
        )?;
        Ok(SealKey(Arc::new(bytes)))
    }

    /// A key from its stored bytes; `None` unless there are exactly [`SEAL_KEY_LEN`].
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<SealKey> {
        let bytes: [u8; SEAL_KEY_LEN] = bytes.try_into().ok()?;
        Some(SealKey(Arc::new(Zeroizing::new(bytes))))
    }

    /// The key's bytes.
    pub(crate) fn bytes(&self) -> &[u8; SEAL_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(***)")
    }
}

/// The longest lifetime a token may claim: a month. Every real token lives hours; a larger
/// `exp`, `expires_at` or `life_time` is a broken answer, and caching it would keep a token
/// "fresh" long after the server forgot it. A stored record is held to the same bound.
pub const MAX_TOKEN_LIFETIME_MS: i64 = 31 * 24 * 3600 * 1000;

/// Checks a token a server sent before it is cached or handed out: non-empty, at most
/// [`MAX_TOKEN_LEN`] bytes of visible ASCII (`!` to `~`). Anything else — CR/LF that would
/// inject headers, NUL, spaces, non-ASCII — is [`crate::ErrorKind::Protocol`]; the message
/// never shows the value.
pub fn check_token_value(value: &str, what: &str) -> crate::Result<()> {
    let fail = |why: String| {
        Err(crate::Error::new(
            crate::ErrorKind::Protocol,
            format!("the server's {what} {why}; it was not used"),
        ))
    };
    if value.is_empty() {
        return fail("is empty".into());
    }
    if value.len() > MAX_TOKEN_LEN {
        return fail(format!(
            "is {} bytes long, over the {MAX_TOKEN_LEN}-byte limit",
            value.len()
        ));
    }
    // Whole chunks are checked without an early exit (which vectorises: tokens are kilobytes
    // and checked on every fetch); the offending byte is looked for only on failure.
    let visible = |b: &u8| b.wrapping_sub(0x21) < 0x5e;
    let all_visible = value
        .as_bytes()
        .chunks(64)
        .all(|chunk| chunk.iter().fold(true, |ok, b| ok & visible(b)));
    if !all_visible {
        let at = value.bytes().position(|b| !visible(&b)).unwrap_or(0);
        return fail(format!(
            "contains a character that is not visible ASCII (byte {:#04x} at offset {at})",
            value.as_bytes()[at]
        ));
    }
    Ok(())
}

/// Masks a secret for logs and messages: at most four leading characters survive.
pub fn mask(secret: &str) -> String {
    let count = secret.chars().count();
    let shown: String = if count >= 16 {
        secret.chars().take(4).collect()
    } else {
        String::new()
    };
    format!("{shown}…({count} chars)")
}

/// Now, Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A caller's lease on fetching one key's token. Holds no secret: the owner id only names the
/// holder in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lease {
    /// The profile whose token is being fetched.
    pub profile: String,
    /// The key's hash (see `crate::token::key::TokenKey`).
    pub key: String,
    /// The holder's random id.
    pub owner: String,
    /// When the lease expires unless renewed, Unix ms.
    pub expires_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let t = Token::new(
            "58f908f1-832a-4ad0-93f4-bdafbf8eb55a".into(),
            Flow::Gismt,
            1,
            2,
        );
        let shown = format!("{t:?}");
        assert!(!shown.contains("832a"), "{shown}");
        assert!(shown.contains("58f9…(36 chars)"), "{shown}");
    }
}
