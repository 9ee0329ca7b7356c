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

/// Stops and continues `pid` every 20 ms until `done` says so: a stop/continue interrupts a
/// wait with a socket timeout even with no handler installed.
fn stop_and_continue(pid: u32, for_how_long: std::time::Duration) -> usize {
    let started = std::time::Instant::now();
    let mut pairs = 0;
    while started.elapsed() < for_how_long {
        unsafe {
            if libc::kill(pid as i32, libc::SIGSTOP) != 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
            libc::kill(pid as i32, libc::SIGCONT);
        }
        pairs += 1;
        std::thread::sleep(std::time::Duration::from_millis(15));
    }
    pairs
}

/// `suz token` stopped and continued (`kill -STOP`/`-CONT`) over and over while it waits for
/// a slow sign-in, and a second machine stopped and continued while it waits for the first
/// one's Redis lock: both get the one token minted.
#[test]
fn stop_and_continue_during_a_network_wait_and_a_redis_wait_changes_nothing() {
    needs_gost!();
    needs_redis!();
    use crate::lifecycle::{setup, spawn_cli, temp_dir};
    let redis = crate::redis::RedisServer::start(&[]);
    let emu = emulator();
    fault(
        &emu,
        r#"{"endpoint": "gismt.token", "kind": "delay", "delay_ms": 1500, "times": 1}"#,
    );
    let extra = format!(
        r#", "redis": {{"url": "redis://127.0.0.1:{}"}}"#,
        redis.port
    );
    let a = setup(&emu, &temp_dir("stop-a"), 0, &extra);
    let b = setup(&emu, &temp_dir("stop-b"), 0, &extra);
    let first = spawn_cli(&a.config, &["token", "line"]);
    wait_for_request(&emu, "gismt.token");
    // The first waits for the slow answer, the second for the first's Redis lock.
    let second = spawn_cli(&b.config, &["token", "line"]);
    let (first_pid, second_pid) = (first.id(), second.id());
    let stopper = std::thread::spawn(move || {
        stop_and_continue(second_pid, std::time::Duration::from_millis(1200))
    });
    let pairs = stop_and_continue(first_pid, std::time::Duration::from_millis(1200));
    let second_pairs = stopper.join().unwrap();
    assert!(
        pairs > 20 && second_pairs > 20,
        "{pairs} and {second_pairs} stops"
    );
    let (one, two) = (token_of(first), token_of(second));
    assert_eq!(one, two);
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 1);
    assert_eq!(ping(&emu, &one), 200);
}
