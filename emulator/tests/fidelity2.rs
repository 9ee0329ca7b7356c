//! The second round of fidelity: where the emulator used to pass what production refuses (or
//! the reverse). Each test names its evidence; `docs/PROTOCOL.md` and the emulator's README
//! cite the same sources. Every test talks to the emulator over real HTTP on 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::json;
use suz_emulator::{DEFAULT_OMS_CONNECTION, DEFAULT_OMS_ID};

fn suz_v2(port: u16, group: &str, what: &str, query: &str, token: &str) -> Resp {
    let path = format!("/suz/api/v2/{group}/{what}{query}");
    call(port, "GET", &path, &[("clientToken", token)], "")
}

// Item 1. API 2's product group is a path segment; SUZ serves the groups it has, nothing else.
// Evidence: «API СУЗ 3.0» §5.3.1.16 «Товарные группы» (the aliases) and its API 2 examples
// `/api/v2/nabeer/…`, `/api/v2/wheelchairs/…`; the public API 2 clients' values (lamoda's
// `light`, `perfum`, `photo`; Gratti's `shoe`). No public trace shows an unknown group's answer.
#[test]
fn an_unknown_product_group_is_404_and_every_known_one_is_served() {
    let emu = start_default();
    let port = emu.port();
    let token = password_token(port, DEFAULT_OMS_CONNECTION);
    let query = format!("?omsId={DEFAULT_OMS_ID}");
    for group in ["anything-at-all", "PHARMA", "meddevices", "x"] {
        let r = suz_v2(port, group, "ping", &query, &token);
        r.refused(404, "no product group");
    }
    for group in [
        "lp",
        "light",
        "milk",
        "pharma",
        "tobacco",
        "perfum",
        "nabeer",
        "wheelchairs",
    ] {
        let r = suz_v2(port, group, "ping", &query, &token);
        assert_eq!(r.status, 200, "{group}: {r:?}");
    }
    let r = order_in(port, "anything-at-all", &token, COMPLETE_ORDER, None);
    assert_eq!(r.status, 404, "{r:?}");
    // Nothing was counted against an endpoint: the request reached none.
    assert_eq!(stats(port)["requests"]["suz.orders"], json!(null));
}

// Item 4. `expectedCompleteTimestamp` is a wait in milliseconds: `120000` in every API 2 order
// of the FairMark client's traces (`FairMark.Docs/4_5_1_CreateOrderSignedResponse.txt`, 2021);
// 3.0's Table 69 describes it as milliseconds (example 5100).
#[test]
fn an_api_2_order_answers_a_wait_in_milliseconds() {
    let emu = start_default();
    let port = emu.port();
    let token = password_token(port, DEFAULT_OMS_CONNECTION);
    let r = order(port, &token, COMPLETE_ORDER, None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["expectedCompleteTimestamp"], 120_000, "{r:?}");
}

// Item 6. GIS MT's hosts answer a success chunked and set a `JSESSIONID` cookie; an error
// comes with a Content-Length and the cookie too (FairMark's traces of demo.lp.crpt.tech,
// 2021: `Transfer-Encoding = chunked`, `Set-Cookie = JSESSIONID=E9E5…; Path=/; HttpOnly`,
// `Server = nginx`).
#[test]
fn gis_mt_answers_chunked_with_a_session_cookie() {
    let emu = start_default();
    let port = emu.port();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /gismt/api/v3/auth/cert/key HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all);
    let (head, _) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("\r\nTransfer-Encoding: chunked"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
    assert!(head.contains("\r\nServer: nginx"), "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: "))
        .expect("a cookie");
    let (session, attributes) = cookie.split_once(';').unwrap();
    let id = session.strip_prefix("JSESSIONID=").expect("JSESSIONID");
    assert!(
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
        "{id}"
    );
    assert_eq!(attributes.trim(), "Path=/; HttpOnly");
    // The harness de-chunks it like any client.
    let r = call(port, "GET", "/gismt/api/v3/auth/cert/key", &[], "");
    assert_eq!(r.json()["data"].as_str().unwrap().len(), 30);
    // An error: a Content-Length, the cookie all the same.
    let r = call(
        port,
        "POST",
        &Svc::Gismt.token_path(DEFAULT_OMS_CONNECTION),
        &[("Content-Type", "application/json")],
        "{}",
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.header("Content-Length").is_some(), "{r:?}");
    assert!(r.header("Set-Cookie").unwrap().starts_with("JSESSIONID="));
    // True API and SUZ are not framed so (no public trace says they are).
    let r = call(port, "GET", "/trueapi/api/v3/true-api/auth/key", &[], "");
    assert!(r.header("Set-Cookie").is_none() && r.header("Content-Length").is_some());
}

// Item 7. API 2's ping answers `{omsId}` alone (FairMark's `4_5_x_EmptyResult.cs`, lamoda's
// `PingResponse.php`, the official «Инструкция по работе с API» v36.0: "вернётся значение
// параметра «omsId»"); 3.0's ping (§4.4.25) adds `apiVersion` and `omsVersion`. API 2's
// `/version` answers without an omsId (FairMark's `Errors/pingBadRequest.txt`: 200
// `{omsVersion, apiVersion}` to `GET /api/v2/milk/version` with a clientToken only).
#[test]
fn ping_answers_the_oms_id_alone_and_version_needs_no_oms_id() {
    let emu = start_default();
    let port = emu.port();
    let token = password_token(port, DEFAULT_OMS_CONNECTION);
    let query = format!("?omsId={DEFAULT_OMS_ID}");
    let r = suz_v2(port, "milk", "ping", &query, &token);
    assert_eq!(r.json(), json!({"omsId": DEFAULT_OMS_ID}), "{r:?}");
    let r = call(
        port,
        "GET",
        &format!("/suz/api/v3/ping{query}"),
        &[("clientToken", &token)],
        "",
    );
    let v = r.json();
    assert_eq!(v["omsId"], DEFAULT_OMS_ID);
    assert!(
        v["apiVersion"].is_string() && v["omsVersion"].is_string(),
        "{v}"
    );
    let r = suz_v2(port, "milk", "version", "", &token);
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    assert!(
        v["apiVersion"].is_string() && v["omsVersion"].is_string(),
        "{v}"
    );
    // The token still has to be good.
    suz_v2(port, "milk", "version", "", "no-such-token").refused(401, "unknown clientToken");
}

// Item 10. A repeated omsId is not its first value: SUZ is a Spring application (its
// "Failed to convert value of type 'java.lang.String'…" refusals show it), and Spring binds a
// repeated parameter to one string by joining the values with commas — an omsId that names no
// SUZ, so 1140 with the joined value, as the real text shows the omsId as sent.
#[test]
fn a_repeated_oms_id_is_refused() {
    let emu = start_default();
    let port = emu.port();
    let token = password_token(port, DEFAULT_OMS_CONNECTION);
    let query = format!("?omsId={DEFAULT_OMS_ID}&omsId={DEFAULT_OMS_ID}");
    let r = suz_v2(port, "pharma", "ping", &query, &token);
    assert_eq!(r.status, 400, "{r:?}");
    let text = r.json()["globalErrors"][0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.ends_with(&format!("СУЗ {DEFAULT_OMS_ID},{DEFAULT_OMS_ID}")),
        "{text}"
    );
    assert_eq!(r.json()["globalErrors"][0]["errorCode"], 1140);
    // The real text names the token: the console's request log must not.
    let log = call(port, "GET", "/admin/requests", &[], "").body;
    assert!(log.contains("1140") && log.contains(&token[..4]), "{log}");
    assert!(
        !log.contains(&token),
        "the request log shows the whole token: {log}"
    );
}

/// Sends a `len`-byte JSON body to MDLP's `/auth` in one go, then reads the answer's status.
fn post_big(port: u16, len: usize) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let head = format!(
        "POST /mdlp/api/v1/auth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes())?;
    s.write_all(&vec![b' '; len])?;
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    let text = String::from_utf8_lossy(&all);
    Ok(text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

// Item 10. A body over the limit gets its 413, not a reset while the client is still sending.
#[test]
fn a_two_mebibyte_body_gets_413_not_a_reset() {
    let emu = start_default();
    let port = emu.port();
    for _ in 0..3 {
        assert_eq!(post_big(port, 2 * 1024 * 1024).unwrap(), 413);
    }
    // Chunked too.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(
        b"POST /mdlp/api/v1/auth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let chunk = vec![b' '; 256 * 1024];
    for _ in 0..8 {
        s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .unwrap();
        s.write_all(&chunk).unwrap();
        s.write_all(b"\r\n").unwrap();
    }
    s.write_all(b"0\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert!(
        all.starts_with(b"HTTP/1.1 413 "),
        "{}",
        String::from_utf8_lossy(&all)
    );
}

// Item 10. The refusal of a token says what revoked it; a fault's page names the status it
// was queued with.
#[test]
fn a_refusal_says_who_revoked_and_a_fault_page_its_own_status() {
    let emu = start_default();
    let port = emu.port();
    let first = password_token(port, DEFAULT_OMS_CONNECTION);
    let second = password_token(port, DEFAULT_OMS_CONNECTION);
    let query = format!("?omsId={DEFAULT_OMS_ID}");
    suz_v2(port, "pharma", "ping", &query, &first).refused(401, "revoked by a newer token");
    admin(
        port,
        "POST",
        "/admin/revoke",
        json!({"omsConnection": DEFAULT_OMS_CONNECTION}),
    );
    let r = suz_v2(port, "pharma", "ping", &query, &second);
    r.refused(401, "revoked through the emulator's admin API");
    assert!(!r.body.contains("newer"), "{r:?}");

    for (kind, status, title) in [
        ("html", 503, "503 Service Unavailable"),
        ("html", 429, "429 Too Many Requests"),
        ("hang", 504, "504 Gateway Timeout"),
        ("html", 502, "502 Bad Gateway"),
    ] {
        let mut f = json!({"endpoint": "gismt.key", "kind": kind, "status": status});
        if kind == "hang" {
            f["delay_ms"] = json!(10);
        }
        fault(port, f);
        let r = call(port, "GET", "/gismt/api/v3/auth/cert/key", &[], "");
        assert_eq!(r.status, status, "{r:?}");
        assert!(r.body.contains(&format!("<title>{title}</title>")), "{r:?}");
        for other in ["500", "502", "503", "504"] {
            assert!(
                *other == status.to_string() || !r.body.contains(other),
                "{status}: {}",
                r.body
            );
        }
    }
}

// Item 10. Settings: zero lifetimes refused, what is set can be read back; revoking an
// installation that does not exist is a 404, not a silent success.
#[test]
fn settings_read_back_and_zero_lifetimes_and_unknown_revocations_are_refused() {
    let emu = start_default();
    let port = emu.port();
    let before = call(port, "GET", "/admin/settings", &[], "").json();
    assert_eq!(before["challenge_ttl_ms"], 300_000, "{before}");
    assert_eq!(before["sign_in_answer"], "token", "{before}");
    for field in [
        "challenge_ttl_ms",
        "gismt_token_ttl_ms",
        "trueapi_token_ttl_ms",
        "smartmarket_token_ttl_ms",
    ] {
        let r = post_json(port, "/admin/settings", &json!({ field: 0 }));
        r.refused(400, field);
    }
    settings(
        port,
        json!({"challenge_ttl_ms": 1500, "sign_in_answer": "token_exp", "mdlp_rate_limit": true}),
    );
    let after = call(port, "GET", "/admin/settings", &[], "").json();
    assert_eq!(after["challenge_ttl_ms"], 1500);
    assert_eq!(after["sign_in_answer"], "token_exp");
    assert_eq!(after["mdlp_rate_limit"], true);
    assert_eq!(after["gismt_token_ttl_ms"], before["gismt_token_ttl_ms"]);

    let r = post_json(
        port,
        "/admin/revoke",
        &json!({"omsConnection": "00000000-0000-4000-8000-000000000000"}),
    );
    r.refused(404, "no installation 00000000-0000-4000-8000-000000000000");
    // A known installation without a live token: nothing to revoke, and it says 0.
    let r = post_json(
        port,
        "/admin/revoke",
        &json!({"omsConnection": DEFAULT_OMS_CONNECTION}),
    );
    assert_eq!(r.json(), json!({"revoked": 0}), "{r:?}");
}

// Item 2. GOST is the default, as in production: an ECDSA or RSA signature is refused.
// `--allow-rsa` accepts them and says so on every answer that took one: the request log's
// `outcome`, a stderr line, a counter, and the mode the console shows.
#[test]
fn gost_is_the_default_and_allow_rsa_says_so_on_every_answer() {
    needs_gost!();
    let rsa = make_key("rsa-default", false);
    let strict = start(suz_emulator::EmulatorConfig::default());
    for signer in [ec(), &rsa] {
        let (uuid, data) = challenge(strict.port(), Svc::TrueApi);
        let body = json!({"uuid": uuid, "data": sign(signer, data.as_bytes(), true)});
        sign_in(strict.port(), Svc::TrueApi, DEFAULT_OMS_CONNECTION, body)
            .refused(403, "not a GOST R 34.10-2012 signature");
    }
    signed_token(strict.port(), Svc::TrueApi, DEFAULT_OMS_CONNECTION, gost());
    assert_eq!(strict.stats()["mode"]["allow_rsa"], false);

    // The binary: the banner, then one stderr line per answer that took a non-GOST signature.
    let log = scratch().join("allow-rsa.stderr");
    let mut cmd = bin();
    cmd.args(["--port", "0", "--allow-rsa"])
        .stderr(std::fs::File::create(&log).unwrap());
    let running = try_launch(cmd).unwrap();
    let port = running.port;
    let line = (0..30)
        .map(|_| running.next_line())
        .find(|l| l.contains("signatures:"))
        .unwrap();
    assert!(
        line.contains("signatures: GOST, RSA and ECDSA accepted (--allow-rsa"),
        "{line}"
    );
    signed_token(port, Svc::Gismt, DEFAULT_OMS_CONNECTION, &rsa);
    signed_token(port, Svc::Gismt, DEFAULT_OMS_CONNECTION, gost());
    let stats = stats(port);
    assert_eq!(stats["mode"]["allow_rsa"], true);
    assert_eq!(stats["non_gost_signatures_accepted"], 1);
    let requests = call(port, "GET", "/admin/requests", &[], "").json();
    let sign_ins: Vec<&serde_json::Value> = requests["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["endpoint"] == "gismt.token")
        .collect();
    assert_eq!(sign_ins.len(), 2, "{requests}");
    // Newest first: the GOST one carries no note, the RSA one does.
    assert_eq!(sign_ins[0]["outcome"], "", "{requests}");
    assert!(
        sign_ins[1]["outcome"]
            .as_str()
            .unwrap()
            .contains("not GOST (--allow-rsa): production refuses it"),
        "{requests}"
    );
    let stderr = std::fs::read_to_string(&log).unwrap();
    let noted: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("production refuses it"))
        .collect();
    assert_eq!(noted.len(), 1, "{stderr}");
    assert!(
        noted[0].contains("POST /gismt/api/v3/auth/cert/"),
        "{stderr}"
    );
}

/// An order SUZ takes: every field a product needs.
const COMPLETE_ORDER: &str = r#"{"products":[{"gtin":"04607004650642","quantity":10,"serialNumberType":"OPERATOR","templateId":5}]}"#;

/// `POST /suz/api/v2/pharma/orders` with `token` (and `signature` as `X-Signature`).
fn order(port: u16, token: &str, body: &str, signature: Option<&str>) -> Resp {
    order_in(port, "pharma", token, body, signature)
}

fn order_in(port: u16, group: &str, token: &str, body: &str, signature: Option<&str>) -> Resp {
    let mut headers = vec![("clientToken", token), ("Content-Type", "application/json")];
    if let Some(s) = signature {
        headers.push(("X-Signature", s));
    }
    call(
        port,
        "POST",
        &format!("/suz/api/v2/{group}/orders?omsId={DEFAULT_OMS_ID}"),
        &headers,
        body,
    )
}

// Item 5. An incomplete order is a 400 listing every field at fault in `fieldErrors`
// (`{fieldName, fieldError}`, «API СУЗ 3.0» §6.2.1 «Формат ошибки»; public autotests of CRPT's
// emission API show `{"fieldErrors":[{"fieldName":…,"fieldError":"должно быть не меньше 1"}],
// "globalErrors":[],"success":false}` and a 400 for an order without `gtin`, `quantity`,
// `serialNumberType`), not only a missing `products`.
#[test]
fn an_incomplete_order_is_400_with_every_field_named() {
    let emu = start_default();
    let port = emu.port();
    let token = password_token(port, DEFAULT_OMS_CONNECTION);
    let r = order(
        port,
        &token,
        r#"{"products":[{"gtin":"4607004650642","quantity":0},{"gtin":"04607004650642","quantity":5,"serialNumberType":"OPERATOR","templateId":5}]}"#,
        None,
    );
    assert_eq!(r.status, 400, "{r:?}");
    let v = r.json();
    assert_eq!(v["success"], false);
    assert_eq!(v["globalErrors"], json!([]));
    let named: Vec<(&str, &str)> = v["fieldErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["fieldName"].as_str().unwrap(),
                f["fieldError"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            ("products[0].gtin", "должно состоять из 14 цифр"),
            ("products[0].quantity", "должно быть не меньше 1"),
            (
                "products[0].serialNumberType",
                "должно быть SELF_MADE или OPERATOR"
            ),
            ("products[0].templateId", "не должно быть пустым"),
        ]
    );
    let r = order(port, &token, r#"{"products":[]}"#, None);
    assert_eq!(r.json()["fieldErrors"][0]["fieldName"], "products", "{r:?}");
    let complete = r#"{"products":[{"gtin":"04607004650642","quantity":10,"serialNumberType":"SELF_MADE","templateId":5}]}"#;
    assert_eq!(order(port, &token, complete, None).status, 200);
}

// Item 9. An order's `X-Signature`, when present, is checked: a detached signature over the
// exact body passes; one over other bytes or garbage is refused; an attached one is 413, as
// «API СУЗ 3.0» §2.3.1 and Table 258 say SUZ answers an attached signature.
#[test]
fn an_orders_signature_is_checked_when_present() {
    let emu = start_default();
    let port = emu.port();
    let token = password_token(port, DEFAULT_OMS_CONNECTION);
    let body = r#"{"products":[{"gtin":"04607004650642","quantity":10,"serialNumberType":"OPERATOR","templateId":5}]}"#;
    let good = sign(ec(), body.as_bytes(), false);
    assert_eq!(order(port, &token, body, Some(&good)).status, 200);
    let other = sign(ec(), b"{\"products\":[]}", false);
    order(port, &token, body, Some(&other)).refused(400, "X-Signature");
    order(port, &token, body, Some("AAAA")).refused(400, "X-Signature");
    let attached = sign(ec(), body.as_bytes(), true);
    let r = order(port, &token, body, Some(&attached));
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(r.json()["globalErrors"][0]["errorCode"], 413);
    // Nothing but the good one made an order: three refused before any order existed.
    assert_eq!(stats(port)["signatures_refused"], 3);
}

/// Runs curl with `args`; its stdout.
fn curl(args: &[&str]) -> String {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs (Debian: curl)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// Item 12. The intercepting mode: the real names over HTTPS with the emulator's own CA,
// reached by a resolver entry (`curl --resolve` to port 443 when it can be had, else
// `--connect-to` the intercepting port) or a proxy setting (`CONNECT`). The answer is the
// real service's (`{uuid, data}`, 30 capital letters); a CONNECT to any other name is refused
// (nothing leaves the machine), and the admin API is not reachable under a real name.
#[test]
fn the_real_names_are_served_over_https_with_the_emulators_own_ca() {
    let dir = scratch().join(format!("intercept-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // `suz-emulator ca DIR` makes the CA the developer trusts; a restart keeps it.
    let out = run_args(&["ca", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let ca = dir.join("ca.pem");
    assert_eq!(text(&out.stdout).trim(), ca.to_str().unwrap());
    let pem = std::fs::read_to_string(&ca).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the CA's key is its owner's only: {mode:o}"
        );
    }
    let port_443_free = std::net::TcpListener::bind(("127.0.0.1", 443)).is_ok();
    let emu = start(suz_emulator::EmulatorConfig {
        intercept: Some(dir.clone()),
        intercept_port: if port_443_free { 443 } else { 0 },
        ..config()
    });
    assert_eq!(
        emu.intercept_ca_pem().unwrap(),
        pem,
        "the same CA after a restart"
    );
    let tls_port = emu.intercept_port().unwrap();
    let cacert = ca.to_str().unwrap();
    let url = "https://markirovka.crpt.ru/api/v3/true-api/auth/key";
    let answer = if tls_port == 443 {
        curl(&[
            "--resolve",
            "markirovka.crpt.ru:443:127.0.0.1",
            "--cacert",
            cacert,
            url,
        ])
    } else {
        eprintln!("port 443 is not ours to bind: --connect-to instead of --resolve");
        let to = format!("markirovka.crpt.ru:443:127.0.0.1:{tls_port}");
        curl(&["--connect-to", &to, "--cacert", cacert, url])
    };
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let data = v["data"].as_str().unwrap();
    assert!(
        data.len() == 30 && data.bytes().all(|b| b.is_ascii_uppercase()),
        "{v}"
    );
    assert!(uuid_like(v["uuid"].as_str().unwrap()), "{v}");
    assert_eq!(stats(emu.port())["requests"]["trueapi.key"], 1);

    // A proxy setting: CONNECT to the real name (any port: the SUZ's 16443 too).
    let proxy = format!("http://127.0.0.1:{}", emu.port());
    let answer = curl(&[
        "--proxy",
        &proxy,
        "--cacert",
        cacert,
        "https://ismp.crpt.ru/api/v3/auth/cert/key",
    ]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&answer).unwrap()["data"]
            .as_str()
            .unwrap()
            .len(),
        30
    );
    let status_of = |url: &str| {
        curl(&[
            "--proxy",
            &proxy,
            "--cacert",
            cacert,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            url,
        ])
    };
    let status = status_of(&format!(
        "https://suzgrid.crpt.ru:16443/api/v2/milk/ping?omsId={DEFAULT_OMS_ID}"
    ));
    assert_eq!(status, "401", "the SUZ's own refusal: no clientToken");
    // Under a real name the admin API is not there.
    let status = status_of("https://markirovka.crpt.ru/admin/stats");
    assert_eq!(status, "404");
    // Any other name: refused, nothing connected to.
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--proxy",
            &proxy,
            "https://example.com/",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("403"), "{}", text(&out.stderr));
    // A certificate for the real names, not for anything else.
    let r = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", cacert])
        .arg("--connect-to")
        .arg(format!("example.org:443:127.0.0.1:{tls_port}"))
        .arg("https://example.org/")
        .output()
        .unwrap();
    assert!(
        !r.status.success(),
        "a name outside the certificate is refused"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.split('-').map(str::len).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
}

// Item 12. A port that cannot be had is said so, naming the option and the ways around it.
#[test]
fn an_intercepting_port_in_use_is_named() {
    let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = scratch().join(format!("intercept-taken-{}", std::process::id()));
    let e = match suz_emulator::Emulator::start(suz_emulator::EmulatorConfig {
        intercept: Some(dir.clone()),
        intercept_port: port,
        ..config()
    }) {
        Ok(_) => panic!("started on a port in use"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains(&format!("--intercept-port {port}")) && e.contains("connect_to"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
