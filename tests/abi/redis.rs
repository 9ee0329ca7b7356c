//! The Redis store through the C ABI, against real `redis-server` processes on loopback: plain
//! and TLS, an ACL user, Sentinel failover, a lock shorter than a slow fetch, and how many
//! connections a fleet of processes opens.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::lifecycle::{assert_one_token, outputs, setup, spawn_cli, temp_dir, token_get};
use suz_auth::*;
use suz_emulator::Emulator;

/// A `redis-server` (or a sentinel) on a loopback port, killed on drop.
pub(crate) struct RedisServer {
    child: Child,
    pub(crate) port: u16,
}

fn wait_for_port(port: u16, what: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl RedisServer {
    /// A server on a free port (plain TCP), with `args` added.
    pub(crate) fn start(args: &[&str]) -> RedisServer {
        let port = free_port();
        RedisServer::spawn(port, &["--port", &port.to_string()], args)
    }

    fn spawn(port: u16, listen: &[&str], args: &[&str]) -> RedisServer {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            // A replica's full sync goes over the socket, and anything the server still
            // writes lands in the temporary directory, not in the checkout.
            .args(["--repl-diskless-sync", "yes"])
            .current_dir(std::env::temp_dir())
            .args(listen)
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (the README's test command installs it)");
        wait_for_port(port, "redis-server");
        RedisServer { child, port }
    }

    /// A TLS-only server with the certificate and key in `certs` (see [`make_certs`]).
    fn start_tls(certs: &Path, args: &[&str]) -> RedisServer {
        let port = free_port();
        let file = |name: &str| certs.join(name).display().to_string();
        RedisServer::spawn(
            port,
            &[
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--tls-cert-file",
                &file("server.crt"),
                "--tls-key-file",
                &file("server.key"),
                "--tls-ca-cert-file",
                &file("ca.crt"),
                "--tls-auth-clients",
                "no",
            ],
            args,
        )
    }

    /// A sentinel watching `master_port` as `mymaster`, failing over after 400 ms down.
    fn sentinel(master_port: u16) -> RedisServer {
        let port = free_port();
        let dir = temp_dir("sentinel");
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor mymaster 127.0.0.1 {master_port} 1\n\
                 sentinel down-after-milliseconds mymaster 400\n\
                 sentinel failover-timeout mymaster 3000\n",
                dir.display()
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs as a sentinel");
        wait_for_port(port, "the sentinel");
        RedisServer { child, port }
    }

    fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port, &[], args)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis_cli(port: u16, options: &[&str], args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(options)
        .args(args)
        .output()
        .expect("redis-cli runs (Debian's redis-tools, a dependency of redis-server)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A CA and a certificate for 127.0.0.1 signed by it (`ca.crt`, `server.crt`, `server.key`),
/// made with the `openssl` command line.
fn make_certs(tag: &str) -> PathBuf {
    let dir = temp_dir(tag);
    // Each command line is split at spaces: no argument here holds one.
    let openssl = |line: &str| {
        let args: Vec<&str> = line.split(' ').collect();
        let out = Command::new("openssl")
            .args(&args)
            .current_dir(&dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    openssl(&format!(
        "req -x509 {ec} -keyout ca.key -out ca.crt -days 2 -subj /CN=suz-auth-test-CA"
    ));
    openssl(&format!(
        "req {ec} -keyout server.key -out server.csr -subj /CN=127.0.0.1"
    ));
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
         -days 2 -extfile san.ext",
    );
    dir
}

/// A client of the emulator whose store is `redis` (the JSON of the `redis` object's members)
/// plus `top` (more top-level members), caching in a directory of its own: one machine.
fn machine(emu: &Emulator, redis: &str, top: &str) -> TestClient {
    let extra = format!(r#", "redis": {{{redis}}}{top}"#);
    TestClient::new(&setup(emu, &temp_dir("redis-machine"), 0, &extra).json)
}

/// Runs the `suz` CLI to the end: whether it succeeded, and its stdout and stderr.
fn cli_output(config: &Path, args: &[&str]) -> (bool, String) {
    let out = spawn_cli(config, args).wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn total_connections(redis: &RedisServer) -> u64 {
    let info = redis.cli(&["INFO", "stats"]);
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no connection count in {info}"))
}

/// Two "machines" (separate file stores, one Redis) of 4 `suz` processes each, running
/// `args` with `redis_extra` added to the `redis` object: what they printed, after checking
/// that no process opened more than one connection to Redis.
fn fleet(emu: &Emulator, redis: &RedisServer, redis_extra: &str, args: &[&str]) -> Vec<String> {
    let extra = format!(
        r#", "redis": {{"url": "redis://127.0.0.1:{}"{redis_extra}}}"#,
        redis.port
    );
    let machine_a = setup(emu, &temp_dir("redis-a"), 0, &extra);
    let machine_b = setup(emu, &temp_dir("redis-b"), 0, &extra);
    let mut children = Vec::new();
    for _ in 0..4 {
        children.push(spawn_cli(&machine_a.config, args));
        children.push(spawn_cli(&machine_b.config, args));
    }
    let lines = outputs(children);
    // 8 processes; the INFO that asks is a connection too.
    let connections = total_connections(redis) - 1;
    assert!(
        connections <= 8,
        "{connections} connections from 8 processes"
    );
    lines
}

#[test]
fn two_machines_sharing_redis_get_one_token_over_one_connection_per_process() {
    needs_redis!();
    needs_gost!();
    let redis = RedisServer::start(&[]);
    let emu = emulator();
    let lines = fleet(&emu, &redis, "", &["token", "line", "--threads", "8"]);
    assert_one_token(&emu, &lines, 64);
}

#[test]
fn a_lock_shorter_than_a_slow_fetch_is_renewed_and_one_token_is_issued() {
    needs_redis!();
    needs_gost!();
    let redis = RedisServer::start(&[]);
    let emu = emulator();
    // Every sign-in takes 2 s; the Redis lock lives 400 ms unless its holder renews it.
    fault(
        &emu,
        r#"{"endpoint": "gismt.token", "kind": "delay", "delay_ms": 2000, "times": 0}"#,
    );
    let lines = fleet(&emu, &redis, r#", "lock_ttl_ms": 400"#, &["token", "line"]);
    assert_one_token(&emu, &lines, 8);
    assert_eq!(counter(&emu, &["requests", "gismt.token"]), 1);
}

#[test]
fn rediss_with_the_ca_in_extra_roots_pem_works_and_an_untrusted_server_is_refused() {
    needs_redis!();
    needs_gost!();
    let certs = make_certs("redis-tls");
    let redis = RedisServer::start_tls(&certs, &[]);
    let emu = emulator();
    let url = format!(r#""url": "rediss://127.0.0.1:{}""#, redis.port);
    let ca = serde_json::to_string(&certs.join("ca.crt")).unwrap();
    let trusted = format!(r#", "tls": {{"extra_roots_pem": {ca}}}"#);
    let first = token_get(&machine(&emu, &url, &trusted), "line")
        .unwrap_or_else(|_| panic!("{}", last_message()));
    // Another machine takes it from Redis, over TLS.
    let second = token_get(&machine(&emu, &url, &trusted), "line")
        .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(first.value(), second.value());
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 1);
    // Without the CA the server's certificate is not trusted: a store error naming TLS, and
    // nothing fetched.
    let e = token_get(&machine(&emu, &url, ""), "line").unwrap_err();
    assert_eq!(e, SuzResult::Store, "{}", last_message());
    let message = last_message();
    assert!(message.contains("TLS"), "{message}");
    assert!(message.contains(&redis.port.to_string()), "{message}");
    // Plain TCP to a TLS port is refused too, with a readable message.
    let plain = format!(r#""url": "redis://127.0.0.1:{}""#, redis.port);
    let e = token_get(&machine(&emu, &plain, ""), "line").unwrap_err();
    assert_eq!(e, SuzResult::Store, "{}", last_message());
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 1);
}

#[test]
fn an_acl_user_authenticates_and_a_wrong_password_is_a_store_error_without_it() {
    needs_redis!();
    needs_gost!();
    let redis = RedisServer::start(&[]);
    assert_eq!(
        redis.cli(&[
            "ACL",
            "SETUSER",
            "plant",
            "on",
            ">plant-pass-5521",
            "~suz-auth:*",
            "+@all",
        ]),
        "OK"
    );
    // The default user is switched off: only the ACL user gets in.
    assert_eq!(
        redis_cli(
            redis.port,
            &[
                "--user",
                "plant",
                "--pass",
                "plant-pass-5521",
                "--no-auth-warning"
            ],
            &["ACL", "SETUSER", "default", "off"],
        ),
        "OK"
    );
    let emu = emulator();
    let url = |pass: &str| format!(r#""url": "redis://plant:{pass}@127.0.0.1:{}""#, redis.port);
    let a = token_get(&machine(&emu, &url("plant-pass-5521"), ""), "line")
        .unwrap_or_else(|_| panic!("{}", last_message()));
    let b = token_get(&machine(&emu, &url("plant-pass-5521"), ""), "line")
        .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(a.value(), b.value());
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 1);
    // `suz doctor` and `suz inspect` see the same: the user, the token (masked), no lock.
    let good = setup(
        &emu,
        &temp_dir("redis-acl-cli"),
        0,
        &format!(", \"redis\": {{{}}}", url("plant-pass-5521")),
    );
    let doctor = cli_output(&good.config, &["doctor"]);
    assert!(doctor.0, "{}", doctor.1);
    assert!(doctor.1.contains("ok    redis: 127.0.0.1:"), "{}", doctor.1);
    assert!(doctor.1.contains("user \"plant\""), "{}", doctor.1);
    assert!(
        doctor.1.contains("1 token(s), 0 lock(s) held"),
        "{}",
        doctor.1
    );
    assert!(doctor.1.contains("ok    clock: "), "{}", doctor.1);
    let inspect = cli_output(&good.config, &["--json", "inspect"]);
    let v: serde_json::Value = serde_json::from_str(&inspect.1).unwrap();
    let stored = &v["redis"]["tokens"][0];
    assert_eq!(stored["flow"], "gismt", "{v}");
    assert!(
        stored["token"].as_str().unwrap().contains('…'),
        "masked: {stored}"
    );
    assert!(!inspect.1.contains(&a.value()), "never the whole token");
    let bad = setup(
        &emu,
        &temp_dir("redis-acl-cli"),
        0,
        &format!(", \"redis\": {{{}}}", url("wrong-pass-8830")),
    );
    let doctor = cli_output(&bad.config, &["doctor"]);
    assert!(!doctor.0, "{}", doctor.1);
    assert!(doctor.1.contains("FAIL  redis: "), "{}", doctor.1);
    assert!(!doctor.1.contains("wrong-pass-8830"), "{}", doctor.1);
    let ((e, message), log) = capture_log(|| {
        let e = token_get(&machine(&emu, &url("wrong-pass-8830"), ""), "line");
        (e.map(|t| t.value()), last_message())
    });
    assert_eq!(e.unwrap_err(), SuzResult::Store, "{message}");
    assert!(
        message.contains("authentication as \"plant\" failed"),
        "{message}"
    );
    assert!(message.contains("WRONGPASS"), "{message}");
    for place in [&message, &log] {
        assert!(!place.contains("wrong-pass-8830"), "{place}");
    }
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 1);
}

#[test]
fn through_sentinel_the_store_survives_a_failover_with_one_token() {
    needs_redis!();
    needs_gost!();
    let mut master = RedisServer::start(&[]);
    let replica = RedisServer::start(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let linked = Instant::now();
    while !replica
        .cli(&["INFO", "replication"])
        .contains("master_link_status:up")
    {
        assert!(linked.elapsed() < Duration::from_secs(10), "replication");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sentinel = RedisServer::sentinel(master.port);
    let master_seen = || {
        sentinel
            .cli(&["SENTINEL", "get-master-addr-by-name", "mymaster"])
            .lines()
            .nth(1)
            .and_then(|p| p.trim().parse::<u16>().ok())
    };
    let known = Instant::now();
    while !sentinel
        .cli(&["SENTINEL", "replicas", "mymaster"])
        .contains(&replica.port.to_string())
    {
        assert!(
            known.elapsed() < Duration::from_secs(15),
            "the sentinel sees the replica"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(master_seen(), Some(master.port));
    let emu = emulator();
    let store = format!(
        r#""sentinels": ["127.0.0.1:{}"], "master_name": "mymaster""#,
        sentinel.port
    );
    let machine_a = machine(&emu, &store, "");
    let first = token_get(&machine_a, "line").unwrap_or_else(|_| panic!("{}", last_message()));
    // The token reached the replica before the master dies.
    assert_eq!(master.cli(&["WAIT", "1", "2000"]), "1");
    let _ = master.child.kill();
    let _ = master.child.wait();
    let promoted = Instant::now();
    while master_seen() != Some(replica.port) {
        assert!(
            promoted.elapsed() < Duration::from_secs(30),
            "the sentinel promotes the replica"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A machine that starts after the failover finds the token on the new master.
    let second = token_get(&machine(&emu, &store, ""), "line")
        .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(first.value(), second.value());
    // The first machine, whose kept connection went to the old master, drops the token (it
    // failed) and fetches anew through the new master: the next machine takes that one.
    let mut dropped = false;
    let invalidated =
        unsafe { suz_token_invalidate(machine_a.0, c("line").as_ptr(), first.0, &mut dropped) };
    assert_eq!(invalidated, SuzResult::Ok, "{}", last_message());
    assert!(dropped);
    let third = token_get(&machine_a, "line").unwrap_or_else(|_| panic!("{}", last_message()));
    assert_ne!(third.value(), first.value());
    let fourth = token_get(&machine(&emu, &store, ""), "line")
        .unwrap_or_else(|_| panic!("{}", last_message()));
    assert_eq!(fourth.value(), third.value());
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 2);
}

#[test]
fn a_redis_lock_lost_mid_fetch_ends_with_every_machine_on_the_live_token() {
    needs_redis!();
    needs_gost!();
    // DEBUG SLEEP stalls the server as a failover or a network blip would.
    let redis = RedisServer::start(&["--enable-debug-command", "yes"]);
    let emu = emulator();
    // Machine A's sign-in is answered 3 s late; meanwhile Redis stalls past the lock's life
    // (400 ms), so A cannot renew it, and machine B takes the lock and fetches. The server
    // mints B's token first and A's after it, which revokes B's.
    fault(
        &emu,
        r#"{"endpoint": "gismt.token", "kind": "delay", "delay_ms": 3000, "times": 1}"#,
    );
    let extra = format!(
        r#", "redis": {{"url": "redis://127.0.0.1:{}", "lock_ttl_ms": 400}}"#,
        redis.port
    );
    let a = setup(&emu, &temp_dir("lost-a"), 0, &extra);
    let b = setup(&emu, &temp_dir("lost-b"), 0, &extra);
    let machine_a = spawn_cli(&a.config, &["token", "line"]);
    wait_for_request(&emu, "gismt.token");
    assert_eq!(redis.cli(&["DEBUG", "SLEEP", "1.5"]), "OK");
    let token_b = token_of(spawn_cli(&b.config, &["token", "line"]));
    let token_a = token_of(machine_a);
    // A saw its lock taken and fetched once more under the lock: three tokens in all, and the
    // last one — A's — is the live one.
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 3);
    assert_ne!(token_a, token_b);
    assert_eq!(ping(&emu, &token_a), 200, "machine A holds the live token");
    assert_eq!(ping(&emu, &token_b), 401);
    // Redis holds the live token: a third machine reads it, fetching nothing.
    let c = setup(&emu, &temp_dir("lost-c"), 0, &extra);
    assert_eq!(token_of(spawn_cli(&c.config, &["token", "line"])), token_a);
    // Machine B still has the revoked token in its file store, and recovers on its first 401,
    // reading the live token from Redis.
    let client_b = TestClient::new(&b.json);
    assert_eq!(token_get(&client_b, "line").unwrap().value(), token_b);
    let (status, _, _) = request(&client_b, "line", "GET", "/api/v2/pharma/ping", None);
    assert_eq!(status, 200);
    assert_eq!(token_get(&client_b, "line").unwrap().value(), token_a);
    assert_eq!(tokens_issued(&emu, DEFAULT_OMS_CONNECTION), 3);
}

#[test]
fn a_state_exported_on_one_machine_is_finished_on_another_through_redis() {
    needs_redis!();
    needs_gost!();
    let redis = RedisServer::start(&[]);
    let emu = emulator();
    let url = format!(r#""url": "redis://127.0.0.1:{}""#, redis.port);
    // Two machines: separate cache directories, one Redis, whose key seals the state.
    let (one, two) = (machine(&emu, &url, ""), machine(&emu, &url, ""));
    let conn = c(DEFAULT_OMS_CONNECTION);
    let mut pending = std::ptr::null_mut();
    assert_eq!(
        unsafe { suz_gismt_begin(one.0, conn.as_ptr(), &mut pending) },
        SuzResult::Ok
    );
    let state = export_pending(pending);
    unsafe { suz_pending_free(pending) };
    let imported = import_pending(&two, &state).unwrap();
    let signature = openssl_sign(&pending_data(imported), true);
    let mut out = std::ptr::null_mut();
    let rc = unsafe {
        suz_pending_finish_token(
            two.0,
            imported,
            signature.as_ptr(),
            signature.len(),
            &mut out,
        )
    };
    let token = token_result(rc, out).unwrap();
    unsafe { suz_pending_free(imported) };
    assert_eq!(ping(&emu, &token.value()), 200);
    // A machine with another Redis (another fleet) cannot open it.
    let other = RedisServer::start(&[]);
    let stranger = machine(
        &emu,
        &format!(r#""url": "redis://127.0.0.1:{}""#, other.port),
        "",
    );
    assert_eq!(
        import_pending(&stranger, &state).unwrap_err(),
        SuzResult::InvalidArgument
    );
    assert!(
        last_message().contains("seal does not match"),
        "{}",
        last_message()
    );
}
