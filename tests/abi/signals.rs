//! Signals during network waits: a host that takes a signal every millisecond (a profiler, a Go
//! or JVM runtime, a line controller's timer) — with and without `SA_RESTART` — still gets
//! every token, one per call. With a socket timeout set, Linux does not restart `recv` even for
//! an `SA_RESTART` handler, so every wait must retry `EINTR` itself.
//!
//! The timer runs in a child process (this test binary again, running `signals_child`), so
//! the rest of the suite is not signalled; the emulator's threads there block the signal, so
//! only the library's waits are interrupted.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::common::*;

const CHILD: &str = "SUZ_TEST_SIGNALS";

static ALARMS: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_alarm(_: libc::c_int) {
    ALARMS.fetch_add(1, Ordering::Relaxed);
}

fn sigalrm_set() -> libc::sigset_t {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGALRM);
        set
    }
}

/// Every flow, three calls each, with a `SIGALRM` every millisecond.
fn flows_under_timer(restart: bool) {
    // The emulator's threads are started with SIGALRM blocked (they inherit this thread's mask).
    let set = sigalrm_set();
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    let emu = emulator();
    let client = TestClient::for_emulator(&emu);
    let signer = TestSigner::new(SignMode::Correct);
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_alarm as *const () as usize;
        action.sa_flags = if restart { libc::SA_RESTART } else { 0 };
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()),
            0
        );
    }
    // A process-directed timer (`setitimer`) signals whichever thread does not block the
    // signal, here maybe the test harness's; this thread is signalled every millisecond by
    // name instead, as a timer in the host's own thread would be.
    let target = unsafe { libc::pthread_self() };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                unsafe { libc::pthread_kill(target, libc::SIGALRM) };
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    for i in 0..3 {
        let what = |flow: &str| format!("{flow} call {i}: {}", last_message());
        gismt(&client, DEFAULT_OMS_CONNECTION, signer.0)
            .unwrap_or_else(|_| panic!("{}", what("GIS MT")));
        trueapi(&client, DEFAULT_OMS_CONNECTION, None, signer.0)
            .unwrap_or_else(|_| panic!("{}", what("True API")));
        mdlp(
            &client,
            DEFAULT_OMS_CONNECTION,
            MDLP_CLIENT_SECRET,
            "1865725612",
            None,
            signer.0,
        )
        .unwrap_or_else(|_| panic!("{}", what("MDLP")));
        smartmarket(&client, SMARTMARKET_CLIENT_SECRET, None)
            .unwrap_or_else(|_| panic!("{}", what("SmartMarket")));
    }
    stop.store(true, Ordering::Relaxed);
    ticker.join().unwrap();
    // One token per call, as without signals.
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 9);
    assert_eq!(stats(&emu)["smartmarket_tokens_issued"], 3);
    let alarms = ALARMS.load(Ordering::Relaxed);
    assert!(alarms > 50, "only {alarms} signals arrived");
    println!("signals: {alarms} SIGALRMs during 12 calls");
}

/// The child: does nothing unless started by the test below.
#[test]
fn signals_child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    flows_under_timer(mode == "restart");
}

#[test]
fn every_flow_succeeds_under_a_1_ms_sigalrm_timer_with_and_without_sa_restart() {
    needs_gost!();
    for mode in ["restart", "no-restart"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "signals::signals_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, mode)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{mode}: {text}");
        assert!(text.contains("SIGALRMs during 12 calls"), "{mode}: {text}");
    }
}
