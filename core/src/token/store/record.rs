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
    Some(Token::new(
        stored.value,
        flow,
        stored.obtained_at_ms,
        stored.expires_at_ms,
    ))
}
