//! The behaviour `emulator/README.md` claims, each test failing if its claim became false: the
//! emulator in-process (`Emulator::start`) or the built binary, over real HTTP on 127.0.0.1,
//! with CMS signatures made by the `openssl` command line (ECDSA, and GOST R 34.10-2012 through
//! OpenSSL's GOST engine when it is installed).

mod common;

use std::net::{IpAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use suz_emulator::{
    EmulatorConfig, DEFAULT_OMS_CONNECTION, DEFAULT_OMS_ID, DEMO_REGISTRATION_KEY, MDLP_CLIENT_ID,
    MDLP_CLIENT_SECRET, MDLP_PASSWORD, MDLP_PASSWORD_USER, PHARMA_REGISTRATION_KEY,
};

// =============================================================================================
// Claims

/// Claim: a challenge is spent by the first attempt that names it, whatever its outcome.
#[test]
fn challenge_is_spent_by_a_failed_attempt() {
    let emu = start_default();
    let port = emu.port();
    for svc in [Svc::Gismt, Svc::TrueApi] {
        // Control: a correct signature over a fresh challenge is accepted.
        signed_token(port, svc, DEFAULT_OMS_CONNECTION, ec());
        // (what, the body from the challenge's uuid and data, the omsConnection)
        type Failure = (&'static str, fn(&str, &str) -> Value, &'static str);
        let failures: [Failure; 4] = [
            (
                "other content",
                |u, _| json!({"uuid": u, "data": sign(ec(), b"other", true)}),
                DEFAULT_OMS_CONNECTION,
            ),
            (
                "not base64",
                |u, _| json!({"uuid": u, "data": "%%%"}),
                DEFAULT_OMS_CONNECTION,
            ),
            ("no data", |u, _| json!({"uuid": u}), DEFAULT_OMS_CONNECTION),
            (
                "unknown omsConnection",
                |u, d| json!({"uuid": u, "data": sign(ec(), d.as_bytes(), true)}),
                "00000000-0000-0000-0000-000000000000",
            ),
        ];
        for (what, body, connection) in failures {
            let (uuid, data) = challenge(port, svc);
            let failed = sign_in(port, svc, connection, body(&uuid, &data));
            assert!(failed.status >= 400, "{svc:?} {what}: {failed:?}");
            let good = json!({"uuid": uuid, "data": sign(ec(), data.as_bytes(), true)});
            let again = sign_in(port, svc, DEFAULT_OMS_CONNECTION, good);
            assert_eq!(
                again.status,
                svc.refusal(),
                "{svc:?} after {what}: {again:?}"
            );
            again.refused(svc.refusal(), "challenge unknown or already used");
        }
        // And a successful attempt spends it too.
        let (uuid, data) = challenge(port, svc);
        let good = json!({"uuid": uuid, "data": sign(ec(), data.as_bytes(), true)});
        assert_eq!(
            sign_in(port, svc, DEFAULT_OMS_CONNECTION, good.clone()).status,
            200
        );
        sign_in(port, svc, DEFAULT_OMS_CONNECTION, good)
            .refused(svc.refusal(), "challenge unknown or already used");
    }
}

/// Claims: an MDLP code is single-use (after a success and after a failure) and expires; a
/// challenge expires too (`challenge_ttl_ms` through `/admin/settings`).
#[test]
fn mdlp_code_is_single_use_and_codes_and_challenges_expire() {
    let emu = start_default();
    let port = emu.port();
    let c = DEFAULT_OMS_CONNECTION;

    let code = mdlp_code(port, "SIGNED_CODE", "1865725612");
    let good = json!({"code": code, "signature": sign(ec(), code.as_bytes(), false)});
    assert_eq!(mdlp_token(port, c, good.clone()).status, 200);
    mdlp_token(port, c, good).refused(401, "the code is unknown or already used");

    let code = mdlp_code(port, "PASSWORD", MDLP_PASSWORD_USER);
    mdlp_token(port, c, json!({"code": code, "password": "wrong"})).refused(401, "wrong password");
    let good = json!({"code": code, "password": MDLP_PASSWORD});
    mdlp_token(port, c, good).refused(401, "the code is unknown or already used");

    let code = mdlp_code(port, "PASSWORD", MDLP_PASSWORD_USER);
    let unknown = "00000000-0000-0000-0000-000000000000";
    let good = json!({"code": code, "password": MDLP_PASSWORD});
    assert_eq!(mdlp_token(port, unknown, good.clone()).status, 400);
    mdlp_token(port, c, good).refused(401, "the code is unknown or already used");

    settings(port, json!({"challenge_ttl_ms": 30}));
    let code = mdlp_code(port, "PASSWORD", MDLP_PASSWORD_USER);
    let (uuid, data) = challenge(port, Svc::Gismt);
    let signed = json!({"uuid": uuid, "data": sign(ec(), data.as_bytes(), true)});
    std::thread::sleep(Duration::from_millis(60));
    let good = json!({"code": code, "password": MDLP_PASSWORD});
    mdlp_token(port, c, good).refused(401, "the code has expired");
    sign_in(port, Svc::Gismt, c, signed).refused(401, "challenge expired");
}

/// Claim: a detached MDLP signature must cover the exact code.
#[test]
fn mdlp_detached_signature_must_cover_the_exact_code() {
    let emu = start_default();
    let port = emu.port();
    let c = DEFAULT_OMS_CONNECTION;
    // (what, the signature made for the code, the refusal)
    type Bad = (&'static str, fn(&str) -> String, &'static str);
    let bad: [Bad; 4] = [
        (
            "another code",
            |_| sign(ec(), uuid::Uuid::new_v4().to_string().as_bytes(), false),
            "the signature does not verify over the signed data",
        ),
        (
            "the code and a newline",
            |code| sign(ec(), format!("{code}\n").as_bytes(), false),
            "the signature does not verify over the signed data",
        ),
        (
            "the quoted code",
            |code| sign(ec(), format!("\"{code}\"").as_bytes(), false),
            "the signature does not verify over the signed data",
        ),
        (
            "attached",
            |code| sign(ec(), code.as_bytes(), true),
            "attached signature where detached is required",
        ),
    ];
    for (what, signature, why) in bad {
        let code = mdlp_code(port, "SIGNED_CODE", "1865725612");
        let r = mdlp_token(
            port,
            c,
            json!({"code": code, "signature": signature(&code)}),
        );
        assert_eq!(r.status, 401, "{what}: {r:?}");
        assert_eq!(r.json()["error_description"], why, "{what}");
    }
    assert_eq!(emu.stats()["signatures_refused"], 4);
    let code = mdlp_code(port, "SIGNED_CODE", "1865725612");
    let good = json!({"code": code, "signature": sign(ec(), code.as_bytes(), false)});
    let r = mdlp_token(port, c, good);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(emu.stats()["signatures_verified"], 1);
}

/// Claims: by default (GOST only) a non-GOST (ECDSA) signature is refused and a GOST one
/// accepted; with `allow_rsa` the same ECDSA signature is accepted; `gost_signatures_verified`
/// counts GOST.
#[test]
fn require_gost_refuses_non_gost_signatures() {
    needs_gost!();
    let strict = start(EmulatorConfig::default());
    let lax = start_default();
    for svc in [Svc::Gismt, Svc::TrueApi] {
        let (uuid, data) = challenge(strict.port(), svc);
        let body = json!({"uuid": uuid, "data": sign(ec(), data.as_bytes(), true)});
        sign_in(strict.port(), svc, DEFAULT_OMS_CONNECTION, body)
            .refused(svc.refusal(), "not a GOST R 34.10-2012 signature");
        signed_token(strict.port(), svc, DEFAULT_OMS_CONNECTION, gost());
        signed_token(lax.port(), svc, DEFAULT_OMS_CONNECTION, ec());
    }
    let code = mdlp_code(strict.port(), "SIGNED_CODE", "1");
    let body = json!({"code": code, "signature": sign(ec(), code.as_bytes(), false)});
    mdlp_token(strict.port(), DEFAULT_OMS_CONNECTION, body)
        .refused(401, "not a GOST R 34.10-2012 signature");
    let body = r#"{"address":"Moscow"}"#;
    let sig = sign(ec(), body.as_bytes(), false);
    register(
        strict.port(),
        DEFAULT_OMS_ID,
        DEMO_REGISTRATION_KEY,
        body,
        Some(&sig),
    )
    .refused(401, "not a GOST R 34.10-2012 signature");

    let s = strict.stats();
    assert_eq!(s["signatures_refused"], 4);
    assert_eq!(s["signatures_verified"], 2);
    assert_eq!(s["gost_signatures_verified"], 2);
    let l = lax.stats();
    assert_eq!(l["signatures_verified"], 2);
    assert_eq!(l["gost_signatures_verified"], 0);
    assert_eq!(l["non_gost_signatures_accepted"], 2);
    assert_eq!(s["non_gost_signatures_accepted"], 0);
}

/// Claim: GOST only (the default, and `--require-gost`) refuses to start without the GOST
/// engine (here made unavailable by pointing `OPENSSL_ENGINES` at an empty directory, as if
/// libengine-gost-openssl were not installed), naming `--allow-rsa`; with `--allow-rsa` the same
/// environment starts and says it accepts RSA.
#[test]
fn require_gost_refuses_to_start_without_the_engine() {
    let empty = scratch().join("no-engines");
    std::fs::create_dir_all(&empty).unwrap();
    let without_engine = |args: &[&str]| {
        let mut cmd = bin();
        cmd.env("OPENSSL_ENGINES", &empty)
            .env_remove("OPENSSL_CONF")
            .args(["--port", "0"])
            .args(args);
        cmd
    };
    for args in [&[][..], &["--require-gost"][..]] {
        let out = run(without_engine(args));
        assert!(!out.status.success(), "{out:?}");
        assert!(out.stdout.is_empty(), "it must not listen: {out:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("--allow-rsa") && stderr.contains("GOST engine is not available"),
            "{stderr}"
        );
    }
    let running = try_launch(without_engine(&["--allow-rsa"])).expect("starts with --allow-rsa");
    let line = (0..40)
        .map(|_| running.next_line())
        .find(|l| l.contains("signatures:"))
        .unwrap();
    assert!(
        line.contains("RSA and ECDSA accepted (--allow-rsa"),
        "{line}"
    );
}

/// Claim: it binds 127.0.0.1 only — another local address (127.0.0.2, and the machine's
/// non-loopback addresses) refuses connections, and the kernel shows the listener on 127.0.0.1.
#[test]
fn binds_127_0_0_1_only() {
    let emu = start_default();
    let port = emu.port();
    assert_eq!(emu.base_url(), format!("http://127.0.0.1:{port}"));
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());

    let mut others: Vec<IpAddr> = vec!["127.0.0.2".parse().unwrap()];
    if let Ok(out) = Command::new("hostname").arg("-I").output() {
        others.extend(
            text(&out.stdout)
                .split_whitespace()
                .filter_map(|a| a.parse::<IpAddr>().ok())
                .filter(|a| !a.is_loopback()),
        );
    }
    let mut tried = 0;
    for addr in others {
        // Only addresses of this machine: ones we can listen on.
        if TcpListener::bind((addr, 0)).is_err() {
            continue;
        }
        tried += 1;
        let r = TcpStream::connect_timeout(&(addr, port).into(), Duration::from_secs(1));
        assert!(r.is_err(), "{addr}:{port} accepted a connection");
    }
    eprintln!("checked {tried} other local addresses");

    if let Ok(table) = std::fs::read_to_string("/proc/net/tcp") {
        let suffix = format!(":{port:04X}");
        let listening: Vec<&str> = table
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() > 3 && f[1].ends_with(&suffix) && f[3] == "0A").then_some(f[1])
            })
            .collect();
        assert_eq!(listening, vec![format!("0100007F{suffix}")]);
    }
    if let Ok(table) = std::fs::read_to_string("/proc/net/tcp6") {
        let suffix = format!(":{port:04X}");
        assert!(
            !table.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3 && f[1].ends_with(&suffix) && f[3] == "0A"
            }),
            "no IPv6 listener"
        );
    }
}

/// Claim: `--port` defaults to 8080 (clap's default in `--help`; and, when 8080 is free, the
/// binary started without `--port` listens there).
#[test]
fn port_defaults_to_8080() {
    let help = text(&run_args(&["--help"]).stdout);
    assert!(
        help_entry(&help, "--port").contains("[default: 8080]"),
        "{help}"
    );
    if TcpListener::bind(("127.0.0.1", 8080)).is_err() {
        eprintln!("port 8080 is taken: only --help checked");
        return;
    }
    match try_launch(bin()) {
        Ok(running) => assert_eq!(running.port, 8080, "{}", running.first_line),
        // Someone took 8080 between the check and the start.
        Err(e) if e.contains("in use") => eprintln!("port 8080 was taken: {e}"),
        Err(e) => panic!("{e}"),
    }
}

/// Claim: the TLS certificate is valid for localhost as well as 127.0.0.1 (and only through
/// the generated CA: another name is refused).
#[test]
fn tls_certificate_is_valid_for_localhost_and_127_0_0_1() {
    let emu = start(EmulatorConfig {
        tls: true,
        ..config()
    });
    assert_eq!(emu.base_url(), format!("https://127.0.0.1:{}", emu.port()));
    assert_tls_serves(emu.port(), &emu.ca_pem().expect("a CA with TLS"));
    assert!(start_default().ca_pem().is_none());
}

/// Claims: `--tls --ca-out FILE` writes the server's CA as PEM; `--ca-out` without `--tls` is
/// refused; `--help` lists every option of the README's options table; `--version` prints the
/// package version.
#[test]
fn binary_ca_out_help_and_version() {
    let ca = scratch().join(format!("ca-{}.pem", uuid::Uuid::new_v4().simple()));
    let ca_arg = ca.to_str().unwrap();
    let running = launch(&["--tls", "--ca-out", ca_arg]);
    assert!(
        running
            .first_line
            .starts_with("suz-emulator listening on https://127.0.0.1:"),
        "{}",
        running.first_line
    );
    let pem = std::fs::read_to_string(&ca).expect("--ca-out wrote the file");
    assert!(
        pem.starts_with("-----BEGIN CERTIFICATE-----")
            && pem.trim_end().ends_with("-----END CERTIFICATE-----"),
        "{pem}"
    );
    assert_tls_serves(running.port, &pem);
    drop(running);

    let other = scratch().join("never-written.pem");
    let out = run_args(&["--port", "0", "--ca-out", other.to_str().unwrap()]);
    assert!(!out.status.success(), "{out:?}");
    assert!(text(&out.stderr).contains("--tls"), "{out:?}");
    assert!(!other.exists());

    let help = text(&run_args(&["--help"]).stdout);
    let readme = include_str!("../README.md");
    let table = readme
        .split("## Options")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the README has an Options section");
    let documented = options_in(table);
    assert!(documented.len() >= 14, "{documented:?}");
    let listed = options_in(&help);
    let missing: Vec<_> = documented.difference(&listed).collect();
    assert!(missing.is_empty(), "--help lacks {missing:?}:\n{help}");

    let out = run_args(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("suz-emulator {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Claims: the binary's defaults are the README's (challenge 300000 ms, tokens 10 hours,
/// SmartMarket 30 minutes, MDLP 30 minutes) and those of `EmulatorConfig::default()`.
#[test]
fn binary_option_defaults() {
    let help = text(&run_args(&["--help"]).stdout);
    let d = EmulatorConfig::default();
    for (option, default, readme) in [
        ("--challenge-ttl-ms", d.challenge_ttl_ms, 300_000),
        ("--token-ttl-ms", d.gismt_token_ttl_ms, 10 * 3600 * 1000),
        ("--token-ttl-ms", d.trueapi_token_ttl_ms, 10 * 3600 * 1000),
        (
            "--smartmarket-ttl-ms",
            d.smartmarket_token_ttl_ms,
            30 * 60 * 1000,
        ),
    ] {
        assert_eq!(default, readme, "EmulatorConfig::default() for {option}");
        let entry = help_entry(&help, option);
        assert!(entry.contains(&format!("[default: {readme}]")), "{entry}");
    }
    assert_eq!(d.mdlp_life_time_minutes, 30.0);
    let entry = help_entry(&help, "--mdlp-life-time-minutes");
    assert!(entry.contains("[default: 30]"), "{entry}");
    assert!(!d.smartmarket_expires_in_seconds);

    // Behaviour of the defaults that can be seen without waiting.
    let running = launch(&[]);
    let before = now_ms();
    let e = expires_at(running.port);
    assert!(
        (before + 1_800_000..=now_ms() + 1_800_000).contains(&e),
        "expires_at {e}: absolute ms, 30 minutes ahead"
    );
    let code = mdlp_code(running.port, "PASSWORD", MDLP_PASSWORD_USER);
    let r = mdlp_token(
        running.port,
        DEFAULT_OMS_CONNECTION,
        json!({"code": code, "password": MDLP_PASSWORD}),
    );
    assert_eq!(r.json()["life_time"], 30.0);
}

/// Claims: `--mdlp-life-time-minutes` takes fractions, `--smartmarket-expires-seconds` answers
/// seconds, `--registration-key`, `--oms-id` and `--oms-connection` are repeatable and
/// effective, `--token-ttl-ms` and `--challenge-ttl-ms` set those lifetimes.
#[test]
fn binary_options_are_effective() {
    let (key1, key2) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let (oms1, oms2) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let (conn1, conn2) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let running = launch(&[
        "--mdlp-life-time-minutes",
        "0.5",
        "--smartmarket-expires-seconds",
        "--registration-key",
        &key1,
        "--registration-key",
        &key2,
        "--oms-id",
        &oms1,
        "--oms-id",
        &oms2,
        "--oms-connection",
        &conn1,
        "--oms-connection",
        &conn2,
    ]);
    let port = running.port;

    let code = mdlp_code(port, "PASSWORD", MDLP_PASSWORD_USER);
    let r = mdlp_token(
        port,
        &conn1,
        json!({"code": code, "password": MDLP_PASSWORD}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["life_time"], 0.5);

    let before = now_ms() / 1000;
    let e = expires_at(port);
    assert!(
        (before + 1800..=now_ms() / 1000 + 1800).contains(&e),
        "expires_at {e}: seconds"
    );

    // Known omsIds, registration keys and connections, and the defaults still there.
    let body = r#"{"address":"Moscow"}"#;
    let sig = sign(ec(), body.as_bytes(), false);
    for (oms, key) in [
        (&oms1, &key1),
        (&oms2, &key2),
        (&oms1, &DEMO_REGISTRATION_KEY.to_owned()),
    ] {
        let r = register(port, oms, key, body, Some(&sig));
        assert_eq!(r.json()["status"], "SUCCESS", "{oms} {key}: {r:?}");
    }
    let stranger = uuid::Uuid::new_v4().to_string();
    let r = register(port, &oms1, &stranger, body, Some(&sig));
    assert_eq!(r.json()["status"], "REJECTED", "control: {r:?}");
    assert_eq!(
        register(port, &stranger, &key1, body, Some(&sig)).status,
        400
    );
    // Pre-registered installations belong to the first omsId; a token is good for its own
    // SUZ only.
    for connection in [&conn1, &conn2, &DEFAULT_OMS_CONNECTION.to_owned()] {
        let token = password_token(port, connection);
        assert_eq!(ping(port, &token).status, 200, "{connection}");
        for oms in [&oms1, &oms2] {
            let r = ping_oms(port, oms, &token);
            assert_eq!(r.status, 400, "{connection} {oms}: {r:?}");
            assert_eq!(r.json()["globalErrors"][0]["errorCode"], 1140);
        }
    }
    assert_eq!(
        mdlp_token(port, &stranger, json!({"code": "x", "password": "y"})).status,
        400,
        "control: an unknown connection"
    );
    drop(running);

    let running = launch(&["--token-ttl-ms", "1"]);
    let gismt = signed_token(running.port, Svc::Gismt, DEFAULT_OMS_CONNECTION, ec());
    std::thread::sleep(Duration::from_millis(10));
    ping(running.port, &gismt).refused(401, "expired");
    drop(running);

    let running = launch(&["--challenge-ttl-ms", "1"]);
    let code = mdlp_code(running.port, "PASSWORD", MDLP_PASSWORD_USER);
    std::thread::sleep(Duration::from_millis(10));
    let body = json!({"code": code, "password": MDLP_PASSWORD});
    mdlp_token(running.port, DEFAULT_OMS_CONNECTION, body).refused(401, "the code has expired");
}

/// Claim: the endpoint names select faults and counters: a fault queued for each name is
/// answered by that route and no other, and `requests` counts each route under its name.
#[test]
fn endpoint_names_select_faults_and_counters() {
    let emu = start_default();
    let port = emu.port();
    let c = DEFAULT_OMS_CONNECTION;
    let routes = [
        (
            "suz.register",
            "POST",
            format!("/suz/api/v2/integration/connection?omsId={DEFAULT_OMS_ID}"),
        ),
        (
            "suz.ping",
            "GET",
            format!("/suz/api/v2/pharma/ping?omsId={DEFAULT_OMS_ID}"),
        ),
        ("mdlp.auth", "POST", "/mdlp/api/v1/auth".to_owned()),
        ("mdlp.token", "POST", format!("/mdlp/api/v1/token/{c}")),
        ("gismt.key", "GET", Svc::Gismt.key_path().to_owned()),
        ("gismt.token", "POST", Svc::Gismt.token_path(c)),
        ("trueapi.key", "GET", Svc::TrueApi.key_path().to_owned()),
        ("trueapi.token", "POST", Svc::TrueApi.token_path(c)),
        (
            "smartmarket.oauth",
            "POST",
            "/smartmarket/api/v2/oauth".to_owned(),
        ),
        (
            "smartpush.apprequest",
            "POST",
            "/smartmarket/api/v2/smartpush/apprequest".to_owned(),
        ),
    ];
    for (i, (name, _, _)) in routes.iter().enumerate() {
        let body = json!({"injected": name}).to_string();
        fault(
            port,
            json!({"endpoint": name, "status": 520 + i, "body": body}),
        );
    }
    for (i, (name, method, path)) in routes.iter().enumerate() {
        let r = call(port, method, path, &[], "{}");
        assert_eq!(r.status, 520 + i as u16, "{name}: {r:?}");
        assert_eq!(r.json(), json!({"injected": name}));
        // The fault was for one request only.
        let r = call(port, method, path, &[], "{}");
        assert!(r.status < 500, "{name} again: {r:?}");
    }
    let requests = &emu.stats()["requests"];
    for (name, _, _) in &routes {
        assert_eq!(requests[name], 2, "{name}: {requests}");
    }
    assert_eq!(
        requests.as_object().unwrap().len(),
        routes.len(),
        "{requests}"
    );
}

/// Claims: unknown registration key and empty address are 200 `REJECTED` with a
/// `rejectionReason`; an unknown omsId is 400 with `globalErrors`; a bad signature is 401
/// `globalErrors`; success gives a new, usable omsConnection in upper case.
#[test]
fn registration_answers() {
    let emu = start_default();
    let port = emu.port();
    let body = r#"{"address":"Moscow, Leninskie Gory 1"}"#;
    let sig = sign(ec(), body.as_bytes(), false);

    let stranger = uuid::Uuid::new_v4().to_string();
    for (what, key, body) in [
        ("unknown key", stranger.as_str(), body),
        (
            "empty address",
            PHARMA_REGISTRATION_KEY,
            r#"{"address":""}"#,
        ),
        (
            "blank address",
            PHARMA_REGISTRATION_KEY,
            r#"{"address":"  "}"#,
        ),
        ("no address", PHARMA_REGISTRATION_KEY, r#"{}"#),
    ] {
        let r = register(port, DEFAULT_OMS_ID, key, body, None);
        assert_eq!(r.status, 200, "{what}: {r:?}");
        let v = r.json();
        assert_eq!(v["status"], "REJECTED", "{what}");
        assert!(
            !v["rejectionReason"].as_str().unwrap_or("").is_empty(),
            "{what}: {v}"
        );
        assert!(v.get("omsConnection").is_none(), "{what}: {v}");
    }

    let r = register(port, &stranger, PHARMA_REGISTRATION_KEY, body, None);
    assert_eq!(r.status, 400, "{r:?}");
    let v = r.json();
    assert_eq!(v["success"], false);
    assert!(!v["globalErrors"].as_array().unwrap().is_empty(), "{v}");

    let other = sign(ec(), br#"{"address":"elsewhere"}"#, false);
    let r = register(
        port,
        DEFAULT_OMS_ID,
        DEMO_REGISTRATION_KEY,
        body,
        Some(&other),
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert!(!r.json()["globalErrors"].as_array().unwrap().is_empty());
    let r = register(port, DEFAULT_OMS_ID, DEMO_REGISTRATION_KEY, body, None);
    assert_eq!(r.status, 400, "the signed key needs X-Signature: {r:?}");

    let mut seen = vec![DEFAULT_OMS_CONNECTION.to_uppercase()];
    for (key, sig) in [
        (DEMO_REGISTRATION_KEY, Some(sig.as_str())),
        (PHARMA_REGISTRATION_KEY, None),
    ] {
        let r = register(port, DEFAULT_OMS_ID, key, body, sig);
        assert_eq!(r.status, 200, "{r:?}");
        let v = r.json();
        assert_eq!(v["status"], "SUCCESS");
        let connection = v["omsConnection"].as_str().unwrap().to_owned();
        assert_eq!(connection, connection.to_uppercase());
        assert!(uuid::Uuid::parse_str(&connection).is_ok(), "{connection}");
        assert!(!seen.contains(&connection), "new: {connection}");
        seen.push(connection.clone());
        let token = password_token(port, &connection);
        assert_eq!(ping(port, &token).status, 200);
    }
}

/// Claim: `suz.ping` refuses a revoked, an expired and an unknown token with 401, saying which.
#[test]
fn ping_says_revoked_expired_or_unknown() {
    let emu = start_default();
    let port = emu.port();
    let first = password_token(port, DEFAULT_OMS_CONNECTION);
    assert_eq!(ping(port, &first).status, 200);
    let second = password_token(port, DEFAULT_OMS_CONNECTION);
    assert_eq!(ping(port, &second).status, 200);

    settings(port, json!({"mdlp_life_time_minutes": 0.0005})); // 30 ms
    let short = password_token(port, DEFAULT_OMS_CONNECTION);
    std::thread::sleep(Duration::from_millis(60));

    let message = |token: &str| {
        let r = ping(port, token);
        assert_eq!(r.status, 401, "{r:?}");
        r.json()["globalErrors"][0]["error"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let revoked = message(&first);
    let expired = message(&short);
    let unknown = message("0123456789abcdef0123456789abcdef");
    assert_eq!(revoked, "the clientToken was revoked by a newer token");
    assert_eq!(expired, "the clientToken has expired");
    assert_eq!(unknown, "unknown clientToken");
    let r = call(
        port,
        "GET",
        &format!("/suz/api/v2/pharma/ping?omsId={DEFAULT_OMS_ID}"),
        &[],
        "",
    );
    r.refused(401, "clientToken is missing");
}

/// Claim: `trueapi.token` and `gismt.token` refuse an `inn` that is not 10 or 12 digits and
/// accept one that is (`last_inn` reports it; the test certificate carries no INN to compare).
#[test]
fn inn_must_be_10_or_12_digits() {
    let emu = start_default();
    let port = emu.port();
    let attempt = |svc: Svc, inn: Value| {
        let (uuid, data) = challenge(port, svc);
        let body = json!({"uuid": uuid, "data": sign(ec(), data.as_bytes(), true), "inn": inn});
        sign_in(port, svc, DEFAULT_OMS_CONNECTION, body)
    };
    for inn in [
        json!("123456789"),
        json!("12345678901"),
        json!("1234567890123"),
        json!("12345678a0"),
        json!("12345 7890"),
        json!(""),
        json!(1234567890),
    ] {
        for svc in [Svc::TrueApi, Svc::Gismt] {
            attempt(svc, inn.clone()).refused(400, "inn must be 10 or 12 digits");
        }
    }
    for svc in [Svc::TrueApi, Svc::Gismt] {
        for inn in ["1234567890", "123456789012"] {
            let r = attempt(svc, json!(inn));
            assert_eq!(r.status, 200, "{svc:?} {inn}: {r:?}");
            assert_eq!(emu.stats()["last_inn"], inn);
        }
        assert_eq!(attempt(svc, Value::Null).status, 200);
    }
}

/// Claim: SmartMarket `expires_at` is absolute, in milliseconds, now + the lifetime; in seconds
/// with `smartmarket_expires_in_seconds`; `smartmarket_token_ttl_ms` changes it.
#[test]
fn smartmarket_expires_at_is_absolute_ms_or_seconds() {
    let emu = start_default();
    let port = emu.port();
    let within = |ttl: u64, seconds: bool| {
        let before = now_ms();
        let e = expires_at(port);
        let after = now_ms();
        let (lo, hi) = if seconds {
            ((before + ttl) / 1000, (after + ttl) / 1000)
        } else {
            (before + ttl, after + ttl)
        };
        assert!((lo..=hi).contains(&e), "expires_at {e} not in {lo}..={hi}");
    };
    within(30 * 60 * 1000, false);
    settings(port, json!({"smartmarket_token_ttl_ms": 5000}));
    within(5000, false);
    settings(port, json!({"smartmarket_expires_in_seconds": true}));
    within(5000, true);
    settings(
        port,
        json!({"smartmarket_expires_in_seconds": false, "smartmarket_token_ttl_ms": 120_000}),
    );
    within(120_000, false);
}

/// Claim: `RqUID` must be 32 hex digits (what the Sber page asks) or a UUID in its canonical
/// 36-character form (the page's own example, and what the library sends); nothing else —
/// hyphens elsewhere are refused.
#[test]
fn rquid_must_be_32_hex_digits_or_a_uuid() {
    let emu = start_default();
    let port = emu.port();
    let token = oauth(port, RQUID).json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {token}");
    let push = |rquid: &str| {
        call(
            port,
            "POST",
            "/smartmarket/api/v2/smartpush/apprequest",
            &[
                ("Authorization", &bearer),
                ("RqUID", rquid),
                ("Content-Type", "application/json"),
            ],
            r#"{"requestPayload":{"a":1}}"#,
        )
    };
    for good in [
        RQUID,
        "6F0B1291C7F343C6BB2E9F3EFB2DC98E",
        "6f0b1291-c7f3-43c6-bb2e-9f3efb2dc98e",
        "6F0B1291-C7F3-43C6-BB2E-9F3EFB2DC98E",
    ] {
        let r = oauth(port, good);
        assert_eq!(r.status, 200, "{good}: {r:?}");
        assert_eq!(r.header("RqUID"), Some(good));
        assert_eq!(push(good).status, 200, "{good}");
    }
    for bad in [
        "",
        "6f0b1291c7f343c6bb2e9f3efb2dc98",
        "6f0b1291c7f343c6bb2e9f3efb2dc98e0",
        "6f0b1291c7f343c6bb2e9f3efb2dc98g",
        "6f0b1291-c7f3-43c6-bb2e-9f3efb2dc98",
        "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
        "6f-0b-1291c7f343c6bb2e9f3efb2dc98e----",
        "6f0b1291c7f3-43c6-bb2e-9f3efb2dc98e",
        "6f0b1291-c7f3-43c6-bb2e-9f3efb2dc98e-",
        "{6f0b1291-c7f3-43c6-bb2e-9f3efb2dc98e}",
        "6f0b1291c-7f3-43c6-bb2e-9f3efb2dc98e",
    ] {
        let rule = "RqUID must be 32 hexadecimal digits or a UUID (8-4-4-4-12)";
        let r = oauth(port, bad);
        assert_eq!(r.status, 400, "{bad}: {r:?}");
        assert_eq!(r.json(), json!({"code": 400, "message": rule}));
        let r = push(bad);
        assert_eq!(r.status, 400, "{bad}: {r:?}");
        assert_eq!(r.json()["errors"][0]["message"], rule);
    }
    assert_eq!(emu.stats()["smartmarket_tokens_issued"], 5);
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// Claims: `gismt.key` (and `trueapi.key`) `data` is 30 random capital letters with a fresh
/// uuid each time; `smartpush.apprequest` answers `timestamp` as RFC 3339 UTC with
/// microseconds (`2021-04-07T16:08:18.092759Z`) at the current time, and echoes the payload.
#[test]
fn challenge_letters_and_smartpush_timestamp() {
    let emu = start_default();
    let port = emu.port();
    let mut seen = std::collections::HashSet::new();
    for svc in [Svc::Gismt, Svc::TrueApi] {
        for _ in 0..10 {
            let (uuid, data) = challenge(port, svc);
            assert_eq!(data.len(), 30, "{data}");
            assert!(data.bytes().all(|b| b.is_ascii_uppercase()), "{data}");
            assert!(uuid::Uuid::parse_str(&uuid).is_ok(), "{uuid}");
            assert!(seen.insert(data), "a repeated challenge");
            assert!(seen.insert(uuid), "a repeated uuid");
        }
    }

    let token = oauth(port, RQUID).json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = now_ms();
    let r = call(
        port,
        "POST",
        "/smartmarket/api/v2/smartpush/apprequest",
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("RqUID", RQUID),
            ("Content-Type", "application/json"),
        ],
        r#"{"requestPayload":{"devices":["a"],"n":1}}"#,
    );
    let after = now_ms();
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    assert_eq!(v["requestId"], RQUID);
    assert_eq!(v["payload"]["echo"], json!({"devices": ["a"], "n": 1}));
    assert!(!v["responseId"].as_str().unwrap().is_empty());
    let ts = v["timestamp"].as_str().unwrap();
    let b = ts.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> i64 {
        assert!(b[r.clone()].iter().all(u8::is_ascii_digit), "{ts}");
        ts[r].parse().unwrap()
    };
    assert_eq!(b.len(), 27, "{ts}");
    for (i, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ] {
        assert_eq!(b[i], c, "{ts}");
    }
    let days = days_from_civil(digits(0..4), digits(5..7), digits(8..10));
    let secs = days * 86_400 + digits(11..13) * 3600 + digits(14..16) * 60 + digits(17..19);
    let ms = (secs * 1000 + digits(20..26) / 1000) as u64;
    assert!((before..=after).contains(&ms), "{ts} is not now");
}

/// Claims: `/admin/stats` counts tokens (`tokens_issued` per connection and in total),
/// SmartMarket tokens, verified and refused signatures, and lists live tokens masked: the full
/// token never appears.
#[test]
fn admin_stats_counts_and_masks() {
    let emu = start_default();
    let port = emu.port();
    let c = DEFAULT_OMS_CONNECTION;
    let s = stats(port);
    assert_eq!(s["tokens_issued_total"], 0);
    assert_eq!(s["live_tokens"], json!({}));

    password_token(port, c);
    let gismt = signed_token(port, Svc::Gismt, c, ec());
    let r = register(
        port,
        DEFAULT_OMS_ID,
        PHARMA_REGISTRATION_KEY,
        r#"{"address":"x"}"#,
        None,
    );
    let other = r.json()["omsConnection"].as_str().unwrap().to_owned();
    let trueapi = signed_token(port, Svc::TrueApi, &other, ec());
    let (uuid, _) = challenge(port, Svc::Gismt);
    let bad = json!({"uuid": uuid, "data": sign(ec(), b"not the challenge", true)});
    sign_in(port, Svc::Gismt, c, bad).refused(401, "other content than the challenge");
    assert_eq!(oauth(port, RQUID).status, 200);
    assert_eq!(oauth(port, RQUID).status, 200);
    assert_eq!(oauth(port, "bad").status, 400);

    let r = call(port, "GET", "/admin/stats", &[], "");
    let s = r.json();
    assert_eq!(s["tokens_issued_total"], 3);
    let other_lc = other.to_lowercase();
    assert_eq!(s["tokens_issued"], json!({c: 2, other_lc.as_str(): 1}));
    assert_eq!(s["smartmarket_tokens_issued"], 2);
    assert_eq!(s["signatures_verified"], 2);
    assert_eq!(s["signatures_refused"], 1);
    let live = s["live_tokens"].as_object().unwrap();
    assert_eq!(live.len(), 2, "{s}");
    for (connection, token) in [(c, &gismt), (other_lc.as_str(), &trueapi)] {
        assert_eq!(live[connection], format!("{}…", &token[..4]), "{s}");
        assert!(
            !r.body.contains(token.as_str()),
            "the full token is in {}",
            r.body
        );
        assert!(
            !r.body.contains(&token[..8]),
            "too much of the token is in {}",
            r.body
        );
    }
}

/// Claims: a fault with `times: N` applies to the next N requests then stops; `times: 0` until
/// cleared; kind `html` defaults to 502; kind `delay` then answers normally; `content_type` sets
/// the Content-Type header; `retry_after` adds the header; `DELETE /admin/faults` clears queued
/// faults.
#[test]
fn faults_times_kinds_headers_and_clearing() {
    let emu = start_default();
    let port = emu.port();
    let key = |svc: Svc| call(port, "GET", svc.key_path(), &[], "");

    fault(
        port,
        json!({"endpoint": "gismt.key", "status": 503, "times": 3}),
    );
    for i in 0..3 {
        assert_eq!(key(Svc::Gismt).status, 503, "request {i}");
    }
    assert_eq!(key(Svc::Gismt).status, 200, "after 3");

    fault(port, json!({"endpoint": "gismt.key", "kind": "html"}));
    let r = key(Svc::Gismt);
    assert_eq!(r.status, 502);
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    assert!(r.body.contains("<html>"), "{r:?}");
    fault(
        port,
        json!({"endpoint": "gismt.key", "kind": "html", "status": 504}),
    );
    assert_eq!(key(Svc::Gismt).status, 504);

    fault(
        port,
        json!({"endpoint": "gismt.key", "kind": "delay", "delay_ms": 300}),
    );
    let t = Instant::now();
    let r = key(Svc::Gismt);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["data"].as_str().unwrap().len(), 30);

    fault(
        port,
        json!({"endpoint": "gismt.key", "status": 429, "body": "slow down",
               "content_type": "text/plain; charset=utf-8", "retry_after": 7}),
    );
    let r = key(Svc::Gismt);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("Retry-After"), Some("7"));
    assert_eq!(r.body, "slow down");

    fault(
        port,
        json!({"endpoint": "gismt.key", "status": 500, "times": 0}),
    );
    fault(
        port,
        json!({"endpoint": "trueapi.key", "status": 500, "times": 5}),
    );
    for _ in 0..5 {
        assert_eq!(key(Svc::Gismt).status, 500);
    }
    assert_eq!(key(Svc::TrueApi).status, 500);
    admin(port, "DELETE", "/admin/faults", Value::Null);
    assert_eq!(key(Svc::Gismt).status, 200);
    assert_eq!(key(Svc::TrueApi).status, 200);
}

/// Claims: `POST /admin/revoke {"all": true}` revokes every live token; `{"omsConnection"}`
/// only that connection's.
#[test]
fn admin_revoke_one_or_all() {
    let second = uuid::Uuid::new_v4().to_string();
    let mut config = config();
    config.oms_connections.push(second.clone());
    let emu = start(config);
    let port = emu.port();
    let a = password_token(port, DEFAULT_OMS_CONNECTION);
    let b = password_token(port, &second);
    assert_eq!(ping(port, &a).status, 200);
    assert_eq!(ping(port, &b).status, 200);

    let v = admin(
        port,
        "POST",
        "/admin/revoke",
        json!({"omsConnection": second}),
    );
    assert_eq!(v["revoked"], 1);
    assert_eq!(ping(port, &a).status, 200);
    ping(port, &b).refused(401, "revoked");

    let b = password_token(port, &second);
    let v = admin(port, "POST", "/admin/revoke", json!({"all": true}));
    assert_eq!(v["revoked"], 2);
    ping(port, &a).refused(401, "revoked");
    ping(port, &b).refused(401, "revoked");
    assert_eq!(emu.stats()["live_tokens"], json!({}));
}

/// Polls `ping` until it refuses the token as expired (bounded).
fn assert_expires(port: u16, token: &str) {
    let deadline = Instant::now() + Duration::from_millis(800);
    loop {
        let r = ping(port, token);
        if r.status == 401 {
            r.refused(401, "the clientToken has expired");
            return;
        }
        assert!(Instant::now() < deadline, "still valid: {r:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Claim: `/admin/settings` `gismt_token_ttl_ms` and `trueapi_token_ttl_ms` change each flow's
/// token lifetime (and only its own).
#[test]
fn admin_settings_change_token_lifetimes() {
    let second = uuid::Uuid::new_v4().to_string();
    let mut config = config();
    config.oms_connections.push(second.clone());
    let emu = start(config);
    let port = emu.port();

    settings(port, json!({"gismt_token_ttl_ms": 40}));
    let gismt = signed_token(port, Svc::Gismt, DEFAULT_OMS_CONNECTION, ec());
    let trueapi = signed_token(port, Svc::TrueApi, &second, ec());
    assert_expires(port, &gismt);
    assert_eq!(ping(port, &trueapi).status, 200, "True API keeps 10 hours");

    settings(
        port,
        json!({"trueapi_token_ttl_ms": 40, "gismt_token_ttl_ms": 36_000_000}),
    );
    let trueapi = signed_token(port, Svc::TrueApi, &second, ec());
    let gismt = signed_token(port, Svc::Gismt, DEFAULT_OMS_CONNECTION, ec());
    assert_expires(port, &trueapi);
    assert_eq!(ping(port, &gismt).status, 200, "GIS MT back to 10 hours");
}

/// Claim: `POST /admin/reset` forgets tokens, challenges, MDLP codes, faults, registered
/// connections and counters.
#[test]
fn admin_reset_forgets_everything() {
    let emu = start_default();
    let port = emu.port();
    let token = password_token(port, DEFAULT_OMS_CONNECTION);
    let revoked = token.clone();
    let token = {
        let t = password_token(port, DEFAULT_OMS_CONNECTION);
        assert_eq!(ping(port, &t).status, 200);
        assert_ne!(t, revoked);
        t
    };
    let (uuid, data) = challenge(port, Svc::Gismt);
    let signed = json!({"uuid": uuid, "data": sign(ec(), data.as_bytes(), true)});
    let code = mdlp_code(port, "PASSWORD", MDLP_PASSWORD_USER);
    let r = register(
        port,
        DEFAULT_OMS_ID,
        PHARMA_REGISTRATION_KEY,
        r#"{"address":"x"}"#,
        None,
    );
    let registered = r.json()["omsConnection"].as_str().unwrap().to_owned();
    let sm = oauth(port, RQUID).json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    fault(
        port,
        json!({"endpoint": "trueapi.key", "status": 503, "times": 0}),
    );

    admin(port, "POST", "/admin/reset", Value::Null);

    ping(port, &token).refused(401, "unknown clientToken");
    ping(port, &revoked).refused(401, "unknown clientToken");
    sign_in(port, Svc::Gismt, DEFAULT_OMS_CONNECTION, signed)
        .refused(401, "challenge unknown or already used");
    let body = json!({"code": code, "password": MDLP_PASSWORD});
    mdlp_token(port, DEFAULT_OMS_CONNECTION, body)
        .refused(401, "the code is unknown or already used");
    let body = json!({"code": "x", "password": MDLP_PASSWORD});
    mdlp_token(port, &registered, body).refused(400, "unknown omsConnection");
    let r = call(
        port,
        "POST",
        "/smartmarket/api/v2/smartpush/apprequest",
        &[
            ("Authorization", &format!("Bearer {sm}")),
            ("RqUID", RQUID),
            ("Content-Type", "application/json"),
        ],
        r#"{"requestPayload":{}}"#,
    );
    r.refused(401, "unknown token");
    assert_eq!(
        call(port, "GET", Svc::TrueApi.key_path(), &[], "").status,
        200
    );

    let s = stats(port);
    assert_eq!(s["tokens_issued_total"], 0);
    assert_eq!(s["smartmarket_tokens_issued"], 0);
    assert_eq!(s["signatures_refused"], 0);
    assert_eq!(s["live_tokens"], json!({}));
    // Only what was asked since the reset.
    assert_eq!(s["requests"]["trueapi.key"], 1, "{s}");
    assert!(s["requests"].get("mdlp.auth").is_none(), "{s}");
    // The configured connection is still there.
    password_token(port, DEFAULT_OMS_CONNECTION);
}

/// Claim: SIGNED_CODE's `user_id` must be the signer certificate's serial (decimal) or SHA-1
/// thumbprint (any case); PASSWORD takes only the known user.
#[test]
fn mdlp_signed_code_user_id_is_the_signers_serial_or_thumbprint() {
    let emu = start_default();
    let port = emu.port();
    let fingerprint = text(&openssl(
        Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha1", "-in"])
            .arg(&ec().cert),
    ));
    let thumbprint = fingerprint
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "");
    assert_eq!(thumbprint.len(), 40, "{fingerprint}");
    for user in [
        SERIAL.to_owned(),
        thumbprint.clone(),
        thumbprint.to_lowercase(),
    ] {
        let code = mdlp_code(port, "SIGNED_CODE", &user);
        let body = json!({"code": code, "signature": sign(ec(), code.as_bytes(), false)});
        let r = mdlp_token(port, DEFAULT_OMS_CONNECTION, body);
        assert_eq!(r.status, 200, "{user}: {r:?}");
        assert_eq!(ping(port, r.json()["token"].as_str().unwrap()).status, 200);
    }
    for user in [
        "1865725613",
        "6f34b6ac",
        "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
        "nonresident@example.com",
    ] {
        let code = mdlp_code(port, "SIGNED_CODE", user);
        let body = json!({"code": code, "signature": sign(ec(), code.as_bytes(), false)});
        let r = mdlp_token(port, DEFAULT_OMS_CONNECTION, body);
        assert_eq!(r.status, 401, "{user}: {r:?}");
        assert_eq!(r.json()["error_code"], "7", "{user}");
        assert!(r.body.contains("is neither the serial"), "{r:?}");
    }
    let body = json!({"client_id": MDLP_CLIENT_ID, "client_secret": MDLP_CLIENT_SECRET,
                      "user_id": "someone@example.org", "auth_type": "PASSWORD"});
    post_json(port, "/mdlp/api/v1/auth", &body).refused(401, "unknown user");
}
