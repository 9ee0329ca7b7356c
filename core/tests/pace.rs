//! Request pacing (`TokenManager::pace`): one request of a kind per gap, across the threads
//! of a process and the processes sharing a file store (two managers on one directory stand
//! for two processes: they share nothing but the store); a deadline that comes first is a
//! timeout.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use suz_auth_core::config::CacheConfig;
use suz_auth_core::token::manager::TokenManager;
use suz_auth_core::ErrorKind;

fn cache(dir: Option<PathBuf>) -> CacheConfig {
    CacheConfig {
        dir,
        refresh_margin: None,
        lock_timeout: Duration::from_secs(10),
        lease: Duration::from_secs(10),
        send_hold: Duration::from_secs(10),
    }
}

/// A name no other test (or run) uses.
fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}-{}-{nanos}", std::process::id())
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("suz-pace-{}", unique(tag)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const GAP: Duration = Duration::from_millis(300);

/// Takes a turn of `name` on each of `managers` in turn, from its own thread, and returns when
/// each turn began, sorted.
fn turns(managers: &[TokenManager], name: &str, each: usize) -> Vec<Instant> {
    let mut at = std::thread::scope(|s| {
        let handles: Vec<_> = managers
            .iter()
            .flat_map(|m| (0..each).map(move |_| m))
            .map(|m| {
                s.spawn(move || {
                    let deadline = Instant::now() + Duration::from_secs(20);
                    let turn = m.pace(name, GAP, deadline).unwrap();
                    let began = Instant::now();
                    // The request's time on the wire.
                    std::thread::sleep(Duration::from_millis(20));
                    drop(turn);
                    began
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    at.sort();
    at
}

fn assert_spaced(at: &[Instant]) {
    for pair in at.windows(2) {
        let gap = pair[1] - pair[0];
        // Each turn begins a gap after the previous one ended (20 ms after it began).
        assert!(gap >= GAP, "{gap:?} between two turns");
    }
}

#[test]
fn the_threads_of_one_process_take_turns_a_gap_apart() {
    let name = unique("memory");
    let manager = TokenManager::new(&cache(None), None).unwrap();
    let at = turns(std::slice::from_ref(&manager), &name, 4);
    assert_eq!(at.len(), 4);
    assert_spaced(&at);
}

#[test]
fn processes_sharing_a_store_take_turns_a_gap_apart() {
    let dir = temp_dir("shared");
    let name = unique("shared");
    let managers = [
        TokenManager::new(&cache(Some(dir.clone())), None).unwrap(),
        TokenManager::new(&cache(Some(dir.clone())), None).unwrap(),
    ];
    let at = turns(&managers, &name, 3);
    assert_eq!(at.len(), 6);
    assert_spaced(&at);
    // Each kind has its own turns: another name goes at once.
    let started = Instant::now();
    drop(
        managers[0]
            .pace("another kind", GAP, started + GAP)
            .unwrap(),
    );
    assert!(started.elapsed() < GAP);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_deadline_before_the_turn_is_a_timeout_and_takes_no_turn() {
    let dir = temp_dir("deadline");
    let name = unique("deadline");
    let manager = TokenManager::new(&cache(Some(dir.clone())), None).unwrap();
    drop(manager.pace(&name, GAP, Instant::now() + GAP).unwrap());
    let first_ended = Instant::now();
    std::thread::sleep(GAP / 2);
    let e = manager
        .pace(&name, GAP, Instant::now() + Duration::from_millis(50))
        .err()
        .expect("the turn is 150 ms away");
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    assert!(e.message.contains("one request every 300 ms"), "{e}");
    // The refused caller took no turn: the next one waits for the first's gap only (had the
    // refusal counted as a turn, it would wait a whole gap from the refusal).
    drop(manager.pace(&name, GAP, Instant::now() + 2 * GAP).unwrap());
    let waited = first_ended.elapsed();
    // (The turns are counted in whole milliseconds of the wall clock: a few ms either way.)
    assert!(
        waited + Duration::from_millis(10) >= GAP && waited < GAP + GAP / 3,
        "{waited:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
