//! The token cache on its own: refresh margins, single flight between threads, the
//! interrupted-fetch marker and Redis compare-and-invalidate, with a counting fetch in place of
//! a service. Each test names what a user would see go wrong.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use suz_auth_core::config::{Config, Profile};
use suz_auth_core::token::key::TokenKey;
use suz_auth_core::token::manager::TokenManager;
use suz_auth_core::token::now_ms;
use suz_auth_core::{Error, ErrorKind, Flow, Token};

const CONN: &str = "11b1abc9-f4ee-47db-8a20-f80ac83504e8";
const MIN: i64 = 60_000;

/// A config with one GIS MT profile `p`; `profile_extra` and `top_extra` are JSON members.
fn config(profile_extra: &str, top_extra: &str) -> Config {
    let json = format!(
        r#"{{"profiles": {{"p": {{"flow": "gismt", "oms_connection": "{CONN}"{profile_extra}}}}}{top_extra}}}"#
    );
    Config::from_json(&json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn memory_only(profile_extra: &str, cache_extra: &str) -> Config {
    config(
        profile_extra,
        &format!(r#", "cache": {{"persist": false{cache_extra}}}"#),
    )
}

fn in_dir(dir: &std::path::Path) -> Config {
    config(
        "",
        &format!(r#", "cache": {{"dir": {:?}}}"#, dir.display().to_string()),
    )
}

fn parts(config: &Config) -> (TokenManager, Profile, TokenKey) {
    let manager = TokenManager::new(&config.cache, config.redis.as_ref()).unwrap();
    let profile = config.profiles["p"].clone();
    let key = TokenKey::for_profile(&profile, &|_| None);
    (manager, profile, key)
}

/// A token of `lifetime_ms` with `left_ms` of it left.
fn token(value: &str, lifetime_ms: i64, left_ms: i64) -> Token {
    let now = now_ms();
    Token::new(
        value.to_owned(),
        Flow::Gismt,
        now - (lifetime_ms - left_ms),
        now + left_ms,
    )
}

/// Gets the token twice with a fetch that mints `make()` and counts; returns the count.
fn fetches_for_two_gets(config: &Config, make: impl Fn() -> Token) -> usize {
    let (manager, profile, key) = parts(config);
    let count = AtomicUsize::new(0);
    let fetch = || {
        count.fetch_add(1, Ordering::SeqCst);
        Ok(make())
    };
    manager.get(&profile, &key, &fetch).unwrap();
    manager.get(&profile, &key, &fetch).unwrap();
    count.load(Ordering::SeqCst)
}

#[test]
fn the_default_margin_is_a_fifth_of_the_lifetime() {
    let c = memory_only("", "");
    // A 60-second token refreshes 12 seconds before it expires.
    assert_eq!(
        fetches_for_two_gets(&c, || token("a", MIN, 20_000)),
        1,
        "20 s left of 60"
    );
    assert_eq!(
        fetches_for_two_gets(&c, || token("a", MIN, 8_000)),
        2,
        "8 s left of 60"
    );
}

#[test]
fn the_default_margin_is_ten_minutes_at_most() {
    let c = memory_only("", "");
    // A 10-hour token refreshes 10 minutes early, not 2 hours early.
    assert_eq!(
        fetches_for_two_gets(&c, || token("a", 600 * MIN, 30 * MIN)),
        1
    );
    assert_eq!(
        fetches_for_two_gets(&c, || token("a", 600 * MIN, 9 * MIN)),
        2
    );
}

#[test]
fn a_configured_margin_replaces_the_default_and_a_profile_margin_wins() {
    // 15 minutes left of 10 hours: fresh by default, stale with a 20-minute margin.
    let make = || token("a", 600 * MIN, 15 * MIN);
    assert_eq!(fetches_for_two_gets(&memory_only("", ""), make), 1);
    let cache_wide = memory_only("", r#", "refresh_margin_ms": 1200000"#);
    assert_eq!(fetches_for_two_gets(&cache_wide, make), 2);
    let per_profile = memory_only(r#", "refresh_margin_ms": 1200000"#, "");
    assert_eq!(fetches_for_two_gets(&per_profile, make), 2);
    let profile_over_cache = memory_only(
        r#", "refresh_margin_ms": 60000"#,
        r#", "refresh_margin_ms": 1200000"#,
    );
    assert_eq!(fetches_for_two_gets(&profile_over_cache, make), 1);
}

#[test]
fn a_profile_margin_is_honoured_whatever_the_flow() {
    // 15 minutes left of 10 hours: fresh by default, stale with the profile's 20-minute margin,
    // for every kind of profile (each flow's section is read on its own).
    let make = || token("a", 600 * MIN, 15 * MIN);
    for profile in [
        format!(r#"{{"flow": "gismt", "oms_connection": "{CONN}""#),
        format!(r#"{{"flow": "trueapi", "oms_connection": "{CONN}", "inn": "7707083893""#),
        format!(
            r#"{{"flow": "mdlp", "oms_connection": "{CONN}", "client_id": "01db16f2-9a4e-4d9f-a5e8-7d8c3a1f8d11", "client_secret": "5dbb7a48-0b8e-4f3e-8c11-b0a3a87e9f0d", "user_id": "1865725612""#
        ),
        format!(
            r#"{{"flow": "mdlp", "oms_connection": "{CONN}", "client_id": "01db16f2-9a4e-4d9f-a5e8-7d8c3a1f8d11", "client_secret": "5dbb7a48-0b8e-4f3e-8c11-b0a3a87e9f0d", "user_id": "1865725612", "password": "pw""#
        ),
        r#"{"flow": "smartmarket", "client_id": "id", "client_secret": "secret""#.to_owned(),
    ] {
        let config = |margin: &str| {
            let json = format!(
                r#"{{"profiles": {{"p": {profile}{margin}}}}}, "cache": {{"persist": false}}}}"#
            );
            Config::from_json(&json).unwrap_or_else(|e| panic!("{json}: {e}"))
        };
        assert_eq!(fetches_for_two_gets(&config(""), make), 1, "{profile}");
        let with_margin = config(r#", "refresh_margin_ms": 1200000"#);
        assert_eq!(
            with_margin.profiles["p"].refresh_margin,
            Some(Duration::from_millis(1_200_000)),
            "{profile}"
        );
        assert_eq!(fetches_for_two_gets(&with_margin, make), 2, "{profile}");
    }
}

#[test]
fn threads_share_one_fetch_without_persistence() {
    let (manager, profile, key) = parts(&memory_only("", ""));
    let count = AtomicUsize::new(0);
    let start = Barrier::new(16);
    let values: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    let fetch = || {
                        let n = count.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                        Ok(token(&format!("token-{n}"), 600 * MIN, 600 * MIN))
                    };
                    manager
                        .get(&profile, &key, &fetch)
                        .unwrap()
                        .value()
                        .to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(count.load(Ordering::SeqCst), 1, "one fetch for 16 threads");
    assert!(values.iter().all(|v| v == "token-0"), "{values:?}");
}

#[test]
fn waiters_for_a_fetching_thread_get_its_failure_its_panic_or_their_timeout() {
    let (manager, profile, key) = parts(&memory_only("", r#", "lock_timeout_ms": 300"#));
    let started = Barrier::new(2);
    // The fetch ends in `end` after the waiter has started waiting; returns the waiter's error.
    let waiter_sees = |end: &(dyn Fn() -> Result<Token, Error> + Sync)| {
        std::thread::scope(|s| {
            let leader = s.spawn(|| {
                let fetch = || {
                    started.wait();
                    std::thread::sleep(Duration::from_millis(100));
                    end()
                };
                let _ = manager.get(&profile, &key, &fetch);
            });
            started.wait();
            let begun = Instant::now();
            let unexpected = || -> Result<Token, Error> { panic!("the waiter fetched") };
            let e = manager.get(&profile, &key, &unexpected).unwrap_err();
            let _ = leader.join();
            (e, begun.elapsed())
        })
    };
    let (e, _) = waiter_sees(&|| Err(Error::new(ErrorKind::HttpServerError, "refused")));
    assert_eq!(
        (e.kind, e.to_string().as_str()),
        (ErrorKind::HttpServerError, "refused")
    );
    let (e, _) = waiter_sees(&|| panic!("a bug in the fetch"));
    assert_eq!(e.kind, ErrorKind::Panic, "{e}");
    let (e, waited) = waiter_sees(&|| {
        std::thread::sleep(Duration::from_millis(600));
        Err(Error::new(ErrorKind::HttpServerError, "too late"))
    });
    assert_timed_out_at_300_ms(&e, waited);
}

fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "suz-core-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `n` managers on one new cache directory, as `n` processes sharing it would be, and the key.
fn on_one_dir(name: &str, n: usize) -> (Vec<TokenManager>, TokenKey) {
    let c = in_dir(&temp_dir(name));
    let key = parts(&c).2;
    ((0..n).map(|_| parts(&c).0).collect(), key)
}

fn files(m: &TokenManager) -> std::sync::Arc<suz_auth_core::token::store::FileStore> {
    m.file_store().unwrap().unwrap()
}

/// `e` is a timeout, and the wait ended at its 300 ms, not much later.
fn assert_timed_out_at_300_ms(e: &Error, waited: Duration) {
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

/// After a fetch that failed with `error`, does the next process (a new manager on the same
/// store) fetch anew although a valid token is stored?
fn next_process_fetches_after(error: ErrorKind) -> bool {
    let dir = temp_dir("marker");
    let c = in_dir(&dir);
    let (first, profile, key) = parts(&c);
    first
        .get(&profile, &key, &|| {
            Ok(token("stored", 600 * MIN, 600 * MIN))
        })
        .unwrap();
    // A process that finds the marker of a fetch under way fetches, and this fetch fails.
    let files = first.file_store().unwrap().unwrap();
    files.begin_fetch(&key.hash).unwrap();
    let (second, _, _) = parts(&c);
    // The stored token may have been revoked by the interrupted fetch: it is never the
    // fallback, the failure is reported.
    let e = second
        .get(&profile, &key, &|| {
            Err(Error::new(error, "the fetch failed"))
        })
        .unwrap_err();
    assert_eq!(e.kind, error, "{e}");
    let (third, _, _) = parts(&c);
    let count = AtomicUsize::new(0);
    third
        .get(&profile, &key, &|| {
            count.fetch_add(1, Ordering::SeqCst);
            Ok(token("new", 600 * MIN, 600 * MIN))
        })
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    count.load(Ordering::SeqCst) == 1
}

#[test]
fn after_an_ambiguous_failure_the_next_process_fetches_anew() {
    // The server may have issued (and so revoked the stored token) before the answer was lost.
    for kind in [
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::HttpServerError,
        ErrorKind::Protocol,
    ] {
        assert!(next_process_fetches_after(kind), "{kind:?}");
    }
}

#[test]
fn after_a_refusal_the_stored_token_is_used() {
    // A refusal issued no token: the stored one is still the live one.
    for kind in [ErrorKind::Unauthorized, ErrorKind::SignerFailed] {
        assert!(!next_process_fetches_after(kind), "{kind:?}");
    }
}

/// Unix permissions; Windows has none of these modes to check.
#[cfg(unix)]
#[test]
fn the_store_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("private").join("cache");
    let (manager, profile, key) = parts(&in_dir(&dir));
    manager
        .get(&profile, &key, &|| Ok(token("t", 600 * MIN, 600 * MIN)))
        .unwrap();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{mode:o}");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}: {mode:o}", path.display());
    }
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn purge_deletes_tokens_and_markers_but_not_locks() {
    let dir = temp_dir("purge");
    let c = in_dir(&dir);
    let (manager, profile, key) = parts(&c);
    manager
        .get(&profile, &key, &|| Ok(token("t", 600 * MIN, 600 * MIN)))
        .unwrap();
    let files = manager.file_store().unwrap().unwrap();
    files.begin_fetch(&key.hash).unwrap();
    let id = "0123456789abcdef0123456789abcdef";
    assert!(files.claim_finish(id).unwrap());
    assert!(!files.claim_finish(id).unwrap(), "claimed once only");
    let names = || {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let h = &key.hash;
    assert_eq!(
        names(),
        [
            format!("{id}.done"),
            format!("{h}.fetching"),
            format!("{h}.lock"),
            format!("{h}.token")
        ]
    );
    assert_eq!(files.purge().unwrap(), 3);
    assert_eq!(names(), [format!("{h}.lock")]);
    assert_eq!(files.purge().unwrap(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// How long the Redis tests below wait for a lock they expect to get.
const WAIT: Duration = Duration::from_secs(5);

/// A `redis-server` on a free loopback port, stopped on drop; `None` (with a printed reason)
/// when it is not installed, unless `SUZ_AUTH_REQUIRE_ALL=1`.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            let required = std::env::var("SUZ_AUTH_REQUIRE_ALL").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "redis-server is missing: apt-get install redis-server"
            );
            eprintln!("skipped: redis-server is missing (apt-get install redis-server)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(RedisServer { child, port })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn redis_invalidation_drops_only_the_token_that_failed() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let c = config(
        "",
        &format!(
            r#", "cache": {{"persist": false}}, "redis": {{"url": "redis://127.0.0.1:{}"}}"#,
            redis.port
        ),
    );
    // Each "machine" is a new manager: no memory of its own, only Redis in common.
    let machine = || parts(&c);
    let (a, profile, key) = machine();
    let live = a
        .get(&profile, &key, &|| Ok(token("live", 600 * MIN, 600 * MIN)))
        .unwrap();
    let fetches = AtomicUsize::new(0);
    let counting = || {
        fetches.fetch_add(1, Ordering::SeqCst);
        Ok(token("newer", 600 * MIN, 600 * MIN))
    };

    let (b, _, _) = machine();
    assert!(!b.invalidate(&profile, &key, "an older token").unwrap());
    let (c2, _, _) = machine();
    assert_eq!(c2.get(&profile, &key, &counting).unwrap().value(), "live");
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        0,
        "a late 401 threw the live token away"
    );

    let (d, _, _) = machine();
    assert!(d.invalidate(&profile, &key, live.value()).unwrap());
    let (e, _, _) = machine();
    assert_eq!(e.get(&profile, &key, &counting).unwrap().value(), "newer");
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

/// A Redis config whose lock lives `ttl_ms`, set on the parsed config (so below the
/// configuration's minimum too).
fn redis_config_ttl(port: u16, ttl_ms: u64) -> Config {
    let mut c = redis_config(port, "");
    c.redis.as_mut().unwrap().lock_ttl = Duration::from_millis(ttl_ms);
    c
}

fn redis_config(port: u16, redis_extra: &str) -> Config {
    config(
        "",
        &format!(
            r#", "cache": {{"persist": false}}, "redis": {{"url": "redis://127.0.0.1:{port}"{redis_extra}}}"#
        ),
    )
}

#[test]
fn with_redis_down_the_default_is_an_error_and_local_falls_back() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let fetches = AtomicUsize::new(0);
    let fetch = || {
        fetches.fetch_add(1, Ordering::SeqCst);
        Ok(token("local", 600 * MIN, 600 * MIN))
    };
    let (manager, profile, key) = parts(&redis_config(port, ""));
    let e = manager.get(&profile, &key, &fetch).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Store, "{e}");
    assert_eq!(fetches.load(Ordering::SeqCst), 0, "no token without Redis");
    let e = manager.invalidate(&profile, &key, "t").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Store, "{e}");
    let (manager, profile, key) = parts(&redis_config(port, r#", "on_unavailable": "local""#));
    let local = manager.get(&profile, &key, &fetch).unwrap();
    assert_eq!(local.value(), "local");
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    assert!(manager.invalidate(&profile, &key, local.value()).unwrap());
}

/// `redis-cli` against the test server.
fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs (Debian's redis-tools, a dependency of redis-server)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn redis_keys_have_the_prefix_and_the_token_lives_as_long_as_it_is_valid() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let c = redis_config(redis.port, r#", "key_prefix": "plant-7:""#);
    let (manager, profile, key) = parts(&c);
    manager
        .get(&profile, &key, &|| Ok(token("t", 600 * MIN, 10 * MIN)))
        .unwrap();
    let keys = redis_cli(redis.port, &["--scan"]);
    let mut names: Vec<&str> = keys.lines().collect();
    names.sort();
    let token_key = format!("plant-7:token:{}", key.hash);
    // The lock was released by its owner: the token is left, the lock's fencing number, and
    // the wake-up for waiters, which lives as long as the lock would have.
    let fence_key = format!("plant-7:fence:{}", key.hash);
    assert_eq!(
        names,
        [
            fence_key.as_str(),
            token_key.as_str(),
            &format!("plant-7:wake:{}", key.hash)
        ],
        "{keys}"
    );
    assert_eq!(redis_cli(redis.port, &["GET", &fence_key]), "1");
    let wake_ttl: i64 = redis_cli(redis.port, &["PTTL", names[2]]).parse().unwrap();
    assert!(wake_ttl > 0 && wake_ttl <= 15_000, "PTTL {wake_ttl}");
    let token_key = token_key.as_str();
    let ttl: i64 = redis_cli(redis.port, &["PTTL", token_key]).parse().unwrap();
    assert!(
        ttl > 9 * MIN && ttl <= 10 * MIN,
        "PTTL {ttl} for a token with 10 minutes left"
    );
}

#[test]
fn a_second_machine_waits_for_the_first_ones_fetch() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let c = redis_config(redis.port, "");
    let fetches = AtomicUsize::new(0);
    let start = Barrier::new(2);
    let values: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let (manager, profile, key) = parts(&c);
                    start.wait();
                    let fetch = || {
                        let n = fetches.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(300));
                        Ok(token(&format!("token-{n}"), 600 * MIN, 600 * MIN))
                    };
                    manager
                        .get(&profile, &key, &fetch)
                        .unwrap()
                        .value()
                        .to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "{values:?}");
    assert_eq!(values[0], values[1]);
}

#[test]
fn redis_with_a_password_and_a_database_number() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    assert_eq!(
        redis_cli(redis.port, &["CONFIG", "SET", "requirepass", "s3cret-pw"]),
        "OK"
    );
    let c = redis_config_url(&format!("redis://:s3cret-pw@127.0.0.1:{}/2", redis.port));
    let (manager, profile, key) = parts(&c);
    manager
        .get(&profile, &key, &|| Ok(token("t", 600 * MIN, 600 * MIN)))
        .unwrap();
    let scan = |db: &str| {
        redis_cli(
            redis.port,
            &["-a", "s3cret-pw", "--no-auth-warning", "-n", db, "--scan"],
        )
    };
    assert!(scan("2").contains(&key.hash), "{}", scan("2"));
    assert_eq!(scan("0"), "", "nothing in database 0");
    let wrong = redis_config_url(&format!("redis://:wrong@127.0.0.1:{}/2", redis.port));
    let (manager, profile, key) = parts(&wrong);
    let e = manager
        .get(&profile, &key, &|| Ok(token("t", 600 * MIN, 600 * MIN)))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Store);
    assert!(!e.to_string().contains("wrong"), "the password leaked: {e}");
}

fn redis_config_url(url: &str) -> Config {
    config(
        "",
        &format!(r#", "cache": {{"persist": false}}, "redis": {{"url": "{url}"}}"#),
    )
}

#[test]
fn a_token_from_redis_is_kept_in_this_machines_store_too() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (dir_a, dir_b) = (temp_dir("redis-a"), temp_dir("redis-b"));
    let with_dir = |dir: &std::path::Path| {
        config(
            "",
            &format!(
                r#", "cache": {{"dir": {:?}}}, "redis": {{"url": "redis://127.0.0.1:{}"}}"#,
                dir.display().to_string(),
                redis.port
            ),
        )
    };
    let (a, profile, key) = parts(&with_dir(&dir_a));
    a.get(&profile, &key, &|| {
        Ok(token("shared", 600 * MIN, 600 * MIN))
    })
    .unwrap();
    let (b, _, _) = parts(&with_dir(&dir_b));
    let got = b
        .get(&profile, &key, &|| panic!("machine B must not fetch"))
        .unwrap();
    assert_eq!(got.value(), "shared");
    let stored = b
        .file_store()
        .unwrap()
        .unwrap()
        .read(&key.hash, &key.label)
        .map(|t| t.value().to_owned());
    assert_eq!(stored.as_deref(), Some("shared"));
}

#[test]
fn invalidation_compares_in_memory_and_reports_what_this_process_dropped() {
    let dir = temp_dir("invalidate");
    let c = in_dir(&dir);
    let (a, profile, key) = parts(&c);
    let t = a
        .get(&profile, &key, &|| Ok(token("first", 600 * MIN, 600 * MIN)))
        .unwrap();
    let (b, _, _) = parts(&c);
    b.get(&profile, &key, &|| panic!("B reads the store"))
        .unwrap();
    assert!(!a.invalidate(&profile, &key, "another").unwrap());
    assert_eq!(
        a.get(&profile, &key, &|| panic!("kept")).unwrap().value(),
        "first"
    );
    assert!(a.invalidate(&profile, &key, t.value()).unwrap());
    // B still had it in memory: it drops its copy, though the file is already gone.
    assert!(b.invalidate(&profile, &key, t.value()).unwrap());
    let fetched = AtomicUsize::new(0);
    b.get(&profile, &key, &|| {
        fetched.fetch_add(1, Ordering::SeqCst);
        Ok(token("second", 600 * MIN, 600 * MIN))
    })
    .unwrap();
    assert_eq!(fetched.load(Ordering::SeqCst), 1);
}

#[test]
fn a_long_token_survives_the_store() {
    // SmartMarket access tokens are JWEs of a kilobyte or more.
    let dir = temp_dir("long");
    let c = in_dir(&dir);
    let long = "x".repeat(6000);
    let (a, profile, key) = parts(&c);
    a.get(&profile, &key, &|| Ok(token(&long, 600 * MIN, 600 * MIN)))
        .unwrap();
    let (b, _, _) = parts(&c);
    let got = b
        .get(&profile, &key, &|| panic!("read from the store"))
        .unwrap();
    assert_eq!(got.value(), long);
    let entries = b.file_store().unwrap().unwrap().entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].label, format!("suz::{CONN}"));
    assert_eq!(entries[0].masked_value, "xxxx…(6000 chars)");
}

#[test]
fn while_one_thread_refreshes_a_valid_token_the_others_get_it_at_once() {
    // A 10-minute token with 1 minute left is inside its 2-minute margin, still valid.
    let (manager, profile, key) = parts(&memory_only("", ""));
    let old = || Ok(token("old", 10 * MIN, MIN));
    manager.get(&profile, &key, &old).unwrap();
    let refreshing = Barrier::new(2);
    let (slowest, values) = std::thread::scope(|s| {
        let leader = s.spawn(|| {
            let fetch = || {
                refreshing.wait();
                std::thread::sleep(Duration::from_millis(800));
                Ok(token("new", 10 * MIN, 10 * MIN))
            };
            manager
                .get(&profile, &key, &fetch)
                .unwrap()
                .value()
                .to_owned()
        });
        refreshing.wait();
        let mut slowest = Duration::ZERO;
        let mut values = Vec::new();
        for _ in 0..8 {
            let started = Instant::now();
            let never = || -> Result<Token, Error> { panic!("a second fetch while one runs") };
            values.push(
                manager
                    .get(&profile, &key, &never)
                    .unwrap()
                    .value()
                    .to_owned(),
            );
            slowest = slowest.max(started.elapsed());
        }
        assert_eq!(leader.join().unwrap(), "new");
        (slowest, values)
    });
    assert!(values.iter().all(|v| v == "old"), "{values:?}");
    assert!(
        slowest < Duration::from_millis(200),
        "a caller waited {slowest:?}"
    );
    // And once the refresh is done, everyone has the new token.
    let never = || -> Result<Token, Error> { panic!("fetched again") };
    assert_eq!(manager.get(&profile, &key, &never).unwrap().value(), "new");
}

#[test]
fn a_refresh_behind_the_callers_makes_none_of_them_wait() {
    let (manager, profile, key) = parts(&memory_only("", ""));
    manager
        .get(&profile, &key, &|| Ok(token("old", 10 * MIN, MIN)))
        .unwrap();
    let fetches = AtomicUsize::new(0);
    let slow = || {
        fetches.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(500));
        Ok(token("new", 10 * MIN, 10 * MIN))
    };
    let never = || -> Result<Token, Error> { panic!("a caller fetched") };
    std::thread::scope(|s| {
        let started = AtomicUsize::new(0);
        let behind = || {
            started.fetch_add(1, Ordering::SeqCst);
            s.spawn(|| manager.refresh(&profile, &key, &slow).unwrap());
            true
        };
        let begun = Instant::now();
        for _ in 0..20 {
            let got = manager
                .get_or_refresh_behind(&profile, &key, &never, Some(&behind))
                .unwrap();
            assert_eq!(got.value(), "old");
        }
        assert!(
            begun.elapsed() < Duration::from_millis(200),
            "{:?}",
            begun.elapsed()
        );
        assert_eq!(
            started.load(Ordering::SeqCst),
            1,
            "one refresh for every caller"
        );
    });
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    assert_eq!(manager.get(&profile, &key, &never).unwrap().value(), "new");
}

#[test]
fn a_thread_never_keeps_handing_out_a_token_the_cache_replaced_or_dropped() {
    let (manager, profile, key) = parts(&memory_only("", ""));
    let minted = |v: &'static str| move || Ok(token(v, 600 * MIN, 600 * MIN));
    let never = || -> Result<Token, Error> { panic!("fetched although a token is cached") };
    // This thread has the token (and keeps its own copy of it for the next hits).
    assert_eq!(
        manager
            .get(&profile, &key, &minted("first"))
            .unwrap()
            .value(),
        "first"
    );
    assert_eq!(
        manager.get(&profile, &key, &never).unwrap().value(),
        "first"
    );
    // Another thread sees it fail and replaces it.
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(manager.invalidate(&profile, &key, "first").unwrap());
            let got = manager.get(&profile, &key, &minted("second")).unwrap();
            assert_eq!(got.value(), "second");
        });
    });
    assert_eq!(
        manager.get(&profile, &key, &never).unwrap().value(),
        "second"
    );
    // Dropped on this thread: the next get fetches.
    assert!(manager.invalidate(&profile, &key, "second").unwrap());
    assert_eq!(
        manager
            .get(&profile, &key, &minted("third"))
            .unwrap()
            .value(),
        "third"
    );
}

#[test]
fn a_token_refreshed_through_another_profile_of_the_installation_replaces_this_threads_copy() {
    // Two profiles of one installation (one key), one refreshing much earlier than the other.
    let c = Config::from_json(&format!(
        r#"{{"cache": {{"persist": false}}, "profiles": {{"p": {{"flow": "gismt", "oms_connection": "{CONN}"}},
            "early": {{"flow": "gismt", "oms_connection": "{CONN}", "refresh_margin_ms": 540000}}}}}}"#
    ))
    .unwrap();
    let (manager, p, key) = parts(&c);
    let early = c.profiles["early"].clone();
    let never = || -> Result<Token, Error> { panic!("fetched although a token is fresh") };
    // 8 of 10 minutes left: fresh for `p` (2-minute margin), due for `early` (9 minutes).
    let old = || Ok(token("old", 10 * MIN, 8 * MIN));
    assert_eq!(manager.get(&p, &key, &old).unwrap().value(), "old");
    assert_eq!(manager.get(&p, &key, &never).unwrap().value(), "old");
    std::thread::scope(|s| {
        s.spawn(|| {
            let new = || Ok(token("new", 10 * MIN, 10 * MIN));
            assert_eq!(manager.get(&early, &key, &new).unwrap().value(), "new");
        });
    });
    // The new token revoked the old one: this thread must not hand out its copy of "old".
    assert_eq!(manager.get(&p, &key, &never).unwrap().value(), "new");
}

#[test]
fn a_valid_token_is_not_held_back_by_another_processs_refresh() {
    let dir = temp_dir("refresh-lock");
    let c = in_dir(&dir);
    let (manager, profile, key) = parts(&c);
    manager
        .get(&profile, &key, &|| Ok(token("old", 10 * MIN, MIN)))
        .unwrap();
    // Another process holds the key's lock, as while it fetches.
    let (other, _, _) = parts(&c);
    let (_held, _) = other
        .file_store()
        .unwrap()
        .unwrap()
        .lock(&key.hash, Duration::from_secs(1))
        .unwrap();
    let started = Instant::now();
    let never = || -> Result<Token, Error> { panic!("fetched under another process's lock") };
    let got = manager.get(&profile, &key, &never).unwrap();
    assert_eq!(got.value(), "old");
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_held_lock_is_waited_for_until_the_timeout() {
    let (m, key) = on_one_dir("lock", 2);
    let (_held, waited) = files(&m[0])
        .lock(&key.hash, Duration::from_secs(1))
        .unwrap();
    assert!(!waited);
    let started = Instant::now();
    let e = files(&m[1])
        .lock(&key.hash, Duration::from_millis(300))
        .map(|_| ())
        .unwrap_err();
    assert_timed_out_at_300_ms(&e, started.elapsed());
}

#[test]
fn a_lock_waiter_wakes_when_the_holder_lets_go_and_a_timed_out_one_leaves_nothing_held() {
    let (m, key) = on_one_dir("lock-wake", 3);
    // A waiter that gives up while the lock is held ...
    let held = files(&m[0])
        .lock(&key.hash, Duration::from_secs(1))
        .unwrap();
    let e = files(&m[1])
        .lock(&key.hash, Duration::from_millis(100))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout);
    // ... does not keep it once the holder lets go: a third party gets it without waiting.
    // (The timed-out waiter's thread takes the lock and gives it straight back when the holder
    // lets go; on a busy machine that thread may be scheduled late, so the third party tries
    // without waiting until then, for up to 2 s.)
    drop(held);
    let tried_from = Instant::now();
    let (again, waited) = loop {
        match files(&m[2]).lock(&key.hash, Duration::ZERO) {
            Ok(got) => break got,
            Err(e) => {
                assert!(
                    tried_from.elapsed() < Duration::from_secs(2),
                    "the lock is still held 2 s after the holder let go: {e}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    };
    assert!(!waited);
    // A waiter gets the lock when the holder lets go, well before its timeout.
    let released = std::thread::scope(|s| {
        let holder = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            // Stamped before the release: the waiter cannot hold the lock before this instant.
            let released = Instant::now();
            drop(again);
            released
        });
        let (_got, waited) = files(&m[1])
            .lock(&key.hash, Duration::from_secs(10))
            .unwrap();
        let got_at = Instant::now();
        assert!(waited);
        let released = holder.join().unwrap();
        assert!(got_at >= released);
        got_at - released
    });
    assert!(released < Duration::from_secs(2), "{released:?}");
}

#[test]
fn processes_waiting_for_a_fetch_read_its_token_together() {
    use suz_auth_core::token::store::Locked;
    const WAITERS: usize = 4;
    let (m, key) = on_one_dir("lock-shared", WAITERS + 1);
    let (holder, waiters) = m.split_first().unwrap();
    let held = files(holder)
        .lock(&key.hash, Duration::from_secs(1))
        .unwrap();
    // Each waiter, under the lock it waited for, stays until every waiter is in there with it
    // (at most 10 s): only a shared lock lets them all in at once.
    let inside = AtomicUsize::new(0);
    let results: Vec<_> = std::thread::scope(|s| {
        let waiting: Vec<_> = waiters
            .iter()
            .map(|m| {
                let (inside, key) = (&inside, &key);
                s.spawn(move || {
                    files(m).lock_unless(&key.hash, Duration::from_secs(20), || {
                        inside.fetch_add(1, Ordering::SeqCst);
                        let until = Instant::now() + Duration::from_secs(10);
                        while inside.load(Ordering::SeqCst) < WAITERS && Instant::now() < until {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Some(inside.load(Ordering::SeqCst))
                    })
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let early = inside.load(Ordering::SeqCst);
        assert_eq!(early, 0, "nobody reads under the holder");
        drop(held);
        waiting.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for r in results {
        match r {
            Ok(Locked::Ready(together)) => assert_eq!(together, WAITERS),
            Ok(Locked::Held(..)) => panic!("a waiter took the lock although it found a token"),
            Err(e) => panic!("{e}"),
        }
    }
    // Nothing is left held: the lock is free at once.
    let (_free, waited) = files(holder).lock(&key.hash, Duration::ZERO).unwrap();
    assert!(!waited);
}

#[test]
fn a_waiter_that_finds_no_token_takes_the_lock_and_a_held_lock_times_it_out() {
    use suz_auth_core::token::store::Locked;
    let (m, key) = on_one_dir("lock-unless", 2);
    let held = files(&m[0])
        .lock(&key.hash, Duration::from_secs(1))
        .unwrap();
    // Held throughout: the wait ends at its timeout, and `ready` is never called.
    let started = Instant::now();
    let e = files(&m[1])
        .lock_unless(&key.hash, Duration::from_millis(300), || -> Option<()> {
            panic!("called under the holder")
        })
        .map(|_| ())
        .unwrap_err();
    assert_timed_out_at_300_ms(&e, started.elapsed());
    // Released, with nothing found: the waiter ends up holding the lock itself.
    let locked = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            drop(held);
        });
        files(&m[1]).lock_unless(&key.hash, Duration::from_secs(10), || None::<()>)
    });
    let Ok(Locked::Held(_lock, waited)) = locked else {
        panic!("the waiter did not take the lock");
    };
    assert!(waited);
    let e = files(&m[0])
        .lock(&key.hash, Duration::ZERO)
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout, "the waiter holds it");
}

#[test]
fn tokens_are_stamped_with_the_wall_clock() {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((now_ms() - wall).abs() < 5_000, "{} vs {wall}", now_ms());
}

#[test]
fn a_redis_lock_whose_owner_died_expires_after_its_ttl_and_a_live_one_is_renewed() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let c = redis_config_ttl(redis.port, 600);
    let (_, _, key) = parts(&c);
    let store = suz_auth_core::token::redis::RedisStore::new(c.redis.clone().unwrap()).unwrap();
    let never_fresh = |_: &Token| false;
    let lock_key = format!("suz-auth:lock:{}", key.hash);
    // A machine took the lock and died: nobody renews it, so it expires after its TTL.
    assert_eq!(
        redis_cli(redis.port, &["SET", &lock_key, "dead-owner", "PX", "600"]),
        "OK"
    );
    let started = Instant::now();
    let (live, _) = store.lock_and_read(&key, &never_fresh, WAIT).unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
    // A live holder's lock carries lock_ttl_ms and is renewed while held: after twice its
    // lifetime it is still there, and still the holder's.
    let ttl: i64 = redis_cli(redis.port, &["PTTL", &lock_key]).parse().unwrap();
    assert!(ttl > 0 && ttl <= 600, "PTTL {ttl}");
    std::thread::sleep(Duration::from_millis(1300));
    let ttl: i64 = redis_cli(redis.port, &["PTTL", &lock_key]).parse().unwrap();
    assert!(ttl > 0, "renewed: PTTL {ttl}");
    let other = store
        .lock_and_read(&key, &never_fresh, Duration::from_millis(200))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(other.kind, ErrorKind::Timeout, "{other}");
    drop(live);
    assert_eq!(redis_cli(redis.port, &["EXISTS", &lock_key]), "0");
}

#[test]
fn a_redis_lock_is_released_only_by_its_owner() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let c = redis_config_ttl(redis.port, 60_000);
    let (_, _, key) = parts(&c);
    let store = suz_auth_core::token::redis::RedisStore::new(c.redis.clone().unwrap()).unwrap();
    let never_fresh = |_: &Token| false;
    let (first_owner, _) = store.lock_and_read(&key, &never_fresh, WAIT).unwrap();
    let keys = redis_cli(redis.port, &["--scan"]);
    let lock_key = keys
        .lines()
        .find(|k| k.contains(":lock:"))
        .unwrap_or_else(|| panic!("no lock in {keys:?}"))
        .to_owned();
    // The lock expired and another machine holds it now.
    assert_eq!(
        redis_cli(redis.port, &["SET", &lock_key, "another-owner"]),
        "OK"
    );
    drop(first_owner);
    assert_eq!(
        redis_cli(redis.port, &["GET", &lock_key]),
        "another-owner",
        "the first owner's release left the other owner's lock alone"
    );
    // And the owner's own release does remove it.
    assert_eq!(redis_cli(redis.port, &["DEL", &lock_key]), "1");
    let (owner, _) = store.lock_and_read(&key, &never_fresh, WAIT).unwrap();
    drop(owner);
    assert_eq!(redis_cli(redis.port, &["EXISTS", &lock_key]), "0");
}

#[test]
fn a_holder_whose_redis_lock_expired_does_not_store_over_the_next_holders_token() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store_with_lock_ttl = |ms: u64| {
        let c = redis_config_ttl(redis.port, ms);
        suz_auth_core::token::redis::RedisStore::new(c.redis.unwrap()).unwrap()
    };
    let (slow, next) = (store_with_lock_ttl(60_000), store_with_lock_ttl(60_000));
    let (_, _, key) = parts(&redis_config(redis.port, ""));
    let lock_key = format!("suz-auth:lock:{}", key.hash);
    let never_fresh = |_: &Token| false;
    // The slow machine loses its lock (a Redis failover or a pause longer than the lock's
    // life: here, deleted under it); the next machine takes the lock and stores.
    let (late, _) = slow.lock_and_read(&key, &never_fresh, WAIT).unwrap();
    assert_eq!(redis_cli(redis.port, &["DEL", &lock_key]), "1");
    let (current, _) = next.lock_and_read(&key, &never_fresh, WAIT).unwrap();
    // Nothing stored yet: the late holder's store is refused all the same — another machine
    // took the lock, so it may be minting a token that revokes this one.
    assert!(!late.store(&token("first", 600 * MIN, 600 * MIN)).unwrap());
    assert!(current
        .store(&token("second", 600 * MIN, 600 * MIN))
        .unwrap());
    drop(current);
    // Once the next holder's token is there, the late holder still stores nothing over it
    // (which of the two the server keeps, nobody here can tell: the manager fetches again).
    assert!(!late.store(&token("first", 600 * MIN, 600 * MIN)).unwrap());
    drop(late);
    let (_, stored) = next.lock_and_read(&key, &|_: &Token| true, WAIT).unwrap();
    assert_eq!(
        stored.map(|t| t.value().to_owned()).as_deref(),
        Some("second")
    );
}

#[test]
fn a_redis_lock_waiter_gives_up_after_its_wait_not_the_lock_ttl() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let c = redis_config_ttl(redis.port, 60_000);
    let (_, _, key) = parts(&c);
    let store = suz_auth_core::token::redis::RedisStore::new(c.redis.clone().unwrap()).unwrap();
    let never_fresh = |_: &Token| false;
    // Another machine holds the lock for its whole 60-second lifetime.
    let (_held, _) = store.lock_and_read(&key, &never_fresh, WAIT).unwrap();
    let started = Instant::now();
    let e = store
        .lock_and_read(&key, &never_fresh, Duration::from_millis(300))
        .map(|_| ())
        .unwrap_err();
    assert_timed_out_at_300_ms(&e, started.elapsed());
}

#[test]
fn records_of_finished_operations_are_forgotten_after_an_hour() {
    let dir = temp_dir("done");
    let c = in_dir(&dir);
    let (manager, _, _) = parts(&c);
    let files = manager.file_store().unwrap().unwrap();
    let (old, recent) = (
        "00000000000000000000000000000001",
        "00000000000000000000000000000002",
    );
    assert!(files.claim_finish(old).unwrap());
    assert!(files.claim_finish(recent).unwrap());
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(dir.join(format!("{old}.done")))
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    assert!(files
        .claim_finish("00000000000000000000000000000003")
        .unwrap());
    assert!(
        !dir.join(format!("{old}.done")).exists(),
        "the old record stays"
    );
    assert!(
        dir.join(format!("{recent}.done")).exists(),
        "a recent record went"
    );
    assert!(files.claim_finish("not hex").is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_lease_in_redis_holds_across_machines_and_is_taken_over_when_it_expires() {
    use suz_auth_core::token::manager::Acquired;
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut c = redis_config(redis.port, "");
    c.cache.lock_timeout = Duration::from_millis(200);
    c.cache.lease = Duration::from_millis(600);
    // Two "machines": no memory and no file store in common, only Redis.
    let (a, profile, key) = parts(&c);
    let (b, _, _) = parts(&c);
    let Acquired::Lease(first) = a.acquire(&profile, &key).unwrap() else {
        panic!("a cold cache gives the lease");
    };
    let e = b.acquire(&profile, &key).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InProgress, "{e}");
    // A one-call fetch on the other machine does not start a second fetch either.
    let e = b
        .get(&profile, &key, &|| panic!("no second fetch"))
        .unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::Timeout | ErrorKind::InProgress),
        "{e}"
    );

    // The holder completes: the other machine acquires the same token.
    let t = a
        .complete(&profile, &key, &first, &|| {
            Ok(token("leased", 600 * MIN, 600 * MIN))
        })
        .unwrap();
    let Acquired::Token(seen) = b.acquire(&profile, &key).unwrap() else {
        panic!("the completed token is in Redis");
    };
    assert_eq!(seen.value(), t.value());

    // A holder that lets its lease expire loses it to the next caller.
    b.invalidate(&profile, &key, "leased").unwrap();
    let (a, _, _) = parts(&c);
    let Acquired::Lease(slow) = a.acquire(&profile, &key).unwrap() else {
        panic!("after invalidation, the lease");
    };
    std::thread::sleep(Duration::from_millis(700));
    let Acquired::Lease(next) = b.acquire(&profile, &key).unwrap() else {
        panic!("an expired lease is taken over");
    };
    let e = a
        .complete(&profile, &key, &slow, &|| panic!("nothing is sent"))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::LeaseLost, "{e}");
    // Released: the next caller takes it at once.
    b.release(&profile, &key, &next).unwrap();
    assert!(matches!(
        a.acquire(&profile, &key).unwrap(),
        Acquired::Lease(_)
    ));
}

#[test]
fn a_two_phase_caller_waits_for_a_one_call_fetch_and_takes_its_token() {
    use suz_auth_core::token::manager::Acquired;
    let dir = temp_dir("one-call-then-acquire");
    for c in [memory_only("", ""), in_dir(&dir)] {
        let (manager, profile, key) = parts(&c);
        let fetching = Barrier::new(2);
        let acquired = std::thread::scope(|s| {
            s.spawn(|| {
                manager
                    .get(&profile, &key, &|| {
                        fetching.wait();
                        std::thread::sleep(Duration::from_millis(300));
                        Ok(token("one-call", 600 * MIN, 600 * MIN))
                    })
                    .unwrap()
            });
            fetching.wait();
            manager.acquire(&profile, &key).unwrap()
        });
        match acquired {
            Acquired::Token(t) => assert_eq!(t.value(), "one-call"),
            Acquired::Lease(_) => panic!("a lease during another caller's fetch"),
        }
    }
}

#[test]
fn a_redis_waiter_wakes_when_the_token_arrives_not_at_its_next_poll() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let c = redis_config_ttl(redis.port, 60_000);
    let (_, _, key) = parts(&c);
    let holder = suz_auth_core::token::redis::RedisStore::new(c.redis.clone().unwrap()).unwrap();
    let (held, _) = holder
        .lock_and_read(&key, &|_: &Token| false, WAIT)
        .unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let (c, key) = (c.clone(), key.clone());
            std::thread::spawn(move || {
                // Another machine: its own store and connection.
                let store = suz_auth_core::token::redis::RedisStore::new(c.redis.unwrap()).unwrap();
                let (_, token) = store
                    .lock_and_read(&key, &|_: &Token| true, Duration::from_secs(20))
                    .unwrap();
                (token.map(|t| t.value().to_owned()), Instant::now())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    assert!(held.store(&token("arrived", 600 * MIN, 600 * MIN)).unwrap());
    let released = Instant::now();
    drop(held);
    for waiter in waiters {
        let (value, woke) = waiter.join().unwrap();
        assert_eq!(value.as_deref(), Some("arrived"));
        // Polling would have looked again after up to 2 s; the wake-up comes at once.
        let late = woke.saturating_duration_since(released);
        assert!(
            late < Duration::from_millis(300),
            "woke {late:?} after the release"
        );
    }
}

/// A client whose cache could not be set up (here: the Redis CA file replaced by garbage after
/// the client was made) reports it, and once the file is right again, works — without being
/// made anew.
#[cfg(feature = "redis")]
#[test]
fn a_cache_that_failed_to_set_up_is_tried_again_on_the_next_call() {
    let dir = temp_dir("retry-setup");
    let pem = dir.join("ca.pem");
    let good = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/gost-cert.pem"
    ))
    .unwrap();
    std::fs::write(&pem, &good).unwrap();
    let json = format!(
        r#"{{"profiles": {{"p": {{"flow": "gismt", "oms_connection": "{CONN}"}}}},
            "cache": {{"persist": false}},
            "tls": {{"extra_roots_pem": {:?}}},
            "redis": {{"url": "rediss://127.0.0.1:9/0"}}}}"#,
        pem.display().to_string()
    );
    let client = suz_auth_core::Client::from_json(&json).unwrap();
    std::fs::write(&pem, "not a certificate").unwrap();
    let e = client.tokens().map(|_| ()).unwrap_err();
    assert!(e.message.contains("extra_roots_pem"), "{e}");
    std::fs::write(&pem, &good).unwrap();
    assert!(client.tokens().is_ok(), "the set-up is tried again");
}

#[test]
fn a_thread_going_through_more_keys_than_it_keeps_gets_each_keys_own_token() {
    // 600 installations: more than a thread keeps copies of, so every set of its copies is
    // reused by several keys, in both of its places.
    let profiles: Vec<String> = (0..600)
        .map(|i| format!(r#""p{i}": {{"flow": "gismt", "oms_connection": "{i:08x}-0000-4000-8000-000000000000"}}"#))
        .collect();
    let c = Config::from_json(&format!(
        r#"{{"cache": {{"persist": false}}, "profiles": {{{}}}}}"#,
        profiles.join(",")
    ))
    .unwrap();
    let manager = TokenManager::new(&c.cache, None).unwrap();
    let profile = |i: usize| c.profiles[&format!("p{i}")].clone();
    let keys: Vec<TokenKey> = (0..600)
        .map(|i| TokenKey::for_profile(&profile(i), &|_| None))
        .collect();
    let never = || -> Result<Token, Error> { panic!("fetched although a token is fresh") };
    for (i, key) in keys.iter().enumerate() {
        let made = || Ok(token(&format!("t{i}"), 10 * MIN, 10 * MIN));
        manager.get(&profile(i), key, &made).unwrap();
    }
    // Three rounds, in an order that puts a few keys twice in a row (their copies are made).
    for round in 0..3 {
        for i in (0..600).chain([5, 5, 5, 77, 77]) {
            let got = manager.get(&profile(i), &keys[i], &never).unwrap();
            assert_eq!(got.value(), format!("t{i}"), "round {round}");
        }
    }
    // A key this thread holds a copy of gets a new token elsewhere: the copy is not served.
    assert!(manager.invalidate(&profile(5), &keys[5], "t5").unwrap());
    std::thread::scope(|s| {
        s.spawn(|| {
            let new = || Ok(token("t5 again", 10 * MIN, 10 * MIN));
            manager.get(&profile(5), &keys[5], &new).unwrap();
        });
    });
    assert_eq!(
        manager.get(&profile(5), &keys[5], &never).unwrap().value(),
        "t5 again"
    );
    assert_eq!(
        manager
            .get(&profile(77), &keys[77], &never)
            .unwrap()
            .value(),
        "t77"
    );
}

#[test]
fn a_caller_that_waits_for_another_threads_fetch_is_counted() {
    let c = memory_only("", "");
    let (manager, p, key) = parts(&c);
    let started = Barrier::new(2);
    let slow = || {
        started.wait();
        std::thread::sleep(Duration::from_millis(200));
        Ok(token("slow", 10 * MIN, 10 * MIN))
    };
    assert_eq!(manager.waits(), 0);
    std::thread::scope(|s| {
        s.spawn(|| manager.get(&p, &key, &slow).unwrap());
        started.wait();
        let never = || -> Result<Token, Error> { panic!("a second fetch") };
        assert_eq!(manager.get(&p, &key, &never).unwrap().value(), "slow");
    });
    assert_eq!(manager.waits(), 1, "one wait, however long");
    let never = || -> Result<Token, Error> { panic!("a second fetch") };
    manager.get(&p, &key, &never).unwrap();
    assert_eq!(manager.waits(), 1, "a cache hit is no wait");
}
