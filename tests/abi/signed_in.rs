//! Tokens signed in without an installation — True API's own (`trueapi_token`), the united
//! token (`united_token`) and GIS MT's own (`gismt_token`): one per service, signing
//! certificate and organisation (`inn`), through every profile-driven path — the C ABI's
//! `suz_token_get`, the `suz` CLI — with the emulator verifying the GOST signature.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use suz_auth::*;
use suz_emulator::Emulator;

use crate::common::*;
use crate::lifecycle::{outputs, signer_json, spawn_cli, temp_dir, token_get};

/// One flow signed in without an installation, as the tests see it.
struct Case {
    /// The profile's `flow`.
    flow: &'static str,
    code: SuzFlow,
    /// The prefix of the emulator's identity for the token (`<prefix>:<thumbprint>:<inn>`).
    identity: &'static str,
    /// The emulator's counter of the sign-in endpoint.
    endpoint: &'static str,
    /// Whether the flow takes an `inn`.
    inn: bool,
}

const CASES: [Case; 3] = [
    Case {
        flow: "trueapi_token",
        code: SuzFlow::TrueApiToken,
        identity: "trueapi",
        endpoint: "trueapi.sign_in",
        inn: true,
    },
    Case {
        flow: "united_token",
        code: SuzFlow::UnitedToken,
        identity: "united",
        endpoint: "trueapi.sign_in",
        inn: true,
    },
    Case {
        flow: "gismt_token",
        code: SuzFlow::GismtToken,
        identity: "gismt",
        endpoint: "gismt.sign_in",
        inn: false,
    },
];

/// A config with profiles of `flow`: `own` (certificate `test-cert`, no inn), `same` (the same
/// certificate, in another case), `org` (the same certificate, inn 7707083893; only for a flow
/// that takes an inn), caching in `dir`.
fn config(emu: &Emulator, dir: &Path, case: &Case) -> String {
    let signer = signer_json(0);
    let flow = case.flow;
    let org = if case.inn {
        format!(
            r#", "org": {{"flow": "{flow}", "certificate": "test-cert", "inn": "7707083893", "signer": {signer}}}"#
        )
    } else {
        String::new()
    };
    format!(
        r#"{{"stand": "emulator", "emulator_url": "{url}",
            "cache": {{"dir": {dir:?}, "lock_timeout_ms": 60000}},
            "profiles": {{
              "own": {{"flow": "{flow}", "certificate": "test-cert", "signer": {signer}}},
              "same": {{"flow": "{flow}", "certificate": "TEST-CERT", "signer": {signer}}}{org}
            }}}}"#,
        url = emu.base_url(),
        dir = dir.display().to_string()
    )
}

/// Tokens the emulator issued under `prefix` for the organisation `inn` ("" for none), whatever
/// the certificate.
fn issued(emu: &Emulator, prefix: &str, inn: &str) -> u64 {
    stats(emu)["tokens_issued"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{prefix}:")) && k.ends_with(&format!(":{inn}")))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

/// Requests the emulator answered at `endpoint` (0 before the first).
fn requests(emu: &Emulator, endpoint: &str) -> u64 {
    stats(emu)["requests"][endpoint].as_u64().unwrap_or(0)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The `exp` claim of a JWT, in ms.
fn jwt_exp_ms(token: &str) -> i64 {
    let claims = token.split('.').nth(1).expect("a JWT");
    let v: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    v["exp"].as_i64().unwrap() * 1000
}

#[test]
fn each_token_comes_from_a_profile_without_an_installation() {
    needs_gost!();
    let emu = emulator();
    for case in &CASES {
        let dir = temp_dir(&format!("own-{}", case.flow));
        let client = TestClient::new(&config(&emu, &dir, case));
        let token = token_get(&client, "own").unwrap_or_else(|_| panic!("{}", last_message()));
        assert_eq!(token.flow(), case.code as u32, "{}", case.flow);
        let lifetime = token.expires_at_ms() - token.obtained_at_ms();
        assert!((lifetime - 10 * 3600 * 1000).abs() < 5_000, "{lifetime}");
        if case.flow == "united_token" {
            // A UUID, its expiry from `expireDate`.
            assert!(
                uuid::Uuid::parse_str(&token.value()).is_ok(),
                "{}",
                token.value()
            );
        } else {
            // A JWT, its expiry the JWT's own `exp`, as the answer said.
            assert_eq!(token.expires_at_ms(), jwt_exp_ms(&token.value()));
        }
        assert_eq!(issued(&emu, case.identity, ""), 1, "{}", case.flow);
        // Cached: no second sign-in.
        assert_eq!(token_get(&client, "own").unwrap().value(), token.value());
        assert_eq!(issued(&emu, case.identity, ""), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(stats(&emu)["gost_signatures_verified"].as_u64().unwrap() >= 3);
    // Each flow signed in once at its own endpoint.
    assert_eq!(requests(&emu, "trueapi.sign_in"), 2);
    assert_eq!(requests(&emu, "gismt.sign_in"), 1);
}

#[test]
fn the_same_certificate_and_inn_share_one_token_and_another_inn_has_its_own() {
    needs_gost!();
    let emu = emulator();
    for case in &CASES {
        let dir = temp_dir(&format!("identity-{}", case.flow));
        let client = TestClient::new(&config(&emu, &dir, case));
        let own = token_get(&client, "own").unwrap().value();
        // `same` names the same certificate (in another case): the same token, no sign-in.
        assert_eq!(token_get(&client, "same").unwrap().value(), own);
        assert_eq!(issued(&emu, case.identity, ""), 1);
        if case.inn {
            // Another organisation under the same certificate (МЧД): its own token.
            let org = token_get(&client, "org").unwrap().value();
            assert_ne!(org, own);
            assert_eq!(issued(&emu, case.identity, "7707083893"), 1);
            assert_eq!(stats(&emu)["last_inn"], "7707083893");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn an_inn_on_a_flow_that_takes_none_is_refused_before_anything_is_sent() {
    let emu = emulator();
    let dir = temp_dir("gismt-inn");
    let client = TestClient::new(&format!(
        r#"{{"stand": "emulator", "emulator_url": "{}", "cache": {{"dir": {:?}}},
            "profiles": {{"g": {{"flow": "gismt_token", "certificate": "c", "inn": "7707083893",
                                "signer": {}}}}}}}"#,
        emu.base_url(),
        dir.display().to_string(),
        signer_json(0)
    ));
    assert_eq!(
        token_get(&client, "g").err(),
        Some(SuzResult::InvalidArgument)
    );
    assert!(last_message().contains("inn"), "{}", last_message());
    assert_eq!(requests(&emu, "gismt.key"), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eight_processes_of_eight_threads_get_one_token_per_flow() {
    needs_gost!();
    let emu = emulator();
    for case in &CASES {
        let dir = temp_dir(&format!("fleet-{}", case.flow));
        let config_file = dir.join("config.json");
        std::fs::write(&config_file, config(&emu, &dir, case)).unwrap();
        let before = requests(&emu, case.endpoint);
        let children: Vec<_> = (0..8)
            .map(|_| spawn_cli(&config_file, &["token", "own", "--threads", "8"]))
            .collect();
        let lines = outputs(children);
        assert_eq!(lines.len(), 64);
        assert!(
            lines.iter().all(|l| l == &lines[0]),
            "{}: every caller got the same token",
            case.flow
        );
        assert_eq!(
            issued(&emu, case.identity, ""),
            1,
            "{}: one sign-in for 64 callers on a cold cache",
            case.flow
        );
        assert_eq!(requests(&emu, case.endpoint) - before, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The united token's expiry is the answer's `expireDate`, in each form the emulator answers
/// (`united_answer`): with Moscow's offset, without a zone (Moscow time), in UTC, as Unix ms.
#[test]
fn the_united_tokens_expiry_is_the_answers_in_each_form() {
    needs_gost!();
    let emu = emulator();
    // A lifetime that is no whole number of hours: a zone read wrong is seen.
    settings(&emu, r#"{"trueapi_token_ttl_ms": 7654321}"#);
    for (form, rounded_to_s) in [
        ("expire_date_moscow", false),
        ("expire_date_local", true),
        ("expire_date_utc", true),
        ("expire_date_unix_ms", false),
    ] {
        settings(&emu, &format!(r#"{{"united_answer": "{form}"}}"#));
        let dir = temp_dir(&format!("united-{form}"));
        let client = TestClient::new(&config(&emu, &dir, &CASES[1]));
        let before = now_ms();
        let token = token_get(&client, "own").unwrap_or_else(|_| panic!("{}", last_message()));
        let after = now_ms();
        // The emulator stated now + 7654321 ms, whole seconds for two of the forms.
        let slack = if rounded_to_s { 1000 } else { 0 };
        let expires = token.expires_at_ms();
        assert!(
            expires >= before + 7_654_321 - slack && expires <= after + 7_654_321,
            "{form}: {expires} not in [{}, {}]",
            before + 7_654_321 - slack,
            after + 7_654_321
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `suz_request` with each of these tokens: `Authorization: Bearer` to the flow's own service
/// (True API for `trueapi_token` and `united_token`, GIS MT for `gismt_token`); a token that
/// another sign-in replaced is answered 401, dropped, fetched anew and the call made once more.
#[test]
fn suz_request_sends_each_token_as_bearer_and_recovers_from_a_401() {
    needs_gost!();
    let emu = emulator();
    for case in &CASES {
        let path = if case.identity == "gismt" {
            "/facade/doc/listV2"
        } else {
            "/participants?inns=7707083893"
        };
        let (dir_a, dir_b) = (
            temp_dir(&format!("req-a-{}", case.flow)),
            temp_dir(&format!("req-b-{}", case.flow)),
        );
        let a = TestClient::new(&config(&emu, &dir_a, case));
        let (status, body, _) = request(&a, "own", "GET", path, None);
        assert_eq!(status, 200, "{}: {body}", case.flow);
        if case.identity != "gismt" {
            assert!(body.contains("7707083893"), "{body}");
        }
        let first = token_get(&a, "own").unwrap().value();
        // Another cache signs in for the same certificate: the server replaces A's token.
        let b = TestClient::new(&config(&emu, &dir_b, case));
        assert_ne!(token_get(&b, "own").unwrap().value(), first);
        let sign_ins = requests(&emu, case.endpoint);
        let (status, body, _) = request(&a, "own", "GET", path, None);
        assert_eq!(status, 200, "{}: recovered from the 401: {body}", case.flow);
        assert_eq!(
            requests(&emu, case.endpoint),
            sign_ins + 1,
            "one new sign-in"
        );
        assert_ne!(token_get(&a, "own").unwrap().value(), first);
        let _ = std::fs::remove_dir_all(&dir_a);
        let _ = std::fs::remove_dir_all(&dir_b);
    }
    // A SUZ token is not a True API token, nor the other way round.
    assert_eq!(
        http(
            &emu,
            "GET",
            "/trueapi/api/v3/true-api/participants?inns=7707083893",
            &[("Authorization", "Bearer not-a-token")],
            ""
        )
        .0,
        401
    );
}

/// A profile with a wrong (or rotated) SmartMarket secret does not get the token the right
/// secret fetched for the same client: its own fetch is refused, whatever is cached, in this
/// process and in another sharing the store.
#[test]
fn a_wrong_secret_is_refused_not_served_the_right_secrets_token() {
    use suz_emulator::{SMARTMARKET_CLIENT_ID, SMARTMARKET_CLIENT_SECRET};
    let emu = emulator();
    let dir = temp_dir("secret-identity");
    let json = format!(
        r#"{{"stand": "emulator", "emulator_url": "{}", "cache": {{"dir": {:?}}},
            "profiles": {{
              "right": {{"flow": "smartmarket", "client_id": "{SMARTMARKET_CLIENT_ID}", "client_secret": "{SMARTMARKET_CLIENT_SECRET}"}},
              "wrong": {{"flow": "smartmarket", "client_id": "{SMARTMARKET_CLIENT_ID}", "client_secret": "00000000-0000-4000-8000-000000000000"}}
            }}}}"#,
        emu.base_url(),
        dir.display().to_string()
    );
    let client = TestClient::new(&json);
    let right = token_get(&client, "right").unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(
        token_get(&client, "wrong").err(),
        Some(SuzResult::Unauthorized)
    );
    // Another client (another process's view) on the same store: the same.
    let other = TestClient::new(&json);
    assert_eq!(token_get(&other, "right").unwrap().value(), right.value());
    assert_eq!(
        token_get(&other, "wrong").err(),
        Some(SuzResult::Unauthorized)
    );
    assert!(
        !last_message().contains("00000000-0000-4000"),
        "{}",
        last_message()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// True API's and GIS MT's own tokens: the expiry is what the answer said, in each form the
/// emulator's `sign_in_answer` gives (`{token}` with the JWT's `exp`, `{uuidToken, expireDate}`,
/// `{clientToken, expires_in}`, `{token, exp}`, `{token, life_time}`).
#[test]
fn each_tokens_expiry_is_the_answers_in_each_form() {
    needs_gost!();
    let emu = emulator();
    // 2 h 7 min 34.321 s: no whole hour, so a zone read wrong is seen.
    let ttl: i64 = 7_654_321;
    settings(
        &emu,
        &format!(r#"{{"trueapi_token_ttl_ms": {ttl}, "gismt_token_ttl_ms": {ttl}}}"#),
    );
    for case in [&CASES[0], &CASES[2]] {
        // (form, how finely the answer states the expiry, in ms)
        for (form, grain) in [
            ("token", 1000),
            ("uuid_token_expire_date", 1),
            ("client_token_expires_in", 1000),
            ("token_exp", 1000),
            ("token_life_time", 60_000),
        ] {
            settings(&emu, &format!(r#"{{"sign_in_answer": "{form}"}}"#));
            let dir = temp_dir(&format!("forms-{}-{form}", case.flow));
            let client = TestClient::new(&config(&emu, &dir, case));
            let before = now_ms();
            let token = token_get(&client, "own").unwrap_or_else(|_| panic!("{}", last_message()));
            let after = now_ms();
            let expires = token.expires_at_ms();
            assert!(
                expires >= before + ttl - grain && expires <= after + ttl,
                "{} {form}: {expires} not in [{}, {}]",
                case.flow,
                before + ttl - grain,
                after + ttl
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
