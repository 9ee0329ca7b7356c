//! Every export takes NULL without crashing; the log never carries a secret or a whole token.

use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::Mutex;

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
            suz_client_set_signer(ptr::null(), ptr::null(), ptr::null()),
            suz_token_get(ptr::null(), ptr::null(), o.cast()),
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

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn collect(_userdata: *mut c_void, level: SuzLogLevel, message: *const c_char) {
    LOG.lock()
        .unwrap()
        .push(format!("{level:?} {}", text(message)));
}

#[test]
fn the_log_holds_no_secret_and_no_whole_token() {
    needs_gost!();
    let emu = emulator();
    let dir = std::env::temp_dir().join(format!("suz-log-{}", uuid::Uuid::new_v4().simple()));
    let secret = SMARTMARKET_CLIENT_SECRET;
    let client = TestClient::with_extra(
        &emu,
        &format!(
            r#","cache":{{"dir":"{}"}},"profiles":{{
                "line":{{"flow":"gismt","oms_connection":"{DEFAULT_OMS_CONNECTION}","oms_id":"{DEFAULT_OMS_ID}"}},
                "push":{{"flow":"smartmarket","client_id":"{SMARTMARKET_CLIENT_ID}","client_secret":"{secret}"}}}}"#,
            dir.display()
        ),
    );
    let signer = TestSigner::new(SignMode::Correct);
    assert_eq!(
        unsafe { suz_client_set_signer(client.0, ptr::null(), signer.0) },
        SuzResult::Ok
    );
    assert_eq!(
        unsafe { suz_set_log_callback(Some(collect), ptr::null_mut(), SuzLogLevel::Debug as u32) },
        SuzResult::Ok
    );
    let mut values = Vec::new();
    for profile in ["line", "push", "line"] {
        let p = c(profile);
        let mut token = ptr::null_mut();
        assert_eq!(
            unsafe { suz_token_get(client.0, p.as_ptr(), &mut token) },
            SuzResult::Ok,
            "{}",
            last_message()
        );
        values.push(text(unsafe { suz_token_value(token) }));
        let mut dropped = false;
        unsafe { suz_token_invalidate(client.0, p.as_ptr(), token, &mut dropped) };
        unsafe { suz_token_free(token) };
    }
    let (p, m, path) = (c("line"), c("GET"), c("/api/v2/pharma/ping"));
    // The second call is a cache hit.
    for _ in 0..2 {
        let mut response = ptr::null_mut();
        assert_eq!(
            unsafe {
                suz_request(
                    client.0,
                    p.as_ptr(),
                    m.as_ptr(),
                    path.as_ptr(),
                    ptr::null(),
                    &mut response,
                )
            },
            SuzResult::Ok
        );
        unsafe { suz_response_free(response) };
    }
    unsafe { suz_set_log_callback(None, ptr::null_mut(), SuzLogLevel::Error as u32) };

    let log = LOG.lock().unwrap().join("\n");
    assert!(log.contains("fetching a new token"), "{log}");
    assert!(
        log.contains("cache hit") || log.contains("file store"),
        "{log}"
    );
    assert!(!log.contains(secret), "the client secret reached the log");
    for value in values {
        assert!(
            !log.contains(&value),
            "a whole token reached the log:\n{log}"
        );
    }
}
