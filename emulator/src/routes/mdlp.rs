//! MDLP: the code (`/auth`) and the token (`/token`), signed code or password.

use serde_json::json;

use super::common::*;
use crate::cms::{self};
use crate::reply::*;
use crate::server::{Reply, Request};
use crate::state::{now_ms, MdlpCode, Revocation, State};
use crate::{MDLP_CLIENT_ID, MDLP_CLIENT_SECRET, MDLP_PASSWORD, MDLP_PASSWORD_USER};

pub(crate) fn mdlp_auth(state: &State, req: &Request) -> Reply {
    let Some(body) = body_json(req) else {
        return mdlp_error(400, "1", "the body must be a JSON object");
    };
    let (Some(id), Some(secret), Some(user), Some(auth_type)) = (
        str_field(&body, "client_id"),
        str_field(&body, "client_secret"),
        str_field(&body, "user_id"),
        str_field(&body, "auth_type"),
    ) else {
        return mdlp_error(
            400,
            "1",
            "client_id, client_secret, user_id and auth_type are required",
        );
    };
    if auth_type != "SIGNED_CODE" && auth_type != "PASSWORD" {
        return mdlp_error(400, "1", "auth_type must be SIGNED_CODE or PASSWORD");
    }
    if !id.eq_ignore_ascii_case(MDLP_CLIENT_ID) || secret != MDLP_CLIENT_SECRET {
        return mdlp_error(401, "2", "unknown client_id or wrong client_secret");
    }
    if auth_type == "PASSWORD" && user != MDLP_PASSWORD_USER {
        return mdlp_error(401, "3", "unknown user");
    }
    let mut s = state.lock();
    let code = uuid::Uuid::new_v4().to_string();
    let expires_at_ms = now_ms() + s.config.challenge_ttl_ms;
    s.mdlp_codes.insert(
        code.clone(),
        MdlpCode {
            auth_type: auth_type.to_owned(),
            user_id: user.to_owned(),
            expires_at_ms,
        },
    );
    json_reply(200, json!({"code": code}))
}

/// Whether an MDLP `user_id` names the signer: the certificate's serial (decimal) or SHA-1
/// thumbprint (hex, any case) for residents, its e-mail address for non-residents.
pub(crate) fn user_is_signer(user_id: &str, signer: &cms::Signer) -> bool {
    user_id == signer.serial
        || user_id.eq_ignore_ascii_case(&signer.thumbprint)
        || (user_id.contains('@')
            && signer
                .emails
                .iter()
                .any(|e| e.eq_ignore_ascii_case(user_id)))
}

/// `/token/{omsConnection}` (a SUZ token for the installation) or, with no `connection`,
/// `/token`: MDLP's own session for the code's user, a UUID living `mdlp_life_time_minutes`;
/// a new session of the same user replaces the previous one (the emulator's choice: the
/// sources say nothing of it), counted under `mdlp_session:<user_id>`.
pub(crate) fn mdlp_token(state: &State, req: &Request, connection: Option<&str>) -> Reply {
    let Some(body) = body_json(req) else {
        return mdlp_error(400, "1", "the body must be a JSON object");
    };
    let (entry, installation, policy) = {
        let mut s = state.lock();
        // Spent by the first attempt whose body names it, whatever the outcome.
        let entry = str_field(&body, "code").and_then(|c| s.mdlp_codes.remove(c));
        let installation = connection.map(|c| s.connections.get(&c.to_ascii_lowercase()).cloned());
        (entry, installation, policy(&s))
    };
    let installation = match (connection, installation) {
        (Some(connection), Some(None)) => {
            return mdlp_error(400, "5", &format!("unknown omsConnection {connection:?}"))
        }
        (_, installation) => installation.flatten(),
    };
    let Some(code) = str_field(&body, "code") else {
        return mdlp_error(400, "1", "code is required");
    };
    let Some(entry) = entry else {
        return mdlp_error(401, "4", "the code is unknown or already used");
    };
    if entry.expires_at_ms <= now_ms() {
        return mdlp_error(401, "4", "the code has expired");
    }
    if entry.auth_type == "PASSWORD" {
        if entry.user_id != MDLP_PASSWORD_USER
            || str_field(&body, "password") != Some(MDLP_PASSWORD)
        {
            return mdlp_error(401, "6", "wrong password");
        }
    } else {
        let Some(signature) = str_field(&body, "signature") else {
            return mdlp_error(400, "1", "signature is required for SIGNED_CODE");
        };
        let verified = match verify(state, policy, signature, code.as_bytes(), false) {
            Ok(v) => v,
            Err(r) => return mdlp_error(r.status, "7", &r.message),
        };
        if !user_is_signer(entry.user_id.trim(), &verified.signer) {
            return mdlp_error(
                401,
                "7",
                &format!(
                    "user_id {:?} is neither the serial ({}) nor the thumbprint of the signer's certificate",
                    entry.user_id, verified.signer.serial
                ),
            );
        }
        if let Some(installation) = &installation {
            if let Err(why) = same_participant(installation, &verified.signer) {
                return mdlp_error(401, "7", &why);
            }
        }
    }
    let mut s = state.lock();
    let minutes = s.config.mdlp_life_time_minutes;
    let ttl = (minutes * 60_000.0) as u64;
    let token = match connection {
        Some(connection) => s.issue_token(connection, ttl),
        None => {
            let identity = format!("mdlp_session:{}", entry.user_id.trim().to_ascii_lowercase());
            s.issue_value(&identity, uuid::Uuid::new_v4().to_string(), ttl)
        }
    };
    // Whole minutes go out as an integer, as the real service sends them; a fraction (a test
    // setting) as a fraction.
    let life_time = if minutes.fract() == 0.0 && minutes <= u32::MAX as f64 {
        json!(minutes as u64)
    } else {
        json!(minutes)
    };
    json_reply(200, json!({"token": token, "life_time": life_time}))
}

/// `GET /documents/{id}` with `Authorization: token <session>`: a live MDLP session, else 401
/// saying why. The answer is the emulator's own minimal one (`{document_id}`): the route checks
/// where a client puts the session, it does not model the method.
pub(crate) fn mdlp_documents(state: &State, req: &Request, document_id: &str) -> Reply {
    let token = req
        .header("Authorization")
        .and_then(|a| a.strip_prefix("token "))
        .unwrap_or("");
    let s = state.lock();
    match s.live_token(token) {
        _ if token.is_empty() => mdlp_error(401, "401", "Authorization: token is missing"),
        Some((identity, t)) if identity.starts_with("mdlp_session:") => {
            if t.expires_at_ms <= now_ms() {
                mdlp_error(401, "401", "the session has expired")
            } else {
                json_reply(200, json!({"document_id": document_id}))
            }
        }
        Some(_) => mdlp_error(401, "401", "the token is not an MDLP session"),
        None => match s.revoked.get(token) {
            Some(Revocation::Replaced) => {
                mdlp_error(401, "401", "the session was replaced by a newer one")
            }
            Some(r) => mdlp_error(401, "401", &format!("the session was {}", r.why())),
            None => mdlp_error(401, "401", "unknown session"),
        },
    }
}
