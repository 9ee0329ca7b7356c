//! The Redis client against a hostile (or broken) server: a fake Redis on loopback answers the
//! client's commands with replies that would make a trusting client allocate terabytes, overflow
//! its stack or read forever. Each must be a `Store` error within a couple of seconds, with the
//! process still alive.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use suz_auth_core::config::Config;
use suz_auth_core::token::key::TokenKey;
use suz_auth_core::token::redis::RedisStore;
use suz_auth_core::{Error, ErrorKind, Token};

const CONN: &str = "11b1abc9-f4ee-47db-8a20-f80ac83504e8";

/// How long `lock_and_read` may wait for the lock; the fake server never makes it wait.
const WAIT: Duration = Duration::from_secs(1);

/// What the fake server sends in answer to one command.
type Answer = Box<dyn FnOnce(&mut TcpStream) + Send>;

/// Raw bytes as the answer.
fn bytes(reply: impl Into<Vec<u8>>) -> Answer {
    let reply = reply.into();
    Box::new(move |stream| {
        // The client may hang up halfway through a hostile reply: that is the point.
        let _ = stream.write_all(&reply);
    })
}

/// Reads one command (a RESP array of bulk strings) from the client; `None` once it hung up.
fn read_command(reader: &mut impl BufRead) -> Option<Vec<Vec<u8>>> {
    let mut line = String::new();
    let header = |reader: &mut dyn BufRead, line: &mut String, kind: char| {
        line.clear();
        reader.read_line(line).ok().filter(|&n| n > 0)?;
        line.trim_end().strip_prefix(kind)?.parse::<usize>().ok()
    };
    let n = header(reader, &mut line, '*')?;
    (0..n)
        .map(|_| {
            let len = header(reader, &mut line, '$')?;
            let mut arg = vec![0; len + 2];
            reader.read_exact(&mut arg).ok()?;
            arg.truncate(len);
            Some(arg)
        })
        .collect()
}

/// A fake Redis on a free loopback port: it answers the first commands of one connection with
/// `answers`, one each, then keeps the connection open until the client hangs up (so a client
/// that waits for more sees no end of the stream, only its read timeout). The thread returns
/// the commands it read.
fn fake_redis(answers: Vec<Answer>) -> (u16, JoinHandle<Vec<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut commands = Vec::new();
        for answer in answers {
            let Some(command) = read_command(&mut reader) else {
                return commands;
            };
            commands.push(command);
            answer(&mut stream);
        }
        // Hold the connection until the client closes it.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        commands
    });
    (port, server)
}

/// A Redis store pointing at `port` (each command may take a second), and a key to ask it for.
fn store_at(port: u16) -> (RedisStore, TokenKey) {
    let json = format!(
        r#"{{"profiles": {{"p": {{"flow": "gismt", "oms_connection": "{CONN}"}}}},
            "cache": {{"persist": false}},
            "redis": {{"url": "redis://127.0.0.1:{port}", "command_timeout_ms": 1000}}}}"#
    );
    let config = Config::from_json(&json).unwrap();
    let key = TokenKey::for_profile(&config.profiles["p"], &|_| None);
    (RedisStore::new(config.redis.unwrap()).unwrap(), key)
}

/// `lock_and_read` against a server that answers the first command (the `GET` of the token)
/// with `reply`: the error it ends with, after checking it came as a `Store` error in time.
fn error_for_reply(reply: Answer) -> Error {
    let (port, server) = fake_redis(vec![reply]);
    let (store, key) = store_at(port);
    let never_fresh = |_: &Token| false;
    let started = Instant::now();
    let e = store
        .lock_and_read(&key, &never_fresh, WAIT)
        .map(|_| ())
        .expect_err("a hostile reply is an error");
    let took = started.elapsed();
    assert_eq!(e.kind, ErrorKind::Store, "{e}");
    assert!(took < Duration::from_secs(3), "took {took:?}: {e}");
    let message = e.to_string();
    assert!(
        message.contains(&format!("Redis at 127.0.0.1:{port}: ")),
        "{message}"
    );
    drop(store);
    let commands = server.join().unwrap();
    assert_eq!(
        commands[0][0], b"GET",
        "the client asked for the token first"
    );
    e
}

/// `n` bytes of `x` as fast as the socket takes them.
fn flood(head: &'static str, n: usize) -> Answer {
    Box::new(move |stream| {
        if stream.write_all(head.as_bytes()).is_err() {
            return;
        }
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..n.div_ceil(chunk.len()) {
            if stream.write_all(&chunk).is_err() {
                return;
            }
        }
    })
}

#[test]
fn a_huge_bulk_length_is_an_error_not_an_allocation() {
    // Announced and never sent: the command's time limit ends it.
    let e = error_for_reply(bytes("$9999999999999\r\n"));
    assert!(e.to_string().contains("no complete reply within"), "{e}");
    // Announced and sent: cut off at the reply limit.
    let e = error_for_reply(flood("$9999999999999\r\n", 64 << 20));
    assert!(
        e.to_string().contains("a reply longer than 1052672 bytes"),
        "{e}"
    );
}

#[test]
fn a_bulk_reply_up_to_the_limit_is_read() {
    // A 1 MiB value (not a token: a miss), then the lock, the re-read and the release.
    let mut big = b"$1048576\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 1 << 20));
    big.extend_from_slice(b"\r\n");
    let (port, server) = fake_redis(vec![
        bytes(big),
        bytes(":-1\r\n"),
        bytes("$-1\r\n"),
        bytes(":1\r\n"),
    ]);
    let (store, key) = store_at(port);
    let (guard, fresh) = store.lock_and_read(&key, &|_: &Token| true, WAIT).unwrap();
    assert!(fresh.is_none());
    drop(guard);
    drop(store);
    let commands = server.join().unwrap();
    let names: Vec<&[u8]> = commands.iter().map(|c| c[0].as_slice()).collect();
    assert_eq!(names, [&b"GET"[..], b"EVAL", b"GET", b"EVAL"]);
}

#[test]
fn deeply_nested_arrays_are_an_error_not_a_stack_overflow() {
    let e = error_for_reply(bytes("*1\r\n".repeat(100_000)));
    assert!(e.to_string().contains("bad reply"), "{e}");
    assert!(e.to_string().contains("recursion depth"), "{e}");
}

#[test]
fn a_long_array_is_an_error() {
    // A billion items announced: nothing allocated for them, and the time limit ends the wait.
    let e = error_for_reply(bytes("*1000000000\r\n"));
    assert!(e.to_string().contains("no complete reply within"), "{e}");
    // And sent as fast as the socket takes them: cut off at the reply limit.
    let e = error_for_reply(Box::new(|stream| {
        let _ = stream.write_all(b"*1000000000\r\n");
        let items = ":1\r\n".repeat(16 * 1024);
        for _ in 0..1024 {
            if stream.write_all(items.as_bytes()).is_err() {
                return;
            }
        }
    }));
    assert!(e.to_string().contains("a reply longer than"), "{e}");
}

/// The peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn an_endless_line_is_cut_at_the_reply_limit_with_bounded_memory() {
    let before = peak_rss();
    // 64 MiB without a CRLF, as fast as the socket takes it.
    let endless: Answer = Box::new(|stream| {
        if stream.write_all(b"+").is_err() {
            return;
        }
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..1024 {
            if stream.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let e = error_for_reply(endless);
    assert!(
        e.to_string().contains("a reply longer than 1052672 bytes"),
        "{e}"
    );
    if let (Some(before), Some(after)) = (before, peak_rss()) {
        assert!(
            after.saturating_sub(before) < 16 << 20,
            "the peak memory grew by {} bytes",
            after - before
        );
    }
}

#[test]
fn a_bad_reply_kind_or_a_bulk_without_crlf_is_an_error() {
    let e = error_for_reply(bytes("?what\r\n"));
    assert!(e.to_string().contains("bad reply"), "{e}");
    // A multibyte character where the one-byte kind belongs.
    let e = error_for_reply(bytes("\u{e9}t\u{e9}\r\n"));
    assert!(e.to_string().contains("bad reply"), "{e}");
    let e = error_for_reply(bytes("$3\r\nabcXY"));
    assert!(e.to_string().contains("bad reply"), "{e}");
}

/// A broken Redis that says the lock is held and answers every `BLPOP` at once with a wake-up:
/// a waiter must back off instead of spinning (it once sent ~130,000 commands in 8 s), and
/// still give up when its wait ends.
#[test]
fn a_blpop_answered_at_once_makes_the_waiter_back_off_not_spin() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut pops = 0usize;
        while let Some(command) = read_command(&mut reader) {
            let reply: &[u8] = match command[0].as_slice() {
                b"GET" => b"$-1\r\n",
                // The lock script: held by another for 5 more seconds.
                b"EVAL" | b"EVALSHA" => b":5000\r\n",
                b"BLPOP" => {
                    pops += 1;
                    b"*2\r\n$4\r\nwake\r\n$1\r\n1\r\n"
                }
                _ => b"+OK\r\n",
            };
            if stream.write_all(reply).is_err() {
                break;
            }
        }
        pops
    });
    let (store, key) = store_at(port);
    let never_fresh = |_: &Token| false;
    let wait = Duration::from_secs(2);
    let started = Instant::now();
    let e = store
        .lock_and_read(&key, &never_fresh, wait)
        .map(|_| ())
        .expect_err("the lock is never let go");
    let took = started.elapsed();
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    assert!(
        took >= wait && took < wait + Duration::from_secs(1),
        "took {took:?}"
    );
    drop(store);
    let pops = server.join().unwrap();
    // Backing off from 10 ms to 200 ms gives about 16 pops in 2 s; a spin gives thousands.
    assert!((3..=40).contains(&pops), "{pops} BLPOPs in {took:?}");
}
