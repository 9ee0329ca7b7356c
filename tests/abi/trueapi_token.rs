//! True API's own token (profile flow `trueapi_token`): signed in without an installation, one
//! per signing certificate and organisation (`inn`), through every profile-driven path — the C
//! ABI's `suz_token_get`, the `suz` CLI — with the emulator verifying the GOST signature.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use suz_auth::*;
use suz_emulator::Emulator;

use crate::common::*;
use crate::lifecycle::{outputs, signer_json, spawn_cli, temp_dir, token_get};

/// A config with True API token profiles: `own` (certificate `test-cert`, no inn), `same` (the
/// same certificate and no inn), `org` (the same certificate, inn 7707083893), caching in `dir`.
fn config(emu: &Emulator, dir: &Path) -> String {
    let signer = signer_json(0);
    format!(
        r#"{{"stand": "emulator", "emulator_url": "{url}",
            "cache": {{"dir": {dir:?}, "lock_timeout_ms": 60000}},
            "profiles": {{
              "own": {{"flow": "trueapi_token", "certificate": "test-cert", "signer": {signer}}},
              "same": {{"flow": "trueapi_token", "certificate": "TEST-CERT", "signer": {signer}}},
              "org": {{"flow": "trueapi_token", "certificate": "test-cert", "inn": "7707083893", "signer": {signer}}}
            }}}}"#,
        url = emu.base_url(),
        dir = dir.display().to_string()
    )
}

/// True API tokens the emulator issued for the organisation `inn` ("" for none), whatever the
/// certificate.
fn own_tokens(emu: &Emulator, inn: &str) -> u64 {
    stats(emu)["tokens_issued"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("trueapi:") && k.ends_with(&format!(":{inn}")))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

/// The `exp` claim of a JWT, in ms.
fn jwt_exp_ms(token: &str) -> i64 {
    let claims = token.split('.').nth(1).expect("a JWT");
    let v: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    v["exp"].as_i64().unwrap() * 1000
}

#[test]
fn a_true_api_token_comes_from_a_profile_without_an_installation() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("trueapi-own");
    let client = TestClient::new(&config(&emu, &dir));
    let token = token_get(&client, "own").unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(token.flow(), SuzFlow::TrueApiToken as u32);
    // The expiry is the JWT's own `exp`, as the answer said.
    assert_eq!(token.expires_at_ms(), jwt_exp_ms(&token.value()));
    let lifetime = token.expires_at_ms() - token.obtained_at_ms();
    assert!((lifetime - 10 * 3600 * 1000).abs() < 5_000, "{lifetime}");
    assert_eq!(own_tokens(&emu, ""), 1);
    assert!(stats(&emu)["gost_signatures_verified"].as_u64().unwrap() >= 1);
    // Cached: no second sign-in.
    assert_eq!(token_get(&client, "own").unwrap().value(), token.value());
    assert_eq!(own_tokens(&emu, ""), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_same_certificate_and_inn_share_one_token_and_another_inn_has_its_own() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("trueapi-identity");
    let client = TestClient::new(&config(&emu, &dir));
    let own = token_get(&client, "own").unwrap().value();
    // `same` names the same certificate (in another case): the same token, no sign-in.
    assert_eq!(token_get(&client, "same").unwrap().value(), own);
    assert_eq!(own_tokens(&emu, ""), 1);
    // Another organisation under the same certificate (МЧД): its own token.
    let org = token_get(&client, "org").unwrap().value();
    assert_ne!(org, own);
    assert_eq!(own_tokens(&emu, "7707083893"), 1);
    assert_eq!(stats(&emu)["last_inn"], "7707083893");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eight_processes_of_eight_threads_get_one_true_api_token() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("trueapi-fleet");
    let config_file = dir.join("config.json");
    std::fs::write(&config_file, config(&emu, &dir)).unwrap();
    let children: Vec<_> = (0..8)
        .map(|_| spawn_cli(&config_file, &["token", "own", "--threads", "8"]))
        .collect();
    let lines = outputs(children);
    assert_eq!(lines.len(), 64);
    assert!(
        lines.iter().all(|l| l == &lines[0]),
        "every caller got the same token"
    );
    assert_eq!(
        own_tokens(&emu, ""),
        1,
        "one sign-in for 64 callers on a cold cache"
    );
    assert_eq!(counter(&emu, &["requests", "trueapi.sign_in"]), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
