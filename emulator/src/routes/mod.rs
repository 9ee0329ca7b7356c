//! The endpoints: each service under its own prefix so one port serves them all.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

mod challenge;
mod common;
mod mdlp;
mod smartmarket;
mod suz;

use self::challenge::*;
use self::mdlp::*;
use self::smartmarket::*;
use self::suz::*;
use crate::faults::{Endpoint, Fault, FaultKind};
use crate::reply::*;
use crate::server::{Handler, Reply, Request};
use crate::state::State;

const SUZ: &str = "/suz/api/v2";
/// «API СУЗ 3.0»: no product-group segment.
const SUZ_V3: &str = "/suz/api/v3";
const MDLP: &str = "/mdlp/api/v1";
const GISMT: &str = "/gismt/api/v3";
const TRUEAPI: &str = "/trueapi/api/v3/true-api";
const SMARTMARKET: &str = "/smartmarket/api/v2";

/// What a route takes.
struct Route {
    endpoint: Endpoint,
    method: &'static str,
    /// The media type a POST body must be sent as.
    content_type: Option<&'static str>,
    /// The last path segment (an omsConnection for the token routes).
    last: String,
    /// Whether the route is SUZ's API 3.0 (`/suz/api/v3/...`).
    v3: bool,
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
    let v3 = path.starts_with(&format!("{SUZ_V3}/"));
    let (endpoint, method, content_type) = if path == format!("{SUZ}/integration/connection")
        || path == format!("{SUZ_V3}/integration/connection")
    {
        (SuzRegister, "POST", JSON)
    } else if path == format!("{SUZ_V3}/ping") {
        (SuzPing, "GET", None)
    } else if path == format!("{SUZ_V3}/order") {
        (SuzOrders, "POST", JSON)
    } else if let Some(rest) = path.strip_prefix(&format!("{SUZ}/")) {
        match rest.split('/').collect::<Vec<_>>().as_slice() {
            [ext, _] if !PRODUCT_GROUPS.contains(ext) => return None,
            [_, "ping"] => (SuzPing, "GET", None),
            [_, "version"] => (SuzVersion, "GET", None),
            [_, "orders"] => (SuzOrders, "POST", JSON),
            _ => return None,
        }
    } else if path == format!("{MDLP}/auth") {
        (MdlpAuth, "POST", JSON)
    } else if one_segment(&format!("{MDLP}/token/")) {
        (MdlpToken, "POST", JSON)
    } else if path == format!("{MDLP}/token") {
        (MdlpSession, "POST", JSON)
    } else if one_segment(&format!("{MDLP}/documents/")) {
        (MdlpDocuments, "GET", None)
    } else if path == format!("{GISMT}/auth/cert/key") {
        (GismtKey, "GET", None)
    } else if one_segment(&format!("{GISMT}/auth/cert/")) {
        (GismtToken, "POST", JSON)
    } else if path == format!("{GISMT}/auth/cert") {
        (GismtSignIn, "POST", JSON)
    } else if path == format!("{TRUEAPI}/auth/key") {
        (TrueApiKey, "GET", None)
    } else if one_segment(&format!("{TRUEAPI}/auth/simpleSignIn/")) {
        (TrueApiToken, "POST", JSON)
    } else if path == format!("{TRUEAPI}/auth/simpleSignIn") {
        (TrueApiSignIn, "POST", JSON)
    } else if path == format!("{GISMT}/facade/doc/listV2") {
        (GismtDocuments, "GET", None)
    } else if path == format!("{TRUEAPI}/participants") {
        (TrueApiParticipants, "GET", None)
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
        v3,
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
        // A real service's name (the intercepting mode, a hosts-file entry): its own paths,
        // under that service's prefix here. The admin API is not among them.
        let routed;
        let path = match req.header("Host").and_then(crate::intercept::prefix_for) {
            Some(prefix) => {
                routed = format!("{prefix}{path}");
                routed.as_str()
            }
            None => path,
        };
        if path == "/admin" || path.starts_with("/admin/") {
            return crate::admin::handle(&state, req, path);
        }
        let started = std::time::Instant::now();
        common::NON_GOST_ACCEPTED.with(|f| f.set(false));
        let (endpoint, reply, fault) = answer(&state, req, path);
        let mut record = record_of(req, endpoint, &reply, started);
        record.fault = fault;
        if common::NON_GOST_ACCEPTED.with(|f| f.get()) {
            if record.outcome.is_empty() {
                record.outcome = common::NON_GOST_NOTE.to_owned();
            } else {
                record.outcome = format!("{}; {}", common::NON_GOST_NOTE, record.outcome);
            }
            // Not eprintln!: a closed stderr must not take the server down.
            let _ = writeln!(
                std::io::stderr(),
                "suz-emulator: {} {} → {}: {}",
                record.method,
                req.path,
                record.status,
                common::NON_GOST_NOTE
            );
        }
        state.lock().record(record);
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
    // An answer may echo what the request sent (SUZ's 1140 names the token): hidden too.
    let sent = crate::mask::sent_secrets(&req.headers);
    let (status, outcome) = match reply {
        Reply::Normal { status, body, .. } if *status >= 400 => {
            let text = crate::mask::hide(&String::from_utf8_lossy(body), &sent);
            (*status, text.chars().take(160).collect())
        }
        Reply::Normal { status, .. } => (*status, String::new()),
        Reply::Cut => (0, "closed without an answer (fault)".to_owned()),
        Reply::Truncated { .. } => (200, "truncated body (fault)".to_owned()),
    };
    let (answer_headers, answer_body) = match reply {
        Reply::Normal { headers, body, .. } => {
            let gzip = headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("content-encoding") && v == "gzip");
            let body = crate::mask::hide(&crate::mask::body(body, gzip), &sent);
            (crate::mask::headers(headers), body)
        }
        Reply::Cut => (
            Vec::new(),
            "(the connection was closed without an answer)".into(),
        ),
        Reply::Truncated { body } => (
            Vec::new(),
            format!(
                "{} (then cut short of its Content-Length)",
                crate::mask::body(body, false)
            ),
        ),
    };
    crate::state::RequestRecord {
        at_ms: crate::state::now_ms(),
        method: req.method.clone(),
        path,
        endpoint,
        status,
        duration_ms: started.elapsed().as_millis() as u64,
        outcome,
        fault: None,
        request_headers: crate::mask::headers(&req.headers),
        request_body: crate::mask::body(&req.body, false),
        answer_headers,
        answer_body,
    }
}

/// A service request's endpoint name (`unknown` when no route matches), its reply, and the
/// fault that made it, if one did.
fn answer(state: &State, req: &Request, path: &str) -> (&'static str, Reply, Option<String>) {
    let (endpoint, reply, fault) = answer_inner(state, req, path);
    (endpoint, reply, fault.map(|f| describe(&f)))
}

/// A fault as the request log names it: its kind, status and delay.
fn describe(f: &Fault) -> String {
    let mut text = serde_json::to_value(f.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if let Some(status) = f.status {
        text.push_str(&format!(" {status}"));
    }
    if f.delay_ms > 0 {
        text.push_str(&format!(", after {} ms", f.delay_ms));
    }
    text
}

fn answer_inner(state: &State, req: &Request, path: &str) -> (&'static str, Reply, Option<Fault>) {
    crate::state::CURRENT_ENDPOINT.with(|e| e.set(""));
    let _in_flight = state.in_flight();
    let Some(route) = route_of(path) else {
        let mut answer = json!({"error": "no such endpoint", "path": req.path});
        if let Some(ext) = path
            .strip_prefix(&format!("{SUZ}/"))
            .and_then(|rest| rest.split_once('/'))
            .map(|(ext, _)| ext)
            .filter(|ext| !PRODUCT_GROUPS.contains(ext) && *ext != "integration")
        {
            answer["why"] = json!(format!(
                "SUZ serves no product group {ext:?} (API 2's are the aliases of «Товарные группы»)"
            ));
        }
        return ("unknown", json_reply(404, answer), None);
    };
    if req.method != route.method {
        return (
            route.endpoint.name(),
            method_not_allowed(&[route.method]),
            None,
        );
    }
    let endpoint = route.endpoint;
    crate::state::CURRENT_ENDPOINT.with(|e| e.set(endpoint.name()));
    if let Some(refused) = mdlp_rate_limit(state, endpoint) {
        return (endpoint.name(), refused, None);
    }
    let fault = {
        let mut s = state.lock();
        *s.counters
            .requests
            .entry(endpoint.name().to_owned())
            .or_default() += 1;
        s.take_fault(endpoint.name())
    };
    let mut transform = None;
    if let Some(fault) = &fault {
        if fault.delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(fault.delay_ms));
        }
        match fault.kind {
            FaultKind::Delay => {}
            FaultKind::Gzip | FaultKind::Chunked => transform = Some(fault.kind),
            _ => return (endpoint.name(), fault_reply(fault), Some(fault.clone())),
        }
    }
    let reply = serve(state, req, &route);
    let reply = match transform {
        Some(FaultKind::Gzip) => gzip_reply(reply),
        Some(FaultKind::Chunked) => with_header(reply, "Transfer-Encoding", "chunked"),
        _ => reply,
    };
    let reply = if endpoint.is_gismt() {
        as_gismt_answers(reply)
    } else {
        reply
    };
    (endpoint.name(), reply, fault)
}

/// With the `mdlp_rate_limit` setting, MDLP's limit: each of `/auth` and `/token` (either form)
/// once a second, counted by arrival; a request that comes sooner is refused with 429 (and
/// counted in `mdlp_rate_limited`). `None` lets the request through.
fn mdlp_rate_limit(state: &State, endpoint: Endpoint) -> Option<Reply> {
    let method = match endpoint {
        Endpoint::MdlpAuth => "auth",
        Endpoint::MdlpToken | Endpoint::MdlpSession => "token",
        _ => return None,
    };
    let mut s = state.lock();
    if !s.config.mdlp_rate_limit {
        return None;
    }
    let now = crate::state::now_ms();
    let last = s.mdlp_last.insert(method, now);
    if last.is_some_and(|last| now < last + 1000) {
        s.counters.mdlp_rate_limited += 1;
        return Some(mdlp_error(
            429,
            "429",
            &format!("/{method}: at most one request a second"),
        ));
    }
    None
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
        SuzRegister => register(state, req, route.v3),
        SuzPing | SuzVersion | SuzOrders => suz_call(state, req, endpoint, route.v3),
        MdlpAuth => mdlp_auth(state, req),
        MdlpToken => mdlp_token(state, req, Some(last)),
        MdlpSession => mdlp_token(state, req, None),
        MdlpDocuments => mdlp_documents(state, req, last),
        GismtKey => challenge(state, Svc::Gismt),
        TrueApiKey => challenge(state, Svc::TrueApi),
        GismtToken => sign_in(state, req, last, Svc::Gismt),
        TrueApiToken => sign_in(state, req, last, Svc::TrueApi),
        GismtSignIn => sign_in_own(state, req, Svc::Gismt),
        TrueApiSignIn => sign_in_own(state, req, Svc::TrueApi),
        GismtDocuments | TrueApiParticipants => service_call(state, req, endpoint),
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
        FaultKind::Html => nginx_page(f.status.unwrap_or(502)),
        FaultKind::Hang => nginx_page(f.status.unwrap_or(500)),
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

/// How GIS MT's hosts frame every answer (public traces of its demo stand, 2021): a session
/// cookie `JSESSIONID` (32 hexadecimal capitals; `Path=/; HttpOnly`), `Server: nginx`, and a
/// chunked body for a success (an error came with `Content-Length`).
fn as_gismt_answers(reply: Reply) -> Reply {
    let Reply::Normal {
        status,
        mut headers,
        body,
    } = reply
    else {
        return reply;
    };
    let session = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .to_ascii_uppercase();
    headers.push((
        "Set-Cookie".into(),
        format!("JSESSIONID={session}; Path=/; HttpOnly"),
    ));
    headers.push(("Server".into(), "nginx".into()));
    if (200..300).contains(&status)
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
    {
        headers.push(("Transfer-Encoding".into(), "chunked".into()));
    }
    Reply::Normal {
        status,
        headers,
        body,
    }
}

/// nginx's error page for `status`, as a gateway in front of the services sends it: the page
/// names the status it is sent with.
fn nginx_page(status: u16) -> Reply {
    let title = format!("{status} {}", crate::server::reason(status));
    Reply::Normal {
        status,
        headers: vec![("Content-Type".into(), "text/html".into())],
        body: format!(
            "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n\
             <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        )
        .into_bytes(),
    }
}

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
