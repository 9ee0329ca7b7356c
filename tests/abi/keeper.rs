//! A keeper and its consumers: `suz keep` holds the signer and keeps a profile's token fresh in
//! the shared store; consumer processes with the same configuration but no signer
//! (`served_by_keeper`) only take it — never signing, never failing while a valid token exists,
//! one sign-in per expiry for everyone. With the keeper killed they serve the valid token until
//! it expires, then fail with `SUZ_RESULT_NOT_KEPT` within their wait; the keeper restarted,
//! the same consumer processes are served again.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use suz_emulator::Emulator;

use crate::common::*;
use crate::lifecycle::{signer_json, spawn_cli, temp_dir};

/// The profile `own` (True API's own token), `served_by_keeper`, caching in `dir` and, with
/// `redis`, in the Redis server on that port; with the signer (the keeper's config) or without
/// (the consumers').
fn config(emu: &Emulator, dir: &Path, signer: bool, redis: Option<u16>) -> String {
    let redis = redis
        .map(|port| format!(r#", "redis": {{"url": "redis://127.0.0.1:{port}"}}"#))
        .unwrap_or_default();
    let signer = if signer {
        format!(r#", "signer": {}"#, signer_json(0))
    } else {
        String::new()
    };
    format!(
        r#"{{"stand": "emulator", "emulator_url": "{}",
            "cache": {{"dir": {:?}, "lock_timeout_ms": 2500}},
            "profiles": {{"own": {{"flow": "trueapi_token", "certificate": "keeper-cert",
              "served_by_keeper": true, "refresh_margin_ms": 1500{signer}}}}}{redis}}}"#,
        emu.base_url(),
        dir.display().to_string()
    )
}

fn lines(child: Child) -> Vec<String> {
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn sign_ins(emu: &Emulator) -> u64 {
    stats(emu)["requests"]["trueapi.sign_in"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn a_keeper_serves_eight_consumers_across_expiries_and_restarts() {
    needs_gost!();
    keeper_and_consumers(None);
}

/// The same across machines: the keeper and each consumer with a cache directory of its own,
/// sharing only Redis.
#[test]
fn a_keeper_serves_eight_consumers_through_redis() {
    needs_gost!();
    needs_redis!();
    let redis = crate::redis::RedisServer::start(&[]);
    keeper_and_consumers(Some(redis.port));
}

fn keeper_and_consumers(redis: Option<u16>) {
    let emu = emulator();
    // Tokens of 4 s, refreshed 1.5 s before they expire: one sign-in every 2.5 s.
    settings(&emu, r#"{"trueapi_token_ttl_ms": 4000}"#);
    let dir = temp_dir("keeper");
    let (keeper_file, consumer_file) = (dir.join("keeper.json"), dir.join("consumer.json"));
    // Through Redis, the consumers share no directory with the keeper.
    let consumer_dir = if redis.is_some() {
        dir.join("elsewhere")
    } else {
        dir.clone()
    };
    std::fs::write(&keeper_file, config(&emu, &dir, true, redis)).unwrap();
    std::fs::write(&consumer_file, config(&emu, &consumer_dir, false, redis)).unwrap();
    let keep = || spawn_cli(&keeper_file, &["keep", "own", "--interval-ms", "100"]);
    let mut keeper = keep();
    // The keeper's first fetch, told on its stderr.
    let mut keeper_log = BufReader::new(keeper.stderr.take().unwrap());
    let started = Instant::now();
    let mut line = String::new();
    while !line.contains("fetched") {
        line.clear();
        assert!(
            keeper_log.read_line(&mut line).unwrap() > 0,
            "the keeper stopped"
        );
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    // 8 consumers, 40 gets each over 8 s: three expiries and more.
    let consumers: Vec<_> = (0..8)
        .map(|_| {
            spawn_cli(
                &consumer_file,
                &["token", "own", "--repeat", "40", "--interval-ms", "200"],
            )
        })
        .collect();
    let got: Vec<Vec<String>> = consumers.into_iter().map(lines).collect();
    let all: Vec<&String> = got.iter().flatten().collect();
    assert_eq!(all.len(), 320);
    assert!(
        all.iter().all(|l| !l.starts_with("error")),
        "a consumer failed while a valid token existed: {:?}",
        all.iter().find(|l| l.starts_with("error"))
    );
    let distinct: BTreeSet<&String> = all.iter().copied().collect();
    let signed = sign_ins(&emu);
    assert!(
        distinct.len() >= 4,
        "three expiries and more: {} tokens",
        distinct.len()
    );
    // One sign-in per expiry, the keeper's: every token a consumer saw is one of them.
    assert!(
        signed as usize >= distinct.len() && signed as usize <= distinct.len() + 2,
        "{signed} sign-ins for {} tokens seen",
        distinct.len()
    );

    // The keeper killed: one consumer goes on; the valid token until it expires, then
    // SUZ_RESULT_NOT_KEPT within its wait, then — the keeper back — tokens again.
    let consumer = spawn_cli(
        &consumer_file,
        &["token", "own", "--repeat", "70", "--interval-ms", "200"],
    );
    std::thread::sleep(Duration::from_millis(600));
    keeper.kill().unwrap();
    let _ = keeper.wait();
    let killed = Instant::now();
    let signed_before = sign_ins(&emu);
    // Long enough for the token to expire and the consumer's wait to run out.
    std::thread::sleep(Duration::from_millis(4000 + 2500 + 1500));
    assert_eq!(sign_ins(&emu), signed_before, "no consumer signed");
    let mut keeper = keep();
    let restarted = killed.elapsed();
    let out = lines(consumer);
    let _ = keeper.kill();
    let _ = keeper.wait();
    let first_error = out
        .iter()
        .position(|l| l.starts_with("error"))
        .unwrap_or_else(|| panic!("no failure after the keeper was killed: {out:?}"));
    assert!(first_error > 0, "tokens first: {out:?}");
    assert!(
        out[first_error].starts_with("error SUZ_RESULT_NOT_KEPT:"),
        "{}",
        out[first_error]
    );
    let last_error = out.iter().rposition(|l| l.starts_with("error")).unwrap();
    assert!(
        last_error + 1 < out.len()
            && out[last_error + 1..]
                .iter()
                .all(|l| !l.starts_with("error")),
        "served again after the keeper's restart ({restarted:?} after the kill): {out:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `suz keep --metrics`: Prometheus text that `promtool check metrics` accepts, whose numbers
/// match the emulator's after a scripted run — the keeper's first fetch, then a token revoked
/// at the server, a consumer's call meeting the 401 and the keeper fetching again.
#[test]
fn the_keepers_metrics_pass_promtool_and_match_the_emulator() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("keeper-metrics");
    let (keeper_file, consumer_file) = (dir.join("keeper.json"), dir.join("consumer.json"));
    std::fs::write(&keeper_file, config(&emu, &dir, true, None)).unwrap();
    std::fs::write(&consumer_file, config(&emu, &dir, false, None)).unwrap();
    let mut keeper = spawn_cli(
        &keeper_file,
        &[
            "keep",
            "own",
            "--interval-ms",
            "100",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let mut log = BufReader::new(keeper.stderr.take().unwrap());
    let (mut addr, mut line) = (None, String::new());
    while !line.contains("fetched") {
        line.clear();
        assert!(log.read_line(&mut line).unwrap() > 0, "the keeper stopped");
        if let Some(at) = line.trim().strip_prefix("suz keep: metrics at http://") {
            addr = Some(at.trim_end_matches("/metrics").to_owned());
        }
    }
    let addr = addr.expect("the keeper said where its metrics are");
    // Revoked at the server: the consumer's call meets a 401, drops the token, and the keeper
    // fetches a new one, which the call's one retry uses.
    let live = stats(&emu)["live_tokens"].as_object().unwrap().clone();
    let identity = live
        .keys()
        .find(|k| k.starts_with("trueapi:"))
        .unwrap()
        .clone();
    let (status, body) = http(
        &emu,
        "POST",
        "/admin/revoke",
        &[("Content-Type", "application/json")],
        &serde_json::json!({ "omsConnection": identity }).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let call = spawn_cli(
        &consumer_file,
        &["request", "own", "GET", "/participants?inns=7707083893"],
    );
    let out = call.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scrape = || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        write!(stream, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    };
    let text = scrape();
    // A consumer's status shows the keeper's heartbeat and how its last look went.
    let status = spawn_cli(&consumer_file, &["--json", "status"])
        .wait_with_output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["keeper"]["pid"], keeper.id(), "{status}");
    assert!(
        status["keeper"]["age_ms"].as_i64().unwrap() < 5_000,
        "{status}"
    );
    assert_eq!(
        status["keeper"]["profiles"]["own"]["outcome"], "ok",
        "{status}"
    );
    assert_eq!(status["profiles"][0]["token"]["expired"], false, "{status}");
    let _ = keeper.kill();
    let _ = keeper.wait();
    let (head, metrics) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{profile=\"own\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
            .parse()
            .unwrap()
    };
    // Two fetches, the emulator's two sign-ins; one of them the recovery after the 401, the
    // emulator's first answer of the consumer's call (its retry was the second).
    assert_eq!(value("suz_keep_fetches_total"), 2.0, "{metrics}");
    assert_eq!(value("suz_keep_recoveries_total"), 1.0, "{metrics}");
    assert_eq!(
        stats(&emu)["requests"]["trueapi.participants"].as_u64(),
        Some(2),
        "{metrics}"
    );
    // Nobody else fetched: the keeper never waited.
    assert_eq!(value("suz_keep_waits_total"), 0.0, "{metrics}");
    assert_eq!(
        stats(&emu)["requests"]["trueapi.sign_in"].as_u64(),
        Some(2),
        "{metrics}"
    );
    let token_left = value("suz_token_expiry_seconds");
    assert!(
        token_left > 9.0 * 3600.0 && token_left <= 10.0 * 3600.0,
        "{token_left}"
    );
    assert!(
        value("suz_certificate_expiry_seconds") > 86_400.0,
        "{metrics}"
    );
    if crate::common::have("promtool", which("promtool"), "apt-get install prometheus") {
        let mut check = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        check
            .stdin
            .take()
            .unwrap()
            .write_all(metrics.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether `program` is on the PATH.
fn which(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}
