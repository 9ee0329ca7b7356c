//! Host safety through the C ABI: nothing a signer, a server, a disk or another local user does
//! kills, hangs or fools the host. Each test is the regression test of one defect found by
//! trying the library as a hostile environment would.

use std::ffi::c_void;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use suz_auth::*;
use suz_emulator::Emulator;

use crate::common::*;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "suz-safety-{tag}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn token_get(client: &TestClient, profile: &str) -> Result<OwnedToken, SuzResult> {
    let profile = c(profile);
    let mut out = ptr::null_mut();
    let rc = unsafe { suz_token_get(client.0, profile.as_ptr(), &mut out) };
    token_result(rc, out)
}

/// A config for the emulator with a SmartMarket profile `push` (no signer needed) and a GIS MT
/// profile `line`, caching in `dir` (`None`: memory only). `extra` adds top-level members.
fn config(url: &str, dir: Option<&Path>, extra: &str) -> String {
    let cache = match dir {
        Some(d) => format!(r#"{{"dir": {:?}}}"#, d.display().to_string()),
        None => r#"{"persist": false}"#.to_owned(),
    };
    format!(
        r#"{{"stand": "emulator", "emulator_url": "{url}", "cache": {cache},
  "profiles": {{
    "push": {{"flow": "smartmarket", "client_id": "{SMARTMARKET_CLIENT_ID}", "client_secret": "{SMARTMARKET_CLIENT_SECRET}"}},
    "line": {{"flow": "gismt", "oms_connection": "{DEFAULT_OMS_CONNECTION}", "oms_id": "{DEFAULT_OMS_ID}"}}
  }}{extra}}}"#
    )
}

/// A local HTTP server answering every request with `answer(request_text)`; counts
/// connections. `answer` returning `None` keeps the connection open and silent.
fn fake_server(
    answer: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let (count, answer) = (accepted.clone(), Arc::new(answer));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            std::thread::spawn(move || serve(stream, &*answer));
        }
    });
    (url, accepted)
}

fn serve(mut stream: TcpStream, answer: &dyn Fn(&str) -> Option<String>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    // The head, then as many body bytes as Content-Length says.
    loop {
        let Ok(n) = stream.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                break;
            }
        }
    }
    match answer(&String::from_utf8_lossy(&data)) {
        Some(reply) => {
            let _ = stream.write_all(reply.as_bytes());
        }
        None => std::thread::sleep(Duration::from_secs(30)),
    }
}

fn http_reply(status: u16, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

/// Every wait is bounded and a failed fetch is shared, not repeated by each waiter.
#[test]
fn sixteen_threads_against_a_silent_server_share_one_attempt_and_return_together() {
    let (url, accepted) = fake_server(|_| None);
    let dir = temp_dir("silent");
    let client = TestClient::new(&config(
        &url,
        Some(&dir),
        r#", "timeouts": {"total_ms": 2000}"#,
    ));
    let started = Instant::now();
    let results: Vec<(SuzResult, Duration, String)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(|| {
                    let rc = token_get(&client, "push").map(|_| ()).unwrap_err();
                    (rc, started.elapsed(), last_message())
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for (rc, took, message) in &results {
        assert_eq!(*rc, SuzResult::Timeout, "{message}");
        assert!(
            *took < Duration::from_millis(3500),
            "a thread returned after {took:?}: {message}"
        );
        assert!(message.contains("timeouts.total_ms = 2000 ms"), "{message}");
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one fetch attempted for sixteen threads"
    );
}

struct StuckSigner {
    client: AtomicPtr<SuzClient>,
    delay: Duration,
    inner: Mutex<Option<(SuzResult, String)>>,
}

/// A signer that, depending on its state, calls back into the token cache (re-entrancy) and
/// then sleeps `delay` before failing.
unsafe extern "C" fn stuck_sign(
    userdata: *mut c_void,
    _data: *const u8,
    _len: usize,
    _kind: SuzSignatureKind,
    sink: *mut SuzSignatureSink,
) -> i32 {
    let state = &*(userdata as *const StuckSigner);
    let client = state.client.load(Ordering::SeqCst);
    if !client.is_null() {
        let profile = c("line");
        let mut token = ptr::null_mut();
        let rc = suz_token_get(client, profile.as_ptr(), &mut token);
        suz_token_free(token);
        *state.inner.lock().unwrap() = Some((rc, last_message()));
    }
    std::thread::sleep(state.delay);
    let why = c("the token's PIN dialog was never answered");
    suz_signature_sink_fail(sink, why.as_ptr());
    1
}

fn stuck_signer(state: &StuckSigner) -> *mut SuzSigner {
    let mut out = ptr::null_mut();
    let rc = unsafe {
        suz_signer_new_callback(
            Some(stuck_sign),
            state as *const StuckSigner as *mut c_void,
            None,
            &mut out,
        )
    };
    assert_eq!(rc, SuzResult::Ok);
    out
}

/// A signer stuck in the host's code holds the other threads only up to
/// `cache.lock_timeout_ms`, and they are told what they waited for.
#[test]
fn a_stuck_signer_holds_other_threads_only_up_to_the_lock_limit() {
    let emu = emulator();
    let client = TestClient::new(&config(&emu.base_url(), None, "").replace(
        r#""cache": {"persist": false}"#,
        r#""cache": {"persist": false, "lock_timeout_ms": 500}"#,
    ));
    let state = StuckSigner {
        client: AtomicPtr::new(ptr::null_mut()),
        delay: Duration::from_secs(3),
        inner: Mutex::new(None),
    };
    let signer = stuck_signer(&state);
    assert_eq!(
        unsafe { suz_client_set_signer(client.0, ptr::null(), signer) },
        SuzResult::Ok
    );
    std::thread::scope(|s| {
        let stuck = s.spawn(|| token_get(&client, "line").map(|_| ()).unwrap_err());
        std::thread::sleep(Duration::from_millis(300));
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let started = Instant::now();
                    let rc = token_get(&client, "line").map(|_| ()).unwrap_err();
                    (rc, started.elapsed(), last_message())
                })
            })
            .collect();
        for w in waiters {
            let (rc, took, message) = w.join().unwrap();
            assert_eq!(rc, SuzResult::Timeout, "{message}");
            assert!(took < Duration::from_millis(1500), "waited {took:?}");
            assert!(
                message.contains("another thread") && message.contains("cache.lock_timeout_ms"),
                "{message}"
            );
        }
        assert_eq!(stuck.join().unwrap(), SuzResult::SignerFailed);
    });
    unsafe { suz_signer_free(signer) };
}

/// A signer that asks the token cache for a token, from inside a fetch, is refused
/// at once instead of waiting for itself.
#[test]
fn a_signer_calling_back_into_the_cache_is_refused() {
    let emu = emulator();
    let client = TestClient::new(&config(&emu.base_url(), None, ""));
    let state = StuckSigner {
        client: AtomicPtr::new(client.0),
        delay: Duration::ZERO,
        inner: Mutex::new(None),
    };
    let signer = stuck_signer(&state);
    assert_eq!(
        unsafe { suz_client_set_signer(client.0, ptr::null(), signer) },
        SuzResult::Ok
    );
    let started = Instant::now();
    assert_eq!(
        token_get(&client, "line").map(|_| ()).unwrap_err(),
        SuzResult::SignerFailed
    );
    assert!(started.elapsed() < Duration::from_secs(5), "it waited");
    let (rc, message) = state.inner.lock().unwrap().clone().expect("the signer ran");
    assert_eq!(rc, SuzResult::InvalidArgument, "{message}");
    assert!(message.contains("inside a signer"), "{message}");
    unsafe { suz_signer_free(signer) };
}

fn command_signer(argv: &[&str], timeout_ms: u64) -> *mut SuzSigner {
    let json = serde_json::json!({"attached": argv, "detached": argv, "timeout_ms": timeout_ms});
    let json = c(&json.to_string());
    let mut out = ptr::null_mut();
    assert_eq!(
        unsafe { suz_signer_new_command(json.as_ptr(), &mut out) },
        SuzResult::Ok
    );
    out
}

/// A registration signed by `signer`: the result code (success included).
fn register_with(client: &TestClient, signer: *mut SuzSigner) -> SuzResult {
    register(
        client,
        DEMO_REGISTRATION_KEY,
        "Moscow, 1 Red Square",
        false,
        signer,
    )
    .map_or_else(|rc| rc, |_| SuzResult::Ok)
}

fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie waits for its parent to reap it: it runs no more.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// A hung command, and what it started, are stopped at the call's deadline; a command
/// printing without end is stopped at the output bound.
#[test]
fn a_hung_command_and_its_children_are_stopped_at_the_deadline() {
    let emu = emulator();
    let dir = temp_dir("hung");
    let pid_file = dir.join("child.pid");
    let client = TestClient::new(&config(
        &emu.base_url(),
        None,
        r#", "timeouts": {"total_ms": 1500}"#,
    ));
    let script = format!("sleep 30 & echo $! > '{}'; wait", pid_file.display());
    let signer = command_signer(&["sh", "-c", &script], 60_000);
    let started = Instant::now();
    assert_eq!(register_with(&client, signer), SuzResult::Timeout);
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "returned after {took:?}"
    );
    assert!(last_message().contains("stopped"), "{}", last_message());
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone_by = Instant::now() + Duration::from_secs(2);
    while !process_gone(pid) && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        process_gone(pid),
        "the command's child {pid} outlived the call"
    );
    unsafe { suz_signer_free(signer) };

    // Endless output: stopped at the bound, quickly, as a signer failure.
    let signer = command_signer(&["yes"], 60_000);
    let started = Instant::now();
    assert_eq!(register_with(&client, signer), SuzResult::SignerFailed);
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert!(
        last_message().contains("more than 1048576 bytes"),
        "{}",
        last_message()
    );
    unsafe { suz_signer_free(signer) };
}

/// The token store's file name prefix of the `push` profile, after one fetch.
fn stored_hash(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find_map(|n| n.strip_suffix(".token").map(str::to_owned))
        .unwrap_or_else(|| panic!("no token file in {}", dir.display()))
}

fn smartmarket_issued(emu: &Emulator) -> u64 {
    counter(emu, &["smartmarket_tokens_issued"])
}

/// Symlinks and FIFOs planted in the store are refused or replaced; nothing outside the
/// store is created or changed, and no call hangs.
#[test]
fn planted_symlinks_and_fifos_are_refused_and_nothing_outside_changes() {
    let emu = emulator();
    let dir = temp_dir("planted");
    let outside = temp_dir("outside");
    let victim = outside.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let json = config(&emu.base_url(), Some(&dir), "");
    let client = TestClient::new(&json);
    token_get(&client, "push").unwrap_or_else(|_| panic!("{}", last_message()));
    let hash = stored_hash(&dir);
    let file = |ext: &str| dir.join(format!("{hash}.{ext}"));

    for (planted, target) in [
        ("fetching", victim.clone()),
        ("lock", outside.join("created")),
    ] {
        let _ = std::fs::remove_file(file(planted));
        std::os::unix::fs::symlink(&target, file(planted)).unwrap();
        let _ = std::fs::remove_file(file("token"));
        // A new client: nothing in memory, so the store is used.
        let fresh = TestClient::new(&json);
        assert_eq!(
            token_get(&fresh, "push").map(|_| ()).unwrap_err(),
            SuzResult::Store,
            "a planted .{planted} symlink"
        );
        assert!(last_message().contains("symlink"), "{}", last_message());
        std::fs::remove_file(file(planted)).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(
        !outside.join("created").exists(),
        "a file was created outside the store"
    );

    // A FIFO in place of the token: a miss, replaced; in place of the marker: refused. Neither
    // hangs.
    for (planted, expected) in [("token", SuzResult::Ok), ("fetching", SuzResult::Store)] {
        let _ = std::fs::remove_file(file(planted));
        let status = Command::new("mkfifo").arg(file(planted)).status().unwrap();
        assert!(status.success());
        let fresh = TestClient::new(&json);
        let started = Instant::now();
        let rc = token_get(&fresh, "push")
            .map(|_| ())
            .err()
            .unwrap_or(SuzResult::Ok);
        assert_eq!(rc, expected, "a FIFO as .{planted}: {}", last_message());
        assert!(started.elapsed() < Duration::from_secs(5));
        let _ = std::fs::remove_file(file(planted));
    }
}

/// A directory another user owns, or others may write to, is refused with a message
/// naming it and the fix.
#[test]
fn a_foreign_or_shared_cache_directory_is_refused() {
    let emu = emulator();
    let me = unsafe { libc::geteuid() };
    let shared = temp_dir("shared");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let client = TestClient::new(&config(&emu.base_url(), Some(&shared), ""));
    assert_eq!(
        token_get(&client, "push").map(|_| ()).unwrap_err(),
        SuzResult::Store
    );
    let message = last_message();
    assert!(
        message.contains(&shared.display().to_string()) && message.contains("chmod 700"),
        "{message}"
    );
    if me == 0 {
        let foreign = temp_dir("foreign");
        std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
        let client = TestClient::new(&config(&emu.base_url(), Some(&foreign), ""));
        assert_eq!(
            token_get(&client, "push").map(|_| ()).unwrap_err(),
            SuzResult::Store
        );
        assert!(
            last_message().contains("belongs to uid 65534"),
            "{}",
            last_message()
        );
    }
    assert_eq!(
        smartmarket_issued(&emu),
        0,
        "no token fetched into a refused store"
    );
}

/// `suz` run as the unprivileged user `nobody` (uid 65534), through `setpriv`.
fn as_nobody(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(suz_cli())
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("setpriv runs")
}

/// As an unprivileged user: root's directory is refused; in a directory of its own, a
/// `.lock` symlink to a root-owned place creates nothing there.
#[test]
fn an_unprivileged_user_cannot_be_made_to_use_or_write_elsewhere() {
    if unsafe { libc::geteuid() } != 0 || !Path::new("/usr/bin/setpriv").exists() {
        assert!(
            std::env::var_os("SUZ_AUTH_REQUIRE_ALL").is_none() || unsafe { libc::geteuid() } != 0,
            "setpriv is needed"
        );
        eprintln!("skipped: needs root to drop to another user with setpriv");
        return;
    }
    if !suz_cli().ancestors().all(|p| {
        p.metadata()
            .map_or(true, |m| m.mode() & 0o001 != 0 || p == Path::new("/"))
    }) {
        assert!(
            std::env::var_os("SUZ_AUTH_REQUIRE_ALL").is_none(),
            "the suz binary is not reachable by other users: check out somewhere they can enter"
        );
        eprintln!("skipped: the suz binary is not reachable by other users");
        return;
    }
    let emu = emulator();
    let base = temp_dir("nobody");
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let write_config = |name: &str, dir: &Path| {
        let path = base.join(name);
        std::fs::write(&path, config(&emu.base_url(), Some(dir), "")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        path
    };
    // Root's own private directory.
    let roots = base.join("roots");
    std::fs::create_dir(&roots).unwrap();
    std::fs::set_permissions(&roots, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = as_nobody(&write_config("roots.json", &roots), &["token", "push"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("SUZ_RESULT_STORE") && stderr.contains("belongs to uid 0"),
        "{stderr}"
    );

    // Its own directory, where a `.lock` symlink points into root's directory.
    let own = base.join("own");
    std::fs::create_dir(&own).unwrap();
    std::os::unix::fs::chown(&own, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o700)).unwrap();
    let own_config = write_config("own.json", &own);
    let out = as_nobody(&own_config, &["token", "push"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = stored_hash(&own);
    for entry in std::fs::read_dir(&own).unwrap() {
        assert_eq!(entry.unwrap().metadata().unwrap().uid(), 65534);
    }
    let target = roots.join("planted");
    std::fs::remove_file(own.join(format!("{hash}.lock"))).unwrap();
    std::fs::remove_file(own.join(format!("{hash}.token"))).unwrap();
    std::os::unix::fs::symlink(&target, own.join(format!("{hash}.lock"))).unwrap();
    let out = as_nobody(&own_config, &["token", "push"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("symlink"),
        "{stderr}"
    );
    assert!(!target.exists(), "a file was created in root's directory");
}

/// On a full disk no token is minted that the store cannot record: three processes,
/// no token issued (the old code minted one per process, each revoking the previous).
#[test]
fn a_full_disk_stops_the_fetch_before_it_happens() {
    let mount_point = temp_dir("tmpfs");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"])
        .arg(&mount_point)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert!(
            unsafe { libc::geteuid() } != 0 || std::env::var_os("SUZ_AUTH_REQUIRE_ALL").is_none(),
            "root could not mount a tmpfs"
        );
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mount_point);
    // Fill the disk up to the last few KiB.
    {
        // One write larger than the disk: it fails with the disk full.
        let mut filler = std::fs::File::create(mount_point.join("filler")).unwrap();
        assert!(filler.write_all(&vec![0u8; 256 * 1024]).is_err());
        let _ = filler.sync_all();
    }
    let len = std::fs::metadata(mount_point.join("filler")).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(mount_point.join("filler"))
        .unwrap()
        .set_len(len - 8 * 1024)
        .unwrap();
    let emu = emulator();
    let config_file = temp_dir("tmpfs-config").join("config.json");
    std::fs::write(
        &config_file,
        config(&emu.base_url(), Some(&mount_point), ""),
    )
    .unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(suz_cli())
                .arg("--config")
                .arg(&config_file)
                .args(["token", "push"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "a process got a token the store could not record"
        );
        assert!(
            stderr.contains("SUZ_RESULT_STORE") && stderr.contains("nothing was fetched"),
            "{stderr}"
        );
    }
    assert_eq!(
        smartmarket_issued(&emu),
        0,
        "a token was minted and not recorded"
    );
}

/// Two stands, one omsConnection, one cache directory: each keeps its own token.
#[test]
fn the_same_connection_on_two_stands_keeps_two_tokens() {
    needs_gost!();
    let (a, b) = (emulator(), emulator());
    let dir = temp_dir("stands");
    let signer = TestSigner::new(SignMode::Correct);
    let client_for = |emu: &Emulator| {
        let client = TestClient::new(&config(&emu.base_url(), Some(&dir), ""));
        assert_eq!(
            unsafe { suz_client_set_signer(client.0, ptr::null(), signer.0) },
            SuzResult::Ok
        );
        client
    };
    let (ca, cb) = (client_for(&a), client_for(&b));
    let ta = token_get(&ca, "line").unwrap_or_else(|_| panic!("{}", last_message()));
    let tb = token_get(&cb, "line").unwrap_or_else(|_| panic!("{}", last_message()));
    assert_ne!(ta.value(), tb.value());
    // New clients (nothing in memory) read each its own stand's token from the shared store.
    let (ca, cb) = (client_for(&a), client_for(&b));
    assert_eq!(token_get(&ca, "line").unwrap().value(), ta.value());
    assert_eq!(token_get(&cb, "line").unwrap().value(), tb.value());
    assert_eq!(ping(&a, &ta.value()), 200);
    assert_eq!(ping(&b, &tb.value()), 200);
    assert_eq!(tokens_issued(&a, DEFAULT_OMS_CONNECTION), 1);
    assert_eq!(tokens_issued(&b, DEFAULT_OMS_CONNECTION), 1);
}

/// A cache directory that cannot be made is a STORE error, tried again next call.
#[test]
fn a_cache_directory_failure_is_a_store_error_retried_on_the_next_call() {
    let emu = emulator();
    let base = temp_dir("retry-dir");
    let blocker = base.join("not-yet");
    std::fs::write(&blocker, "a file where the directory should be").unwrap();
    let client = TestClient::new(&config(&emu.base_url(), Some(&blocker.join("cache")), ""));
    assert_eq!(
        token_get(&client, "push").map(|_| ()).unwrap_err(),
        SuzResult::Store
    );
    assert!(last_message().contains("not-yet"), "{}", last_message());
    std::fs::remove_file(&blocker).unwrap();
    token_get(&client, "push").unwrap_or_else(|_| panic!("{}", last_message()));
    assert!(blocker.join("cache").is_dir());
}

fn smartmarket_at(url: &str) -> (TestClient, Result<OwnedToken, SuzResult>) {
    let client = TestClient::new(&format!(
        r#"{{"urls": {{"smartmarket": "{url}"}}, "retry": {{"max_attempts": 1}}, "timeouts": {{"total_ms": 5000}}}}"#
    ));
    let result = smartmarket(&client, SMARTMARKET_CLIENT_SECRET, None);
    (client, result)
}

/// A token that would inject headers, carries NUL, is too long, or claims to
/// live for ever is a PROTOCOL error; a huge Retry-After is reported bounded.
#[test]
fn tokens_and_server_numbers_are_checked() {
    let tokens = [
        r#""abc\r\nX-Injected: 1""#.to_owned(),
        r#""abc\u0000def""#.to_owned(),
        format!(r#""{}""#, "a".repeat(70 * 1024)),
    ];
    for token in &tokens {
        let body = format!(r#"{{"access_token":{token},"expires_at":3600}}"#);
        let (url, _) = fake_server(move |_| Some(http_reply(200, "", &body)));
        let (_client, result) = smartmarket_at(&url);
        assert_eq!(result.map(|_| ()).unwrap_err(), SuzResult::Protocol);
        let message = last_message();
        assert!(
            message.contains("not used") && !message.contains("X-Injected"),
            "{message}"
        );
        assert!(message.len() < 4096, "the message echoes the token");
    }
    for expires in ["1e300", "99999999999999999999", "-5"] {
        let body = format!(r#"{{"access_token":"abc","expires_at":{expires}}}"#);
        let (url, _) = fake_server(move |_| Some(http_reply(200, "", &body)));
        let (_client, result) = smartmarket_at(&url);
        assert_eq!(
            result.map(|_| ()).unwrap_err(),
            SuzResult::Protocol,
            "{expires}"
        );
    }
    let (url, _) = fake_server(|_| {
        Some(http_reply(
            429,
            "Retry-After: 99999999999999999999\r\n",
            "{}",
        ))
    });
    let (_client, result) = smartmarket_at(&url);
    assert_eq!(result.map(|_| ()).unwrap_err(), SuzResult::TooManyRequests);
    assert_eq!(
        suz_last_retry_after_ms(),
        24 * 3600 * 1000,
        "bounded to a day"
    );
}

/// Configuration values that used to break requests or arithmetic are CONFIG errors
/// naming their key.
#[test]
fn config_gaps_are_config_errors() {
    for (json, key) in [
        (
            r#"{"user_agent": "suz\r\nX-Injected: 1"}"#.to_owned(),
            "user_agent",
        ),
        (
            format!(r#"{{"timeouts": {{"total_ms": {}}}}}"#, u64::MAX),
            "timeouts.total_ms",
        ),
        (
            format!(r#"{{"cache": {{"refresh_margin_ms": {}}}}}"#, u64::MAX),
            "cache.refresh_margin_ms",
        ),
        (
            r#"{"stand": "demo"} trailing"#.to_owned(),
            "text after the end",
        ),
    ] {
        let json = c(&json);
        let mut out = ptr::null_mut();
        assert_eq!(
            unsafe { suz_client_new(json.as_ptr(), &mut out) },
            SuzResult::Config
        );
        assert!(out.is_null());
        assert!(last_message().contains(key), "{}", last_message());
    }
}

/// A gateway echoing the request puts no secret in a message; a proxy's password
/// never shows; echoed input is bounded.
#[test]
fn secrets_echoed_by_a_gateway_never_reach_a_message() {
    // Echoes the whole request (headers with Basic credentials, body) in its error text.
    let (url, _) = fake_server(|request| {
        let body = serde_json::json!({"code": 7, "message": request}).to_string();
        Some(http_reply(400, "", &body))
    });
    let (_client, result) = smartmarket_at(&url);
    assert_eq!(result.map(|_| ()).unwrap_err(), SuzResult::HttpClientError);
    let shown = format!("{} {}", last_message(), text(suz_last_server_message()));
    let forms = secret_forms(SMARTMARKET_CLIENT_SECRET, Some(SMARTMARKET_CLIENT_ID));
    assert_no_secret(&shown, &forms, "the error of an echoing gateway");
    assert!(
        shown.contains("***"),
        "the echo is shown, scrubbed: {shown}"
    );

    // The same as an HTML page: the snippet is scrubbed too.
    let (url, _) = fake_server(|request| Some(http_reply(502, "", request)));
    let (_client, result) = smartmarket_at(&url);
    assert!(result.is_err());
    assert_no_secret(&last_message(), &forms, "the snippet of an echoing gateway");

    // A proxy URL's password.
    let port = free_port();
    let json = format!(
        r#"{{"urls": {{"smartmarket": "http://127.0.0.1:{}"}}, "proxy": "http://user:pr0xy-pa55word@127.0.0.1:{port}", "retry": {{"max_attempts": 1}}}}"#,
        free_port()
    );
    let client = TestClient::new(&json);
    assert!(smartmarket(&client, SMARTMARKET_CLIENT_SECRET, None).is_err());
    assert!(
        !last_message().contains("pr0xy-pa55word"),
        "{}",
        last_message()
    );

    // Caller input echoed in a message is bounded: 10 MB in, a short message out.
    let huge = "x".repeat(10 * 1024 * 1024);
    let json = c(&format!(r#"{{"stand": "{huge}"}}"#));
    let mut out = ptr::null_mut();
    assert_eq!(
        unsafe { suz_client_new(json.as_ptr(), &mut out) },
        SuzResult::Config
    );
    assert!(
        last_message().len() <= 2048,
        "{} bytes",
        last_message().len()
    );
}

/// The token file in `dir` with its value replaced by `value`: a record that passes every check
/// a read makes (label, lifetime), as another local user could plant it.
fn planted_record(dir: &Path, hash: &str, value: &str) -> String {
    let genuine = std::fs::read_to_string(dir.join(format!("{hash}.token"))).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&genuine).unwrap();
    json["value"] = value.into();
    json.to_string()
}

fn invalidate(client: &TestClient, profile: &str, token: &OwnedToken) {
    let p = c(profile);
    let mut dropped = false;
    let rc = unsafe { suz_token_invalidate(client.0, p.as_ptr(), token.0, &mut dropped) };
    assert_eq!(rc, SuzResult::Ok, "{}", last_message());
}

/// A long-lived client keeps using the directory it checked: swapping the cache directory for
/// another one (possible for anyone who can write to its parent) plants nothing in it.
#[test]
fn a_swapped_cache_directory_changes_nothing_for_a_client_holding_it() {
    let emu = emulator();
    let parent = temp_dir("swap");
    let dir = parent.join("cache");
    let client = TestClient::new(&config(&emu.base_url(), Some(&dir), ""));
    let first = token_get(&client, "push").unwrap_or_else(|_| panic!("{}", last_message()));
    let hash = stored_hash(&dir);
    let record = planted_record(&dir, &hash, "planted-by-someone-else");
    // The directory is moved away and another one, with a planted token, put in its place.
    std::fs::rename(&dir, parent.join("moved")).unwrap();
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(dir.join(format!("{hash}.token")), &record).unwrap();
    // The client drops its token (as after a 401) and gets the next one: never the planted one.
    invalidate(&client, "push", &first);
    let second = token_get(&client, "push").unwrap_or_else(|_| panic!("{}", last_message()));
    assert_ne!(second.value(), "planted-by-someone-else");
    assert_eq!(smartmarket_issued(&emu), 2);
    // It was written where the client's directory went, not into the planted one.
    assert_eq!(
        std::fs::read_to_string(dir.join(format!("{hash}.token"))).unwrap(),
        record
    );
    let kept = std::fs::read_to_string(parent.join("moved").join(format!("{hash}.token"))).unwrap();
    assert!(kept.contains(&second.value()));
}

/// `cache.dir` naming a symlink is refused with or without a trailing slash.
#[test]
fn a_symlinked_cache_directory_is_refused_even_with_a_trailing_slash() {
    let emu = emulator();
    let real = temp_dir("real");
    let link = real.with_extension("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    for given in [link.display().to_string(), format!("{}/", link.display())] {
        let client = TestClient::new(&config(&emu.base_url(), Some(Path::new(&given)), ""));
        assert_eq!(
            token_get(&client, "push").map(|_| ()).unwrap_err(),
            SuzResult::Store,
            "{given}"
        );
        assert!(
            last_message().contains("symlink"),
            "{given}: {}",
            last_message()
        );
    }
    assert_eq!(smartmarket_issued(&emu), 0);
    let _ = std::fs::remove_file(&link);
}

/// A record in the store that is not the process user's own is not trusted (root only: the
/// planted file is given to `nobody`).
#[test]
fn a_record_owned_by_another_user_is_not_trusted() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: giving a file to another user needs root");
        return;
    }
    let emu = emulator();
    let dir = temp_dir("foreign-record");
    let json = config(&emu.base_url(), Some(&dir), "");
    token_get(&TestClient::new(&json), "push").unwrap();
    let hash = stored_hash(&dir);
    let token_file = dir.join(format!("{hash}.token"));
    let record = planted_record(&dir, &hash, "planted-by-nobody");
    std::fs::write(&token_file, record).unwrap();
    std::os::unix::fs::chown(&token_file, Some(65534), Some(65534)).unwrap();
    let fresh = TestClient::new(&json);
    let got = token_get(&fresh, "push").unwrap_or_else(|_| panic!("{}", last_message()));
    assert_ne!(got.value(), "planted-by-nobody");
    assert_eq!(
        smartmarket_issued(&emu),
        2,
        "a new token replaced the foreign file"
    );
    assert_eq!(std::fs::metadata(&token_file).unwrap().uid(), 0);
}

/// Records whose label or lifetime no fetch would have produced are misses: an expiry of
/// i64::MAX, or a token labelled for another installation.
#[test]
fn a_planted_record_with_an_endless_life_or_another_label_is_a_miss() {
    let emu = emulator();
    let dir = temp_dir("planted-record");
    let json = config(&emu.base_url(), Some(&dir), "");
    token_get(&TestClient::new(&json), "push").unwrap();
    let hash = stored_hash(&dir);
    let token_file = dir.join(format!("{hash}.token"));
    let genuine: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&token_file).unwrap()).unwrap();
    for (what, edit) in [
        (
            "an endless life",
            ("expires_at_ms", serde_json::json!(i64::MAX)),
        ),
        (
            "another label",
            ("label", serde_json::json!("suz:someone-else")),
        ),
        (
            "a start in the future",
            ("obtained_at_ms", serde_json::json!(i64::MAX - 1)),
        ),
    ] {
        let mut json_record = genuine.clone();
        json_record["value"] = "planted-record-value".into();
        json_record[edit.0] = edit.1;
        std::fs::write(&token_file, json_record.to_string()).unwrap();
        let got = token_get(&TestClient::new(&json), "push").unwrap();
        assert_ne!(got.value(), "planted-record-value", "{what}");
    }
    assert_eq!(smartmarket_issued(&emu), 4);
}
