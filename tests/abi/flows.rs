//! Every flow through the C ABI against the emulator, with real GOST signatures that the
//! emulator verifies, and the refusals a real service makes.

use std::ffi::c_char;
use std::ptr;

use crate::common::*;
use suz_auth::*;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn gismt_token_is_accepted_by_the_protected_endpoint() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let signer = TestSigner::new(SignMode::Correct);
    let token = gismt(&client, DEFAULT_OMS_CONNECTION, signer.0)
        .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(token.flow(), SuzFlow::Gismt as u32);
    let lifetime = token.expires_at_ms() - token.obtained_at_ms();
    assert_eq!(lifetime, 10 * 3600 * 1000, "GIS MT tokens live 10 hours");
    assert!((token.obtained_at_ms() - now_ms()).abs() < 60_000);
    assert_eq!(ping(&emu, &token.value()), 200);
    assert!(stats(&emu)["gost_signatures_verified"].as_u64().unwrap() >= 1);
}

#[test]
fn trueapi_token_with_and_without_inn() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let signer = TestSigner::new(SignMode::Base64Lines);
    let plain = trueapi(&client, DEFAULT_OMS_CONNECTION, None, signer.0)
        .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(plain.flow(), SuzFlow::TrueApi as u32);
    let with_inn = trueapi(
        &client,
        DEFAULT_OMS_CONNECTION,
        Some("7707083893"),
        signer.0,
    )
    .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(stats(&emu)["last_inn"], "7707083893");
    assert_eq!(ping(&emu, &with_inn.value()), 200);
    assert_eq!(
        ping(&emu, &plain.value()),
        401,
        "the newer token revoked the older one"
    );
}

#[test]
fn mdlp_signed_code_and_password() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let signer = TestSigner::new(SignMode::Correct);
    let signed = mdlp(
        &client,
        DEFAULT_OMS_CONNECTION,
        MDLP_CLIENT_SECRET,
        "1865725612",
        None,
        signer.0,
    )
    .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(signed.flow(), SuzFlow::Mdlp as u32);
    assert_eq!(
        signed.expires_at_ms() - signed.obtained_at_ms(),
        30 * 60 * 1000,
        "life_time 30 min"
    );
    assert_eq!(ping(&emu, &signed.value()), 200);

    settings(&emu, r#"{"mdlp_life_time_minutes": 0.5}"#);
    let by_password = mdlp(
        &client,
        DEFAULT_OMS_CONNECTION,
        MDLP_CLIENT_SECRET,
        MDLP_PASSWORD_USER,
        Some(MDLP_PASSWORD),
        ptr::null(),
    )
    .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(
        by_password.expires_at_ms() - by_password.obtained_at_ms(),
        30_000
    );
    assert_eq!(ping(&emu, &by_password.value()), 200);
    assert_eq!(ping(&emu, &signed.value()), 401);
}

#[test]
fn smartmarket_token_and_smartpush_call() {
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let token = smartmarket(&client, SMARTMARKET_CLIENT_SECRET, None)
        .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(token.flow(), SuzFlow::SmartMarket as u32);
    let lifetime = token.expires_at_ms() - token.obtained_at_ms();
    assert!(
        (29 * 60_000..=30 * 60_000 + 1000).contains(&lifetime),
        "{lifetime}"
    );

    let body = c(r#"{"requestPayload":{"text":"привет"}}"#);
    let value = c(&token.value());
    let mut response: *mut c_char = ptr::null_mut();
    let rc =
        unsafe { suz_smartpush_request(client.0, value.as_ptr(), body.as_ptr(), &mut response) };
    assert_eq!(rc, SuzResult::Ok, "{}", last_message());
    let json: serde_json::Value = serde_json::from_str(&text(response)).unwrap();
    unsafe { suz_string_free(response) };
    assert_eq!(json["payload"]["echo"]["text"], "привет");
    assert!(
        uuid::Uuid::parse_str(json["requestId"].as_str().unwrap()).is_ok(),
        "RqUID is a UUID"
    );

    // The scope is sent as given: one the client was not granted is refused with Sber's code 7.
    assert_eq!(
        smartmarket(&client, SMARTMARKET_CLIENT_SECRET, Some("SMART_SPEECH")).unwrap_err(),
        SuzResult::Unauthorized
    );
    assert_eq!(text(suz_last_server_code()), "7", "{}", last_message());
    // expires_at in seconds is read as well as milliseconds.
    settings(&emu, r#"{"smartmarket_expires_in_seconds": true}"#);
    let other = smartmarket(&client, SMARTMARKET_CLIENT_SECRET, Some("SMART_PUSH"))
        .unwrap_or_else(|_| panic!("{}", last_message()));
    let lifetime = other.expires_at_ms() - other.obtained_at_ms();
    assert!(
        (29 * 60_000..=30 * 60_000 + 1000).contains(&lifetime),
        "{lifetime}"
    );
}

#[test]
fn registration_signed_pharma_and_rejected() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let signer = TestSigner::new(SignMode::Correct);
    let connection = register(
        &client,
        DEMO_REGISTRATION_KEY,
        "г.Москва, ул. Ленинские горы, 1",
        false,
        signer.0,
    )
    .unwrap_or_else(|_| panic!("{}", last_message()));
    assert!(uuid::Uuid::parse_str(&connection).is_ok(), "{connection}");
    // The new installation can get a token.
    let token =
        gismt(&client, &connection, signer.0).unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(ping(&emu, &token.value()), 200);

    let pharma = register(
        &client,
        PHARMA_REGISTRATION_KEY,
        "Склад 2",
        true,
        ptr::null(),
    )
    .unwrap_or_else(|_| panic!("{}", last_message()));
    assert!(uuid::Uuid::parse_str(&pharma).is_ok());

    let unknown_key = "00000000-0000-4000-8000-000000000000";
    let rc = register(&client, unknown_key, "Склад 3", false, signer.0).unwrap_err();
    assert_eq!(rc, SuzResult::RegistrationRejected);
    assert!(
        !text(suz_last_server_message()).is_empty(),
        "the rejection reason is readable"
    );
    assert_eq!(text(suz_last_server_code()), "REJECTED");
}

/// Drives a two-phase flow the way 1C does: begin, sign outside the library, finish.
fn two_phase_token(client: &TestClient, pending: *mut SuzPending) -> Result<OwnedToken, SuzResult> {
    let mut data: *const u8 = ptr::null();
    let mut len = 0usize;
    assert_eq!(
        unsafe { suz_pending_data(pending, &mut data, &mut len) },
        SuzResult::Ok
    );
    let bytes = unsafe { std::slice::from_raw_parts(data, len) }.to_vec();
    let attached = unsafe { suz_pending_kind(pending) } == SuzSignatureKind::Attached as u32;
    let signature = openssl_sign(&bytes, attached);
    let mut out = ptr::null_mut();
    let rc = unsafe {
        suz_pending_finish_token(
            client.0,
            pending,
            signature.as_ptr(),
            signature.len(),
            &mut out,
        )
    };
    token_result(rc, out)
}

#[test]
fn two_phase_flows() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let conn = c(DEFAULT_OMS_CONNECTION);

    let mut pending = ptr::null_mut();
    assert_eq!(
        unsafe { suz_gismt_begin(client.0, conn.as_ptr(), &mut pending) },
        SuzResult::Ok
    );
    assert_eq!(
        unsafe { suz_pending_kind(pending) },
        SuzSignatureKind::Attached as u32
    );
    let token = two_phase_token(&client, pending).unwrap_or_else(|_| panic!("{}", last_message()));
    unsafe { suz_pending_free(pending) };
    assert_eq!(token.flow(), SuzFlow::Gismt as u32);

    let inn = c("770708389301");
    let mut pending = ptr::null_mut();
    assert_eq!(
        unsafe { suz_trueapi_begin(client.0, conn.as_ptr(), inn.as_ptr(), &mut pending) },
        SuzResult::Ok
    );
    let token = two_phase_token(&client, pending).unwrap_or_else(|_| panic!("{}", last_message()));
    unsafe { suz_pending_free(pending) };
    assert_eq!(token.flow(), SuzFlow::TrueApi as u32);

    let (id, secret, user) = (c(MDLP_CLIENT_ID), c(MDLP_CLIENT_SECRET), c("1865725612"));
    let mut pending = ptr::null_mut();
    let rc = unsafe {
        suz_mdlp_begin(
            client.0,
            conn.as_ptr(),
            id.as_ptr(),
            secret.as_ptr(),
            user.as_ptr(),
            &mut pending,
        )
    };
    assert_eq!(rc, SuzResult::Ok, "{}", last_message());
    assert_eq!(
        unsafe { suz_pending_kind(pending) },
        SuzSignatureKind::Detached as u32
    );
    let token = two_phase_token(&client, pending).unwrap_or_else(|_| panic!("{}", last_message()));
    unsafe { suz_pending_free(pending) };
    assert_eq!(token.flow(), SuzFlow::Mdlp as u32);
    assert_eq!(ping(&emu, &token.value()), 200);

    // Registration: the signature covers the exact body the library sends.
    let (oms, key, address) = (c(DEFAULT_OMS_ID), c(DEMO_REGISTRATION_KEY), c("Цех №1"));
    let mut pending = ptr::null_mut();
    let rc = unsafe {
        suz_register_begin(
            client.0,
            oms.as_ptr(),
            key.as_ptr(),
            address.as_ptr(),
            &mut pending,
        )
    };
    assert_eq!(rc, SuzResult::Ok);
    let mut data: *const u8 = ptr::null();
    let mut len = 0usize;
    unsafe { suz_pending_data(pending, &mut data, &mut len) };
    let body = unsafe { std::slice::from_raw_parts(data, len) }.to_vec();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["address"],
        "Цех №1"
    );
    // The host may hand back base64 text with line breaks, as 1C's Base64Строка does.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(openssl_sign(&body, false));
    let wrapped = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n");
    let mut connection: *mut c_char = ptr::null_mut();
    let rc = unsafe {
        suz_pending_finish_registration(
            client.0,
            pending,
            wrapped.as_ptr(),
            wrapped.len(),
            &mut connection,
        )
    };
    assert_eq!(rc, SuzResult::Ok, "{}", last_message());
    assert!(uuid::Uuid::parse_str(&text(connection)).is_ok());
    unsafe {
        suz_string_free(connection);
        suz_pending_free(pending);
    }
}

#[test]
fn command_signer_from_config_and_from_json() {
    needs_gost!();
    let g = gost();
    let emu = emulator();
    let argv = |attached: bool| {
        let mut v = vec![
            "openssl".to_owned(),
            "cms".into(),
            "-sign".into(),
            "-engine".into(),
            "gost".into(),
            "-binary".into(),
            "-outform".into(),
            "PEM".into(),
            "-signer".into(),
            g.cert.display().to_string(),
            "-inkey".into(),
            g.key.display().to_string(),
        ];
        if attached {
            v.push("-nodetach".into());
        }
        serde_json::to_string(&v).unwrap()
    };
    let command = format!(
        r#"{{"attached":{},"detached":{},"timeout_ms":20000}}"#,
        argv(true),
        argv(false)
    );
    // Configured in the client: NULL signer uses it.
    let client = TestClient::with_extra(&emu, &format!(r#","signer":{{"command":{command}}}"#));
    let token = gismt(&client, DEFAULT_OMS_CONNECTION, ptr::null())
        .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(ping(&emu, &token.value()), 200);
    let token = mdlp(
        &client,
        DEFAULT_OMS_CONNECTION,
        MDLP_CLIENT_SECRET,
        "1865725612",
        None,
        ptr::null(),
    )
    .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(ping(&emu, &token.value()), 200);

    // Made on its own and passed in.
    let json = c(&command);
    let mut signer = ptr::null_mut();
    assert_eq!(
        unsafe { suz_signer_new_command(json.as_ptr(), &mut signer) },
        SuzResult::Ok
    );
    let plain = TestClient::for_emulator(&emu);
    let token = trueapi(&plain, DEFAULT_OMS_CONNECTION, None, signer)
        .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(ping(&emu, &token.value()), 200);
    unsafe { suz_signer_free(signer) };

    // A command that fails is a signer error carrying its stderr.
    let failing =
        c(r#"{"attached":["sh","-c","echo no key container >&2; exit 3"],"detached":["false"]}"#);
    let mut signer = ptr::null_mut();
    assert_eq!(
        unsafe { suz_signer_new_command(failing.as_ptr(), &mut signer) },
        SuzResult::Ok
    );
    assert_eq!(
        gismt(&plain, DEFAULT_OMS_CONNECTION, signer).unwrap_err(),
        SuzResult::SignerFailed
    );
    assert!(
        last_message().contains("no key container"),
        "{}",
        last_message()
    );
    unsafe { suz_signer_free(signer) };
}

/// A signature of the other kind than the step needs is made the right kind: a detached one
/// (what 1C's crypto makes) gets the challenge embedded for GIS MT and True API, in DER, in
/// base64 with CR/LF and in BER; an attached one loses its content for MDLP and registration.
/// The emulator checks every converted signature with OpenSSL (GOST only).
#[test]
fn a_signature_of_the_other_kind_is_converted_and_verified() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    for mode in [
        SignMode::Detached,
        SignMode::DetachedBase64Lines,
        SignMode::DetachedBer,
        SignMode::WrongKind,
    ] {
        let signer = TestSigner::new(mode);
        let token = gismt(&client, DEFAULT_OMS_CONNECTION, signer.0)
            .unwrap_or_else(|e| panic!("GIS MT, {mode:?}: {e:?} {}", last_message()));
        assert_eq!(ping(&emu, &token.value()), 200);
        let token = trueapi(
            &client,
            DEFAULT_OMS_CONNECTION,
            Some("7700000000"),
            signer.0,
        )
        .unwrap_or_else(|e| panic!("True API, {mode:?}: {e:?} {}", last_message()));
        assert_eq!(ping(&emu, &token.value()), 200);
    }
    for mode in [SignMode::Attached, SignMode::WrongKind] {
        let signer = TestSigner::new(mode);
        let token = mdlp(
            &client,
            DEFAULT_OMS_CONNECTION,
            MDLP_CLIENT_SECRET,
            "1865725612",
            None,
            signer.0,
        )
        .unwrap_or_else(|e| panic!("MDLP, {mode:?}: {e:?} {}", last_message()));
        assert_eq!(ping(&emu, &token.value()), 200);
        register(&client, DEMO_REGISTRATION_KEY, "Склад", false, signer.0)
            .unwrap_or_else(|e| panic!("registration, {mode:?}: {e:?} {}", last_message()));
    }
    assert_eq!(counter(&emu, &["signatures_refused"]), 0);
    assert_eq!(
        counter(&emu, &["gost_signatures_verified"]),
        4 * 2 + 2 * 2,
        "every converted signature was verified as GOST"
    );

    // Two phases: a detached signature finishes a GIS MT operation too.
    let conn = c(DEFAULT_OMS_CONNECTION);
    let mut pending = ptr::null_mut();
    assert_eq!(
        unsafe { suz_gismt_begin(client.0, conn.as_ptr(), &mut pending) },
        SuzResult::Ok
    );
    let mut data: *const u8 = ptr::null();
    let mut len = 0usize;
    unsafe { suz_pending_data(pending, &mut data, &mut len) };
    let detached = openssl_sign(unsafe { std::slice::from_raw_parts(data, len) }, false);
    let mut out = ptr::null_mut();
    let rc = unsafe {
        suz_pending_finish_token(
            client.0,
            pending,
            detached.as_ptr(),
            detached.len(),
            &mut out,
        )
    };
    let token = token_result(rc, out).unwrap_or_else(|_| panic!("{}", last_message()));
    unsafe { suz_pending_free(pending) };
    assert_eq!(ping(&emu, &token.value()), 200);
}

/// A signature over other bytes than the ones to sign: an attached one is refused by the
/// library (its content is not the challenge) and nothing is sent; a detached one can only be
/// checked by the server, which refuses it.
#[test]
fn a_signature_over_other_content_is_refused() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let signer = TestSigner::new(SignMode::OtherContent);
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, signer.0).unwrap_err(),
        SuzResult::SignerFailed
    );
    assert!(
        last_message().contains("other content"),
        "{}",
        last_message()
    );
    assert_eq!(counter(&emu, &["requests", "gismt.key"]), 1);
    assert!(
        stats(&emu)["requests"].get("gismt.token").is_none(),
        "nothing was sent"
    );
    let err = register(&client, DEMO_REGISTRATION_KEY, "Склад", false, signer.0).unwrap_err();
    assert_eq!(err, SuzResult::Unauthorized);
    let detached = TestSigner::new(SignMode::DetachedOtherContent);
    assert_eq!(
        gismt(&client, DEFAULT_OMS_CONNECTION, detached.0).unwrap_err(),
        SuzResult::Unauthorized
    );
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 0);
}

#[test]
fn a_finished_challenge_is_not_sent_again_and_an_expired_one_is_refused() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let conn = c(DEFAULT_OMS_CONNECTION);

    let mut pending = ptr::null_mut();
    assert_eq!(
        unsafe { suz_gismt_begin(client.0, conn.as_ptr(), &mut pending) },
        SuzResult::Ok
    );
    let first = two_phase_token(&client, pending).unwrap_or_else(|_| panic!("{}", last_message()));
    // The library knows the challenge is spent: a second finish sends nothing. (The emulator's
    // own refusal of a reused challenge is emulator/tests/readme.rs's to show.)
    let again = two_phase_token(&client, pending).unwrap_err();
    assert_eq!(again, SuzResult::InvalidArgument);
    assert!(
        last_message().contains("already finished"),
        "{}",
        last_message()
    );
    assert_eq!(counter(&emu, &["requests", "gismt.token"]), 1);
    unsafe { suz_pending_free(pending) };
    assert_eq!(ping(&emu, &first.value()), 200);

    settings(&emu, r#"{"challenge_ttl_ms": 200}"#);
    let mut pending = ptr::null_mut();
    assert_eq!(
        unsafe { suz_trueapi_begin(client.0, conn.as_ptr(), ptr::null(), &mut pending) },
        SuzResult::Ok
    );
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(
        two_phase_token(&client, pending).unwrap_err(),
        SuzResult::Unauthorized
    );
    assert!(
        text(suz_last_server_message()).contains("expired"),
        "{}",
        last_message()
    );
    unsafe { suz_pending_free(pending) };
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 1);
}

#[test]
fn protected_endpoint_refuses_a_revoked_token() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let signer = TestSigner::new(SignMode::Correct);
    let old = gismt(&client, DEFAULT_OMS_CONNECTION, signer.0)
        .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(ping(&emu, &old.value()), 200);
    let new = trueapi(&client, DEFAULT_OMS_CONNECTION, None, signer.0)
        .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(
        ping(&emu, &old.value()),
        401,
        "a new token revokes the previous one"
    );
    assert_eq!(ping(&emu, &new.value()), 200);
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 2);
}

#[test]
fn tls_with_extra_trusted_root() {
    needs_gost!();
    let emu = start_emulator(suz_emulator::EmulatorConfig {
        tls: true,
        ..Default::default()
    });
    assert!(emu.base_url().starts_with("https://"));
    let ca = gost().dir.join(format!("ca-{}.pem", emu.port()));
    std::fs::write(&ca, emu.ca_pem().unwrap()).unwrap();

    let untrusted = TestClient::for_emulator(&emu);
    assert_eq!(
        smartmarket(&untrusted, SMARTMARKET_CLIENT_SECRET, None).unwrap_err(),
        SuzResult::Tls
    );
    assert!(
        last_message().to_lowercase().contains("tls"),
        "{}",
        last_message()
    );

    let trusted = TestClient::with_extra(
        &emu,
        &format!(r#","tls":{{"extra_roots_pem":"{}"}}"#, ca.display()),
    );
    smartmarket(&trusted, SMARTMARKET_CLIENT_SECRET, None)
        .unwrap_or_else(|_| panic!("{}", last_message()));
}

/// Every sign-in answer form reported in public traffic — `{token}`, `{uuidToken, expireDate}`,
/// `{clientToken, expires_in}`, `{token, exp}`, `{token, life_time}` — gives the token and the
/// expiry the answer says (here 2 hours; the default would be 10).
#[test]
fn every_sign_in_answer_form_gives_the_token_and_its_expiry() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let signer = TestSigner::new(SignMode::Correct);
    let two_hours = 2 * 3600 * 1000;
    settings(&emu, r#"{"gismt_token_ttl_ms": 7200000}"#);
    for form in [
        "uuid_token_expire_date",
        "client_token_expires_in",
        "token_exp",
        "token_life_time",
    ] {
        settings(&emu, &format!(r#"{{"sign_in_answer": "{form}"}}"#));
        let token = gismt(&client, DEFAULT_OMS_CONNECTION, signer.0)
            .unwrap_or_else(|_| panic!("{form}: {}", last_message()));
        let lifetime = token.expires_at_ms() - token.obtained_at_ms();
        assert!(
            (lifetime - two_hours).abs() < 2_000,
            "{form}: a lifetime of {lifetime} ms"
        );
        assert_eq!(ping(&emu, &token.value()), 200, "{form}");
    }
}
