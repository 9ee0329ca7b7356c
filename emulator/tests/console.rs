//! The web console's server side: the page at `/admin/` (with or without the slash), the
//! request log it reads (`/admin/requests`: newest first, bounded, outcomes of refusals, no
//! admin calls), and the fault form's lists (`/admin/faults`: endpoints and kinds). The page
//! itself is driven in headless Chromium by `tests/console/run.sh`.

mod common;

use common::*;
use serde_json::{json, Value};
use suz_emulator::DEFAULT_OMS_ID;

#[test]
fn the_console_page_is_served_at_admin() {
    let emu = start_default();
    for path in ["/admin/", "/admin"] {
        let r = call(emu.port(), "GET", path, &[], "");
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
        assert!(r.body.contains("<title>suz-emulator console</title>"));
        // It reads the admin API, which is there.
        for api in [
            "/admin/stats",
            "/admin/faults",
            "/admin/requests",
            "/admin/revoke",
        ] {
            assert!(r.body.contains(api), "the page uses {api}");
        }
    }
    assert_eq!(call(emu.port(), "POST", "/admin/", &[], "").status, 405);
}

#[test]
fn the_request_log_lists_service_calls_newest_first_with_refusals_explained() {
    let emu = start_default();
    let port = emu.port();
    assert_eq!(oauth(port, RQUID).status, 200);
    let refused = ping(port, "not-a-token");
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(call(port, "GET", "/nowhere", &[], "").status, 404);
    stats(port);
    let log = admin(port, "GET", "/admin/requests", Value::Null);
    let list = log["requests"].as_array().unwrap();
    let seen: Vec<(&str, u64)> = list
        .iter()
        .map(|r| {
            (
                r["endpoint"].as_str().unwrap(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    // The admin calls are not listed (the console polls them every second).
    assert_eq!(
        seen,
        [
            ("unknown", 404),
            ("suz.ping", 401),
            ("smartmarket.oauth", 200)
        ]
    );
    let ping = &list[1];
    assert_eq!(ping["method"], "GET");
    assert_eq!(
        ping["path"].as_str().unwrap(),
        format!("/suz/api/v2/pharma/ping?omsId={DEFAULT_OMS_ID}")
    );
    assert!(
        !ping["outcome"].as_str().unwrap().is_empty(),
        "a refusal says why: {ping}"
    );
    assert_eq!(list[2]["outcome"], "", "a success needs no explanation");
    assert!(list[2]["at_ms"].as_u64().unwrap() <= now_ms());
    // Reset forgets them.
    admin(port, "POST", "/admin/reset", json!({}));
    let log = admin(port, "GET", "/admin/requests", Value::Null);
    assert_eq!(log["requests"], json!([]));
}

#[test]
fn the_request_log_keeps_the_last_two_hundred() {
    let emu = start_default();
    for i in 0..230 {
        call(emu.port(), "GET", &format!("/nowhere/{i}"), &[], "");
    }
    let log = admin(emu.port(), "GET", "/admin/requests", Value::Null);
    let list = log["requests"].as_array().unwrap();
    assert_eq!(list.len(), 200);
    assert_eq!(list[0]["path"], "/nowhere/229");
    assert_eq!(list[199]["path"], "/nowhere/30");
}

#[test]
fn the_fault_list_names_every_endpoint_and_kind_for_the_form() {
    let emu = start_default();
    let faults = admin(emu.port(), "GET", "/admin/faults", Value::Null);
    let names = |key: &str| -> Vec<String> {
        faults[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let endpoints = names("endpoints");
    assert_eq!(endpoints.len(), 18);
    assert!(endpoints.contains(&"trueapi.sign_in".to_owned()));
    assert!(endpoints.contains(&"gismt.sign_in".to_owned()));
    assert!(endpoints.contains(&"suz.ping".to_owned()));
    assert!(endpoints.contains(&"smartpush.apprequest".to_owned()));
    let kinds = names("kinds");
    for kind in [
        "status",
        "html",
        "truncated",
        "cut",
        "empty",
        "delay",
        "hang",
        "suz_error",
        "gzip",
        "chunked",
    ] {
        assert!(kinds.contains(&kind.to_owned()), "{kind} in {kinds:?}");
    }
    // Each of them is accepted back.
    for e in &endpoints {
        fault(
            emu.port(),
            json!({"endpoint": e, "kind": "delay", "delay_ms": 1}),
        );
    }
    for k in &kinds {
        fault(emu.port(), json!({"endpoint": "suz.ping", "kind": k}));
    }
    let queued = admin(emu.port(), "GET", "/admin/faults", Value::Null);
    assert_eq!(
        queued["faults"].as_array().unwrap().len(),
        endpoints.len() + kinds.len()
    );
}

/// The admin API refuses what a page of another site could make a browser send: a change
/// from another origin, a POST not declared JSON (a form, `text/plain`: no CORS preflight),
/// and any request naming a host that is not loopback (DNS rebinding). Its own console
/// (same origin, JSON) and programs (no `Origin`) go on working.
#[test]
fn the_admin_api_refuses_what_another_site_could_send() {
    let emu = start_default();
    let port = emu.port();
    // The state a cross-site request would change: one queued fault (a reset clears it).
    fault(
        port,
        json!({"endpoint": "suz.ping", "kind": "status", "status": 503, "times": 0}),
    );
    let queued = || {
        admin(port, "GET", "/admin/faults", Value::Null)["faults"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(queued(), 1);
    let own = format!("http://127.0.0.1:{port}");
    let host = format!("127.0.0.1:{port}");
    for (headers, status, why) in [
        (
            vec![("Content-Type", "text/plain")],
            415,
            "Content-Type: application/json",
        ),
        (
            vec![("Content-Type", "application/x-www-form-urlencoded")],
            415,
            "Content-Type: application/json",
        ),
        (vec![], 415, "Content-Type: application/json"),
        (
            vec![
                ("Content-Type", "application/json"),
                ("Origin", "http://127.0.0.1:1"),
            ],
            403,
            "another origin",
        ),
        (
            vec![("Content-Type", "application/json"), ("Origin", "null")],
            403,
            "another origin",
        ),
        (
            vec![
                ("Content-Type", "application/json"),
                ("Host", "attacker.example"),
            ],
            403,
            "loopback names only",
        ),
    ] {
        let r = call(port, "POST", "/admin/reset", &headers, "{}");
        assert_eq!(r.status, status, "{headers:?}: {r:?}");
        assert!(r.body.contains(why), "{headers:?}: {}", r.body);
        assert_eq!(queued(), 1, "{headers:?} changed nothing");
    }
    // Reading through a rebound name is refused too: the log holds requests' details.
    let r = call(
        port,
        "GET",
        "/admin/requests",
        &[("Host", "attacker.example:80")],
        "",
    );
    assert_eq!(r.status, 403, "{r:?}");
    for name in ["localhost", "LOCALHOST:8080", "[::1]:9", "127.0.0.1"] {
        let r = call(port, "GET", "/admin/stats", &[("Host", name)], "");
        assert_eq!(r.status, 200, "Host {name}: {r:?}");
    }
    // A DELETE from another origin is refused; its own console's goes through.
    let r = call(
        port,
        "DELETE",
        "/admin/faults",
        &[("Origin", "http://evil.example")],
        "",
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(queued(), 1);
    let r = call(
        port,
        "DELETE",
        "/admin/faults",
        &[("Origin", own.as_str()), ("Host", host.as_str())],
        "",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(queued(), 0);
    // The console's own change: same origin, JSON.
    fault(
        port,
        json!({"endpoint": "suz.ping", "kind": "status", "status": 503}),
    );
    let r = call(
        port,
        "POST",
        "/admin/reset",
        &[
            ("Content-Type", "application/json; charset=utf-8"),
            ("Origin", own.as_str()),
            ("Host", host.as_str()),
        ],
        "{}",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(queued(), 0);
}

/// A fault's `content_type` is a header value: CR, LF or any control character would split
/// the answer, so it is refused.
#[test]
fn a_faults_content_type_with_cr_or_lf_is_refused() {
    let emu = start_default();
    let port = emu.port();
    for bad in [
        "text/html\r\nSet-Cookie: a=b",
        "text/html\nX: y",
        "text/\u{0}html",
    ] {
        let r = post_json(
            port,
            "/admin/faults",
            &json!({"endpoint": "suz.ping", "kind": "status", "status": 503, "content_type": bad}),
        );
        assert_eq!(r.status, 400, "{bad:?}: {r:?}");
        assert!(r.body.contains("content_type"), "{}", r.body);
    }
    assert_eq!(
        admin(port, "GET", "/admin/faults", Value::Null)["faults"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}
