//! Every result code, produced through the C ABI, with the details readable afterwards.

use std::ffi::c_char;
use std::ptr;
use std::time::{Duration, Instant};

use crate::common::*;
use suz_auth::*;

#[test]
fn null_arguments() {
    needs_gost!();
    let mut client = ptr::null_mut();
    assert_eq!(
        unsafe { suz_client_new(ptr::null(), &mut client) },
        SuzResult::NullArgument
    );
    assert!(last_message().contains("config_json"), "{}", last_message());
    let json = c(r#"{"stand":"demo"}"#);
    assert_eq!(
        unsafe { suz_client_new(json.as_ptr(), ptr::null_mut()) },
        SuzResult::NullArgument
    );

    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let mut token = ptr::null_mut();
    let rc = unsafe { suz_get_token_gismt(client.0, ptr::null(), ptr::null(), &mut token) };
    assert_eq!(rc, SuzResult::NullArgument);
    assert!(last_message().contains("oms_connection"));
    let rc = unsafe { suz_get_token_gismt(ptr::null(), ptr::null(), ptr::null(), &mut token) };
    assert_eq!(rc, SuzResult::NullArgument);
    assert!(token.is_null());
    let rc = unsafe { suz_signer_new_callback(None, ptr::null_mut(), None, &mut ptr::null_mut()) };
    assert_eq!(rc, SuzResult::NullArgument);
    // The _free functions and getters take NULL.
    unsafe {
        suz_client_free(ptr::null_mut());
        suz_token_free(ptr::null_mut());
        suz_signer_free(ptr::null_mut());
        suz_pending_free(ptr::null_mut());
        suz_string_free(ptr::null_mut());
        assert!(suz_token_value(ptr::null()).is_null());
        assert_eq!(suz_pending_kind(ptr::null()), 0);
    }
}

#[test]
fn invalid_utf8() {
    let bad = b"{\"stand\":\"\xff\xfe\"}\0";
    let mut client = ptr::null_mut();
    let rc = unsafe { suz_client_new(bad.as_ptr().cast::<c_char>(), &mut client) };
    assert_eq!(rc, SuzResult::InvalidUtf8);
    assert!(client.is_null());
    assert_eq!(
        last_message(),
        "argument `config_json` is not valid UTF-8 (bad byte at offset 10)"
    );
}

/// Runs `suz token push` (a SmartMarket profile: no signer needed) for the emulator with `extra`
/// config members and environment `env`; returns whether it succeeded and its stderr.
fn cli_token(emu: &suz_emulator::Emulator, extra: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("suz-cli-env-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("suz.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"stand": "emulator", "emulator_url": "{}", "cache": {{"dir": {}}},
                "retry": {{"max_attempts": 1}},
                "profiles": {{"push": {{"flow": "smartmarket", "client_id": "{SMARTMARKET_CLIENT_ID}",
                                       "client_secret": "{SMARTMARKET_CLIENT_SECRET}"}}}}{extra}}}"#,
            emu.base_url(),
            serde_json::to_string(&dir.join("cache")).unwrap()
        ),
    )
    .unwrap();
    let mut command = std::process::Command::new(suz_cli());
    command.arg("--config").arg(&config).args(["token", "push"]);
    for var in [
        "ALL_PROXY",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "NO_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ] {
        command.env_remove(var).env_remove(var.to_ascii_lowercase());
    }
    let out = command.envs(env.iter().copied()).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn proxy_env_reads_the_environment() {
    let emu = emulator();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let proxy = r#","proxy":"env""#;
    assert_eq!(
        cli_token(&emu, proxy, &[]),
        (true, String::new()),
        "no proxy variable: direct"
    );
    let (ok, stderr) = cli_token(&emu, proxy, &[("ALL_PROXY", &closed)]);
    assert!(
        !ok && stderr.starts_with("suz: SUZ_RESULT_CONNECT: "),
        "through the dead proxy: {stderr}"
    );
    let (ok, stderr) = cli_token(&emu, "", &[("ALL_PROXY", &closed)]);
    assert!(
        ok,
        "without \"proxy\": \"env\" the variable is ignored: {stderr}"
    );
}

#[test]
fn platform_roots_are_the_os_store_and_webpki_roots_are_built_in() {
    let emu = start_emulator(suz_emulator::EmulatorConfig {
        tls: true,
        ..Default::default()
    });
    let dir = std::env::temp_dir().join(format!("suz-roots-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, emu.ca_pem().unwrap()).unwrap();
    let ca = ca.to_str().unwrap();
    // The OS store here is the file OpenSSL and the platform verifier read: SSL_CERT_FILE.
    for (roots, env, trusted) in [
        ("", vec![("SSL_CERT_FILE", ca)], true),
        (
            r#","tls":{"roots":"platform"}"#,
            vec![("SSL_CERT_FILE", ca)],
            true,
        ),
        (r#","tls":{"roots":"platform"}"#, vec![], false),
        (
            r#","tls":{"roots":"webpki"}"#,
            vec![("SSL_CERT_FILE", ca)],
            false,
        ),
    ] {
        let (ok, stderr) = cli_token(&emu, roots, &env);
        assert_eq!(ok, trusted, "{roots} {env:?}: {stderr}");
        if !trusted {
            assert!(stderr.starts_with("suz: SUZ_RESULT_TLS: "), "{stderr}");
        }
    }
}

#[test]
fn invalid_arguments() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let signer = TestSigner::new(SignMode::Correct);
    assert_eq!(
        gismt(&client, "not-a-uuid", signer.0).unwrap_err(),
        SuzResult::InvalidArgument
    );
    assert!(last_message().contains("UUID"), "{}", last_message());
    assert_eq!(
        trueapi(&client, DEFAULT_OMS_CONNECTION, Some("12ab"), signer.0).unwrap_err(),
        SuzResult::InvalidArgument
    );
    // No signer passed and none configured.
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, ptr::null()).unwrap_err(),
        SuzResult::InvalidArgument
    );
    // SmartPush body that is not JSON.
    let (token, body) = (c("abc"), c("not json"));
    let mut out: *mut c_char = ptr::null_mut();
    let rc = unsafe { suz_smartpush_request(client.0, token.as_ptr(), body.as_ptr(), &mut out) };
    assert_eq!(rc, SuzResult::InvalidArgument);
    // A registration pending operation finished as a token.
    let (oms, key, address) = (c(DEFAULT_OMS_ID), c(DEMO_REGISTRATION_KEY), c("x"));
    let mut pending = ptr::null_mut();
    unsafe {
        suz_register_begin(
            client.0,
            oms.as_ptr(),
            key.as_ptr(),
            address.as_ptr(),
            &mut pending,
        )
    };
    let sig = openssl_sign(b"x", false);
    let mut token = ptr::null_mut();
    let rc =
        unsafe { suz_pending_finish_token(client.0, pending, sig.as_ptr(), sig.len(), &mut token) };
    assert_eq!(rc, SuzResult::InvalidArgument);
    unsafe { suz_pending_free(pending) };
    assert_eq!(
        stats(&emu)["requests"]["gismt.key"].as_u64().unwrap_or(0),
        0,
        "nothing was sent"
    );
}

#[test]
fn config_errors_name_the_key() {
    needs_gost!();
    let cases = [
        (r#"{"stand":"demo","timeout":{"total_ms":5}}"#, "timeout"),
        (
            r#"{"stand":"demo","timeouts":{"total_ms":"5"}}"#,
            "timeouts.total_ms",
        ),
        (r#"{"stand":"demo","urls":{"gizmt":"demo"}}"#, "gizmt"),
        (r#"{"stand":"staging"}"#, "stand"),
        (r#"{"stand":"demo","urls":{"suz":"ftp://x"}}"#, "urls.suz"),
        (
            r#"{"stand":"demo","tls":{"extra_roots_pem":"/nonexistent.pem"}}"#,
            "tls.extra_roots_pem",
        ),
        ("{not json", "config"),
    ];
    for (json, key) in cases {
        let json = c(json);
        let mut client = ptr::null_mut();
        assert_eq!(
            unsafe { suz_client_new(json.as_ptr(), &mut client) },
            SuzResult::Config
        );
        assert!(client.is_null());
        assert!(last_message().contains(key), "{key}: {}", last_message());
    }
    // A service with no URL configured.
    let client = TestClient::new(r#"{"urls":{"smartmarket":"http://127.0.0.1:9"}}"#);
    let signer = TestSigner::new(SignMode::Correct);
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, signer.0).unwrap_err(),
        SuzResult::Config
    );
    assert!(last_message().contains("urls.gismt"), "{}", last_message());
}

#[test]
fn connect_error_on_a_closed_port() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = TestClient::new(&format!(
        r#"{{"stand":"emulator","emulator_url":"http://127.0.0.1:{port}","retry":{{"max_attempts":2,"backoff_ms":10}}}}"#
    ));
    assert_eq!(
        smartmarket(&client, "x", None).unwrap_err(),
        SuzResult::Connect
    );
    assert!(last_message().contains("POST"), "{}", last_message());
}

#[test]
fn cut_connection_is_a_connect_error_and_truncated_body_a_protocol_error() {
    let emu = emulator();
    let client = TestClient::with_extra(&emu, r#","retry":{"max_attempts":1}"#);
    fault(&emu, r#"{"endpoint":"smartmarket.oauth","kind":"cut"}"#);
    assert_eq!(
        smartmarket(&client, SMARTMARKET_CLIENT_SECRET, None).unwrap_err(),
        SuzResult::Connect
    );
    fault(
        &emu,
        r#"{"endpoint":"smartmarket.oauth","kind":"truncated"}"#,
    );
    assert_eq!(
        smartmarket(&client, SMARTMARKET_CLIENT_SECRET, None).unwrap_err(),
        SuzResult::Protocol
    );
    // The next call goes through.
    smartmarket(&client, SMARTMARKET_CLIENT_SECRET, None)
        .unwrap_or_else(|_| panic!("{}", last_message()));
}

#[test]
fn timeout_is_bounded_by_the_total_timeout() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::new(&format!(
        r#"{{"stand":"emulator","emulator_url":"{}","timeouts":{{"connect_ms":500,"total_ms":700}},"retry":{{"max_attempts":1}}}}"#,
        emu.base_url()
    ));
    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"delay","delay_ms":3000}"#,
    );
    let signer = TestSigner::new(SignMode::Correct);
    let started = Instant::now();
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, signer.0).unwrap_err(),
        SuzResult::Timeout
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "the call outlived its timeout: {took:?}"
    );
}

#[test]
fn tls_error_for_an_untrusted_server() {
    let emu = start_emulator(suz_emulator::EmulatorConfig {
        tls: true,
        ..Default::default()
    });
    let client = TestClient::with_extra(&emu, r#","tls":{"roots":"webpki"}"#);
    assert_eq!(
        smartmarket(&client, SMARTMARKET_CLIENT_SECRET, None).unwrap_err(),
        SuzResult::Tls
    );
}

#[test]
fn http_status_families_carry_the_server_fields() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::with_extra(&emu, r#","retry":{"max_attempts":1}"#);
    let signer = TestSigner::new(SignMode::Correct);

    // 401 with the Sber {code,message} shape.
    assert_eq!(
        smartmarket(&client, "wrong secret", None).unwrap_err(),
        SuzResult::Unauthorized
    );
    assert_eq!(suz_last_http_status(), 401);
    assert!(
        uuid::Uuid::parse_str(&text(suz_last_rquid())).is_ok(),
        "RqUID is reported"
    );

    // 401 with the MDLP {error_code,error_description} shape.
    let err = mdlp(
        &client,
        DEFAULT_OMS_CONNECTION,
        "wrong",
        "1865725612",
        None,
        signer.0,
    )
    .unwrap_err();
    assert_eq!(err, SuzResult::Unauthorized);
    assert!(!text(suz_last_server_code()).is_empty());
    assert!(!text(suz_last_server_message()).is_empty());

    // 400 with the Sber shape: a scope the service refuses.
    assert_eq!(
        smartmarket(&client, SMARTMARKET_CLIENT_SECRET, Some("bad scope!")).unwrap_err(),
        SuzResult::HttpClientError
    );
    assert_eq!(
        text(suz_last_server_code()),
        "1",
        "Sber's code for a malformed scope"
    );

    // 400 with the SUZ {globalErrors} shape: an unknown omsId.
    let unknown_oms = "99999999-9999-4999-8999-999999999999";
    let rc = register_in(
        &client,
        unknown_oms,
        DEMO_REGISTRATION_KEY,
        "x",
        false,
        signer.0,
    );
    assert_eq!(rc.unwrap_err(), SuzResult::HttpClientError);
    assert!(
        !text(suz_last_server_message()).is_empty(),
        "{}",
        last_message()
    );

    // 401 with the GIS MT {code,error_message,description} shape: a detached signature over
    // other bytes gets the challenge embedded, and the server's digest check fails.
    let bad = TestSigner::new(SignMode::DetachedOtherContent);
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, bad.0).unwrap_err(),
        SuzResult::Unauthorized
    );
    assert!(!text(suz_last_server_message()).is_empty());

    // SmartPush's {errors:[{key,message}]} shape.
    let (token, body) = (c("expired-or-unknown"), c(r#"{"requestPayload":{}}"#));
    let mut out: *mut c_char = ptr::null_mut();
    let rc = unsafe { suz_smartpush_request(client.0, token.as_ptr(), body.as_ptr(), &mut out) };
    assert_eq!(rc, SuzResult::Unauthorized);
    assert_eq!(text(suz_last_server_code()), "UNAUTHORIZED");

    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"status","status":413}"#,
    );
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, signer.0).unwrap_err(),
        SuzResult::PayloadTooLarge
    );

    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"status","status":429,"retry_after":7}"#,
    );
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, signer.0).unwrap_err(),
        SuzResult::TooManyRequests
    );
    assert_eq!(suz_last_retry_after_ms(), 7000);
    assert_eq!(suz_last_http_status(), 429);

    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"status","status":404}"#,
    );
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, signer.0).unwrap_err(),
        SuzResult::HttpClientError
    );

    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"status","status":500,"body":"{\"code\":\"E1\",\"error_message\":\"db down\"}"}"#,
    );
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, signer.0).unwrap_err(),
        SuzResult::HttpServerError
    );
    assert_eq!(text(suz_last_server_code()), "E1");
    assert_eq!(text(suz_last_server_message()), "db down");
}

#[test]
fn retries_honour_retry_after_for_repeatable_requests() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::with_extra(&emu, r#","retry":{"max_attempts":3,"backoff_ms":10}"#);
    let signer = TestSigner::new(SignMode::Correct);
    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"status","status":503,"retry_after":1}"#,
    );
    let started = Instant::now();
    gismt(&client, DEFAULT_OMS_CONNECTION, signer.0)
        .unwrap_or_else(|_| panic!("{}", last_message()));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for Retry-After"
    );
    assert_eq!(stats(&emu)["requests"]["gismt.key"], 2);
}

#[test]
fn protocol_errors_for_html_and_non_json() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::with_extra(&emu, r#","retry":{"max_attempts":1}"#);
    let signer = TestSigner::new(SignMode::Correct);
    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"html","status":200}"#,
    );
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, signer.0).unwrap_err(),
        SuzResult::Protocol
    );
    assert!(last_message().contains("HTML"), "{}", last_message());
    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"html","status":502}"#,
    );
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, signer.0).unwrap_err(),
        SuzResult::HttpServerError
    );
    assert!(last_message().contains("HTML"), "{}", last_message());
    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"empty","status":200}"#,
    );
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, signer.0).unwrap_err(),
        SuzResult::Protocol
    );
    fault(
        &emu,
        r#"{"endpoint":"gismt.token","kind":"status","status":200,"body":"{\"nothing\":1}"}"#,
    );
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, signer.0).unwrap_err(),
        SuzResult::Protocol
    );
    assert!(last_message().contains("token"), "{}", last_message());
}

#[test]
fn registration_rejected() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let signer = TestSigner::new(SignMode::Correct);
    let rc = register(
        &client,
        "11111111-1111-4111-8111-111111111111",
        "Склад",
        false,
        signer.0,
    )
    .unwrap_err();
    assert_eq!(rc, SuzResult::RegistrationRejected);
    assert!(last_message().contains("rejected"));
}

#[test]
fn signer_failures() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let failing = TestSigner::new(SignMode::Fail);
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, failing.0).unwrap_err(),
        SuzResult::SignerFailed
    );
    assert!(last_message().contains("PIN"), "{}", last_message());
    let garbage = TestSigner::new(SignMode::Garbage);
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, garbage.0).unwrap_err(),
        SuzResult::SignerFailed
    );
    // Garbage never reaches the server.
    assert_eq!(
        stats(&emu)["requests"]["gismt.token"].as_u64().unwrap_or(0),
        0
    );
}

/// A signer that hands back its certificate or its private key instead of a signature (a
/// misconfigured command, a callback that returns the wrong file): the flow is a signer error
/// naming what came back, and those bytes go nowhere — not to the server, not into the error
/// message, not into the log.
#[test]
fn a_certificate_or_a_private_key_from_the_signer_is_never_sent() {
    needs_gost!();
    use base64::Engine;
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let b64 = |path| base64::engine::general_purpose::STANDARD.encode(pem_body(path));
    let (cert_b64, key_b64) = (b64(&gost().cert), b64(&gost().key));
    // Any 12 characters in a row of the base64 would give it away.
    let leaked = |text: &str, b64: &str| {
        b64.as_bytes()
            .windows(12)
            .map(|w| std::str::from_utf8(w).unwrap())
            .find(|w| text.contains(w))
            .map(str::to_owned)
    };
    for (mode, what, b64, registration) in [
        (SignMode::Certificate, "certificate", &cert_b64, false),
        (SignMode::CertificateDer, "certificate", &cert_b64, true),
        (SignMode::PrivateKey, "private key", &key_b64, false),
        (SignMode::PrivateKey, "private key", &key_b64, true),
    ] {
        let signer = TestSigner::new(mode);
        let ((rc, message), log) = capture_log(|| {
            let rc = if registration {
                register(&client, DEMO_REGISTRATION_KEY, "Склад", false, signer.0).unwrap_err()
            } else {
                gismt(&client, DEFAULT_OMS_CONNECTION, signer.0).unwrap_err()
            };
            (rc, last_message())
        });
        let case = format!("{mode:?}, registration {registration}");
        assert_eq!(rc, SuzResult::SignerFailed, "{case}: {message}");
        assert!(
            message.contains(&format!("returned a {what}")),
            "{case}: {message}"
        );
        assert_eq!(
            leaked(&message, b64),
            None,
            "{case}: in the message {message}"
        );
        assert_eq!(leaked(&log, b64), None, "{case}: in the log");
    }
    // The flows got as far as the signer (two challenges were fetched), and nothing that
    // carries a signature reached the emulator.
    assert_eq!(counter(&emu, &["requests", "gismt.key"]), 2);
    let requests = stats(&emu)["requests"].clone();
    for endpoint in ["gismt.token", "suz.register"] {
        assert!(requests.get(endpoint).is_none(), "{endpoint}: {requests}");
    }
    assert_eq!(counter(&emu, &["signatures_refused"]), 0);
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 0);
}

#[test]
fn a_signer_that_throws_is_a_signer_error() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let throwing = TestSigner::new(SignMode::Throws);
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, throwing.0).unwrap_err(),
        SuzResult::SignerFailed
    );
    assert_eq!(
        last_message(),
        "the signing callback failed (status -1): the host's signer threw: \
         CryptoPro: the certificate's private key is not available"
    );
    // The client still works afterwards.
    let signer = TestSigner::new(SignMode::Correct);
    gismt(&client, DEFAULT_OMS_CONNECTION, signer.0)
        .unwrap_or_else(|_| panic!("{}", last_message()));
}

#[test]
fn result_names_and_version() {
    assert_eq!(
        text(suz_result_name(SuzResult::Timeout as u32)),
        "SUZ_RESULT_TIMEOUT"
    );
    assert_eq!(text(suz_result_name(999)), "SUZ_RESULT_UNKNOWN");
    assert_eq!(text(suz_version()), env!("CARGO_PKG_VERSION"));
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/suz_auth.h"))
            .unwrap();
    assert!(header.contains(&format!(
        "#define SUZ_AUTH_VERSION \"{}\"",
        env!("CARGO_PKG_VERSION")
    )));
}

#[test]
fn a_missing_tool_skips_with_a_reason_or_fails_when_all_are_required() {
    assert!(tool_check(
        "redis-server",
        true,
        "apt-get install redis-server",
        true
    ));
    assert!(!tool_check(
        "redis-server",
        false,
        "apt-get install redis-server",
        false
    ));
    assert_eq!(
        skip_reason("redis-server", "apt-get install redis-server"),
        "skipped: redis-server is missing (apt-get install redis-server)"
    );
    let failure = std::panic::catch_unwind(|| {
        tool_check("redis-server", false, "apt-get install redis-server", true)
    })
    .expect_err("a required tool that is missing fails the test");
    let message = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        message,
        "redis-server is missing: apt-get install redis-server (SUZ_AUTH_REQUIRE_ALL=1 requires it)"
    );
}
