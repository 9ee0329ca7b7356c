//! Sber SmartMarket: the OAuth token (Basic auth, `RqUID`, scope) and SmartPush.

use base64::Engine;
use serde_json::{json, Value};

use super::common::*;
use crate::reply::*;
use crate::server::{parse_form, Reply, Request};
use crate::state::{now_ms, State};
use crate::{SMARTMARKET_CLIENT_ID, SMARTMARKET_CLIENT_SECRET};

/// `RqUID`: 32 hexadecimal digits, or a UUID in its canonical 36-character form (8-4-4-4-12).
pub(crate) fn valid_rquid(r: &str) -> bool {
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    match r.len() {
        32 => hex(r),
        36 => {
            let groups: Vec<&str> = r.split('-').collect();
            groups.len() == 5
                && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
                && groups.iter().all(|g| hex(g))
        }
        _ => false,
    }
}

pub(crate) const RQUID_RULE: &str = "RqUID must be 32 hexadecimal digits or a UUID (8-4-4-4-12)";

/// The scopes the known SmartMarket client has.
pub(crate) const GRANTED_SCOPES: [&str; 1] = ["SMART_PUSH"];

pub(crate) fn oauth(state: &State, req: &Request) -> Reply {
    let rquid = req.header("RqUID").unwrap_or("").to_owned();
    if !valid_rquid(&rquid) {
        return sber_error(400, 400, RQUID_RULE);
    }
    let reply = |r: Reply| with_header(r, "RqUID", &rquid);
    let credentials = req
        .header("Authorization")
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|c| c.contains(':'));
    let Some(credentials) = credentials else {
        return reply(sber_error(401, 4, "Can't decode 'Authorization' header"));
    };
    if credentials != format!("{SMARTMARKET_CLIENT_ID}:{SMARTMARKET_CLIENT_SECRET}") {
        return reply(sber_error(401, 6, "credentials doesn't match db data"));
    }
    let form = parse_form(&String::from_utf8_lossy(&req.body));
    let scope = form
        .iter()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if scope.is_empty() {
        return reply(sber_error(400, 5, "scope is empty"));
    }
    let parts: Vec<&str> = scope.split(' ').collect();
    let well_formed = parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
    if !well_formed {
        return reply(sber_error(400, 1, "scope data format invalid"));
    }
    if !parts.iter().all(|p| GRANTED_SCOPES.contains(p)) {
        return reply(sber_error(
            401,
            7,
            "scope from db not fully includes consumed scope",
        ));
    }
    let mut s = state.lock();
    let token = jwe_shaped_token();
    let expires_ms = now_ms() + s.config.smartmarket_token_ttl_ms;
    s.smartmarket_tokens
        .insert(token.clone(), (now_ms(), expires_ms));
    s.counters.smartmarket_tokens_issued += 1;
    let expires_at = if s.config.smartmarket_expires_in_seconds {
        expires_ms / 1000
    } else {
        expires_ms
    };
    reply(json_reply(
        200,
        json!({"access_token": token, "expires_at": expires_at}),
    ))
}

/// A token shaped like Sber's: a JWE in compact form, five base64url parts (header,
/// encrypted key, IV, ciphertext, tag), the header a real JWE header.
pub(crate) fn jwe_shaped_token() -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let random = |n: usize| -> Vec<u8> {
        (0..n.div_ceil(16))
            .flat_map(|_| *uuid::Uuid::new_v4().as_bytes())
            .take(n)
            .collect()
    };
    [
        b64(br#"{"enc":"A256CBC-HS512","alg":"RSA-OAEP-256"}"#),
        b64(&random(256)),
        b64(&random(16)),
        b64(&random(480)),
        b64(&random(32)),
    ]
    .join(".")
}

pub(crate) fn smartpush(state: &State, req: &Request) -> Reply {
    let rquid = req.header("RqUID").unwrap_or("").to_owned();
    let failure = |status: u16, key: &str, message: &str| {
        json_reply(
            status,
            json!({"requestId": rquid, "responseId": uuid::Uuid::new_v4().to_string(),
                   "timestamp": timestamp(), "code": status, "errors": [{"key": key, "message": message}]}),
        )
    };
    let bearer = req
        .header("Authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or("");
    let expires = state
        .lock()
        .smartmarket_tokens
        .get(bearer)
        .map(|(_, expires)| *expires);
    match expires {
        Some(e) if e > now_ms() => {}
        Some(_) => {
            return failure(
                401,
                "UNAUTHORIZED",
                "Invalid JWE claim: 'exp', token expired.",
            )
        }
        None => return failure(401, "UNAUTHORIZED", "Invalid JWE: unknown token."),
    }
    if !valid_rquid(&rquid) {
        return failure(400, "BAD_REQUEST", RQUID_RULE);
    }
    let Some(payload) = body_json(req)
        .and_then(|b| b.get("requestPayload").cloned())
        .filter(Value::is_object)
    else {
        return failure(400, "BAD_REQUEST", "requestPayload is required");
    };
    json_reply(
        200,
        json!({"requestId": rquid, "responseId": uuid::Uuid::new_v4().to_string(),
               "timestamp": timestamp(), "payload": {"echo": payload}}),
    )
}
