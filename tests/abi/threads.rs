//! What the README promises about threads: the error details belong to the calling thread, the
//! handles may be shared, and the signing callback runs on the thread that made the call.

use std::ffi::c_void;
use std::ptr;
use std::sync::{Barrier, Mutex};
use std::thread::ThreadId;

use crate::common::*;
use suz_auth::*;

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
