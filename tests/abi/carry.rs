//! A pending operation carried between processes, as 1C's client-server mode needs it: begun
//! and exported in one process, imported, signed (detached, as 1C signs) and finished in
//! another. The second process is this test binary again, running `finish_in_child`.

use std::process::Command;
use std::ptr;

use suz_auth::*;

use crate::common::*;

const CHILD_STATE: &str = "SUZ_TEST_CARRIED_STATE";
const CHILD_CONFIG: &str = "SUZ_TEST_CARRIED_CONFIG";

fn config(emu_url: &str, dir: &std::path::Path) -> String {
    format!(
        r#"{{"stand": "emulator", "emulator_url": "{emu_url}", "cache": {{"dir": {:?}}}}}"#,
        dir.display().to_string()
    )
}

/// Signs the pending operation's bytes detached and finishes it.
fn finish_detached(client: &TestClient, pending: *mut SuzPending) -> Result<OwnedToken, SuzResult> {
    let signature = openssl_sign(&pending_data(pending), false);
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

/// The second process: does nothing unless started by the test below.
#[test]
fn finish_in_child() {
    let (Ok(state), Ok(config)) = (std::env::var(CHILD_STATE), std::env::var(CHILD_CONFIG)) else {
        return;
    };
    let client = TestClient::new(&config);
    let pending = import_pending(&client, &state).unwrap_or_else(|_| panic!("{}", last_message()));
    let token = finish_detached(&client, pending).unwrap_or_else(|_| panic!("{}", last_message()));
    unsafe { suz_pending_free(pending) };
    println!("CARRIED-TOKEN={}", token.value());
}

#[test]
fn a_state_exported_in_one_process_is_finished_in_another_once() {
    needs_gost!();
    let emu = emulator();
    let dir = std::env::temp_dir().join(format!("suz-carry-{}", uuid::Uuid::new_v4().simple()));
    let json = config(&emu.base_url(), &dir);
    let state = {
        let client = TestClient::new(&json);
        let conn = c(DEFAULT_OMS_CONNECTION);
        let mut pending = ptr::null_mut();
        assert_eq!(
            unsafe { suz_gismt_begin(client.0, conn.as_ptr(), &mut pending) },
            SuzResult::Ok
        );
        let state = export_pending(pending);
        unsafe { suz_pending_free(pending) };
        state
    };
    assert!(state.bytes().all(|b| b.is_ascii_graphic()), "{state}");

    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "carry::finish_in_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_STATE, &state)
        .env(CHILD_CONFIG, &json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = stdout
        .split_once("CARRIED-TOKEN=")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the child printed no token:\n{stdout}"));
    assert_eq!(ping(&emu, token), 200);
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 1);

    // Finishing it again, in this process: refused through the store's record, nothing sent.
    let client = TestClient::new(&json);
    let again = import_pending(&client, &state).unwrap();
    assert_eq!(
        finish_detached(&client, again).map(|_| ()).unwrap_err(),
        SuzResult::InvalidArgument
    );
    assert!(
        last_message().contains("already finished"),
        "{}",
        last_message()
    );
    unsafe { suz_pending_free(again) };
    assert_eq!(
        counter(&emu, &["requests", "gismt.token"]),
        1,
        "nothing sent"
    );

    // Altered, foreign, not a state at all: refused at import, each saying which.
    let mut altered = state.clone().into_bytes();
    let at = "suz-pending.2.".len() + 10;
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    let other = emulator();
    let foreign = TestClient::new(&config(&other.base_url(), &dir));
    for (client, text, says) in [
        (&client, String::from_utf8(altered).unwrap(), "altered"),
        (&foreign, state.clone(), "another configuration"),
        (
            &client,
            "a 1C form attribute left empty".to_owned(),
            "not a state",
        ),
    ] {
        assert_eq!(
            import_pending(client, &text).unwrap_err(),
            SuzResult::InvalidArgument
        );
        assert!(last_message().contains(says), "{}", last_message());
    }
    // Not UTF-8, and no out-parameter: named, nothing written.
    let mut out = ptr::null_mut();
    let bad = b"suz-pending.2.\xff\0";
    assert_eq!(
        unsafe { suz_pending_import(client.0, bad.as_ptr().cast(), &mut out) },
        SuzResult::InvalidUtf8
    );
    assert!(
        out.is_null() && last_message().contains("exported"),
        "{}",
        last_message()
    );
    let state = c(&state);
    assert_eq!(
        unsafe { suz_pending_import(client.0, state.as_ptr(), ptr::null_mut()) },
        SuzResult::NullArgument
    );
    assert_eq!(
        counter(&emu, &["requests", "gismt.token"]),
        1,
        "nothing sent"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The ChaCha20-Poly1305 seal of a state, as the library makes it: `suz-pending.2.` and, in
/// base64url, the nonce, the sealed JSON and its tag.
fn seal(key: &[u8], json: &serde_json::Value) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).unwrap());
    let nonce = [5u8; 12];
    let mut body = serde_json::to_vec(json).unwrap();
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(*b"suz-pending.2."),
            &mut body,
        )
        .unwrap();
    let mut all = nonce.to_vec();
    all.extend_from_slice(&body);
    all.extend_from_slice(tag.as_ref());
    format!("suz-pending.2.{}", URL_SAFE_NO_PAD.encode(all))
}

/// The JSON inside `state`, opened with the store key in `dir` (what only a process of the
/// store's user can read).
fn opened(state: &str, dir: &std::path::Path) -> serde_json::Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
    let key = std::fs::read(dir.join("pending.key")).unwrap();
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).unwrap());
    let mut all = URL_SAFE_NO_PAD
        .decode(state.strip_prefix("suz-pending.2.").unwrap())
        .unwrap();
    let (nonce, rest) = all.split_at_mut(12);
    let json = key
        .open_in_place(
            Nonce::try_assume_unique_for_key(nonce).unwrap(),
            Aad::from(*b"suz-pending.2."),
            rest,
        )
        .unwrap();
    serde_json::from_slice(json).unwrap()
}

/// A state exported `minutes_ago`: the same state with an earlier phase one, sealed again with
/// the store's own key (the age is what is refused).
fn aged(state: &str, dir: &std::path::Path, minutes_ago: i64) -> String {
    let mut json = opened(state, dir);
    let created = json["created_at_ms"].as_i64().unwrap();
    json["created_at_ms"] = (created - minutes_ago * 60_000).into();
    seal(&std::fs::read(dir.join("pending.key")).unwrap(), &json)
}

/// The earlier, unsealed format: JSON in base64url and an unkeyed SHA-256 check that anyone
/// can recompute.
fn unsealed_v1(json: &serde_json::Value) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use sha2::Digest;
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).unwrap());
    let check: String = sha2::Sha256::digest(payload.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("suz-pending.1.{payload}.{check}")
}

#[test]
fn forged_states_are_refused_at_import_and_nothing_is_sent() {
    needs_gost!();
    let emu = emulator();
    let dir = std::env::temp_dir().join(format!("suz-carry-{}", uuid::Uuid::new_v4().simple()));
    let client = TestClient::new(&config(&emu.base_url(), &dir));
    let conn = c(DEFAULT_OMS_CONNECTION);
    let mut pending = ptr::null_mut();
    assert_eq!(
        unsafe { suz_gismt_begin(client.0, conn.as_ptr(), &mut pending) },
        SuzResult::Ok
    );
    let state = export_pending(pending);
    unsafe { suz_pending_free(pending) };
    let genuine = opened(&state, &dir);
    // What a form user could make without the store's key: every edit the unsealed format
    // allowed, sealed with a key of their own or in the old format with its check recomputed.
    let their_key = [0x42u8; 32];
    type Edit<'a> = Box<dyn Fn(&mut serde_json::Value) + 'a>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "another installation",
            Box::new(|v| v["installation"] = "8b0d1b5e-2e4f-4c7a-9c51-2f0b8d7d3a11".into()),
        ),
        (
            "other data to sign",
            Box::new(|v| v["data"] = "aGVsbG8".into()),
        ),
        (
            "a far-future start",
            Box::new(|v| v["created_at_ms"] = i64::MAX.into()),
        ),
        (
            "a fresh id",
            Box::new(|v| v["id"] = "0123456789abcdef0123456789abcdef".into()),
        ),
        (
            "a path out of the API",
            Box::new(|v| {
                v["url"] = format!("{}/gismt/api/v3/../../admin/reset", emu.base_url()).into()
            }),
        ),
    ];
    for (what, edit) in &edits {
        let mut json = genuine.clone();
        edit(&mut json);
        for (form, text, says) in [
            (
                "sealed with another key",
                seal(&their_key, &json),
                "seal does not match",
            ),
            ("in the old format", unsealed_v1(&json), "earlier version"),
        ] {
            assert_eq!(
                import_pending(&client, &text).unwrap_err(),
                SuzResult::InvalidArgument,
                "{what}, {form}"
            );
            assert!(
                last_message().contains(says),
                "{what}, {form}: {}",
                last_message()
            );
            assert!(last_message().contains("begin"), "{}", last_message());
        }
    }
    // Even with the store's own key (which only the store's user can read), a start in the
    // future is refused, and an id changed on a genuine state does not let it finish twice.
    let future = {
        let mut json = genuine.clone();
        json["created_at_ms"] = i64::MAX.into();
        seal(&std::fs::read(dir.join("pending.key")).unwrap(), &json)
    };
    assert_eq!(
        import_pending(&client, &future).unwrap_err(),
        SuzResult::InvalidArgument
    );
    assert!(last_message().contains("future"), "{}", last_message());
    let renamed = {
        let mut json = genuine.clone();
        json["id"] = "0123456789abcdef0123456789abcdef".into();
        seal(&std::fs::read(dir.join("pending.key")).unwrap(), &json)
    };
    let first = import_pending(&client, &state).unwrap();
    finish_detached(&client, first).unwrap();
    unsafe { suz_pending_free(first) };
    let second = import_pending(&client, &renamed).unwrap();
    assert_eq!(
        finish_detached(&client, second).unwrap_err(),
        SuzResult::InvalidArgument
    );
    assert!(
        last_message().contains("already finished"),
        "{}",
        last_message()
    );
    unsafe { suz_pending_free(second) };
    assert_eq!(
        counter(&emu, &["requests", "gismt.token"]),
        1,
        "only the genuine state was sent"
    );
    // The store's key is the user's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("pending.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_expired_state_is_refused_at_import_and_nothing_is_sent() {
    let emu = emulator();
    let dir = std::env::temp_dir().join(format!("suz-carry-{}", uuid::Uuid::new_v4().simple()));
    let client = TestClient::new(&config(&emu.base_url(), &dir));
    let conn = c(DEFAULT_OMS_CONNECTION);
    let mut pending = ptr::null_mut();
    assert_eq!(
        unsafe { suz_gismt_begin(client.0, conn.as_ptr(), &mut pending) },
        SuzResult::Ok
    );
    let state = export_pending(pending);
    unsafe { suz_pending_free(pending) };
    // Nine minutes old: still good; eleven: expired, saying so.
    let fresh = import_pending(&client, &aged(&state, &dir, 9)).unwrap();
    unsafe { suz_pending_free(fresh) };
    assert_eq!(
        import_pending(&client, &aged(&state, &dir, 11)).unwrap_err(),
        SuzResult::InvalidArgument
    );
    assert!(last_message().contains("expired"), "{}", last_message());
    assert_eq!(counter(&emu, &["requests", "gismt.key"]), 1, "nothing sent");
    let _ = std::fs::remove_dir_all(&dir);
}

/// With the token store out of reach (Redis down), phase one still works and the operation
/// finishes in this process; only its export fails, saying why.
#[test]
fn a_begin_with_the_store_unreachable_finishes_here_and_only_its_export_fails() {
    needs_gost!();
    let emu = emulator();
    let dead = free_port();
    let client = TestClient::new(&format!(
        r#"{{"stand": "emulator", "emulator_url": "{}", "cache": {{"persist": false}},
            "redis": {{"url": "redis://127.0.0.1:{dead}"}}}}"#,
        emu.base_url()
    ));
    let conn = c(DEFAULT_OMS_CONNECTION);
    let mut pending = ptr::null_mut();
    assert_eq!(
        unsafe { suz_gismt_begin(client.0, conn.as_ptr(), &mut pending) },
        SuzResult::Ok,
        "{}",
        last_message()
    );
    let mut exported = ptr::null_mut();
    assert_eq!(
        unsafe { suz_pending_export(pending, &mut exported) },
        SuzResult::Store
    );
    assert!(exported.is_null());
    assert!(
        last_message().contains("cannot be exported") && last_message().contains("Redis"),
        "{}",
        last_message()
    );
    let token =
        finish_detached(&client, pending).unwrap_or_else(|rc| panic!("{rc:?}: {}", last_message()));
    unsafe { suz_pending_free(pending) };
    assert_eq!(ping(&emu, &token.value()), 200);
}
