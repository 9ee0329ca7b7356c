//! GIS MT and True API: a challenge (`/auth/cert/key`, `/auth/key`) signed attached and sent
//! back for a token.

use serde_json::{json, Value};

use super::common::*;
use crate::faults::Endpoint;
use crate::reply::*;
use crate::server::{Reply, Request};
use crate::state::{now_ms, Challenge, Revocation, State};

/// The two challenge-response services; each has its own challenges.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Svc {
    Gismt,
    TrueApi,
}

impl Svc {
    fn name(self) -> &'static str {
        match self {
            Svc::Gismt => "gismt",
            Svc::TrueApi => "trueapi",
        }
    }
}

pub(crate) fn challenge(state: &State, svc: Svc) -> Reply {
    let mut s = state.lock();
    let uuid = uuid::Uuid::new_v4().to_string();
    let data = random_letters(30);
    let expires_at_ms = now_ms() + s.config.challenge_ttl_ms;
    s.challenges.insert(
        (svc.name(), uuid.clone()),
        Challenge {
            data: data.clone(),
            expires_at_ms,
        },
    );
    json_reply(200, json!({"uuid": uuid, "data": data}))
}

/// True API's refusal of a sign-in (a detached signature, an INN that is not the
/// certificate's, ...): 403 whatever the reason, the reason in `description`.
pub(crate) const TRUEAPI_REFUSAL: &str = "Ошибка авторизации. Код ошибки: 2";

pub(crate) fn sign_in(state: &State, req: &Request, connection: &str, svc: Svc) -> Reply {
    let refused = |why: &str| match svc {
        Svc::TrueApi => crpt_error(403, TRUEAPI_REFUSAL, why),
        Svc::Gismt => crpt_error(401, "Authorization failed", why),
    };
    let bad_request = |why: &str| crpt_error(400, "Bad request", why);
    let Some(body) = body_json(req) else {
        return bad_request("the body must be a JSON object");
    };
    let (challenge, installation, policy) = {
        let mut s = state.lock();
        // Spent by the first attempt whose body names it, whatever the outcome.
        let challenge =
            str_field(&body, "uuid").and_then(|u| s.challenges.remove(&(svc.name(), u.to_owned())));
        let installation = s.connections.get(&connection.to_ascii_lowercase()).cloned();
        (challenge, installation, policy(&s))
    };
    let (Some(_), Some(data)) = (str_field(&body, "uuid"), str_field(&body, "data")) else {
        return bad_request("uuid and data are required");
    };
    let Some(installation) = installation else {
        return crpt_error(400, "Unknown omsConnection", connection);
    };
    let (verified, inn) = match signed_in(state, policy, &body, data, challenge, &refused) {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    match same_participant(&installation, &verified.signer) {
        Err(why) if why == NO_INN && svc == Svc::TrueApi => {
            return crpt_error(403, NO_INN, "the installation belongs to an INN")
        }
        Err(why) => return refused(&why),
        Ok(()) => {}
    }
    let mut s = state.lock();
    if inn.is_some() {
        s.counters.last_inn = inn;
    }
    let ttl = match svc {
        Svc::TrueApi => s.config.trueapi_token_ttl_ms,
        Svc::Gismt => s.config.gismt_token_ttl_ms,
    };
    let token = s.issue_token(connection, ttl);
    sign_in_reply(s.config.sign_in_answer, &token, now_ms() + ttl)
}

/// The checks both sign-ins share: the challenge known (it was spent by this request) and
/// live, the optional `inn` (10 or 12 digits), the attached signature `data` over the
/// challenge, and, when the certificate names INNs, that `inn` is one of them. The verified
/// signer and the `inn`, or the answer.
fn signed_in(
    state: &State,
    policy: crate::cms::Policy,
    body: &Value,
    data: &str,
    challenge: Option<Challenge>,
    refused: &dyn Fn(&str) -> Reply,
) -> Result<(crate::cms::Verified, Option<String>), Reply> {
    let Some(challenge) = challenge else {
        return Err(refused("challenge unknown or already used"));
    };
    if challenge.expires_at_ms <= now_ms() {
        return Err(refused("challenge expired"));
    }
    let inn = match body.get("inn") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str() {
            Some(i)
                if (i.len() == 10 || i.len() == 12) && i.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(i.to_owned())
            }
            _ => {
                return Err(crpt_error(
                    400,
                    "Bad request",
                    "inn must be 10 or 12 digits",
                ))
            }
        },
    };
    let verified = match verify(state, policy, data, challenge.data.as_bytes(), true) {
        Ok(v) => v,
        Err(r) if r.status == 401 => return Err(refused(&r.message)),
        Err(r) => return Err(crpt_error(r.status, reason_text(r.status), &r.message)),
    };
    if let Some(inn) = &inn {
        if !verified.signer.inns.is_empty() && !verified.signer.has_inn(inn) {
            return Err(refused(&format!(
                "inn {inn} is not the INN in the signer's certificate"
            )));
        }
    }
    Ok((verified, inn))
}

/// A service's own token: the challenge signed attached and sent without an installation
/// (True API's `POST /auth/simpleSignIn`, GIS MT's `POST /auth/cert/`). The token is a JWT whose
/// `exp` is its expiry; the server keeps one live token per service, signing certificate and
/// organisation (`inn`): a new one revokes the previous one of the same triple. On True API,
/// `"unitedToken": true` asks for the united token instead: a UUID, answered as
/// `{uuidToken, expireDate}` (the `united_answer` setting picks `expireDate`'s form), kept one
/// per certificate and `inn` as well. Refusals as for the installation's sign-in.
pub(crate) fn sign_in_own(state: &State, req: &Request, svc: Svc) -> Reply {
    let refused = |why: &str| match svc {
        Svc::TrueApi => crpt_error(403, TRUEAPI_REFUSAL, why),
        Svc::Gismt => crpt_error(401, "Authorization failed", why),
    };
    let bad_request = |why: &str| crpt_error(400, "Bad request", why);
    let Some(body) = body_json(req) else {
        return bad_request("the body must be a JSON object");
    };
    let united = match body.get("unitedToken") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) if svc == Svc::TrueApi => true,
        Some(Value::Bool(true)) => return bad_request("unitedToken is asked of True API"),
        Some(_) => return bad_request("unitedToken must be a boolean"),
    };
    let (challenge, policy) = {
        let mut s = state.lock();
        let challenge =
            str_field(&body, "uuid").and_then(|u| s.challenges.remove(&(svc.name(), u.to_owned())));
        (challenge, policy(&s))
    };
    let (Some(_), Some(data)) = (str_field(&body, "uuid"), str_field(&body, "data")) else {
        return bad_request("uuid and data are required");
    };
    let (verified, inn) = match signed_in(state, policy, &body, data, challenge, &refused) {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    if svc == Svc::Gismt && inn.is_some() {
        return bad_request("GIS MT's sign-in takes no inn");
    }
    let mut s = state.lock();
    if inn.is_some() {
        s.counters.last_inn.clone_from(&inn);
    }
    let ttl = match svc {
        Svc::TrueApi => s.config.trueapi_token_ttl_ms,
        Svc::Gismt => s.config.gismt_token_ttl_ms,
    };
    let thumbprint = &verified.signer.thumbprint;
    let expires_at_ms = now_ms() + ttl;
    if united {
        let identity = format!("united:{thumbprint}:{}", inn.as_deref().unwrap_or(""));
        let token = s.issue_value(&identity, uuid::Uuid::new_v4().to_string(), ttl);
        return united_reply(s.config.united_answer, &token, expires_at_ms);
    }
    let identity = own_token_identity(svc, thumbprint, inn.as_deref());
    let token = s.issue_value(
        &identity,
        jwt(expires_at_ms / 1000, thumbprint, inn.as_deref()),
        ttl,
    );
    sign_in_reply(s.config.sign_in_answer, &token, expires_at_ms)
}

/// What the emulator keeps one service token for (its counters and live tokens show it):
/// `<service>:<certificate thumbprint>:<inn>`.
pub fn own_token_identity(svc: Svc, thumbprint: &str, inn: Option<&str>) -> String {
    format!("{}:{thumbprint}:{}", svc.name(), inn.unwrap_or(""))
}

/// The united token's answer, `expireDate` in the configured form.
fn united_reply(form: crate::UnitedAnswer, token: &str, expires_at_ms: u64) -> Reply {
    use crate::UnitedAnswer::*;
    let moscow = moscow_time(expires_at_ms);
    let expire_date = match form {
        ExpireDateMoscow => json!(moscow),
        // `2026-09-30T20:16:34`: the same wall-clock time, no fraction, no zone.
        ExpireDateLocal => json!(moscow[..19]),
        ExpireDateUtc => json!(utc_time(expires_at_ms)),
        ExpireDateUnixMs => json!(expires_at_ms),
    };
    json_reply(200, json!({"uuidToken": token, "expireDate": expire_date}))
}

/// A call to GIS MT's or True API's own API with one of their tokens as `Authorization:
/// Bearer`: a live, unexpired token the service signed in without an installation — GIS MT's
/// own (`gismt:`) for GIS MT, True API's own (`trueapi:`) for True API, the united token
/// (`united:`) for both — else 401 saying why. What the call answers is the emulator's own
/// minimal shape: it is here to check where a client puts the token, not to model the method.
pub(crate) fn service_call(state: &State, req: &Request, endpoint: Endpoint) -> Reply {
    let (own, svc) = match endpoint {
        Endpoint::GismtDocuments => ("gismt:", "GIS MT"),
        _ => ("trueapi:", "True API"),
    };
    let bearer = req
        .header("Authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or("");
    {
        let s = state.lock();
        let refused = |why: &str| crpt_error(401, "Authorization failed", why);
        match s.live_token(bearer) {
            _ if bearer.is_empty() => return refused("Authorization: Bearer is missing"),
            Some((identity, t)) if identity.starts_with(own) || identity.starts_with("united:") => {
                if t.expires_at_ms <= now_ms() {
                    return refused("the token has expired");
                }
            }
            Some(_) => return refused(&format!("the token is not one of {svc}'s")),
            None => match s.revoked.get(bearer) {
                Some(Revocation::Replaced) => {
                    return refused("the token was replaced by a newer one")
                }
                Some(r) => return refused(&format!("the token was {}", r.why())),
                None => return refused("unknown token"),
            },
        }
    }
    match endpoint {
        Endpoint::GismtDocuments => json_reply(200, json!({"results": [], "nextPage": false})),
        _ => {
            let inns: Vec<Value> = req
                .query("inns")
                .unwrap_or("")
                .split(',')
                .filter(|i| !i.is_empty())
                .map(|inn| json!({"inn": inn, "status": "Зарегистрирован"}))
                .collect();
            json_reply(200, Value::Array(inns))
        }
    }
}

/// A JWT-shaped token: a header, the claims (`exp` in seconds, `sub`, `inn`) and 32 random
/// bytes for the signature, each in base64url.
fn jwt(exp_s: u64, subject: &str, inn: Option<&str>) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let header = json!({"alg": "GOST3410_2012_256", "typ": "JWT"});
    let claims = json!({"exp": exp_s, "sub": subject, "inn": inn});
    let signature: Vec<u8> = (0..2)
        .flat_map(|_| *uuid::Uuid::new_v4().as_bytes())
        .collect();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// A sign-in's answer in the configured form, for a token that expires at `expires_at_ms`.
fn sign_in_reply(form: crate::SignInAnswer, token: &str, expires_at_ms: u64) -> Reply {
    use crate::SignInAnswer::*;
    let ttl_ms = expires_at_ms.saturating_sub(now_ms());
    json_reply(
        200,
        match form {
            Token => json!({"token": token}),
            UuidTokenExpireDate => {
                json!({"uuidToken": token, "expireDate": moscow_time(expires_at_ms)})
            }
            ClientTokenExpiresIn => json!({"clientToken": token, "expires_in": ttl_ms / 1000}),
            TokenExp => json!({"token": token, "exp": expires_at_ms / 1000}),
            TokenLifeTime => json!({"token": token, "life_time": ttl_ms / 60_000}),
        },
    )
}

/// `2026-09-30T20:16:34.123+03:00`: the instant in Moscow time (UTC+3, no daylight saving).
fn moscow_time(unix_ms: u64) -> String {
    format!("{}+03:00", wall_clock(unix_ms + 3 * 3600 * 1000))
}

/// `2026-09-30T17:16:34Z`: the instant in UTC, whole seconds.
fn utc_time(unix_ms: u64) -> String {
    format!("{}Z", &wall_clock(unix_ms)[..19])
}

/// `2026-09-30T20:16:34.123`: the date and time of `ms` after the epoch.
fn wall_clock(ms: u64) -> String {
    let (days, rem) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    let (year, month, day) = crate::reply::civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn moscow_time_is_utc_plus_three() {
        assert_eq!(
            super::moscow_time(1_700_000_000_123),
            "2023-11-15T01:13:20.123+03:00"
        );
        assert_eq!(super::moscow_time(0), "1970-01-01T03:00:00.000+03:00");
        assert_eq!(super::utc_time(1_700_000_000_123), "2023-11-14T22:13:20Z");
    }
}
