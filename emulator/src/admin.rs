//! The admin API: counters, fault injection, revocation, live settings, reset. Every body is
//! read into a typed struct that refuses unknown fields; a mistake is a 400 naming the field.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::faults::{Endpoint, Fault, FaultKind};
use crate::reply::{json_reply, method_not_allowed};
use crate::server::{Reply, Request};
use crate::state::State;

/// The web console (`GET /admin/`): one page over the admin API.
const CONSOLE: &str = include_str!("console.html");

/// `POST /admin/faults`, as sent: every field optional here so that a mistake in one field
/// can be named; `endpoint` is required afterwards.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultSpec {
    endpoint: Option<Endpoint>,
    kind: Option<FaultKind>,
    status: Option<u16>,
    body: Option<String>,
    content_type: Option<String>,
    retry_after: Option<u64>,
    delay_ms: Option<u64>,
    times: Option<u64>,
    error_code: Option<i64>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeSpec {
    #[serde(rename = "omsConnection")]
    oms_connection: Option<String>,
    all: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsSpec {
    challenge_ttl_ms: Option<u64>,
    gismt_token_ttl_ms: Option<u64>,
    trueapi_token_ttl_ms: Option<u64>,
    mdlp_life_time_minutes: Option<f64>,
    smartmarket_token_ttl_ms: Option<u64>,
    smartmarket_expires_in_seconds: Option<bool>,
    allow_expired_certificates: Option<bool>,
    sign_in_answer: Option<crate::SignInAnswer>,
    united_answer: Option<crate::UnitedAnswer>,
    mdlp_rate_limit: Option<bool>,
}

/// Reads a JSON object into `T`; the error names the field at fault.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("the body must be a JSON object".into());
    };
    serde_json::from_value::<T>(Value::Object(map.clone())).map_err(|whole| {
        // Every field is optional: the first key that fails alone is the one to name.
        map.iter()
            .find_map(|(key, v)| {
                let alone = Value::Object(Map::from_iter([(key.clone(), v.clone())]));
                serde_json::from_value::<T>(alone)
                    .err()
                    .map(|e| format!("`{key}`: {e}"))
            })
            .unwrap_or_else(|| whole.to_string())
    })
}

fn bad(message: impl Into<String>) -> Reply {
    json_reply(400, json!({"error": message.into()}))
}

fn fault(spec: FaultSpec) -> Result<Fault, String> {
    let endpoint = spec.endpoint.ok_or("`endpoint` is required")?;
    let kind = spec.kind.unwrap_or_default();
    if let Some(s) = spec.status {
        if !(100..=599).contains(&s) {
            return Err(format!("`status`: {s} is not between 100 and 599"));
        }
    }
    use FaultKind::*;
    let uses = |field: &str| -> bool {
        match field {
            "status" | "retry_after" => matches!(kind, Status | Html | Empty | Hang | SuzError),
            "body" | "content_type" => kind == Status,
            "error_code" | "message" => kind == SuzError,
            _ => true,
        }
    };
    for (field, given) in [
        ("status", spec.status.is_some()),
        ("retry_after", spec.retry_after.is_some()),
        ("body", spec.body.is_some()),
        ("content_type", spec.content_type.is_some()),
        ("error_code", spec.error_code.is_some()),
        ("message", spec.message.is_some()),
    ] {
        if given && !uses(field) {
            return Err(format!(
                "`{field}` does not apply to kind {}",
                serde_json::to_string(&kind).unwrap_or_default()
            ));
        }
    }
    if let Some(t) = &spec.content_type {
        // A header value: a CR or LF would start another header (or the body).
        if t.chars().any(|c| c.is_control()) {
            return Err(
                "`content_type`: control characters (CR, LF, …) are not allowed in a header".into(),
            );
        }
    }
    let delay_ms = match (kind, spec.delay_ms) {
        (Hang, None) => 30_000,
        (_, d) => d.unwrap_or(0),
    };
    Ok(Fault {
        endpoint,
        kind,
        status: spec.status,
        body: spec.body,
        content_type: spec.content_type,
        retry_after: spec.retry_after,
        delay_ms,
        times: spec.times.unwrap_or(1),
        error_code: spec.error_code,
        message: spec.message,
    })
}

const ROUTES: [(&str, &[&str]); 7] = [
    ("/admin", &["GET"]),
    ("/admin/requests", &["GET"]),
    ("/admin/stats", &["GET"]),
    ("/admin/faults", &["GET", "POST", "DELETE"]),
    ("/admin/revoke", &["POST"]),
    ("/admin/settings", &["GET", "POST"]),
    ("/admin/reset", &["POST"]),
];

/// Whether `host` (a `Host` header) names this machine's loopback interface: `127.0.0.1`,
/// `localhost` or `[::1]`, with or without a port.
fn loopback_host(host: &str) -> bool {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().map(|n| format!("[{n}]")),
        None => Some(match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_owned(),
            _ => host.to_owned(),
        }),
    };
    name.is_some_and(|n| {
        matches!(
            n.to_ascii_lowercase().as_str(),
            "127.0.0.1" | "localhost" | "[::1]"
        )
    })
}

/// What a page of another site could make the developer's browser send, refused before it
/// changes anything:
/// - a `Host` that is not a loopback name: a foreign name resolved to 127.0.0.1 (DNS
///   rebinding) would otherwise make the admin API that page's own origin;
/// - a change (POST, DELETE) with an `Origin` other than this server's;
/// - a POST whose body is not declared JSON: a cross-site form or `text/plain` POST needs no
///   CORS preflight, an `application/json` one does (and none is ever granted here).
fn cross_site(req: &Request) -> Option<Reply> {
    let refuse = |status: u16, why: String| Some(json_reply(status, json!({ "error": why })));
    let host = req.header("Host");
    if let Some(host) = host.filter(|h| !loopback_host(h)) {
        return refuse(
            403,
            format!("the admin API answers loopback names only (127.0.0.1, localhost, [::1]), not Host {host:?}"),
        );
    }
    if req.method == "GET" {
        return None;
    }
    if let Some(origin) = req.header("Origin") {
        let same = host.is_some_and(|h| {
            ["http://", "https://"]
                .iter()
                .any(|scheme| origin.eq_ignore_ascii_case(&format!("{scheme}{h}")))
        });
        if !same {
            return refuse(
                403,
                format!("a change from another origin ({origin}) is refused: the admin API takes changes from its own console and from programs"),
            );
        }
    }
    let json = req
        .header("Content-Type")
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if req.method == "POST" && !json {
        return refuse(
            415,
            "an admin POST must be sent with Content-Type: application/json".to_owned(),
        );
    }
    None
}

pub fn handle(state: &State, req: &Request, path: &str) -> Reply {
    let Some((_, methods)) = ROUTES.iter().find(|(p, _)| *p == path) else {
        return json_reply(
            404,
            json!({"error": "no such admin endpoint", "path": path}),
        );
    };
    if !methods.contains(&req.method.as_str()) {
        return method_not_allowed(methods);
    }
    if let Some(refused) = cross_site(req) {
        return refused;
    }
    match (req.method.as_str(), path) {
        ("GET", "/admin") => Reply::Normal {
            status: 200,
            headers: vec![
                (
                    "Content-Type".to_owned(),
                    "text/html; charset=utf-8".to_owned(),
                ),
                ("Cache-Control".to_owned(), "no-store".to_owned()),
            ],
            body: CONSOLE.as_bytes().to_vec(),
        },
        ("GET", "/admin/requests") => {
            let recent: Vec<_> = state.lock().recent.iter().rev().cloned().collect();
            json_reply(200, json!({ "requests": recent }))
        }
        ("GET", "/admin/stats") => json_reply(200, state.stats()),
        ("GET", "/admin/faults") => {
            let faults = state.lock().faults.clone();
            json_reply(
                200,
                json!({ "faults": faults, "endpoints": Endpoint::ALL.map(Endpoint::name),
                        "kinds": FaultKind::ALL }),
            )
        }
        ("POST", "/admin/faults") => match parse::<FaultSpec>(&req.body).and_then(fault) {
            Ok(f) => {
                let listed = serde_json::to_value(&f).unwrap_or(Value::Null);
                state.lock().faults.push(f);
                json_reply(200, json!({"queued": listed}))
            }
            Err(e) => bad(e),
        },
        ("DELETE", "/admin/faults") => {
            let n = std::mem::take(&mut state.lock().faults).len();
            json_reply(200, json!({"cleared": n}))
        }
        ("POST", "/admin/revoke") => {
            let spec = match parse::<RevokeSpec>(&req.body) {
                Ok(s) => s,
                Err(e) => return bad(e),
            };
            let mut s = state.lock();
            let n = match (spec.oms_connection, spec.all) {
                (Some(c), None) => {
                    let key = c.to_ascii_lowercase();
                    if !s.connections.contains_key(&key) && !s.live.contains_key(&key) {
                        return json_reply(
                            404,
                            json!({"error": format!("`omsConnection`: no installation {c}")}),
                        );
                    }
                    s.revoke(Some(&c))
                }
                (None, Some(true)) => s.revoke(None),
                (None, Some(false)) => return bad("`all`: only true is meaningful"),
                (Some(_), Some(_)) => return bad("give either `omsConnection` or `all`, not both"),
                (None, None) => return bad("give `omsConnection` or `all: true`"),
            };
            json_reply(200, json!({"revoked": n}))
        }
        ("POST", "/admin/settings") => {
            let spec = match parse::<SettingsSpec>(&req.body) {
                Ok(s) => s,
                Err(e) => return bad(e),
            };
            for (name, ms) in [
                ("challenge_ttl_ms", spec.challenge_ttl_ms),
                ("gismt_token_ttl_ms", spec.gismt_token_ttl_ms),
                ("trueapi_token_ttl_ms", spec.trueapi_token_ttl_ms),
                ("smartmarket_token_ttl_ms", spec.smartmarket_token_ttl_ms),
            ] {
                if ms == Some(0) {
                    return bad(format!(
                        "`{name}`: must be at least 1 (0 would expire everything as it is issued)"
                    ));
                }
            }
            if let Some(m) = spec.mdlp_life_time_minutes {
                if !(m.is_finite() && m > 0.0) {
                    return bad("`mdlp_life_time_minutes`: must be a positive number");
                }
            }
            let mut s = state.lock();
            let c = &mut s.config;
            let mut changed = Vec::new();
            macro_rules! set {
                ($field:ident) => {
                    if let Some(v) = spec.$field {
                        c.$field = v;
                        changed.push(stringify!($field));
                    }
                };
            }
            set!(challenge_ttl_ms);
            set!(gismt_token_ttl_ms);
            set!(trueapi_token_ttl_ms);
            set!(mdlp_life_time_minutes);
            set!(smartmarket_token_ttl_ms);
            set!(smartmarket_expires_in_seconds);
            set!(allow_expired_certificates);
            set!(sign_in_answer);
            set!(united_answer);
            set!(mdlp_rate_limit);
            json_reply(200, json!({"updated": changed}))
        }
        ("GET", "/admin/settings") => {
            let s = state.lock();
            let c = &s.config;
            json_reply(
                200,
                json!({
                    "challenge_ttl_ms": c.challenge_ttl_ms,
                    "gismt_token_ttl_ms": c.gismt_token_ttl_ms,
                    "trueapi_token_ttl_ms": c.trueapi_token_ttl_ms,
                    "mdlp_life_time_minutes": c.mdlp_life_time_minutes,
                    "smartmarket_token_ttl_ms": c.smartmarket_token_ttl_ms,
                    "smartmarket_expires_in_seconds": c.smartmarket_expires_in_seconds,
                    "allow_expired_certificates": c.allow_expired_certificates,
                    "sign_in_answer": c.sign_in_answer,
                    "united_answer": c.united_answer,
                    "mdlp_rate_limit": c.mdlp_rate_limit,
                }),
            )
        }
        ("POST", "/admin/reset") => {
            state.lock().reset();
            json_reply(200, json!({"reset": true}))
        }
        _ => json_reply(
            404,
            json!({"error": "no such admin endpoint", "path": path}),
        ),
    }
}
