//! One token per installation when the signature is made elsewhere: `suz_token_acquire` hands
//! one caller the installation's lease and the data to sign, every other caller waits for that
//! caller's token, and `suz_token_complete` may run in yet another process. The processes are
//! this test binary again, each running one of the `*_in_child` roles below.

use std::process::{Command, Output};
use std::ptr;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use suz_auth::*;

use crate::common::*;

const ROLE_CONFIG: &str = "SUZ_TEST_LEASE_CONFIG";
const ROLE_STATE: &str = "SUZ_TEST_LEASE_STATE";
const ROLE_DATA: &str = "SUZ_TEST_LEASE_DATA";
const ROLE_SIGNATURE: &str = "SUZ_TEST_LEASE_SIGNATURE";
const ROLE_THREADS: &str = "SUZ_TEST_LEASE_THREADS";

/// A client with one GIS MT profile `line` and the file store in `dir`; `cache` adds members
/// to the `cache` object (starting with a comma).
fn config(emu_url: &str, dir: &std::path::Path, cache: &str) -> String {
    format!(
        r#"{{"stand": "emulator", "emulator_url": "{emu_url}",
            "timeouts": {{"connect_ms": 2000, "total_ms": 10000}},
            "cache": {{"dir": {:?}{cache}}},
            "profiles": {{"line": {{"flow": "gismt", "oms_connection": "{DEFAULT_OMS_CONNECTION}"}}}}}}"#,
        dir.display().to_string()
    )
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "suz-lease-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ))
}

/// What `suz_token_acquire` gave.
enum Got {
    Token(OwnedToken),
    Pending(*mut SuzPending),
}

fn acquire(client: &TestClient, profile: &str) -> Result<Got, SuzResult> {
    let profile = c(profile);
    let mut token = ptr::null_mut();
    let mut pending = ptr::null_mut();
    let rc = unsafe { suz_token_acquire(client.0, profile.as_ptr(), &mut token, &mut pending) };
    match rc {
        SuzResult::Ok => {
            assert!(
                token.is_null() != pending.is_null(),
                "exactly one out-parameter is set"
            );
            Ok(if token.is_null() {
                Got::Pending(pending)
            } else {
                Got::Token(OwnedToken(token))
            })
        }
        rc => {
            assert!(token.is_null() && pending.is_null());
            Err(rc)
        }
    }
}

fn import(client: &TestClient, state: &str) -> *mut SuzPending {
    import_pending(client, state).unwrap_or_else(|rc| panic!("{rc:?}: {}", last_message()))
}

fn complete(
    client: &TestClient,
    pending: *mut SuzPending,
    signature: &[u8],
) -> Result<OwnedToken, SuzResult> {
    let mut out = ptr::null_mut();
    let rc = unsafe {
        suz_token_complete(
            client.0,
            pending,
            signature.as_ptr(),
            signature.len(),
            &mut out,
        )
    };
    token_result(rc, out)
}

/// Runs this test binary as one of the roles below.
fn run_role(role: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", role, "--nocapture", "--test-threads=1"]);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

/// The lines `NAME=value` a role printed.
fn printed(out: &Output, name: &str) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The test harness prints its own words around ours, on the same lines.
    let prefix = format!("{name}=");
    stdout
        .split_whitespace()
        .filter_map(|w| w.strip_prefix(&prefix))
        .map(str::to_owned)
        .collect()
}

/// Sign-in requests the emulator received (its counter appears with the first one).
fn sign_ins(emu: &suz_emulator::Emulator) -> u64 {
    let stats = stats(emu);
    assert!(stats["requests"].is_object(), "{stats}");
    stats["requests"]["gismt.token"].as_u64().unwrap_or(0)
}

/// The signer: signs `ROLE_DATA` (base64) detached — as 1C's crypto does — one second after
/// it starts, and prints the signature as base64.
#[test]
fn sign_in_child() {
    let Ok(data) = std::env::var(ROLE_DATA) else {
        return;
    };
    std::thread::sleep(Duration::from_secs(1));
    let signature = openssl_sign(&STANDARD.decode(data).unwrap(), false);
    println!("SIGNATURE={}", STANDARD.encode(signature));
}

/// The completer: imports `ROLE_STATE` and completes it with `ROLE_SIGNATURE`.
#[test]
fn complete_in_child() {
    let (Ok(config), Ok(state), Ok(signature)) = (
        std::env::var(ROLE_CONFIG),
        std::env::var(ROLE_STATE),
        std::env::var(ROLE_SIGNATURE),
    ) else {
        return;
    };
    let client = TestClient::new(&config);
    let pending = import(&client, &state);
    let token = complete(&client, pending, signature.as_bytes())
        .unwrap_or_else(|rc| panic!("{rc:?}: {}", last_message()));
    unsafe { suz_pending_free(pending) };
    println!("COMPLETED={}", token.value());
}

/// An acquirer process: `ROLE_THREADS` threads call `suz_token_acquire` at once. A thread that
/// gets the pending operation exports it, has the signer process sign it and the completer
/// process complete it, then acquires again; every thread prints the token it ends with.
#[test]
fn acquire_in_child() {
    let (Ok(config), Ok(threads)) = (std::env::var(ROLE_CONFIG), std::env::var(ROLE_THREADS))
    else {
        return;
    };
    let client = TestClient::new(&config);
    let threads: usize = threads.parse().unwrap();
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                let token = match acquire(&client, "line") {
                    Ok(Got::Token(t)) => t,
                    Ok(Got::Pending(pending)) => {
                        println!("PENDING=1");
                        let state = export_pending(pending);
                        let data = STANDARD.encode(pending_data(pending));
                        unsafe { suz_pending_free(pending) };
                        let signed = run_role("lease::sign_in_child", &[(ROLE_DATA, &data)]);
                        let signature = printed(&signed, "SIGNATURE").remove(0);
                        let completed = run_role(
                            "lease::complete_in_child",
                            &[
                                (ROLE_CONFIG, &config),
                                (ROLE_STATE, &state),
                                (ROLE_SIGNATURE, &signature),
                            ],
                        );
                        println!("COMPLETED={}", printed(&completed, "COMPLETED").remove(0));
                        match acquire(&client, "line") {
                            Ok(Got::Token(t)) => t,
                            _ => panic!("after completing, acquire gives the token"),
                        }
                    }
                    Err(rc) => panic!("{rc:?}: {}", last_message()),
                };
                println!("TOKEN={}", token.value());
            });
        }
    });
}

#[test]
fn four_processes_of_eight_threads_share_one_token_signed_and_completed_elsewhere() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("many");
    let json = config(&emu.base_url(), &dir, r#", "lock_timeout_ms": 60000"#);
    let started = Instant::now();
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut command = Command::new(std::env::current_exe().unwrap());
            command
                .args([
                    "--exact",
                    "lease::acquire_in_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(ROLE_CONFIG, &json)
                .env(ROLE_THREADS, "8")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            command.spawn().unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let tokens: Vec<String> = outputs.iter().flat_map(|o| printed(o, "TOKEN")).collect();
    let completed: Vec<String> = outputs
        .iter()
        .flat_map(|o| printed(o, "COMPLETED"))
        .collect();
    let pendings = outputs.iter().flat_map(|o| printed(o, "PENDING")).count();
    assert_eq!(tokens.len(), 32, "every caller ends with a token");
    assert_eq!(pendings, 1, "one caller of 32 got the operation to sign");
    assert_eq!(completed.len(), 1);
    assert!(
        tokens.iter().all(|t| *t == completed[0]),
        "every caller has the completed token"
    );
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 1);
    assert_eq!(
        counter(&emu, &["requests", "gismt.key"]),
        1,
        "one challenge"
    );
    assert_eq!(sign_ins(&emu), 1);
    assert_eq!(ping(&emu, &completed[0]), 200, "the one token is live");
    // The signer waited a second; the callers waited for it, not for a timeout.
    assert!(started.elapsed() >= Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The lease holder: acquires, prints the state, and waits to be killed.
#[test]
fn hold_lease_in_child() {
    let (Ok(config), Ok(_)) = (std::env::var(ROLE_CONFIG), std::env::var(ROLE_STATE)) else {
        return;
    };
    let client = TestClient::new(&config);
    match acquire(&client, "line") {
        Ok(Got::Pending(pending)) => println!("HELD={}", export_pending(pending)),
        _ => panic!("the first caller gets the lease"),
    }
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn a_killed_lease_holder_loses_the_lease_when_it_expires() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("killed");
    let json = config(
        &emu.base_url(),
        &dir,
        r#", "lock_timeout_ms": 300, "lease_ms": 2000"#,
    );
    let mut holder = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lease::hold_lease_in_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE_CONFIG, &json)
        .env(ROLE_STATE, "hold")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(holder.stdout.take().unwrap()));
    let held = lines
        .by_ref()
        .map_while(|l| l.ok())
        .find_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("HELD=").map(str::to_owned))
        })
        .expect("the holder prints its state");
    holder.kill().unwrap();
    holder.wait().unwrap();

    // While the dead holder's lease lives: nobody starts a second fetch.
    let client = TestClient::new(&json);
    let taken = Instant::now();
    assert_eq!(acquire(&client, "line").err(), Some(SuzResult::InProgress));
    assert!(
        last_message().contains("another caller is fetching"),
        "{}",
        last_message()
    );
    assert_eq!(counter(&emu, &["requests", "gismt.key"]), 1);

    // Once it expires, the next caller takes it over and gets a pending operation.
    std::thread::sleep(Duration::from_millis(2100).saturating_sub(taken.elapsed()));
    let Ok(Got::Pending(pending)) = acquire(&client, "line") else {
        panic!(
            "after the lease expired, a caller gets the lease: {}",
            last_message()
        )
    };
    let token = complete(
        &client,
        pending,
        &openssl_sign(&pending_data(pending), false),
    )
    .unwrap_or_else(|rc| panic!("{rc:?}: {}", last_message()));
    unsafe { suz_pending_free(pending) };
    assert_eq!(ping(&emu, &token.value()), 200);
    assert_eq!(
        tokens_issued(&emu, DEFAULT_OMS_CONNECTION),
        1,
        "one live token"
    );

    // The dead holder's state, completed late: the fresh token is there, nothing is sent.
    let late = import(&client, &held);
    let again = complete(&client, late, &openssl_sign(&pending_data(late), false)).unwrap();
    assert_eq!(again.value(), token.value());
    unsafe { suz_pending_free(late) };
    assert_eq!(sign_ins(&emu), 1, "nothing sent");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_taken_over_lease_is_lost_and_a_released_one_is_free_at_once() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("lost");
    let json = config(
        &emu.base_url(),
        &dir,
        r#", "lock_timeout_ms": 200, "lease_ms": 500"#,
    );
    let client = TestClient::new(&json);
    let Ok(Got::Pending(first)) = acquire(&client, "line") else {
        panic!("{}", last_message())
    };
    // Released: the next caller takes the lease at once.
    assert_eq!(unsafe { suz_token_release(client.0, first) }, SuzResult::Ok);
    let Ok(Got::Pending(second)) = acquire(&client, "line") else {
        panic!("{}", last_message())
    };
    // `second` expires and a third caller takes it over: completing `second` now is refused.
    std::thread::sleep(Duration::from_millis(600));
    let Ok(Got::Pending(third)) = acquire(&client, "line") else {
        panic!("{}", last_message())
    };
    assert_eq!(
        complete(&client, second, &openssl_sign(&pending_data(second), false)).err(),
        Some(SuzResult::LeaseLost)
    );
    assert!(
        last_message().contains("took it over"),
        "{}",
        last_message()
    );
    assert_eq!(sign_ins(&emu), 0, "nothing sent");

    // A wrong signature leaves the operation and its lease: completed with the right one after.
    let other = openssl_sign(b"other bytes", true);
    assert_eq!(
        complete(&client, third, &other).err(),
        Some(SuzResult::SignerFailed)
    );
    // Finishing it outside the cache is refused: the token would not be stored.
    let mut out = ptr::null_mut();
    let sig = openssl_sign(&pending_data(third), true);
    assert_eq!(
        unsafe { suz_pending_finish_token(client.0, third, sig.as_ptr(), sig.len(), &mut out) },
        SuzResult::InvalidArgument
    );
    assert!(
        last_message().contains("suz_token_complete"),
        "{}",
        last_message()
    );
    let token = complete(&client, third, &sig).unwrap();
    assert_eq!(ping(&emu, &token.value()), 200);
    // Acquired again: the cached token, no pending operation.
    assert!(matches!(acquire(&client, "line"), Ok(Got::Token(t)) if t.value() == token.value()));
    assert_eq!(sign_ins(&emu), 1);

    // A pending operation of the plain two-phase functions has no lease to complete.
    let conn = c(DEFAULT_OMS_CONNECTION);
    let mut plain = ptr::null_mut();
    assert_eq!(
        unsafe { suz_gismt_begin(client.0, conn.as_ptr(), &mut plain) },
        SuzResult::Ok
    );
    assert_eq!(
        complete(&client, plain, &sig).err(),
        Some(SuzResult::InvalidArgument)
    );
    assert_eq!(
        unsafe { suz_token_release(client.0, plain) },
        SuzResult::InvalidArgument
    );
    // NULLs are named.
    assert_eq!(
        unsafe { suz_token_release(client.0, ptr::null()) },
        SuzResult::NullArgument
    );
    let profile = c("line");
    let mut token_out = ptr::null_mut();
    assert_eq!(
        unsafe { suz_token_acquire(client.0, profile.as_ptr(), &mut token_out, ptr::null_mut()) },
        SuzResult::NullArgument
    );
    for p in [first, second, third, plain] {
        unsafe { suz_pending_free(p) };
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_memory_only_cache_leases_across_threads() {
    needs_gost!();
    let emu = emulator();
    let json = format!(
        r#"{{"stand": "emulator", "emulator_url": "{}",
            "cache": {{"persist": false, "lock_timeout_ms": 20000}},
            "profiles": {{"line": {{"flow": "trueapi", "oms_connection": "{DEFAULT_OMS_CONNECTION}"}}}}}}"#,
        emu.base_url()
    );
    let client = TestClient::new(&json);
    let tokens: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| match acquire(&client, "line") {
                    Ok(Got::Token(t)) => t.value(),
                    Ok(Got::Pending(p)) => {
                        std::thread::sleep(Duration::from_millis(300));
                        // 1C signs detached; the challenge is embedded before sending.
                        let t = complete(&client, p, &openssl_sign(&pending_data(p), false))
                            .unwrap_or_else(|rc| panic!("{rc:?}: {}", last_message()));
                        unsafe { suz_pending_free(p) };
                        t.value()
                    }
                    Err(rc) => panic!("{rc:?}: {}", last_message()),
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 1);
}

#[test]
fn mdlp_profiles_acquire_a_code_and_unsigned_profiles_a_token() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("mdlp");
    let json = format!(
        r#"{{"stand": "emulator", "emulator_url": "{url}", "cache": {{"dir": {dir:?}}},
            "profiles": {{
              "pharma": {{"flow": "mdlp", "oms_connection": "{conn}", "client_id": "{id}",
                          "client_secret": "{secret}", "user_id": "1865725612"}},
              "push": {{"flow": "smartmarket", "client_id": "{sm_id}", "client_secret": "{sm_secret}"}}
            }}}}"#,
        url = emu.base_url(),
        dir = dir.display().to_string(),
        conn = DEFAULT_OMS_CONNECTION,
        id = MDLP_CLIENT_ID,
        secret = MDLP_CLIENT_SECRET,
        sm_id = SMARTMARKET_CLIENT_ID,
        sm_secret = SMARTMARKET_CLIENT_SECRET,
    );
    let client = TestClient::new(&json);
    let Ok(Got::Pending(pending)) = acquire(&client, "pharma") else {
        panic!("{}", last_message())
    };
    assert_eq!(
        unsafe { suz_pending_kind(pending) },
        SuzSignatureKind::Detached as u32
    );
    let state = export_pending(pending);
    assert!(!state.contains(MDLP_CLIENT_SECRET));
    // An attached signature over the code is accepted (its content is stripped).
    let token = complete(
        &client,
        pending,
        &openssl_sign(&pending_data(pending), true),
    )
    .unwrap_or_else(|rc| panic!("{rc:?}: {}", last_message()));
    unsafe { suz_pending_free(pending) };
    assert_eq!(token.flow(), SuzFlow::Mdlp as u32);
    assert!(matches!(acquire(&client, "pharma"), Ok(Got::Token(t)) if t.value() == token.value()));
    // SmartMarket signs nothing: a token at once.
    let Ok(Got::Token(push)) = acquire(&client, "push") else {
        panic!("{}", last_message())
    };
    assert_eq!(push.flow(), SuzFlow::SmartMarket as u32);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server that answers garbage while the challenge is fetched: the error, and the lease is
/// given back at once (the next caller gets one without waiting). A profile name that is not
/// UTF-8: named, nothing written.
#[test]
fn a_failed_begin_gives_the_lease_back_and_bad_arguments_are_named() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("garbage");
    let json = config(&emu.base_url(), &dir, r#", "lock_timeout_ms": 200"#);
    let client = TestClient::new(&json.replacen('{', r#"{"retry": {"max_attempts": 1}, "#, 1));
    fault(&emu, r#"{"endpoint":"gismt.key","kind":"html"}"#);
    let failed = acquire(&client, "line").err();
    assert!(
        matches!(
            failed,
            Some(SuzResult::Protocol | SuzResult::HttpServerError)
        ),
        "{failed:?}: {}",
        last_message()
    );
    let started = Instant::now();
    let Ok(Got::Pending(pending)) = acquire(&client, "line") else {
        panic!("{}", last_message())
    };
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "no wait for a dead lease"
    );
    unsafe { suz_pending_free(pending) };

    let bad = b"li\xffne\0";
    let (mut token, mut pending) = (ptr::null_mut(), ptr::null_mut());
    assert_eq!(
        unsafe { suz_token_acquire(client.0, bad.as_ptr().cast(), &mut token, &mut pending) },
        SuzResult::InvalidUtf8
    );
    assert!(token.is_null() && pending.is_null());
    assert!(last_message().contains("profile"), "{}", last_message());
    let unknown = c("nope");
    assert_eq!(
        unsafe { suz_token_acquire(client.0, unknown.as_ptr(), &mut token, &mut pending) },
        SuzResult::InvalidArgument
    );
    assert!(
        last_message().contains("unknown profile"),
        "{}",
        last_message()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A lease file replaced by a symlink or a FIFO (a hostile cache directory) is never followed
/// or blocked on: it counts as no lease, and the next lease replaces it.
#[cfg(unix)]
#[test]
fn a_lease_file_that_is_a_symlink_or_a_fifo_is_not_followed() {
    let emu = emulator();
    let dir = temp_dir("hostile");
    let json = config(&emu.base_url(), &dir, r#", "lock_timeout_ms": 200"#);
    let client = TestClient::new(&json);
    let Ok(Got::Pending(first)) = acquire(&client, "line") else {
        panic!("{}", last_message())
    };
    let lease = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "lease"))
        .expect("the lease is a file in the cache directory");
    assert_eq!(unsafe { suz_token_release(client.0, first) }, SuzResult::Ok);
    unsafe { suz_pending_free(first) };
    let target = dir.with_extension("target");
    std::fs::write(&target, "keep").unwrap();
    let _ = std::fs::remove_file(&lease);
    std::os::unix::fs::symlink(&target, &lease).unwrap();
    let Ok(Got::Pending(second)) = acquire(&client, "line") else {
        panic!("{}", last_message())
    };
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    assert!(!std::fs::symlink_metadata(&lease)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        unsafe { suz_token_release(client.0, second) },
        SuzResult::Ok
    );
    unsafe { suz_pending_free(second) };
    let _ = std::fs::remove_file(&lease);
    let fifo = c(lease.to_str().unwrap());
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let started = Instant::now();
    let Ok(Got::Pending(third)) = acquire(&client, "line") else {
        panic!("{}", last_message())
    };
    assert!(started.elapsed() < Duration::from_secs(2));
    unsafe { suz_pending_free(third) };
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&target);
}

/// A process killed while `suz_token_complete` sends blocks the others no longer than a killed
/// one-call fetch does (the OS lets its lock go at once): no lease record outlives it.
#[test]
fn a_process_killed_inside_complete_blocks_nobody() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("killed-complete");
    // With a 10 s total time a lease held for the send would last 40 s.
    let json = config(&emu.base_url(), &dir, r#", "lock_timeout_ms": 2000"#);
    let client = TestClient::new(&json);
    let Ok(Got::Pending(pending)) = acquire(&client, "line") else {
        panic!("the first caller gets the lease: {}", last_message())
    };
    let state = export_pending(pending);
    let signature = STANDARD.encode(openssl_sign(&pending_data(pending), false));
    unsafe { suz_pending_free(pending) };
    fault(
        &emu,
        r#"{"endpoint": "gismt.token", "kind": "delay", "delay_ms": 2000, "times": 1}"#,
    );
    let mut completer = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lease::complete_in_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE_CONFIG, &json)
        .env(ROLE_STATE, &state)
        .env(ROLE_SIGNATURE, &signature)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while sign_ins(&emu) < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no sign-in came"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    completer.kill().unwrap();
    completer.wait().unwrap();
    // Its sign-in is still answered (and mints); then the next caller takes the lease at once.
    while stats(&emu)["in_flight"].as_u64() != Some(0) {
        assert!(started.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(10));
    }
    let asked = Instant::now();
    let Ok(Got::Pending(pending)) = acquire(&client, "line") else {
        panic!(
            "the lease is free after the completer died: {}",
            last_message()
        )
    };
    assert!(
        asked.elapsed() < Duration::from_millis(1000),
        "{:?}",
        asked.elapsed()
    );
    let token = complete(
        &client,
        pending,
        &openssl_sign(&pending_data(pending), false),
    )
    .unwrap_or_else(|rc| panic!("{rc:?}: {}", last_message()));
    unsafe { suz_pending_free(pending) };
    assert_eq!(ping(&emu, &token.value()), 200);
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
