//! A token's stored form, the same in a file and in Redis: versioned JSON, checked when read as
//! a fetch checks a server's answer.

use serde::{Deserialize, Serialize};

use crate::token::{Flow, Token};

/// The format written by this version; others are read as a miss and replaced.
pub const STORE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
pub(super) struct StoredToken {
    pub(super) version: u32,
    /// What the token is for, without secrets (shown by `suz inspect`).
    pub(super) label: String,
    flow: String,
    value: String,
    obtained_at_ms: i64,
    expires_at_ms: i64,
    /// The certificate that signed for the token; absent when unknown (and in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate: Option<crate::value::Certificate>,
}

/// The stored form of a token (also used by the Redis store).
pub(crate) fn encode(label: &str, token: &Token) -> zeroize::Zeroizing<Vec<u8>> {
    let stored = StoredToken {
        version: STORE_VERSION,
        label: label.to_owned(),
        flow: token.flow().name().to_owned(),
        value: token.value().to_owned(),
        obtained_at_ms: token.obtained_at_ms(),
        expires_at_ms: token.expires_at_ms(),
        certificate: token.certificate().cloned(),
    };
    // Serialising a struct of strings and integers cannot fail.
    zeroize::Zeroizing::new(serde_json::to_vec(&stored).unwrap_or_default())
}

/// How far in the future a record's `obtained_at_ms` may lie: clocks of the machines sharing a
/// store differ a little, never by this much.
const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// A token from its stored form, checked as a fetch checks an answer: `None` for anything
/// corrupt, truncated or of another version, for a value no server could have given (see
/// [`crate::token::check_token_value`]), for a lifetime outside (0,
/// [`crate::token::MAX_TOKEN_LIFETIME_MS`]] or a record obtained in the future, and — when
/// `label` is given — for a record labelled for another key (another installation, flow or
/// identity). A store — a file, Redis — never hands out what a fetch would have refused.
pub(crate) fn decode(bytes: &[u8], label: Option<&str>) -> Option<Token> {
    let stored: StoredToken = serde_json::from_slice(bytes).ok()?;
    let lifetime = stored.expires_at_ms.saturating_sub(stored.obtained_at_ms);
    if stored.version != STORE_VERSION
        || label.is_some_and(|l| l != stored.label)
        || lifetime <= 0
        || lifetime > crate::token::MAX_TOKEN_LIFETIME_MS
        || stored.obtained_at_ms > crate::token::now_ms().saturating_add(MAX_CLOCK_SKEW_MS)
        || crate::token::check_token_value(&stored.value, "stored token").is_err()
    {
        return None;
    }
    let flow = Flow::from_name(&stored.flow)?;
    // A stored certificate is shown, never trusted: one that is not plausible is dropped.
    let certificate = stored.certificate.filter(plausible);
    Some(
        Token::new(
            stored.value,
            flow,
            stored.obtained_at_ms,
            stored.expires_at_ms,
        )
        .with_certificate(certificate),
    )
}

/// Whether a stored certificate's facts are what this library writes: short texts, digits
/// where digits belong, hex where hex belongs, a validity that is one.
fn plausible(c: &crate::value::Certificate) -> bool {
    let text = |s: &str| s.chars().count() <= 256 && !s.chars().any(char::is_control);
    let digits = |s: &Option<String>| {
        s.as_deref()
            .is_none_or(|d| (1..=20).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
    };
    let hex = |s: &str, max: usize| s.len() <= max && s.bytes().all(|b| b.is_ascii_hexdigit());
    text(&c.subject)
        && text(&c.issuer)
        && c.organization.as_deref().is_none_or(text)
        && hex(&c.serial, 64)
        && hex(&c.thumbprint, 40)
        && digits(&c.inn)
        && digits(&c.inn_le)
        && digits(&c.ogrn)
        && digits(&c.snils)
        && c.not_before_ms <= c.not_after_ms
}
