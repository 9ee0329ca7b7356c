//! The emulator's intercepting mode as a program with the real host names built in meets it:
//! the library configured for the `production` stand with only the emulator's CA added to its
//! roots, reaching the real names either with their addresses pinned to 127.0.0.1
//! (`connect_to`, the test's resolver override: nothing is looked up) or through a proxy
//! setting (the emulator answers `CONNECT` for the real names and connects nowhere else). The
//! TLS is checked against the real host names either way.

use suz_auth::*;
use suz_emulator::{
    EmulatorConfig, DEFAULT_OMS_CONNECTION, DEFAULT_OMS_ID, MDLP_CLIENT_ID, MDLP_CLIENT_SECRET,
    SMARTMARKET_CLIENT_ID, SMARTMARKET_CLIENT_SECRET,
};

use crate::common::*;
use crate::lifecycle::{signer_json, temp_dir, token_get};

#[test]
fn the_production_stand_gets_every_token_kind_from_the_intercepting_emulator() {
    needs_gost!();
    let dir = temp_dir("intercept");
    // One installation per SUZ flow: an installation has one token whichever flow fetched it.
    let (via_trueapi, via_mdlp) = (
        "22b1abc9-f4ee-47db-8a20-f80ac83504e8",
        "33b1abc9-f4ee-47db-8a20-f80ac83504e8",
    );
    let mut emulator_config = EmulatorConfig {
        intercept: Some(dir.join("ca")),
        ..Default::default()
    };
    emulator_config
        .oms_connections
        .extend([via_trueapi.to_owned(), via_mdlp.to_owned()]);
    let emu = start_emulator(emulator_config);
    let ca = dir.join("ca").join("ca.pem");
    assert_eq!(
        std::fs::read_to_string(&ca).unwrap(),
        emu.intercept_ca_pem().unwrap()
    );
    let config = |route: &str, roots: &str| {
        format!(
            r#"{{"stand": "production", {route}{roots},
                "timeouts": {{"connect_ms": 2000, "total_ms": 20000}},
                "cache": {{"dir": {cache:?}}},
                "signer": {signer},
                "profiles": {{
                  "suz_gismt": {{"flow": "gismt", "oms_connection": "{conn}", "oms_id": "{oms}"}},
                  "suz_trueapi": {{"flow": "trueapi", "oms_connection": "{via_trueapi}", "oms_id": "{oms}"}},
                  "suz_mdlp": {{"flow": "mdlp", "oms_connection": "{via_mdlp}", "oms_id": "{oms}",
                               "client_id": "{mid}", "client_secret": "{msecret}", "user_id": "1865725612"}},
                  "trueapi_token": {{"flow": "trueapi_token", "certificate": "test-cert"}},
                  "united_token": {{"flow": "united_token", "certificate": "test-cert"}},
                  "gismt_token": {{"flow": "gismt_token", "certificate": "test-cert"}},
                  "mdlp_session": {{"flow": "mdlp_session", "client_id": "{mid}",
                                   "client_secret": "{msecret}", "user_id": "1865725612"}},
                  "smartmarket": {{"flow": "smartmarket", "client_id": "{sid}", "client_secret": "{ssecret}"}}
                }}}}"#,
            cache = dir
                .join(format!("cache{}-{}", route.len(), roots.len()))
                .display()
                .to_string(),
            signer = signer_json(0),
            conn = DEFAULT_OMS_CONNECTION,
            oms = DEFAULT_OMS_ID,
            mid = MDLP_CLIENT_ID,
            msecret = MDLP_CLIENT_SECRET,
            sid = SMARTMARKET_CLIENT_ID,
            ssecret = SMARTMARKET_CLIENT_SECRET,
        )
    };
    let proxy = format!(r#""proxy": "http://127.0.0.1:{}""#, emu.port());
    // Every name and port the production stand uses, pinned to the intercepting port.
    let tls_port = emu.intercept_port().unwrap();
    let pinned = [
        "suzgrid.crpt.ru:443",
        "suzgrid.crpt.ru:16443",
        "api.mdlp.crpt.ru:443",
        "ismpr.crpt.ru:443",
        "markirovka.crpt.ru:443",
        "salute.online.sberbank.ru:9443",
    ]
    .map(|name| format!(r#""{name}": "127.0.0.1:{tls_port}""#))
    .join(", ");
    let connect_to = format!(r#""connect_to": {{{pinned}}}"#);
    // Without the emulator's CA the real names' certificate is refused: the TLS is checked.
    let untrusted = TestClient::new(&config(&proxy, ""));
    assert_eq!(
        token_get(&untrusted, "smartmarket").unwrap_err(),
        SuzResult::Tls,
        "{}",
        last_message()
    );
    let roots = format!(
        r#", "tls": {{"extra_roots_pem": {:?}}}"#,
        ca.display().to_string()
    );
    for (route, how) in [(&connect_to, "connect_to"), (&proxy, "proxy")] {
        every_token_kind(&emu, &TestClient::new(&config(route, &roots)), how);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every token kind through `client`; the emulator counts each sign-in.
fn every_token_kind(emu: &suz_emulator::Emulator, client: &TestClient, how: &str) {
    emu_reset(emu);
    let before = stats(emu)["tokens_issued_total"].as_u64().unwrap();
    for profile in [
        "suz_gismt",
        "suz_trueapi",
        "suz_mdlp",
        "trueapi_token",
        "united_token",
        "gismt_token",
        "mdlp_session",
        "smartmarket",
    ] {
        let token = token_get(client, profile)
            .unwrap_or_else(|rc| panic!("{how}, {profile}: {rc:?} {}", last_message()));
        assert!(!token.value().is_empty(), "{how}, {profile}");
    }
    let s = stats(emu);
    // Seven Chestny ZNAK tokens (three SUZ, three own, an MDLP session) and SmartMarket's.
    assert_eq!(
        s["tokens_issued_total"].as_u64().unwrap() - before,
        7,
        "{s}"
    );
    assert_eq!(s["smartmarket_tokens_issued"], 1, "{s}");
    for endpoint in [
        "gismt.token",
        "trueapi.token",
        "mdlp.token",
        "trueapi.sign_in",
        "gismt.sign_in",
        "mdlp.session",
        "smartmarket.oauth",
    ] {
        assert!(
            s["requests"][endpoint].as_u64().unwrap() >= 1,
            "{endpoint}: {s}"
        );
    }
    // The SUZ token obtained that way works on the SUZ's real name too.
    let (status, body, _) = request(client, "suz_gismt", "GET", "/api/v2/milk/ping", None);
    assert_eq!(status, 200, "{how}: {body}");
    assert!(body.contains(DEFAULT_OMS_ID), "{how}: {body}");
}

/// Forgets the emulator's tokens and counters (the pre-registered installations stay).
fn emu_reset(emu: &suz_emulator::Emulator) {
    let (status, body) = http(emu, "POST", "/admin/reset", &[], "{}");
    assert_eq!(status, 200, "{body}");
}
