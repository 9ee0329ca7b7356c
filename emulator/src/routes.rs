//! The endpoints: each service under its own prefix so one port serves them all.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use crate::admin::{Endpoint, Fault, FaultKind};
use crate::cms::{self, Refusal, Verified};
use crate::server::{parse_form, Handler, Reply, Request};
use crate::state::{now_ms, Challenge, Inner, Installation, MdlpCode, State};
use crate::{MDLP_CLIENT_ID, MDLP_CLIENT_SECRET, MDLP_PASSWORD, MDLP_PASSWORD_USER};
use crate::{SMARTMARKET_CLIENT_ID, SMARTMARKET_CLIENT_SECRET};

const SUZ: &str = "/suz/api/v2";
const MDLP: &str = "/mdlp/api/v1";
const GISMT: &str = "/gismt/api/v3";
const TRUEAPI: &str = "/trueapi/api/v3/true-api";
const SMARTMARKET: &str = "/smartmarket/api/v2";

pub(crate) fn json_reply(status: u16, body: Value) -> Reply {
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

/// `{"code","error_message","description"}` (GIS MT, True API): `code` is a number.
fn crpt_error(status: u16, text: &str, description: &str) -> Reply {
    json_reply(
        status,
        json!({"code": status, "error_message": text, "description": description}),
    )
}

/// `{"code","message"}` (SmartMarket OAuth): `code` is a number.
fn sber_error(status: u16, code: u64, text: &str) -> Reply {
    json_reply(status, json!({"code": code, "message": text}))
}

/// An error in the envelope of the service behind `endpoint`.
fn service_error(endpoint: Endpoint, status: u16, text: &str) -> Reply {
    use Endpoint::*;
    match endpoint {
        SuzRegister | SuzPing | SuzVersion | SuzOrders => suz_error(status, status.into(), text),
        MdlpAuth | MdlpToken => mdlp_error(status, &status.to_string(), text),
        GismtKey | GismtToken | TrueApiKey | TrueApiToken => {
            crpt_error(status, reason_text(status), text)
        }
        SmartMarketOauth => sber_error(status, status.into(), text),
        SmartPush => json_reply(
            status,
            json!({"requestId": "", "responseId": uuid::Uuid::new_v4().to_string(),
                   "timestamp": timestamp(), "code": status,
                   "errors": [{"key": "BAD_REQUEST", "message": text}]}),
        ),
    }
}

fn reason_text(status: u16) -> &'static str {
    match status {
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        _ => "Bad request",
    }
}

/// 405 with the methods the route takes.
pub(crate) fn method_not_allowed(methods: &[&str]) -> Reply {
    with_header(
        json_reply(
            405,
            json!({"status": 405, "error": "Method Not Allowed", "allowed": methods}),
        ),
        "Allow",
        &methods.join(", "),
    )
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

/// The body as a JSON object; a UTF-8 byte order mark (1C's JSON writer can emit one) is
/// skipped.
fn body_json(req: &Request) -> Option<Value> {
    let body = req.body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&req.body);
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
}

fn str_field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// What a route takes.
struct Route {
    endpoint: Endpoint,
    method: &'static str,
    /// The media type a POST body must be sent as.
    content_type: Option<&'static str>,
    /// The last path segment (an omsConnection for the token routes).
    last: String,
}

const JSON: Option<&str> = Some("application/json");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

/// The route for a path (whatever the method), if any.
fn route_of(path: &str) -> Option<Route> {
    use Endpoint::*;
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.last().copied().unwrap_or("").to_owned();
    let one_segment = |prefix: &str| {
        path.strip_prefix(prefix)
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .is_some()
    };
    let (endpoint, method, content_type) = if path == format!("{SUZ}/integration/connection") {
        (SuzRegister, "POST", JSON)
    } else if let Some(rest) = path.strip_prefix(&format!("{SUZ}/")) {
        match rest.split('/').collect::<Vec<_>>().as_slice() {
            [ext, "ping"] if !ext.is_empty() => (SuzPing, "GET", None),
            [ext, "version"] if !ext.is_empty() => (SuzVersion, "GET", None),
            [ext, "orders"] if !ext.is_empty() => (SuzOrders, "POST", JSON),
            _ => return None,
        }
    } else if path == format!("{MDLP}/auth") {
        (MdlpAuth, "POST", JSON)
    } else if one_segment(&format!("{MDLP}/token/")) {
        (MdlpToken, "POST", JSON)
    } else if path == format!("{GISMT}/auth/cert/key") {
        (GismtKey, "GET", None)
    } else if one_segment(&format!("{GISMT}/auth/cert/")) {
        (GismtToken, "POST", JSON)
    } else if path == format!("{TRUEAPI}/auth/key") {
        (TrueApiKey, "GET", None)
    } else if one_segment(&format!("{TRUEAPI}/auth/simpleSignIn/")) {
        (TrueApiToken, "POST", JSON)
    } else if path == format!("{SMARTMARKET}/oauth") {
        (SmartMarketOauth, "POST", FORM)
    } else if path == format!("{SMARTMARKET}/smartpush/apprequest") {
        (SmartPush, "POST", JSON)
    } else {
        return None;
    };
    Some(Route {
        endpoint,
        method,
        content_type,
        last,
    })
}

/// Whether the request's Content-Type is `media_type` (parameters such as charset aside).
fn content_type_is(req: &Request, media_type: &str) -> bool {
    req.header("Content-Type").is_some_and(|v| {
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case(media_type)
    })
}

pub fn handler(state: Arc<State>) -> Handler {
    Arc::new(move |req: &Request| {
        // A trailing slash names the same resource.
        let path = match req.path.strip_suffix('/') {
            Some(p) if !p.is_empty() => p,
            _ => req.path.as_str(),
        };
        if path == "/admin" || path.starts_with("/admin/") {
            return crate::admin::handle(&state, req, path);
        }
        let started = std::time::Instant::now();
        let (endpoint, reply) = answer(&state, req, path);
        state
            .lock()
            .record(record_of(req, endpoint, &reply, started));
        reply
    })
}

/// What the console lists for a request and its reply.
fn record_of(
    req: &Request,
    endpoint: &'static str,
    reply: &Reply,
    started: std::time::Instant,
) -> crate::state::RequestRecord {
    let mut path = req.path.clone();
    for (i, (name, value)) in req.query.iter().enumerate() {
        path.push(if i == 0 { '?' } else { '&' });
        path.push_str(name);
        path.push('=');
        path.push_str(value);
    }
    let (status, outcome) = match reply {
        Reply::Normal { status, body, .. } if *status >= 400 => {
            let text = String::from_utf8_lossy(body);
            (*status, text.chars().take(160).collect())
        }
        Reply::Normal { status, .. } => (*status, String::new()),
        Reply::Cut => (0, "closed without an answer (fault)".to_owned()),
        Reply::Truncated { .. } => (200, "truncated body (fault)".to_owned()),
    };
    crate::state::RequestRecord {
        at_ms: crate::state::now_ms(),
        method: req.method.clone(),
        path,
        endpoint,
        status,
        duration_ms: started.elapsed().as_millis() as u64,
        outcome,
    }
}

/// A service request's endpoint name (`unknown` when no route matches) and its reply.
fn answer(state: &State, req: &Request, path: &str) -> (&'static str, Reply) {
    let _in_flight = state.in_flight();
    let Some(route) = route_of(path) else {
        return (
            "unknown",
            json_reply(404, json!({"error": "no such endpoint", "path": req.path})),
        );
    };
    if req.method != route.method {
        return (route.endpoint.name(), method_not_allowed(&[route.method]));
    }
    let endpoint = route.endpoint;
    let fault = {
        let mut s = state.lock();
        *s.counters
            .requests
            .entry(endpoint.name().to_owned())
            .or_default() += 1;
        s.take_fault(endpoint.name())
    };
    let mut transform = None;
    if let Some(fault) = fault {
        if fault.delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(fault.delay_ms));
        }
        match fault.kind {
            FaultKind::Delay => {}
            FaultKind::Gzip | FaultKind::Chunked => transform = Some(fault.kind),
            _ => return (endpoint.name(), fault_reply(&fault)),
        }
    }
    let reply = serve(state, req, &route);
    let reply = match transform {
        Some(FaultKind::Gzip) => gzip_reply(reply),
        Some(FaultKind::Chunked) => with_header(reply, "Transfer-Encoding", "chunked"),
        _ => reply,
    };
    (endpoint.name(), reply)
}

fn serve(state: &State, req: &Request, route: &Route) -> Reply {
    use Endpoint::*;
    let endpoint = route.endpoint;
    if let Some(media_type) = route.content_type {
        if !content_type_is(req, media_type) {
            let given = req.header("Content-Type").unwrap_or("none");
            return service_error(
                endpoint,
                415,
                &format!("Content-Type must be {media_type}, not {given}"),
            );
        }
    }
    let last = route.last.as_str();
    match endpoint {
        SuzRegister => register(state, req),
        SuzPing | SuzVersion | SuzOrders => suz_call(state, req, endpoint),
        MdlpAuth => mdlp_auth(state, req),
        MdlpToken => mdlp_token(state, req, last),
        GismtKey => challenge(state, Svc::Gismt),
        TrueApiKey => challenge(state, Svc::TrueApi),
        GismtToken => sign_in(state, req, last, Svc::Gismt),
        TrueApiToken => sign_in(state, req, last, Svc::TrueApi),
        SmartMarketOauth => oauth(state, req),
        SmartPush => smartpush(state, req),
    }
}

/// The reply a fault makes (not for `delay`, `gzip`, `chunked`: those answer normally).
fn fault_reply(f: &Fault) -> Reply {
    let reply = match f.kind {
        FaultKind::Cut => return Reply::Cut,
        FaultKind::Truncated => {
            return Reply::Truncated {
                body: br#"{"token":"abc"#.to_vec(),
            }
        }
        FaultKind::Html => Reply::Normal {
            status: f.status.unwrap_or(502),
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>".to_vec(),
        },
        FaultKind::Hang => Reply::Normal {
            status: f.status.unwrap_or(500),
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: b"<html><head><title>500 Internal Server Error</title></head><body><center>\
                    <h1>500 Internal Server Error</h1></center><hr><center>nginx</center></body></html>"
                .to_vec(),
        },
        FaultKind::Empty => Reply::Normal {
            status: f.status.unwrap_or(200),
            headers: vec![],
            body: Vec::new(),
        },
        FaultKind::SuzError => {
            let code = f.error_code.unwrap_or(1140);
            let message = f
                .message
                .clone()
                .unwrap_or_else(|| suz_error_text(code).to_owned());
            suz_error(f.status.unwrap_or(400), code, &message)
        }
        FaultKind::Status | FaultKind::Delay | FaultKind::Gzip | FaultKind::Chunked => {
            Reply::Normal {
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
            }
        }
    };
    match f.retry_after {
        Some(s) => with_header(reply, "Retry-After", &s.to_string()),
        None => reply,
    }
}

/// The SUZ's text for a domain error code the emulator knows.
fn suz_error_text(code: i64) -> &'static str {
    match code {
        1140 => TOKEN_OMS_MISMATCH,
        _ => "Ошибка СУЗ",
    }
}

/// SUZ errorCode 1140: the clientToken was issued for an installation of another SUZ.
const TOKEN_OMS_MISMATCH: &str = "Маркер безопасности не соответствует идентификатору СУЗ";

fn gzip_reply(reply: Reply) -> Reply {
    match reply {
        Reply::Normal {
            status,
            mut headers,
            body,
        } => {
            headers.push(("Content-Encoding".into(), "gzip".into()));
            Reply::Normal {
                status,
                headers,
                body: crate::gzip::gzip(&body),
            }
        }
        other => other,
    }
}

/// Records a verification's outcome in the counters.
fn count(state: &State, result: &Result<Verified, Refusal>) {
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
fn verify(
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

fn policy(s: &Inner) -> cms::Policy {
    cms::Policy {
        require_gost: s.config.require_gost,
        allow_expired: s.config.allow_expired_certificates,
    }
}

/// Whether the signer may act for `installation`: when both the installation (registered
/// with a certificate carrying an INN) and the signer's certificate name a participant, it
/// must be the same one.
fn same_participant(installation: &Installation, signer: &cms::Signer) -> Result<(), String> {
    match (&installation.inn, signer.owner_inn()) {
        (Some(owner), Some(signer_inn)) if *owner != signer_inn => Err(format!(
            "the signer's certificate belongs to INN {signer_inn}, the installation to INN {owner}"
        )),
        _ => Ok(()),
    }
}

fn known_oms_id(s: &Inner, oms_id: &str) -> bool {
    // The SUZ compares omsId exactly (case-sensitively).
    s.config.oms_ids.iter().any(|o| o == oms_id)
}

/// The SUZ's answer to an omsId it does not know.
fn unknown_oms_id(oms_id: &str) -> Reply {
    suz_error(400, 400, &format!("unknown omsId {oms_id:?}"))
}

fn register(state: &State, req: &Request) -> Reply {
    let oms_id = req.query("omsId").unwrap_or("").to_owned();
    let key = req
        .header("X-RegistrationKey")
        .unwrap_or("")
        .to_ascii_lowercase();
    let (pharma, policy) = {
        let s = state.lock();
        if !known_oms_id(&s, &oms_id) {
            return unknown_oms_id(&oms_id);
        }
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
        (pharma, policy(&s))
    };
    let Some(body) = body_json(req) else {
        return suz_error(400, 400, "the body must be a JSON object");
    };
    if str_field(&body, "address").is_none_or(|a| a.trim().is_empty()) {
        return json_reply(
            200,
            json!({"status": "REJECTED", "rejectionReason": "The installation address is empty"}),
        );
    }
    let inn = match req.header("X-Signature") {
        Some(sig) => match verify(state, policy, sig, &req.body, false) {
            Ok(v) => v.signer.owner_inn(),
            Err(r) => return suz_error(r.status, r.status.into(), &r.message),
        },
        None if pharma => None,
        None => return suz_error(400, 400, "X-Signature is required"),
    };
    let connection = uuid::Uuid::new_v4().to_string().to_ascii_uppercase();
    state.lock().connections.insert(
        connection.to_ascii_lowercase(),
        Installation { oms_id, inn },
    );
    json_reply(
        200,
        json!({"status": "SUCCESS", "omsConnection": connection}),
    )
}

/// The protected SUZ calls: `clientToken` must be the live token of an installation of the
/// SUZ named by `omsId` (compared exactly).
fn suz_call(state: &State, req: &Request, endpoint: Endpoint) -> Reply {
    let oms_id = req.query("omsId").unwrap_or("");
    {
        let s = state.lock();
        let Some(token) = req.header("clientToken") else {
            if !known_oms_id(&s, oms_id) {
                return unknown_oms_id(oms_id);
            }
            return suz_error(401, 401, "clientToken is missing");
        };
        let now = now_ms();
        match s.live_token(token) {
            Some((connection, t)) if t.expires_at_ms > now => {
                let bound = s.connections.get(connection).map(|i| i.oms_id.as_str());
                if bound != Some(oms_id) {
                    return suz_error(400, 1140, TOKEN_OMS_MISMATCH);
                }
            }
            found => {
                if !known_oms_id(&s, oms_id) {
                    return unknown_oms_id(oms_id);
                }
                return match found {
                    Some(_) => suz_error(401, 401, "the clientToken has expired"),
                    None if s.revoked.contains(token) => {
                        suz_error(401, 401, "the clientToken was revoked by a newer token")
                    }
                    None => suz_error(401, 401, "unknown clientToken"),
                };
            }
        }
    }
    let version = format!("suz-emulator {}", env!("CARGO_PKG_VERSION"));
    match endpoint {
        Endpoint::SuzVersion => {
            json_reply(200, json!({"apiVersion": "2.0.0", "omsVersion": version}))
        }
        Endpoint::SuzOrders => {
            let products = body_json(req)
                .and_then(|b| b.get("products").cloned())
                .and_then(|p| p.as_array().cloned())
                .unwrap_or_default();
            if products.is_empty() {
                return suz_error(400, 400, "products: at least one product is required");
            }
            json_reply(
                200,
                json!({"omsId": oms_id, "orderId": uuid::Uuid::new_v4().to_string(),
                       "expectedCompleteTimestamp": now_ms() + 60_000}),
            )
        }
        _ => json_reply(
            200,
            json!({"omsId": oms_id, "apiVersion": "2.0.0", "omsVersion": version}),
        ),
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

/// Whether an MDLP `user_id` names the signer: the certificate's serial (decimal) or SHA-1
/// thumbprint (hex, any case) for residents, its e-mail address for non-residents.
fn user_is_signer(user_id: &str, signer: &cms::Signer) -> bool {
    user_id == signer.serial
        || user_id.eq_ignore_ascii_case(&signer.thumbprint)
        || (user_id.contains('@')
            && signer
                .emails
                .iter()
                .any(|e| e.eq_ignore_ascii_case(user_id)))
}

fn mdlp_token(state: &State, req: &Request, connection: &str) -> Reply {
    let Some(body) = body_json(req) else {
        return mdlp_error(400, "1", "the body must be a JSON object");
    };
    let (entry, installation, policy) = {
        let mut s = state.lock();
        // Spent by the first attempt whose body names it, whatever the outcome.
        let entry = str_field(&body, "code").and_then(|c| s.mdlp_codes.remove(c));
        let installation = s.connections.get(&connection.to_ascii_lowercase()).cloned();
        (entry, installation, policy(&s))
    };
    let Some(installation) = installation else {
        return mdlp_error(400, "5", &format!("unknown omsConnection {connection:?}"));
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
        if let Err(why) = same_participant(&installation, &verified.signer) {
            return mdlp_error(401, "7", &why);
        }
    }
    let mut s = state.lock();
    let minutes = s.config.mdlp_life_time_minutes;
    let token = s.issue_token(connection, (minutes * 60_000.0) as u64);
    // Whole minutes go out as an integer, as the real service sends them; a fraction (a test
    // setting) as a fraction.
    let life_time = if minutes.fract() == 0.0 && minutes <= u32::MAX as f64 {
        json!(minutes as u64)
    } else {
        json!(minutes)
    };
    json_reply(200, json!({"token": token, "life_time": life_time}))
}

/// The two challenge-response services; each has its own challenges.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Svc {
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

fn challenge(state: &State, svc: Svc) -> Reply {
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
const TRUEAPI_REFUSAL: &str = "Ошибка авторизации. Код ошибки: 2";

fn sign_in(state: &State, req: &Request, connection: &str, svc: Svc) -> Reply {
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
    let Some(challenge) = challenge else {
        return refused("challenge unknown or already used");
    };
    if challenge.expires_at_ms <= now_ms() {
        return refused("challenge expired");
    }
    let inn = match body.get("inn") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str() {
            Some(i)
                if (i.len() == 10 || i.len() == 12) && i.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(i.to_owned())
            }
            _ => return bad_request("inn must be 10 or 12 digits"),
        },
    };
    let verified = match verify(state, policy, data, challenge.data.as_bytes(), true) {
        Ok(v) => v,
        Err(r) if r.status == 401 => return refused(&r.message),
        Err(r) => return crpt_error(r.status, reason_text(r.status), &r.message),
    };
    if let Some(inn) = &inn {
        if !verified.signer.inns.is_empty() && !verified.signer.has_inn(inn) {
            return refused(&format!(
                "inn {inn} is not the INN in the signer's certificate"
            ));
        }
    }
    if let Err(why) = same_participant(&installation, &verified.signer) {
        return refused(&why);
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
    json_reply(200, json!({"token": token}))
}

/// `RqUID`: 32 hexadecimal digits, or a UUID in its canonical 36-character form (8-4-4-4-12).
fn valid_rquid(r: &str) -> bool {
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

const RQUID_RULE: &str = "RqUID must be 32 hexadecimal digits or a UUID (8-4-4-4-12)";

/// The scopes the known SmartMarket client has.
const GRANTED_SCOPES: [&str; 1] = ["SMART_PUSH"];

fn oauth(state: &State, req: &Request) -> Reply {
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
    s.smartmarket_tokens.insert(token.clone(), expires_ms);
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
fn jwe_shaped_token() -> String {
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
