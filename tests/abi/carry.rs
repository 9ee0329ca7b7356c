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
    let at = "suz-pending.1.".len() + 10;
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
    let bad = b"suz-pending.1.\xff\0";
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

/// A state exported `minutes_ago`: the same state with an earlier phase one, its check
/// recomputed (the check catches damage; the age is what is refused).
fn aged(state: &str, minutes_ago: i64) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use sha2::Digest;
    let payload = state.split('.').nth(2).unwrap();
    let mut json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let created = json["created_at_ms"].as_i64().unwrap();
    json["created_at_ms"] = (created - minutes_ago * 60_000).into();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json).unwrap());
    let check: String = sha2::Sha256::digest(payload.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("suz-pending.1.{payload}.{check}")
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
    let fresh = import_pending(&client, &aged(&state, 9)).unwrap();
    unsafe { suz_pending_free(fresh) };
    assert_eq!(
        import_pending(&client, &aged(&state, 11)).unwrap_err(),
        SuzResult::InvalidArgument
    );
    assert!(last_message().contains("expired"), "{}", last_message());
    assert_eq!(counter(&emu, &["requests", "gismt.key"]), 1, "nothing sent");
    let _ = std::fs::remove_dir_all(&dir);
}
