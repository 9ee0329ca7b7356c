//! Every export takes NULL without crashing; the log never carries a secret or a whole token.

use std::ffi::c_void;
use std::ptr;

use crate::common::*;
use suz_auth::*;

#[test]
fn every_export_survives_null_arguments() {
    needs_gost!();
    let mut out: *mut c_void = ptr::null_mut();
    let o = &mut out as *mut *mut c_void;
    unsafe {
        let results = [
            suz_client_new(ptr::null(), o.cast()),
            suz_signer_new_command(ptr::null(), o.cast()),
            suz_signer_new_callback(None, ptr::null_mut(), None, o.cast()),
            suz_signature_sink_write(ptr::null_mut(), ptr::null(), 5),
            suz_signature_sink_fail(ptr::null_mut(), ptr::null()),
            suz_register_connection(
                ptr::null(),
                ptr::null(),
                ptr::null(),
                ptr::null(),
                false,
                ptr::null(),
                o.cast(),
            ),
            suz_get_token_mdlp(
                ptr::null(),
                ptr::null(),
                ptr::null(),
                ptr::null(),
                ptr::null(),
                ptr::null(),
                ptr::null(),
                o.cast(),
            ),
            suz_get_token_gismt(ptr::null(), ptr::null(), ptr::null(), o.cast()),
            suz_get_token_trueapi(ptr::null(), ptr::null(), ptr::null(), ptr::null(), o.cast()),
            suz_get_token_smartmarket(ptr::null(), ptr::null(), ptr::null(), ptr::null(), o.cast()),
            suz_smartpush_request(ptr::null(), ptr::null(), ptr::null(), o.cast()),
            suz_register_begin(ptr::null(), ptr::null(), ptr::null(), ptr::null(), o.cast()),
            suz_mdlp_begin(
                ptr::null(),
                ptr::null(),
                ptr::null(),
                ptr::null(),
                ptr::null(),
                o.cast(),
            ),
            suz_gismt_begin(ptr::null(), ptr::null(), o.cast()),
            suz_trueapi_begin(ptr::null(), ptr::null(), ptr::null(), o.cast()),
            suz_pending_data(ptr::null(), ptr::null_mut(), ptr::null_mut()),
            suz_pending_finish_token(ptr::null(), ptr::null(), ptr::null(), 0, o.cast()),
            suz_pending_finish_registration(ptr::null(), ptr::null(), ptr::null(), 0, o.cast()),
            suz_pending_export(ptr::null_mut(), o.cast()),
            suz_pending_import(ptr::null(), ptr::null(), o.cast()),
            suz_client_set_signer(ptr::null(), ptr::null(), ptr::null()),
            suz_token_get(ptr::null(), ptr::null(), o.cast()),
            suz_token_get_value(
                ptr::null(),
                ptr::null(),
                ptr::null_mut(),
                0,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
            ),
            suz_token_acquire(ptr::null(), ptr::null(), o.cast(), o.cast()),
            suz_token_complete(ptr::null(), ptr::null(), ptr::null(), 0, o.cast()),
            suz_token_release(ptr::null(), ptr::null()),
            suz_token_invalidate(ptr::null(), ptr::null(), ptr::null(), ptr::null_mut()),
            suz_request(
                ptr::null(),
                ptr::null(),
                ptr::null(),
                ptr::null(),
                ptr::null(),
                o.cast(),
            ),
            suz_response_body(ptr::null(), ptr::null_mut(), ptr::null_mut()),
            suz_response_header_at(ptr::null(), 0, ptr::null_mut(), ptr::null_mut()),
        ];
        for (i, rc) in results.iter().enumerate() {
            assert_eq!(
                *rc,
                SuzResult::NullArgument,
                "export #{i}: {}",
                last_message()
            );
        }
        assert!(out.is_null(), "no out-parameter written on failure");
        assert_eq!(suz_pending_kind(ptr::null()), 0);
        assert!(suz_token_value(ptr::null()).is_null());
        assert_eq!(suz_token_flow(ptr::null()), 0);
        assert_eq!(suz_token_expires_at_ms(ptr::null()), 0);
        assert_eq!(suz_response_status(ptr::null()), 0);
        assert_eq!(suz_response_header_count(ptr::null()), 0);
        assert!(suz_response_header(ptr::null(), ptr::null()).is_null());
        suz_response_free(ptr::null_mut());
    }
}

/// The details of the last failure on this thread, as one text.
fn last_details() -> String {
    [
        suz_last_error_message(),
        suz_last_server_code(),
        suz_last_server_message(),
        suz_last_rquid(),
    ]
    .into_iter()
    .filter(|p| !p.is_null())
    .map(text)
    .collect::<Vec<_>>()
    .join("\n")
}

#[test]
fn no_secret_reaches_the_log_or_an_error_and_no_whole_token_the_log() {
    needs_gost!();
    let emu = emulator();
    let dir = std::env::temp_dir().join(format!("suz-log-{}", uuid::Uuid::new_v4().simple()));
    // Wrong secrets with characters that JSON escapes, so the escaped form differs from the raw.
    let (bad_secret, bad_password) = (r#"wr"ong\secret/1"#, r#"pa"ss\word"#);
    let profiles = format!(
        r#""line":{{"flow":"gismt","oms_connection":"{DEFAULT_OMS_CONNECTION}","oms_id":"{DEFAULT_OMS_ID}"}},
        "push":{{"flow":"smartmarket","client_id":"{SMARTMARKET_CLIENT_ID}","client_secret":"{SMARTMARKET_CLIENT_SECRET}"}},
        "pharma":{{"flow":"mdlp","oms_connection":"{DEFAULT_OMS_CONNECTION}","client_id":"{MDLP_CLIENT_ID}","client_secret":"{MDLP_CLIENT_SECRET}","user_id":"{MDLP_PASSWORD_USER}","password":"{MDLP_PASSWORD}"}},
        "bad_push":{{"flow":"smartmarket","client_id":"{SMARTMARKET_CLIENT_ID}","client_secret":{}}},
        "bad_pharma":{{"flow":"mdlp","oms_connection":"{DEFAULT_OMS_CONNECTION}","client_id":"{MDLP_CLIENT_ID}","client_secret":"{MDLP_CLIENT_SECRET}","user_id":"{MDLP_PASSWORD_USER}","password":{}}}"#,
        serde_json::to_string(bad_secret).unwrap(),
        serde_json::to_string(bad_password).unwrap(),
    );
    let client = TestClient::with_extra(
        &emu,
        &format!(
            r#","cache":{{"dir":{}}},"profiles":{{{profiles}}}"#,
            serde_json::to_string(&dir).unwrap()
        ),
    );
    let mut secrets = Vec::new();
    secrets.extend(secret_forms(
        SMARTMARKET_CLIENT_SECRET,
        Some(SMARTMARKET_CLIENT_ID),
    ));
    secrets.extend(secret_forms(bad_secret, Some(SMARTMARKET_CLIENT_ID)));
    secrets.extend(secret_forms(MDLP_CLIENT_SECRET, None));
    secrets.extend(secret_forms(MDLP_PASSWORD, None));
    secrets.extend(secret_forms(bad_password, None));
    let signer = TestSigner::new(SignMode::Correct);
    assert_eq!(
        unsafe { suz_client_set_signer(client.0, ptr::null(), signer.0) },
        SuzResult::Ok
    );
    let ((values, errors), log) = capture_log(|| {
        let mut values = Vec::new();
        for profile in ["line", "push", "pharma", "line"] {
            let p = c(profile);
            let mut token = ptr::null_mut();
            let rc = unsafe { suz_token_get(client.0, p.as_ptr(), &mut token) };
            assert_eq!(rc, SuzResult::Ok, "{profile}: {}", last_message());
            values.push(text(unsafe { suz_token_value(token) }));
            let mut dropped = false;
            unsafe { suz_token_invalidate(client.0, p.as_ptr(), token, &mut dropped) };
            unsafe { suz_token_free(token) };
        }
        let mut errors = Vec::new();
        for profile in ["bad_push", "bad_pharma"] {
            let p = c(profile);
            let mut token = ptr::null_mut();
            let rc = unsafe { suz_token_get(client.0, p.as_ptr(), &mut token) };
            assert_eq!(rc, SuzResult::Unauthorized, "{profile}: {}", last_message());
            errors.push(last_details());
        }
        // The second call is a cache hit.
        for _ in 0..2 {
            assert_eq!(
                request(&client, "line", "GET", "/api/v2/pharma/ping", None).0,
                200
            );
        }
        (values, errors)
    });
    assert!(log.contains("fetching a new token"), "{log}");
    assert!(
        log.contains("cache hit") || log.contains("file store"),
        "{log}"
    );
    assert_no_secret(&log, &secrets, "the log");
    for details in &errors {
        assert_no_secret(details, &secrets, "the error details");
    }
    for value in values {
        assert!(
            !log.contains(&value),
            "a whole token reached the log:\n{log}"
        );
    }
}
