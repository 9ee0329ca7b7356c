//! The endpoints: each service under its own prefix so one port serves them all.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use crate::cms;
use crate::server::{parse_form, Handler, Reply, Request};
use crate::state::{now_ms, Challenge, Fault, Inner, MdlpCode, State};
use crate::{MDLP_CLIENT_ID, MDLP_CLIENT_SECRET, MDLP_PASSWORD, MDLP_PASSWORD_USER};
use crate::{SMARTMARKET_CLIENT_ID, SMARTMARKET_CLIENT_SECRET};

const SUZ: &str = "/suz/api/v2";
const MDLP: &str = "/mdlp/api/v1";
const GISMT: &str = "/gismt/api/v3";
const TRUEAPI: &str = "/trueapi/api/v3/true-api";
const SMARTMARKET: &str = "/smartmarket/api/v2";

fn json_reply(status: u16, body: Value) -> Reply {
    Reply::Normal {
        status,
        headers: vec![(
            "Content-Type".to_owned(),
            "application/json;charset=UTF-8".to_owned(),
        )],
        body: body.to_string().into_bytes(),
    }
}

fn with_header(reply: Reply, name: &str, value: &str) -> Reply {
    match reply {
        Reply::Normal {
            status,
            mut headers,
            body,
        } => {
            headers.push((name.to_owned(), value.to_owned()));
            Reply::Normal {
                status,
                headers,
                body,
            }
        }
        other => other,
    }
}

/// `{"success":false,"globalErrors":[...]}` (SUZ).
fn suz_error(status: u16, code: i64, text: &str) -> Reply {
    json_reply(
        status,
        json!({"success": false, "globalErrors": [{"error": text, "errorCode": code}]}),
    )
}

/// `{"error_code","error_description"}` (MDLP).
fn mdlp_error(status: u16, code: &str, text: &str) -> Reply {
    json_reply(
        status,
        json!({"error_code": code, "error_description": text}),
    )
}

/// `{"code","error_message","description"}` (GIS MT, True API).
fn crpt_error(status: u16, code: &str, text: &str, description: &str) -> Reply {
    json_reply(
        status,
        json!({"code": code, "error_message": text, "description": description}),
    )
}

/// `{"code","message"}` (SmartMarket OAuth).
fn sber_error(status: u16, code: &str, text: &str) -> Reply {
    json_reply(status, json!({"code": code, "message": text}))
}

fn random_letters(n: usize) -> String {
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

/// RFC 3339 UTC timestamp with microseconds, as SmartPush writes them.
fn timestamp() -> String {
    let ms = now_ms();
    let (secs, micros) = (ms / 1000, (ms % 1000) * 1000);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn body_json(req: &Request) -> Option<Value> {
    serde_json::from_slice::<Value>(&req.body)
        .ok()
        .filter(Value::is_object)
}

fn str_field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Which endpoint a request is for (the name used by counters and faults).
fn endpoint_of(req: &Request) -> &'static str {
    let p = req.path.as_str();
    match req.method.as_str() {
        "POST" if p == format!("{SUZ}/integration/connection") => "suz.register",
        "GET" if p.starts_with(SUZ) && p.ends_with("/ping") => "suz.ping",
        "POST" if p == format!("{MDLP}/auth") => "mdlp.auth",
        "POST" if p.starts_with(&format!("{MDLP}/token/")) => "mdlp.token",
        "GET" if p == format!("{GISMT}/auth/cert/key") => "gismt.key",
        "POST" if p.starts_with(&format!("{GISMT}/auth/cert/")) => "gismt.token",
        "GET" if p == format!("{TRUEAPI}/auth/key") => "trueapi.key",
        "POST" if p.starts_with(&format!("{TRUEAPI}/auth/simpleSignIn/")) => "trueapi.token",
        "POST" if p == format!("{SMARTMARKET}/oauth") => "smartmarket.oauth",
        "POST" if p == format!("{SMARTMARKET}/smartpush/apprequest") => "smartpush.apprequest",
        _ if p.starts_with("/admin/") => "admin",
        _ => "unknown",
    }
}

pub fn handler(state: Arc<State>) -> Handler {
    Arc::new(move |req: &Request| {
        let endpoint = endpoint_of(req);
        if endpoint == "admin" {
            return admin(&state, req);
        }
        let fault = {
            let mut s = state.lock();
            *s.counters.requests.entry(endpoint.to_owned()).or_default() += 1;
            s.take_fault(endpoint)
        };
        if let Some(fault) = fault {
            if fault.delay_ms > 0 {
                std::thread::sleep(Duration::from_millis(fault.delay_ms));
            }
            if let Some(reply) = fault_reply(&fault) {
                return reply;
            }
        }
        let last = req.path.rsplit('/').next().unwrap_or("");
        match endpoint {
            "suz.register" => register(&state, req),
            "suz.ping" => ping(&state, req),
            "mdlp.auth" => mdlp_auth(&state, req),
            "mdlp.token" => mdlp_token(&state, req, last),
            "gismt.key" | "trueapi.key" => challenge(&state),
            "gismt.token" => sign_in(&state, req, last, false),
            "trueapi.token" => sign_in(&state, req, last, true),
            "smartmarket.oauth" => oauth(&state, req),
            "smartpush.apprequest" => smartpush(&state, req),
            _ => json_reply(404, json!({"error": "no such endpoint", "path": req.path})),
        }
    })
}

/// The reply a fault makes, or None for a pure delay (then the request is served normally).
fn fault_reply(f: &Fault) -> Option<Reply> {
    let reply = match f.kind.as_str() {
        "delay" => return None,
        "cut" => return Some(Reply::Cut),
        "truncated" => {
            return Some(Reply::Truncated {
                body: br#"{"token":"abc"#.to_vec(),
            })
        }
        "html" => Reply::Normal {
            status: f.status.unwrap_or(502),
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>".to_vec(),
        },
        "empty" => Reply::Normal {
            status: f.status.unwrap_or(200),
            headers: vec![],
            body: Vec::new(),
        },
        _ => Reply::Normal {
            status: f.status.unwrap_or(500),
            headers: vec![(
                "Content-Type".into(),
                f.content_type
                    .clone()
                    .unwrap_or_else(|| "application/json;charset=UTF-8".into()),
            )],
            body: f
                .body
                .clone()
                .unwrap_or_else(|| r#"{"error":"injected fault"}"#.into())
                .into_bytes(),
        },
    };
    Some(match f.retry_after {
        Some(s) => with_header(reply, "Retry-After", &s.to_string()),
        None => reply,
    })
}

/// Counts a verification and turns a refusal into the service's error reply.
fn check_signature(
    s: &mut Inner,
    signature: &str,
    expected: &[u8],
    attached: bool,
    refuse: impl Fn(u16, &str) -> Reply,
) -> Result<(), Reply> {
    match cms::verify(signature, expected, attached, s.config.require_gost) {
        Ok(v) => {
            s.counters.signatures_verified += 1;
            if v.gost {
                s.counters.gost_signatures_verified += 1;
            }
            Ok(())
        }
        Err(r) => {
            s.counters.signatures_refused += 1;
            Err(refuse(r.status, &r.message))
        }
    }
}

/// The SUZ's answer to an omsId it does not know, if it does not.
fn unknown_oms_id(s: &Inner, oms_id: &str) -> Option<Reply> {
    let known = s
        .config
        .oms_ids
        .iter()
        .any(|o| o.eq_ignore_ascii_case(oms_id));
    (!known).then(|| suz_error(400, 400, &format!("unknown omsId {oms_id:?}")))
}

fn register(state: &State, req: &Request) -> Reply {
    let oms_id = req.query("omsId").unwrap_or("");
    let key = req
        .header("X-RegistrationKey")
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut s = state.lock();
    if let Some(reply) = unknown_oms_id(&s, oms_id) {
        return reply;
    }
    let Some(body) = body_json(req) else {
        return suz_error(400, 400, "the body must be a JSON object");
    };
    let pharma = s
        .config
        .pharma_registration_keys
        .iter()
        .any(|k| k.eq_ignore_ascii_case(&key));
    let known = pharma
        || s.config
            .registration_keys
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&key));
    if !known {
        return json_reply(
            200,
            json!({"status": "REJECTED", "rejectionReason": "Unknown registration key"}),
        );
    }
    let Some(_address) = str_field(&body, "address").filter(|a| !a.trim().is_empty()) else {
        return json_reply(
            200,
            json!({"status": "REJECTED", "rejectionReason": "The installation address is empty"}),
        );
    };
    match req.header("X-Signature") {
        Some(sig) => {
            let body_bytes = req.body.clone();
            if let Err(reply) = check_signature(&mut s, sig, &body_bytes, false, |st, m| {
                suz_error(st, st as i64, m)
            }) {
                return reply;
            }
        }
        None if pharma => {}
        None => return suz_error(400, 400, "X-Signature is required"),
    }
    let connection = uuid::Uuid::new_v4().to_string().to_ascii_uppercase();
    s.connections.insert(connection.to_ascii_lowercase());
    json_reply(
        200,
        json!({"status": "SUCCESS", "omsConnection": connection}),
    )
}

fn ping(state: &State, req: &Request) -> Reply {
    let oms_id = req.query("omsId").unwrap_or("");
    let s = state.lock();
    if let Some(reply) = unknown_oms_id(&s, oms_id) {
        return reply;
    }
    let Some(token) = req.header("clientToken") else {
        return suz_error(401, 401, "clientToken is missing");
    };
    let now = now_ms();
    match s.live.values().find(|t| t.value == token) {
        Some(t) if t.expires_at_ms > now => json_reply(
            200,
            json!({"omsId": oms_id, "apiVersion": "2.0.0", "omsVersion": "suz-emulator"}),
        ),
        Some(_) => suz_error(401, 401, "the clientToken has expired"),
        None if s.revoked.contains(token) => {
            suz_error(401, 401, "the clientToken was revoked by a newer token")
        }
        None => suz_error(401, 401, "unknown clientToken"),
    }
}

fn mdlp_auth(state: &State, req: &Request) -> Reply {
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

fn mdlp_token(state: &State, req: &Request, connection: &str) -> Reply {
    let Some(body) = body_json(req) else {
        return mdlp_error(400, "1", "the body must be a JSON object");
    };
    let mut s = state.lock();
    // Spent by the first attempt that names it, whatever the outcome.
    let entry = str_field(&body, "code").and_then(|c| s.mdlp_codes.remove(c));
    if !s.connections.contains(&connection.to_ascii_lowercase()) {
        return mdlp_error(400, "5", &format!("unknown omsConnection {connection:?}"));
    }
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
        let Some(signature) = str_field(&body, "signature").map(str::to_owned) else {
            return mdlp_error(400, "1", "signature is required for SIGNED_CODE");
        };
        if let Err(reply) = check_signature(&mut s, &signature, code.as_bytes(), false, |st, m| {
            mdlp_error(st, "7", m)
        }) {
            return reply;
        }
    }
    let minutes = s.config.mdlp_life_time_minutes;
    let token = s.issue_token(connection, (minutes * 60_000.0) as u64);
    json_reply(200, json!({"token": token, "life_time": minutes}))
}

fn challenge(state: &State) -> Reply {
    let mut s = state.lock();
    let uuid = uuid::Uuid::new_v4().to_string();
    let data = random_letters(30);
    let expires_at_ms = now_ms() + s.config.challenge_ttl_ms;
    s.challenges.insert(
        uuid.clone(),
        Challenge {
            data: data.clone(),
            expires_at_ms,
        },
    );
    json_reply(200, json!({"uuid": uuid, "data": data}))
}

fn sign_in(state: &State, req: &Request, connection: &str, trueapi: bool) -> Reply {
    let Some(body) = body_json(req) else {
        return crpt_error(400, "400", "Bad request", "the body must be a JSON object");
    };
    let mut s = state.lock();
    // Spent by the first attempt that names it, whatever the outcome.
    let challenge = str_field(&body, "uuid").and_then(|u| s.challenges.remove(u));
    let (Some(_), Some(data)) = (str_field(&body, "uuid"), str_field(&body, "data")) else {
        return crpt_error(400, "400", "Bad request", "uuid and data are required");
    };
    if !s.connections.contains(&connection.to_ascii_lowercase()) {
        return crpt_error(400, "400", "Unknown omsConnection", connection);
    }
    let Some(challenge) = challenge else {
        return crpt_error(
            401,
            "401",
            "Authorization failed",
            "challenge unknown or already used",
        );
    };
    if challenge.expires_at_ms <= now_ms() {
        return crpt_error(401, "401", "Authorization failed", "challenge expired");
    }
    let inn = match body.get("inn") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str() {
            Some(i)
                if trueapi
                    && (i.len() == 10 || i.len() == 12)
                    && i.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(i.to_owned())
            }
            _ => return crpt_error(400, "400", "Bad request", "inn must be 10 or 12 digits"),
        },
    };
    if let Err(reply) = check_signature(&mut s, data, challenge.data.as_bytes(), true, |st, m| {
        crpt_error(st, &st.to_string(), "Authorization failed", m)
    }) {
        return reply;
    }
    if inn.is_some() {
        s.counters.last_inn = inn;
    }
    let ttl = if trueapi {
        s.config.trueapi_token_ttl_ms
    } else {
        s.config.gismt_token_ttl_ms
    };
    let token = s.issue_token(connection, ttl);
    json_reply(200, json!({"token": token}))
}

fn valid_rquid(r: &str) -> bool {
    let hex: String = r.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

fn oauth(state: &State, req: &Request) -> Reply {
    let rquid = req.header("RqUID").unwrap_or("").to_owned();
    if !valid_rquid(&rquid) {
        return sber_error(400, "RQUID_INVALID", "RqUID must be 32 hexadecimal digits");
    }
    let credentials = req
        .header("Authorization")
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let expected = format!("{SMARTMARKET_CLIENT_ID}:{SMARTMARKET_CLIENT_SECRET}");
    if credentials.as_deref() != Some(expected.as_str()) {
        return with_header(
            sber_error(401, "UNAUTHORIZED", "wrong client credentials"),
            "RqUID",
            &rquid,
        );
    }
    let form = parse_form(&String::from_utf8_lossy(&req.body));
    let scope = form
        .iter()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let scope_ok = !scope.is_empty()
        && scope.split(' ').all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        });
    if !scope_ok {
        return with_header(
            sber_error(
                400,
                "SCOPE_DATA_FORMAT_INVALID",
                &format!("{scope} data format invalid"),
            ),
            "RqUID",
            &rquid,
        );
    }
    let mut s = state.lock();
    let token = format!(
        "eyJ{}.{}.{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let expires_ms = now_ms() + s.config.smartmarket_token_ttl_ms;
    s.smartmarket_tokens.insert(token.clone(), expires_ms);
    s.counters.smartmarket_tokens_issued += 1;
    let expires_at = if s.config.smartmarket_expires_in_seconds {
        expires_ms / 1000
    } else {
        expires_ms
    };
    with_header(
        json_reply(
            200,
            json!({"access_token": token, "expires_at": expires_at}),
        ),
        "RqUID",
        &rquid,
    )
}

fn smartpush(state: &State, req: &Request) -> Reply {
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
    let expires = state.lock().smartmarket_tokens.get(bearer).copied();
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
        return failure(400, "BAD_REQUEST", "RqUID must be 32 hexadecimal digits");
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

fn admin(state: &State, req: &Request) -> Reply {
    let body = body_json(req).unwrap_or_else(|| json!({}));
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/admin/stats") => json_reply(200, state.stats()),
        ("POST", "/admin/faults") => {
            let Some(endpoint) = str_field(&body, "endpoint") else {
                return json_reply(400, json!({"error": "endpoint is required"}));
            };
            let kind = str_field(&body, "kind").unwrap_or("status");
            if !["status", "html", "truncated", "cut", "empty", "delay"].contains(&kind) {
                return json_reply(
                    400,
                    json!({"error": format!("unknown fault kind {kind:?}")}),
                );
            }
            let fault = Fault {
                endpoint: endpoint.to_owned(),
                kind: kind.to_owned(),
                status: body.get("status").and_then(Value::as_u64).map(|s| s as u16),
                body: str_field(&body, "body").map(str::to_owned),
                content_type: str_field(&body, "content_type").map(str::to_owned),
                retry_after: body.get("retry_after").and_then(Value::as_u64),
                delay_ms: body.get("delay_ms").and_then(Value::as_u64).unwrap_or(0),
                times: body.get("times").and_then(Value::as_u64).unwrap_or(1),
            };
            state.lock().faults.push(fault);
            json_reply(200, json!({"queued": true}))
        }
        ("DELETE", "/admin/faults") => {
            state.lock().faults.clear();
            json_reply(200, json!({"cleared": true}))
        }
        ("POST", "/admin/revoke") => {
            let mut s = state.lock();
            let n = if body.get("all").and_then(Value::as_bool) == Some(true) {
                s.revoke(None)
            } else if let Some(c) = str_field(&body, "omsConnection") {
                s.revoke(Some(c))
            } else {
                return json_reply(400, json!({"error": "give omsConnection or all: true"}));
            };
            json_reply(200, json!({"revoked": n}))
        }
        ("POST", "/admin/settings") => {
            let mut s = state.lock();
            let c = &mut s.config;
            let ms = |name: &str| body.get(name).and_then(Value::as_u64);
            if let Some(v) = ms("challenge_ttl_ms") {
                c.challenge_ttl_ms = v;
            }
            if let Some(v) = ms("gismt_token_ttl_ms") {
                c.gismt_token_ttl_ms = v;
            }
            if let Some(v) = ms("trueapi_token_ttl_ms") {
                c.trueapi_token_ttl_ms = v;
            }
            if let Some(v) = ms("smartmarket_token_ttl_ms") {
                c.smartmarket_token_ttl_ms = v;
            }
            if let Some(v) = body.get("mdlp_life_time_minutes").and_then(Value::as_f64) {
                c.mdlp_life_time_minutes = v;
            }
            if let Some(v) = body
                .get("smartmarket_expires_in_seconds")
                .and_then(Value::as_bool)
            {
                c.smartmarket_expires_in_seconds = v;
            }
            json_reply(200, json!({"updated": true}))
        }
        ("POST", "/admin/reset") => {
            state.lock().reset();
            json_reply(200, json!({"reset": true}))
        }
        _ => json_reply(404, json!({"error": "no such admin endpoint"})),
    }
}
