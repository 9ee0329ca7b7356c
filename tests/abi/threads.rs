//! What the README promises about threads: the error details belong to the calling thread, the
//! handles may be shared, and the signing callback runs on the thread that made the call.

use std::ffi::c_void;
use std::ptr;
use std::sync::{Barrier, Mutex};
use std::thread::ThreadId;

use crate::common::*;
use suz_auth::*;
use suz_emulator::Emulator;

#[test]
fn error_details_belong_to_the_calling_thread() {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let bad_json = s.spawn(|| {
            let json = c(r#"{"stand": "nowhere"}"#);
            let mut client = ptr::null_mut();
            assert_eq!(
                unsafe { suz_client_new(json.as_ptr(), &mut client) },
                SuzResult::Config
            );
            barrier.wait(); // both threads have failed
            barrier.wait(); // the other thread has read its details
            (suz_last_error_code(), last_message())
        });
        let null_arg = s.spawn(|| {
            let mut client = ptr::null_mut();
            assert_eq!(
                unsafe { suz_client_new(ptr::null(), &mut client) },
                SuzResult::NullArgument
            );
            barrier.wait();
            let mine = (suz_last_error_code(), last_message());
            barrier.wait();
            mine
        });
        let (code, message) = bad_json.join().unwrap();
        assert_eq!(code, SuzResult::Config);
        assert!(message.contains("stand"), "{message}");
        let (code, message) = null_arg.join().unwrap();
        assert_eq!(code, SuzResult::NullArgument);
        assert!(message.contains("config_json"), "{message}");
    });
}

/// Records the thread each signing call ran on, then signs correctly.
unsafe extern "C" fn record_thread(
    userdata: *mut c_void,
    data: *const u8,
    len: usize,
    kind: SuzSignatureKind,
    sink: *mut SuzSignatureSink,
) -> i32 {
    let threads = &*(userdata as *const Mutex<Vec<ThreadId>>);
    threads.lock().unwrap().push(std::thread::current().id());
    let data = std::slice::from_raw_parts(data, len);
    let signature = openssl_sign(data, kind == SuzSignatureKind::Attached);
    suz_signature_sink_write(sink, signature.as_ptr(), signature.len()) as i32
}

/// A handle the library documents as shareable between threads.
struct Shared<T>(*mut T);
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    fn get(&self) -> *mut T {
        self.0
    }
}

#[test]
fn handles_are_shared_and_the_callback_runs_on_the_calling_thread() {
    needs_gost!();
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let shared_client = Shared(client.0);
    let threads: &'static Mutex<Vec<ThreadId>> = Box::leak(Box::new(Mutex::new(Vec::new())));
    let mut signer = ptr::null_mut();
    let rc = unsafe {
        suz_signer_new_callback(
            Some(record_thread),
            threads as *const _ as *mut c_void,
            None,
            &mut signer,
        )
    };
    assert_eq!(rc, SuzResult::Ok);
    let signer = Shared(signer);
    let connection = c(DEFAULT_OMS_CONNECTION);
    // One signer and one client used by four threads at once; each thread's signing call must
    // have run on that thread.
    let callers: Vec<ThreadId> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut token = ptr::null_mut();
                    let rc = unsafe {
                        suz_get_token_trueapi(
                            shared_client.get(),
                            connection.as_ptr(),
                            ptr::null(),
                            signer.get(),
                            &mut token,
                        )
                    };
                    assert_eq!(rc, SuzResult::Ok, "{}", last_message());
                    unsafe { suz_token_free(token) };
                    std::thread::current().id()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut signed_on = threads.lock().unwrap().clone();
    let mut expected = callers.clone();
    signed_on.sort_by_key(|t| format!("{t:?}"));
    expected.sort_by_key(|t| format!("{t:?}"));
    assert_eq!(signed_on, expected, "each call signed on its own thread");

    // One token read by several threads at once.
    let token = trueapi(&client, DEFAULT_OMS_CONNECTION, None, signer.0)
        .unwrap_or_else(|_| panic!("{}", last_message()));
    let shared = Shared(token.0);
    let values: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| text(unsafe { suz_token_value(shared.get()) })))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(values.iter().all(|v| *v == token.value()));
    unsafe { suz_signer_free(signer.0) };
}

/// A signing callback that says which thread it ran on and, while its gate is shut, waits
/// (bounded) before signing: a refresh can be held in flight.
struct Gated {
    shut: Mutex<bool>,
    opened: std::sync::Condvar,
    /// The name of each signing call's thread, in order.
    threads: Mutex<Vec<String>>,
    /// Signing calls that returned.
    returned: std::sync::atomic::AtomicUsize,
}

unsafe extern "C" fn gated_sign(
    userdata: *mut c_void,
    data: *const u8,
    len: usize,
    kind: SuzSignatureKind,
    sink: *mut SuzSignatureSink,
) -> i32 {
    let gated = &*(userdata as *const Gated);
    let name = std::thread::current().name().unwrap_or("").to_owned();
    gated.threads.lock().unwrap().push(name);
    let shut = gated.shut.lock().unwrap();
    let _ = gated
        .opened
        .wait_timeout_while(shut, std::time::Duration::from_secs(20), |shut| *shut)
        .unwrap();
    let data = std::slice::from_raw_parts(data, len);
    let signature = openssl_sign(data, kind == SuzSignatureKind::Attached);
    let rc = suz_signature_sink_write(sink, signature.as_ptr(), signature.len()) as i32;
    gated
        .returned
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    rc
}

impl Gated {
    fn new() -> &'static Gated {
        Box::leak(Box::new(Gated {
            shut: Mutex::new(false),
            opened: Default::default(),
            threads: Mutex::new(Vec::new()),
            returned: Default::default(),
        }))
    }

    fn set_shut(&self, shut: bool) {
        *self.shut.lock().unwrap() = shut;
        self.opened.notify_all();
    }

    fn threads(&self) -> Vec<String> {
        self.threads.lock().unwrap().clone()
    }

    /// Waits (at most 10 s) until `n` signing calls have begun.
    fn wait_for_calls(&self, n: usize) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.threads().len() < n {
            assert!(std::time::Instant::now() < until, "{:?}", self.threads());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// A GIS MT profile whose token is always due for refresh (a margin longer than its life).
fn always_due(emu: &Emulator) -> TestClient {
    TestClient::with_extra(
        emu,
        &format!(
            r#", "cache": {{"refresh_margin_ms": 86400000}},
               "profiles": {{"line": {{"flow": "gismt", "oms_connection": "{DEFAULT_OMS_CONNECTION}"}}}}"#
        ),
    )
}

/// `suz_token_get` on another thread, bounded: a get that waited for the gated signer would
/// hang the test, so it fails it instead.
fn get_within(client: &TestClient, seconds: u64) -> OwnedToken {
    let shared = Shared(client.0);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let shared = shared;
        let profile = c("line");
        let mut token = ptr::null_mut();
        let rc = unsafe { suz_token_get(shared.get(), profile.as_ptr(), &mut token) };
        let _ = tx.send((rc, Shared(token), last_message()));
    });
    let (rc, token, message) = rx
        .recv_timeout(std::time::Duration::from_secs(seconds))
        .expect("the get returned without waiting for the signer");
    assert_eq!(rc, SuzResult::Ok, "{message}");
    OwnedToken(token.0)
}

fn gated_signer(gated: &'static Gated, any_thread: bool) -> *mut SuzSigner {
    let make = if any_thread {
        suz_signer_new_callback_any_thread
    } else {
        suz_signer_new_callback
    };
    let mut signer = ptr::null_mut();
    let rc = unsafe {
        make(
            Some(gated_sign),
            gated as *const Gated as *mut c_void,
            None,
            &mut signer,
        )
    };
    assert_eq!(rc, SuzResult::Ok);
    signer
}

#[test]
fn a_callback_callable_from_any_thread_refreshes_ahead_on_a_library_thread() {
    needs_gost!();
    let emu = emulator();
    let client = always_due(&emu);
    let gated = Gated::new();
    let signer = gated_signer(gated, true);
    assert_eq!(
        unsafe { suz_client_set_signer(client.0, ptr::null(), signer) },
        SuzResult::Ok
    );
    unsafe { suz_signer_free(signer) };
    // No token yet: the caller fetches it, on its own thread.
    let first = get_within(&client, 10).value();
    assert_eq!(gated.threads().len(), 1);
    assert_ne!(gated.threads()[0], "suz-auth-refresh");

    // Due for refresh: the signer is held, and every get meanwhile has the valid token at once.
    gated.set_shut(true);
    assert_eq!(get_within(&client, 5).value(), first);
    gated.wait_for_calls(2);
    assert_eq!(
        gated.threads()[1],
        "suz-auth-refresh",
        "{:?}",
        gated.threads()
    );
    for _ in 0..20 {
        assert_eq!(get_within(&client, 5).value(), first);
    }
    assert_eq!(gated.threads().len(), 2, "one refresh in flight");
    gated.set_shut(false);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let renewed = loop {
        let value = get_within(&client, 5).value();
        if value != first {
            break value;
        }
        assert!(
            std::time::Instant::now() < until,
            "the refresh never landed"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(ping(&emu, &renewed), 200);
    assert_eq!(
        ping(&emu, &first),
        401,
        "the refresh's token replaced the first"
    );

    // Freeing the client waits for a refresh in flight: once it returns, no callback runs.
    gated.set_shut(true);
    let _ = get_within(&client, 5);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    // A refresh held at the gate (begun now, or by one of the gets above).
    while gated.threads().len() == gated.returned.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(std::time::Instant::now() < until, "no refresh began");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let opener = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        gated.set_shut(false);
    });
    drop(client);
    assert_eq!(
        gated.returned.load(std::sync::atomic::Ordering::SeqCst),
        gated.threads().len(),
        "suz_client_free returned while the callback still ran"
    );
    opener.join().unwrap();
}

#[test]
fn a_plain_callback_refreshes_on_the_calling_thread() {
    needs_gost!();
    let emu = emulator();
    let client = always_due(&emu);
    let gated = Gated::new();
    let signer = gated_signer(gated, false);
    assert_eq!(
        unsafe { suz_client_set_signer(client.0, ptr::null(), signer) },
        SuzResult::Ok
    );
    unsafe { suz_signer_free(signer) };
    let first = get_within(&client, 10).value();
    let second = get_within(&client, 10).value();
    assert_ne!(
        first, second,
        "the caller that found the token due fetched a new one"
    );
    let threads = gated.threads();
    assert_eq!(threads.len(), 2);
    assert!(
        threads.iter().all(|t| t != "suz-auth-refresh"),
        "{threads:?}"
    );
}
