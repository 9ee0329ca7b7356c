//! One live token per installation across threads, processes and machines; compare-and-
//! invalidate; authorized requests that recover from revocation.

use std::collections::HashSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::ptr;
use std::time::{Duration, Instant};

use crate::common::*;
use suz_auth::*;
use suz_emulator::Emulator;

pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("suz-life-{tag}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `openssl cms` signing command for profiles; `delay` seconds of sleep first (to hold the
/// lock for a while).
pub(crate) fn signer_json(delay: u32) -> String {
    let g = gost();
    let cmd = |attached: bool| {
        let script = format!(
            "sleep {delay}; exec openssl cms -sign -engine gost -binary -outform DER -signer '{}' -inkey '{}' {}",
            g.cert.display(),
            g.key.display(),
            if attached { "-nodetach" } else { "" }
        );
        serde_json::to_string(&["sh", "-c", &script]).unwrap()
    };
    format!(
        r#"{{"command":{{"attached":{},"detached":{}}}}}"#,
        cmd(true),
        cmd(false)
    )
}

pub(crate) struct Setup {
    pub config: PathBuf,
    pub json: String,
}

/// A config file with profile `line` (GIS MT for the default connection) and `push`
/// (SmartMarket), caching in `cache_dir`. `extra` adds top-level members.
pub(crate) fn setup(emu: &Emulator, cache_dir: &Path, signer_delay: u32, extra: &str) -> Setup {
    let json = format!(
        r#"{{
  "stand": "emulator", "emulator_url": "{url}",
  "timeouts": {{"total_ms": 30000}},
  "cache": {{"dir": "{dir}", "lock_timeout_ms": 60000}},
  "profiles": {{
    "line": {{"flow": "gismt", "oms_connection": "{conn}", "oms_id": "{oms}", "signer": {signer}}},
    "push": {{"flow": "smartmarket", "client_id": "{sid}", "client_secret": "{ssecret}"}}
  }}{extra}
}}"#,
        url = emu.base_url(),
        dir = cache_dir.display(),
        conn = DEFAULT_OMS_CONNECTION,
        oms = DEFAULT_OMS_ID,
        signer = signer_json(signer_delay),
        sid = SMARTMARKET_CLIENT_ID,
        ssecret = SMARTMARKET_CLIENT_SECRET,
    );
    let config = cache_dir.with_extension(format!("{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&config, &json).unwrap();
    Setup { config, json }
}

pub(crate) fn spawn_cli(config: &Path, args: &[&str]) -> Child {
    Command::new(suz_cli())
        .arg("--config")
        .arg(config)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("suz runs")
}

pub(crate) fn outputs(children: Vec<Child>) -> Vec<String> {
    let mut lines = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "suz failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        lines.extend(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(str::to_owned),
        );
    }
    lines
}

/// Every caller got the same token, the emulator issued exactly one, and it works.
pub(crate) fn assert_one_token(emu: &Emulator, lines: &[String], callers: usize) {
    assert_eq!(lines.len(), callers);
    let distinct: HashSet<&String> = lines.iter().collect();
    assert_eq!(distinct.len(), 1, "every caller got the same token");
    assert_eq!(
        tokens_issued(emu, DEFAULT_OMS_CONNECTION),
        1,
        "exactly one token issued"
    );
    assert_eq!(ping(emu, &lines[0]), 200);
}

/// Waits (at most 30 s) until the emulator answers no service request.
fn wait_until_idle(emu: &Emulator) {
    let started = Instant::now();
    while stats(emu)["in_flight"].as_u64() != Some(0) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the emulator is still answering: {}",
            stats(emu)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill_group(child: &mut Child) {
    // The CLI's group. A signer command runs in a group of its own (so that a timeout kills
    // its children); killed with the CLI's group or not, it can send nothing.
    let pgid = child.id() as i32;
    assert!(pgid > 1, "refusing to signal process group {pgid}");
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
}

#[test]
fn eight_processes_of_sixteen_threads_get_one_token() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("cold");
    let s = setup(&emu, &dir, 0, "");
    let children: Vec<Child> = (0..8)
        .map(|_| spawn_cli(&s.config, &["token", "line", "--threads", "16"]))
        .collect();
    let lines = outputs(children);
    assert_one_token(&emu, &lines, 128);
}

#[test]
fn a_process_killed_while_holding_the_lock_does_not_block_the_others() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("kill-holder");
    let slow = setup(&emu, &dir, 30, "");
    let fast = setup(&emu, &dir, 0, "");
    let mut holder = spawn_cli(&slow.config, &["token", "line"]);
    // The holder has the lock once it asked for a challenge; its signer now sleeps.
    wait_for_request(&emu, "gismt.key");
    let waiters: Vec<Child> = (0..4)
        .map(|_| spawn_cli(&fast.config, &["token", "line", "--threads", "4"]))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    kill_group(&mut holder);
    let killed_at = Instant::now();
    let lines = outputs(waiters);
    assert!(
        killed_at.elapsed() < Duration::from_secs(10),
        "waiters proceeded within a bounded time"
    );
    assert_one_token(&emu, &lines, 16);
}

#[test]
fn processes_killed_while_writing_never_leave_a_broken_or_revoked_token() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("kill-loop");
    // Every call refreshes (the margin exceeds the lifetime), so every process writes.
    let s = setup(&emu, &dir, 0, "");
    let json = s.json.replace(
        r#""lock_timeout_ms": 60000"#,
        r#""lock_timeout_ms": 60000, "refresh_margin_ms": 86400000"#,
    );
    std::fs::write(&s.config, &json).unwrap();
    let reader = setup(&emu, &dir, 0, "");
    let store = suz_auth_core::token::store::FileStore::open(&dir).unwrap();
    let client = suz_auth_core::Client::from_json(&json).unwrap();
    let key = client.token_key(client.profile("line").unwrap());

    let mut rng = 0x2545_f491_u64;
    let iterations = 200;
    let mut checks = 0;
    for i in 0..iterations {
        let mut child = spawn_cli(&s.config, &["token", "line"]);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(rng % 60));
        kill_group(&mut child);
        // A sign-in the killed process sent is still answered by the server — and still mints,
        // revoking whatever token was minted before it. If the next process fetched meanwhile,
        // that late mint would revoke the next process's token behind everyone's back: no
        // client can see it (its answer goes nowhere), and the first 401 recovers from it (see
        // `a_late_sign_in_of_a_killed_process_is_recovered_from_on_the_first_401`). This test is
        // about what a killed *writer* leaves in the store, so it lets the server finish first.
        wait_until_idle(&emu);
        // The store is always readable: a token file is whole or absent.
        let path = dir.join(format!("{}.token", key.hash));
        if path.exists() {
            assert!(
                store.read(&key.hash, &key.label).is_some(),
                "iteration {i}: unreadable store file"
            );
        }
        if i % 20 == 19 {
            // What the store hands out now has not been revoked.
            let out = Command::new(suz_cli())
                .arg("--config")
                .arg(&reader.config)
                .args(["token", "line"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
            assert_eq!(
                ping(&emu, &token),
                200,
                "iteration {i}: the store handed out a revoked token"
            );
            checks += 1;
        }
    }
    assert_eq!(checks, iterations / 20);
    assert!(
        tokens_issued(&emu, DEFAULT_OMS_CONNECTION) > 10,
        "the loop really fetched and wrote"
    );
}

pub(crate) fn token_get(client: &TestClient, profile: &str) -> Result<OwnedToken, SuzResult> {
    let p = c(profile);
    let mut out = ptr::null_mut();
    let rc = unsafe { suz_token_get(client.0, p.as_ptr(), &mut out) };
    token_result(rc, out)
}

fn invalidate(client: &TestClient, profile: &str, token: &OwnedToken) -> bool {
    let p = c(profile);
    let mut dropped = false;
    let rc = unsafe { suz_token_invalidate(client.0, p.as_ptr(), token.0, &mut dropped) };
    assert_eq!(rc, SuzResult::Ok, "{}", last_message());
    dropped
}

fn profile_client(emu: &Emulator, dir: &Path) -> TestClient {
    TestClient::new(&setup(emu, dir, 0, "").json)
}

#[test]
fn a_late_401_does_not_discard_a_newer_token() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("cas");
    let client = profile_client(&emu, &dir);
    let old = token_get(&client, "line").unwrap_or_else(|_| panic!("{}", last_message()));
    assert!(
        invalidate(&client, "line", &old),
        "the current token is dropped"
    );
    let new = token_get(&client, "line").unwrap_or_else(|_| panic!("{}", last_message()));
    assert_ne!(old.value(), new.value());
    // A 401 seen late, with the old token: the newer one stays.
    assert!(!invalidate(&client, "line", &old));
    let again = token_get(&client, "line").unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(again.value(), new.value());
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 2);
    // Another client on the same store sees the same.
    let other = profile_client(&emu, &dir);
    assert!(!invalidate(&other, "line", &old));
    assert_eq!(token_get(&other, "line").unwrap().value(), new.value());
}

#[test]
fn threads_in_one_process_share_one_fetch_and_cache_hits_do_not_fetch() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("threads");
    let client = std::sync::Arc::new(profile_client(&emu, &dir));
    let handles: Vec<_> = (0..32)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || token_get(&client, "line").map(|t| t.value()).unwrap())
        })
        .collect();
    let values: HashSet<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(values.len(), 1);
    for _ in 0..100 {
        token_get(&client, "line").unwrap();
    }
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 1);
    assert_eq!(stats(&emu)["requests"]["gismt.key"], 1);
}

#[test]
fn a_failed_refresh_returns_the_still_valid_token() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("refresh-fail");
    let json = setup(&emu, &dir, 0, "").json.replace(
        r#""lock_timeout_ms": 60000"#,
        r#""lock_timeout_ms": 60000, "refresh_margin_ms": 86400000"#,
    );
    let client = TestClient::new(&json);
    let first = token_get(&client, "line").unwrap_or_else(|_| panic!("{}", last_message()));
    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"status","status":503,"times":0}"#,
    );
    // The profile signs with its own `signer.command`, so the refresh runs on a thread of the
    // library's: the caller gets the valid token at once, and the failure is logged there.
    let (again, log) = capture_log(|| {
        let again = token_get(&client, "line");
        let started = Instant::now();
        while !LOG_LINES
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("refresh failed"))
            && started.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        again
    });
    let again = again.expect("the valid token is returned");
    assert_eq!(again.value(), first.value());
    assert!(
        log.contains("Warn line: refresh failed, the cached token"),
        "the failure is logged:\n{log}"
    );
}

#[test]
fn a_caller_waits_for_another_process_and_logs_it() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("wait-log");
    // The other process holds the lock for 2 s: its signer sleeps before signing.
    let holder = spawn_cli(&setup(&emu, &dir, 2, "").config, &["token", "line"]);
    wait_for_request(&emu, "gismt.key");
    let client = profile_client(&emu, &dir);
    let started = Instant::now();
    let (token, log) = capture_log(|| token_get(&client, "line"));
    let waited = started.elapsed();
    let token = token.unwrap_or_else(|_| panic!("{}", last_message()));
    let holder_token = outputs(vec![holder]);
    assert_eq!(
        holder_token,
        [token.value()],
        "the waiter read the holder's token"
    );
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 1);
    assert!(waited > Duration::from_millis(500), "it waited: {waited:?}");
    assert!(
        log.contains("Info line: waited for another process's fetch"),
        "{log}"
    );
}

#[test]
fn without_persistence_nothing_is_written() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("no-persist").join("cache");
    let json = setup(&emu, &dir, 0, "").json.replace(
        r#""lock_timeout_ms": 60000"#,
        r#""lock_timeout_ms": 60000, "persist": false"#,
    );
    let client = TestClient::new(&json);
    let first = token_get(&client, "line").unwrap_or_else(|_| panic!("{}", last_message()));
    let again = token_get(&client, "line").unwrap();
    assert_eq!(again.value(), first.value(), "kept in memory");
    assert!(!dir.exists(), "the cache directory was created");
}

#[test]
fn a_lock_file_that_cannot_be_used_is_a_store_error() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("store-lock");
    let client = profile_client(&emu, &dir);
    let token = token_get(&client, "line").unwrap_or_else(|_| panic!("{}", last_message()));
    assert!(invalidate(&client, "line", &token));
    // Each lock file the fetch left becomes a directory, which cannot be locked.
    let mut replaced = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "lock") {
            std::fs::remove_file(&path).unwrap();
            std::fs::create_dir(&path).unwrap();
            replaced += 1;
        }
    }
    assert!(replaced > 0, "no lock file in {}", dir.display());
    assert_eq!(token_get(&client, "line").unwrap_err(), SuzResult::Store);
    assert!(
        last_message().contains(".lock"),
        "names the lock file: {}",
        last_message()
    );
    assert_eq!(
        tokens_issued(&emu, DEFAULT_OMS_CONNECTION),
        1,
        "no second token fetched"
    );
}

#[test]
fn profiles_default_to_signed_code_and_the_clients_signer_and_send_the_inn() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("profile-defaults");
    let json = format!(
        r#"{{"stand": "emulator", "emulator_url": "{url}", "cache": {{"dir": {dir}}},
            "signer": {signer},
            "profiles": {{
              "pharma": {{"flow": "mdlp", "oms_connection": "{conn}", "client_id": "{id}",
                          "client_secret": "{secret}", "user_id": "1865725612"}},
              "ti": {{"flow": "trueapi", "oms_connection": "{conn}", "inn": "7701234567"}}
            }}}}"#,
        url = emu.base_url(),
        dir = serde_json::to_string(&dir).unwrap(),
        signer = signer_json(0),
        conn = DEFAULT_OMS_CONNECTION,
        id = MDLP_CLIENT_ID,
        secret = MDLP_CLIENT_SECRET,
    );
    let client = TestClient::new(&json);
    let token = token_get(&client, "pharma").unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(ping(&emu, &token.value()), 200);
    // SIGNED_CODE: the code was signed (a password flow signs nothing) by the client's command.
    assert_eq!(counter(&emu, &["signatures_verified"]), 1);
    // Both profiles name one installation, so they share its one token: a second client with its
    // own store fetches for "ti".
    let other_dir = serde_json::to_string(&temp_dir("profile-defaults-ti")).unwrap();
    let client = TestClient::new(&json.replace(&serde_json::to_string(&dir).unwrap(), &other_dir));
    let token = token_get(&client, "ti").unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(ping(&emu, &token.value()), 200);
    assert_eq!(stats(&emu)["last_inn"], "7701234567");
}

#[test]
fn suz_request_recovers_after_the_token_is_revoked() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("request");
    let client = profile_client(&emu, &dir);
    let call = |path: &str| -> (u16, String) {
        let (status, body, content_type) = request(&client, "line", "GET", path, None);
        assert!(content_type.contains("json"), "{content_type}");
        (status, body)
    };
    let (status, body) = call("/api/v2/pharma/ping");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        &emu,
        "POST",
        "/admin/revoke",
        &[],
        &format!(r#"{{"omsConnection":"{DEFAULT_OMS_CONNECTION}"}}"#),
    );
    assert!((200..300).contains(&status), "{body}");
    let (status, body) = call("/api/v2/pharma/ping");
    assert_eq!(status, 200, "recovered transparently: {body}");
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 2);

    // SmartPush through a profile: Bearer and RqUID added.
    let (status, body, _) = request(
        &client,
        "push",
        "POST",
        "/api/v2/smartpush/apprequest",
        Some(r#"{"requestPayload":{"a":1}}"#),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_token_revoked_mid_flow_by_another_machine_is_recovered_between_business_calls() {
    needs_gost!();
    let emu = emulator();
    let client = profile_client(&emu, &temp_dir("orders-a"));
    let call = |method: &str, path: &str, body: Option<&str>| {
        let (status, body, _) = request(&client, "line", method, path, body);
        (status, body)
    };
    let (status, body) = call("GET", "/api/v2/pharma/version", None);
    assert_eq!(status, 200, "{body}");
    let order = r#"{"products":[{"gtin":"04607004650642","quantity":10,"serialNumberType":"OPERATOR","templateId":5}]}"#;
    let (status, body) = call("POST", "/api/v2/pharma/orders", Some(order));
    assert_eq!(status, 200, "{body}");
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 1);
    // Another machine, with a store of its own, takes a token for the same installation: the
    // token this client holds dies between two business calls.
    let other = profile_client(&emu, &temp_dir("orders-b"));
    token_get(&other, "line").unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 2);
    let (status, body) = call("POST", "/api/v2/pharma/orders", Some(order));
    assert_eq!(status, 200, "recovered: {body}");
    assert!(body.contains("orderId"), "{body}");
    // The refused order and its retry with a new token.
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 3);
    assert_eq!(counter(&emu, &["requests", "suz.orders"]), 3);
}

#[test]
fn suz_request_retries_a_401_once_then_returns_it() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("request-401");
    let client = profile_client(&emu, &dir);
    let token = token_get(&client, "line").unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(ping(&emu, &token.value()), 200);
    // Every ping is refused from now on, whatever the token.
    fault(
        &emu,
        r#"{"endpoint":"suz.ping","kind":"status","status":401,"times":0,
            "body":"{\"globalErrors\":[{\"error\":\"token revoked\",\"errorCode\":401}]}"}"#,
    );
    let pings = counter(&emu, &["requests", "suz.ping"]);
    let (status, _, _) = request(&client, "line", "GET", "/api/v2/pharma/ping", None);
    assert_eq!(status, 401);
    assert_eq!(
        counter(&emu, &["requests", "suz.ping"]) - pings,
        2,
        "the call and exactly one retry"
    );
    assert_eq!(
        tokens_issued(&emu, DEFAULT_OMS_CONNECTION),
        2,
        "one new token for the retry"
    );
}

#[test]
fn unknown_profile_and_store_errors() {
    needs_gost!();
    needs_redis!();
    let emu = emulator();
    let dir = temp_dir("errors");
    let client = profile_client(&emu, &dir);
    assert_eq!(
        token_get(&client, "nope").unwrap_err(),
        SuzResult::InvalidArgument
    );
    assert!(
        last_message().contains("line"),
        "lists the known profiles: {}",
        last_message()
    );
    // Redis configured, unreachable, and "error" chosen: a store error, never a second token.
    let port = free_port();
    let json = setup(
        &emu,
        &temp_dir("errors2"),
        0,
        &format!(r#", "redis": {{"url": "redis://127.0.0.1:{port}", "on_unavailable": "error"}}"#),
    )
    .json;
    let client = TestClient::new(&json);
    assert_eq!(token_get(&client, "line").unwrap_err(), SuzResult::Store);
    assert!(last_message().contains("Redis"), "{}", last_message());
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 0);
    // With "local", it falls back to this machine's store and logs.
    let json = json.replace(
        r#""on_unavailable": "error""#,
        r#""on_unavailable": "local""#,
    );
    let client = TestClient::new(&json);
    let (token, log) = capture_log(|| token_get(&client, "line"));
    token.unwrap_or_else(|_| panic!("{}", last_message()));
    assert!(
        log.lines()
            .any(|l| l.starts_with("Error ") && l.contains("Redis")),
        "the fallback is logged as an error:\n{log}"
    );
}

#[test]
fn cli_inspect_masks_and_purge_clears() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("cli");
    let s = setup(&emu, &dir, 0, "");
    let token = outputs(vec![spawn_cli(&s.config, &["token", "line"])]).remove(0);
    let inspect = outputs(vec![spawn_cli(&s.config, &["--json", "inspect"])]).join("\n");
    assert!(
        !inspect.contains(&token),
        "inspect never prints a whole token"
    );
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(
        v["tokens"][0]["label"],
        format!("suz:{}/suz:{DEFAULT_OMS_CONNECTION}", emu.base_url()),
        "the key names the SUZ the token is for"
    );
    // With its expiry: the emulator's GIS MT tokens live 10 hours.
    let entry = &v["tokens"][0];
    let lifetime =
        entry["expires_at_ms"].as_i64().unwrap() - entry["obtained_at_ms"].as_i64().unwrap();
    assert_eq!(lifetime, 10 * 3600 * 1000, "{entry}");
    assert_eq!(entry["expired"], false);
    let text = outputs(vec![spawn_cli(&s.config, &["inspect"])]).join("\n");
    assert!(text.contains("expires in 3599"), "{text}");
    let purge = outputs(vec![spawn_cli(&s.config, &["purge"])]).join("\n");
    assert!(purge.contains("removed 1"), "{purge}");
    let request = outputs(vec![spawn_cli(
        &s.config,
        &["--json", "request", "line", "GET", "/api/v2/pharma/ping"],
    )])
    .join("\n");
    let v: serde_json::Value = serde_json::from_str(&request).unwrap();
    assert_eq!(v["status"], 200);
}

#[test]
fn no_call_outlives_its_total_timeout_whatever_the_retries_or_the_signer() {
    needs_gost!();
    let emu = emulator();
    let short = |signer_delay: u32| {
        setup(&emu, &temp_dir("total"), signer_delay, "")
            .json
            .replace(r#""total_ms": 30000"#, r#""total_ms": 1500"#)
    };
    // A signing command that takes 5 s is killed at the deadline.
    let client = TestClient::new(&short(5));
    let started = Instant::now();
    assert_eq!(token_get(&client, "line").unwrap_err(), SuzResult::Timeout);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(3000), "slow signer: {took:?}");
    // A service that keeps answering 503 (retried) is given up at the deadline.
    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"status","status":503,"times":0}"#,
    );
    let client = TestClient::new(&short(0).replace(
        r#""timeouts""#,
        r#""retry": {"max_attempts": 100, "backoff_ms": 200}, "timeouts""#,
    ));
    let started = Instant::now();
    let rc = token_get(&client, "line").unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(rc, SuzResult::Timeout | SuzResult::HttpServerError),
        "{rc:?}"
    );
    assert!(took < Duration::from_millis(3000), "retries: {took:?}");
    assert!(
        counter(&emu, &["requests", "gismt.key"]) >= 2,
        "it did retry"
    );
}

#[test]
fn the_token_file_and_its_directory_are_fsynced() {
    if !have(
        "strace",
        Command::new("strace")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success()),
        "apt-get install strace",
    ) {
        return;
    }
    let emu = emulator();
    let dir = temp_dir("fsync");
    let s = setup(&emu, &dir, 0, "");
    let trace = dir.with_extension("strace");
    let out = Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2",
            "-o",
        ])
        .arg(&trace)
        .arg(suz_cli())
        .arg("--config")
        .arg(&s.config)
        .args(["token", "push"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trace = std::fs::read_to_string(&trace).unwrap();
    let dir = dir.canonicalize().unwrap().display().to_string();
    let calls: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains(&dir))
        .map(|l| l.split_once(' ').map_or(l, |(_, call)| call.trim_start()))
        .collect();
    // The token is written into the fetch marker's reserved space, which is synced, renamed
    // over the token file, then the directory is synced.
    let rename = calls
        .iter()
        .position(|c| c.starts_with("rename") && c.contains(".fetching") && c.contains(".token"))
        .unwrap_or_else(|| panic!("no rename of the marker onto the token:\n{trace}"));
    let file_sync = calls[..rename].iter().any(|c| {
        (c.starts_with("fsync(") || c.starts_with("fdatasync(")) && c.contains(".fetching")
    });
    assert!(
        file_sync,
        "the temporary file is synced before the rename:\n{trace}"
    );
    let dir_sync = format!("<{dir}>)");
    assert!(
        calls[rename..]
            .iter()
            .any(|c| c.starts_with("fsync(") && c.contains(&dir_sync)),
        "the directory is synced after the rename:\n{trace}"
    );
}

/// A 64 KiB tmpfs mounted on `dir` for as long as it lives (root only).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path) -> Option<SmallDisk> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k,mode=700", "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        have(
            "a tmpfs mount (root)",
            ok,
            "run as root: the test mounts a 64 KiB tmpfs",
        )
        .then(|| SmallDisk(dir.to_path_buf()))
    }

    /// Fills the disk to the last byte; returns the filler's path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = [0u8; 512];
        while f.write_all(&chunk).is_ok() {}
        while f.write_all(&[0u8]).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_keeps_serving_the_valid_token_and_mints_nothing_extra() {
    let emu = emulator();
    let dir = temp_dir("full-disk");
    let Some(disk) = SmallDisk::mount(&dir) else {
        return;
    };
    // SmartMarket tokens live 4 s (the answer's `expires_in` says so), and every get wants to
    // refresh (the margin exceeds the lifetime).
    settings(&emu, r#"{"smartmarket_token_ttl_ms": 4000}"#);
    let s = setup(&emu, &dir, 0, "");
    let json = s.json.replace(
        r#""lock_timeout_ms": 60000"#,
        r#""lock_timeout_ms": 60000, "refresh_margin_ms": 86400000"#,
    );
    std::fs::write(&s.config, &json).unwrap();
    let get = || {
        let out = Command::new(suz_cli())
            .arg("--config")
            .arg(&s.config)
            .args(["token", "push"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match out.status.success() {
            true => Ok(String::from_utf8(out.stdout).unwrap().trim().to_owned()),
            false => Err(stderr),
        }
    };
    let markers = || -> Vec<String> {
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".fetching"))
            .collect()
    };
    let first = get().unwrap();
    let fetched = Instant::now();
    assert_eq!(smartmarket_issued(&emu), 1);
    let filler = disk.fill();
    // While the token is valid, every get returns it; nothing is fetched, nothing marked.
    let mut gets = 0;
    while fetched.elapsed() < Duration::from_millis(3000) {
        assert_eq!(get(), Ok(first.clone()), "get {gets} on a full disk");
        assert!(
            markers().is_empty(),
            "get {gets} left a marker: {:?}",
            markers()
        );
        gets += 1;
    }
    assert!(gets >= 3, "{gets} gets");
    // Once it has expired: a store error that says nothing could be recorded; still no fetch.
    std::thread::sleep(Duration::from_millis(4500).saturating_sub(fetched.elapsed()));
    let e = get().unwrap_err();
    assert!(
        e.contains("SUZ_RESULT_STORE") && e.contains("nothing was fetched"),
        "{e}"
    );
    assert!(markers().is_empty(), "{:?}", markers());
    assert_eq!(
        smartmarket_issued(&emu),
        1,
        "nothing is fetched while the token cannot be recorded"
    );
    // Room again: one fetch, one new token, as if the disk had never been full.
    std::fs::remove_file(filler).unwrap();
    let second = get().unwrap();
    assert_ne!(second, first);
    assert_eq!(smartmarket_issued(&emu), 2);
    drop(disk);
    let _ = std::fs::remove_dir_all(&dir);
}

fn smartmarket_issued(emu: &Emulator) -> u64 {
    stats(emu)["smartmarket_tokens_issued"].as_u64().unwrap()
}

/// The cause of a rare failure of the kill loop above, made deterministic: a process is killed
/// after its sign-in reached the server, which answers it late (3 s). Another process finds the
/// interrupted fetch's marker and fetches anew; then the late sign-in mints, revoking that
/// token. Nobody can see it — the late answer goes to a dead socket — so the store hands out a
/// revoked token once, and the first 401 recovers: `suz_request` invalidates it and gets a live
/// one, with no further fetch by anyone else.
#[test]
fn a_late_sign_in_of_a_killed_process_is_recovered_from_on_the_first_401() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("late-mint");
    let s = setup(&emu, &dir, 0, "");
    fault(
        &emu,
        r#"{"endpoint": "gismt.token", "kind": "delay", "delay_ms": 3000, "times": 1}"#,
    );
    let mut killed = spawn_cli(&s.config, &["token", "line"]);
    wait_for_request(&emu, "gismt.token");
    kill_group(&mut killed);
    // The next process: the marker says a fetch was interrupted, so it fetches anew.
    let out = spawn_cli(&s.config, &["token", "line"])
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    wait_until_idle(&emu);
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 2);
    assert_eq!(ping(&emu, &stored), 401, "the late sign-in revoked it");
    // A client reading the store is handed that token, and recovers on its first 401.
    let client = TestClient::new(&s.json);
    assert_eq!(token_get(&client, "line").unwrap().value(), stored);
    let (status, _, _) = request(&client, "line", "GET", "/api/v2/pharma/ping", None);
    assert_eq!(status, 200);
    let live = token_get(&client, "line").unwrap().value();
    assert_eq!(ping(&emu, &live), 200);
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 3);
    let _ = std::fs::remove_dir_all(&dir);
}
