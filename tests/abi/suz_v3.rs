//! «API СУЗ 3.0» beside 2.x: registration at `/api/v3/integration/connection` (the default
//! `suz_api`) or `/api/v2/...` (`"suz_api": "v2"`), and `suz_request` to the v3 methods with
//! the token — against the emulator, which serves both. Also the request shapes of a current
//! public v3 client (stemirkhan/suz-sdk-python 0.9.0) sent to the emulator as that client sends
//! them.

use base64::Engine;
use serde_json::Value;
use suz_auth::*;
use suz_emulator::{DEFAULT_OMS_ID, DEMO_REGISTRATION_KEY};

use crate::common::*;

/// The paths the emulator logged, oldest first.
fn logged_paths(emu: &suz_emulator::Emulator) -> Vec<String> {
    let (_, body) = http(emu, "GET", "/admin/requests", &[], "");
    let log: Value = serde_json::from_str(&body).unwrap();
    let mut paths: Vec<String> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .collect();
    paths.reverse();
    paths
}

#[test]
fn registration_speaks_v3_by_default_and_v2_when_asked() {
    needs_gost!();
    let emu = emulator();
    let signer = TestSigner::new(SignMode::Correct);
    for (extra, version) in [("", "v3"), (r#","suz_api":"v2""#, "v2")] {
        let client = TestClient::with_extra(&emu, extra);
        let connection = register(&client, DEMO_REGISTRATION_KEY, "Moscow", false, signer.0)
            .unwrap_or_else(|_| panic!("{}", last_message()));
        assert!(uuid::Uuid::parse_str(&connection).is_ok(), "{connection}");
        let last = logged_paths(&emu).pop().unwrap();
        assert!(
            last.starts_with(&format!("/suz/api/{version}/integration/connection?omsId=")),
            "{last}"
        );
    }
}

#[test]
fn suz_request_reaches_the_v3_methods_with_the_token() {
    needs_gost!();
    let emu = emulator();
    let signer = TestSigner::new(SignMode::Correct);
    let client = TestClient::for_emulator(&emu);
    let connection = register(&client, DEMO_REGISTRATION_KEY, "Moscow", false, signer.0).unwrap();
    let dir = std::env::temp_dir().join(format!("suz-v3-{}", uuid::Uuid::new_v4().simple()));
    let profile = TestClient::new(&format!(
        r#"{{"stand": "emulator", "emulator_url": "{}", "cache": {{"dir": {:?}}},
            "profiles": {{"line": {{"flow": "trueapi", "oms_connection": "{connection}",
                                   "oms_id": "{DEFAULT_OMS_ID}"}}}}}}"#,
        emu.base_url(),
        dir.display().to_string()
    ));
    let set = unsafe { suz_client_set_signer(profile.0, c("line").as_ptr(), signer.0) };
    assert_eq!(set, SuzResult::Ok, "{}", last_message());
    // Ping: `{omsId, apiVersion, omsVersion}`, the omsId added by the library.
    let (status, body, _) = request(&profile, "line", "GET", "/api/v3/ping", None);
    assert_eq!(status, 200, "{body}");
    let ping: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ping["omsId"], DEFAULT_OMS_ID);
    assert!(
        ping["apiVersion"].is_string() && ping["omsVersion"].is_string(),
        "{ping}"
    );
    // An order: the product group in the body; the wait in milliseconds.
    let order = r#"{"productGroup":"vetbio","products":[{"gtin":"04600682409427","quantity":2,"serialNumberType":"OPERATOR","templateId":75,"cisType":"UNIT"}]}"#;
    let (status, body, _) = request(&profile, "line", "POST", "/api/v3/order", Some(order));
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["expectedCompleteTimestamp"], 5100, "{answer}");
    let (status, body, _) = request(&profile, "line", "POST", "/api/v3/order", Some("{}"));
    assert_eq!(status, 400, "{body}");
    // Every missing field named, in SUZ's `fieldErrors`.
    let refused: Value = serde_json::from_str(&body).unwrap();
    let named: Vec<&str> = refused["fieldErrors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["fieldName"].as_str())
        .collect();
    assert_eq!(named, ["productGroup", "products"], "{body}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The registration as stemirkhan/suz-sdk-python 0.9.0 sends it (`api/integration.py`):
/// `Accept`, `Content-Type: application/json`, `X-RegistrationKey`, `X-Signature` (detached,
/// over the exact compact body), body `{"address", "name"}`. The emulator answers as «API СУЗ
/// 3.0» §9.2.1 says: `{status, omsConnection, name}`; an attached signature is 413.
#[test]
fn a_current_v3_clients_registration_is_answered_as_the_document_says() {
    needs_gost!();
    let emu = emulator();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let body = r#"{"address":"Moscow, 1 Red Square","name":"line-7"}"#;
    let path = format!("/suz/api/v3/integration/connection?omsId={DEFAULT_OMS_ID}");
    let send = |signature: &str| {
        http(
            &emu,
            "POST",
            &path,
            &[
                ("Accept", "application/json"),
                ("Content-Type", "application/json"),
                ("X-RegistrationKey", DEMO_REGISTRATION_KEY),
                ("X-Signature", signature),
            ],
            body,
        )
    };
    let (status, answer) = send(&b64(&openssl_sign(body.as_bytes(), false)));
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["status"], "SUCCESS");
    assert_eq!(answer["name"], "line-7");
    assert!(answer["omsConnection"].is_string(), "{answer}");
    let (status, answer) = send(&b64(&openssl_sign(body.as_bytes(), true)));
    assert_eq!(status, 413, "an attached signature: {answer}");
}
