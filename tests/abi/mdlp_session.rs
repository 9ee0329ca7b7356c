//! MDLP's own session (profile flow `mdlp_session`): `/auth` then `/token` without an
//! installation, the code signed (GOST, detached) or with a password; sent as `Authorization:
//! token`; and MDLP's limit — each of `/auth` and `/token` once a second — kept across the
//! threads and processes of a machine, as the emulator's request log shows.

use std::path::Path;

use serde_json::Value;
use suz_auth::*;
use suz_emulator::{
    Emulator, EmulatorConfig, MDLP_CLIENT_ID, MDLP_CLIENT_SECRET, MDLP_PASSWORD, MDLP_PASSWORD_USER,
};

use crate::common::*;
use crate::lifecycle::{outputs, signer_json, spawn_cli, temp_dir, token_get};

/// Profiles `signed` (SIGNED_CODE, the test certificate's serial as the user) and `password`
/// (PASSWORD), caching in `dir`; `extra` is added to each profile.
fn config(emu: &Emulator, dir: &Path, extra: &str) -> String {
    format!(
        r#"{{"stand": "emulator", "emulator_url": "{url}",
            "timeouts": {{"total_ms": 60000}},
            "cache": {{"dir": {dir:?}, "lock_timeout_ms": 60000}},
            "profiles": {{
              "signed": {{"flow": "mdlp_session", "client_id": "{MDLP_CLIENT_ID}",
                         "client_secret": "{MDLP_CLIENT_SECRET}", "user_id": "1865725612",
                         "signer": {signer}{extra}}},
              "password": {{"flow": "mdlp_session", "client_id": "{MDLP_CLIENT_ID}",
                           "client_secret": "{MDLP_CLIENT_SECRET}", "user_id": "{MDLP_PASSWORD_USER}",
                           "password": "{MDLP_PASSWORD}"{extra}}}
            }}}}"#,
        url = emu.base_url(),
        dir = dir.display().to_string(),
        signer = signer_json(0),
    )
}

/// Requests the emulator answered at `endpoint` (0 before the first).
fn requests(emu: &Emulator, endpoint: &str) -> u64 {
    stats(emu)["requests"][endpoint].as_u64().unwrap_or(0)
}

#[test]
fn a_session_comes_from_a_profile_without_an_installation() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("mdlp-session");
    let client = TestClient::new(&config(&emu, &dir, ""));
    for profile in ["signed", "password"] {
        let token = token_get(&client, profile).unwrap_or_else(|_| panic!("{}", last_message()));
        assert_eq!(token.flow(), SuzFlow::MdlpSession as u32);
        // 30 minutes, from `life_time`.
        assert_eq!(
            token.expires_at_ms() - token.obtained_at_ms(),
            30 * 60 * 1000
        );
        assert_eq!(token_get(&client, profile).unwrap().value(), token.value());
        // suz_request sends it as `Authorization: token <session>` to MDLP.
        let (status, body, _) = request(&client, profile, "GET", "/documents/d0c-1", None);
        assert_eq!(status, 200, "{profile}: {body}");
        assert!(body.contains("d0c-1"), "{body}");
    }
    // The signed session was a GOST signature over the code, sent to `/token` (no installation).
    assert!(stats(&emu)["gost_signatures_verified"].as_u64().unwrap() >= 1);
    assert_eq!(requests(&emu, "mdlp.session"), 2);
    assert_eq!(requests(&emu, "mdlp.token"), 0);
    let issued = stats(&emu)["tokens_issued"].clone();
    assert_eq!(issued["mdlp_session:1865725612"], 1, "{issued}");
    assert_eq!(issued["mdlp_session:user@example.org"], 1, "{issued}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_replaced_session_is_fetched_anew_on_401() {
    needs_gost!();
    let emu = emulator();
    let (dir_a, dir_b) = (temp_dir("mdlp-401-a"), temp_dir("mdlp-401-b"));
    let a = TestClient::new(&config(&emu, &dir_a, ""));
    let first = token_get(&a, "password").unwrap().value();
    // Another cache signs in as the same user: the emulator replaces A's session.
    let b = TestClient::new(&config(&emu, &dir_b, ""));
    assert_ne!(token_get(&b, "password").unwrap().value(), first);
    let (status, body, _) = request(&a, "password", "GET", "/documents/d0c-2", None);
    assert_eq!(status, 200, "recovered from the 401: {body}");
    assert_ne!(token_get(&a, "password").unwrap().value(), first);
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

/// When each request the emulator logged at `endpoint` arrived (Unix ms), oldest first.
fn arrivals(emu: &Emulator, endpoint: &str) -> Vec<u64> {
    let (_, body) = http(emu, "GET", "/admin/requests", &[], "");
    let log: Value = serde_json::from_str(&body).unwrap();
    let mut at: Vec<u64> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["endpoint"] == endpoint)
        .map(|r| r["at_ms"].as_u64().unwrap() - r["duration_ms"].as_u64().unwrap())
        .collect();
    at.sort_unstable();
    at
}

/// 16 gets across 4 processes, each get a new session (the profile refreshes every token it
/// finds): the emulator enforces MDLP's limit (429 for a second request of a kind within a
/// second), none is refused, and its log shows each kind's arrivals a second apart or more.
#[test]
fn sixteen_gets_across_four_processes_keep_mdlps_one_request_a_second() {
    needs_gost!();
    let emu = start_emulator(EmulatorConfig {
        mdlp_rate_limit: true,
        ..EmulatorConfig::default()
    });
    let dir = temp_dir("mdlp-pace");
    let config_file = dir.join("config.json");
    // A margin longer than the session: every get finds the cached session due and signs in.
    std::fs::write(
        &config_file,
        config(&emu, &dir, r#", "refresh_margin_ms": 3600000"#),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let children: Vec<_> = (0..4)
        .map(|i| {
            let profile = if i % 2 == 0 { "signed" } else { "password" };
            spawn_cli(&config_file, &["token", profile, "--threads", "4"])
        })
        .collect();
    let lines = outputs(children);
    assert_eq!(lines.len(), 16, "16 gets");
    let auth = arrivals(&emu, "mdlp.auth");
    let token = arrivals(&emu, "mdlp.session");
    assert_eq!(
        stats(&emu)["mdlp_rate_limited"],
        0,
        "no request was refused"
    );
    assert!(
        auth.len() >= 2 && auth.len() == token.len(),
        "{auth:?} {token:?}"
    );
    for at in [&auth, &token] {
        for pair in at.windows(2) {
            assert!(
                pair[1] - pair[0] >= 1000,
                "two requests {} ms apart: {at:?}",
                pair[1] - pair[0]
            );
        }
    }
    // The emulator does refuse what comes sooner: two asks at once, the second refused.
    let ask = || {
        http(
            &emu,
            "POST",
            "/mdlp/api/v1/auth",
            &[("Content-Type", "application/json")],
            &format!(
                r#"{{"client_id":"{MDLP_CLIENT_ID}","client_secret":"{MDLP_CLIENT_SECRET}","user_id":"{MDLP_PASSWORD_USER}","auth_type":"PASSWORD"}}"#
            ),
        )
        .0
    };
    std::thread::sleep(std::time::Duration::from_millis(1000));
    assert_eq!((ask(), ask()), (200, 429));
    assert_eq!(stats(&emu)["mdlp_rate_limited"], 1);
    eprintln!(
        "{} sign-ins for 16 gets in {} ms; /auth arrivals {:?}",
        auth.len(),
        started.elapsed().as_millis(),
        auth.windows(2).map(|p| p[1] - p[0]).collect::<Vec<_>>()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// 8 processes of 8 threads on a cold cache: one session for everyone (one `/auth`, one
/// `/token`), each caller printing it.
#[test]
fn eight_processes_of_eight_threads_get_one_session() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("mdlp-fleet");
    let config_file = dir.join("config.json");
    std::fs::write(&config_file, config(&emu, &dir, "")).unwrap();
    let children: Vec<_> = (0..8)
        .map(|_| spawn_cli(&config_file, &["token", "signed", "--threads", "8"]))
        .collect();
    let lines = outputs(children);
    assert_eq!(lines.len(), 64);
    assert!(
        lines.iter().all(|l| l == &lines[0]),
        "every caller got the same session"
    );
    assert_eq!(requests(&emu, "mdlp.auth"), 1);
    assert_eq!(requests(&emu, "mdlp.session"), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The session's expiry is the answer's `life_time` in minutes, a whole number or not.
#[test]
fn the_sessions_expiry_is_the_answers_life_time() {
    needs_gost!();
    let emu = emulator();
    for minutes in [30.0, 7.25] {
        settings(&emu, &format!(r#"{{"mdlp_life_time_minutes": {minutes}}}"#));
        let dir = temp_dir("mdlp-life");
        let client = TestClient::new(&config(&emu, &dir, ""));
        let token = token_get(&client, "password").unwrap();
        assert_eq!(
            token.expires_at_ms() - token.obtained_at_ms(),
            (minutes * 60_000.0) as i64,
            "life_time {minutes}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
