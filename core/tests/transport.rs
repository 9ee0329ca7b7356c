//! The transport against the bundled emulator over real HTTP(S) on 127.0.0.1: which answers and
//! failures are retried and how often, Retry-After, the total timeout, TLS roots, and how each
//! failure is classified. Faults are queued through the emulator's admin API.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use suz_auth_core::transport::{status_error, Method, Request, Response, Transport};
use suz_auth_core::{Config, ErrorKind};
use suz_emulator::{Emulator, EmulatorConfig};

fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("the emulator starts")
}

/// A transport with a 50 ms first backoff; `retry` adds members to `retry`, `extra` to the top.
fn transport_with(retry: &str, extra: &str) -> Transport {
    let json = format!(r#"{{"retry": {{"backoff_ms": 50{retry}}}{extra}}}"#);
    Transport::new(&Config::from_json(&json).unwrap()).unwrap()
}

fn transport() -> Transport {
    transport_with("", "")
}

fn send(t: &Transport, request: &Request) -> suz_auth_core::Result<Response> {
    t.send(request, Instant::now() + Duration::from_secs(20))
}

fn fault(emu: &Emulator, json: &str) {
    let r = Request::new(Method::Post, format!("{}/admin/faults", emu.base_url()))
        .json(json.as_bytes().to_vec());
    let answer = send(&transport(), &r).unwrap();
    assert!(
        answer.is_success(),
        "{json}: {}",
        String::from_utf8_lossy(&answer.body)
    );
}

/// How many requests the emulator has seen for an endpoint (0 before the first).
fn seen(emu: &Emulator, endpoint: &str) -> u64 {
    emu.stats()["requests"][endpoint].as_u64().unwrap_or(0)
}

fn challenge(emu: &Emulator) -> Request {
    Request::new(
        Method::Get,
        format!("{}/gismt/api/v3/auth/cert/key", emu.base_url()),
    )
}

fn sign_in(emu: &Emulator) -> Request {
    Request::new(
        Method::Post,
        format!(
            "{}/gismt/api/v3/auth/cert/11b1abc9-f4ee-47db-8a20-f80ac83504e8",
            emu.base_url()
        ),
    )
    .json(br#"{"uuid":"x","data":"y"}"#.to_vec())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_429_is_retried_after_its_retry_after() {
    let emu = emulator();
    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"status","status":429,"retry_after":1}"#,
    );
    let started = Instant::now();
    let answer = send(&transport(), &challenge(&emu)).unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(seen(&emu, "gismt.key"), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn gateway_errors_are_retried_with_a_doubling_pause() {
    for status in [502, 503, 504] {
        let emu = emulator();
        fault(
            &emu,
            &format!(r#"{{"endpoint":"gismt.key","kind":"status","status":{status},"times":2}}"#),
        );
        let started = Instant::now();
        let answer = send(&transport(), &challenge(&emu)).unwrap();
        assert_eq!(answer.status, 200, "{status}");
        assert_eq!(seen(&emu, "gismt.key"), 3, "{status}");
        // 50 ms, then 100 ms.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(150), "{status}: {took:?}");
    }
}

#[test]
fn attempts_are_limited_and_other_statuses_are_not_retried() {
    let emu = emulator();
    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"status","status":503,"times":0}"#,
    );
    assert_eq!(send(&transport(), &challenge(&emu)).unwrap().status, 503);
    assert_eq!(seen(&emu, "gismt.key"), 3, "three attempts by default");
    assert_eq!(
        send(
            &transport_with(r#", "max_attempts": 1"#, ""),
            &challenge(&emu)
        )
        .unwrap()
        .status,
        503
    );
    assert_eq!(seen(&emu, "gismt.key"), 4, "max_attempts 1: no retry");

    let emu = emulator();
    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"status","status":500,"times":0}"#,
    );
    assert_eq!(send(&transport(), &challenge(&emu)).unwrap().status, 500);
    assert_eq!(seen(&emu, "gismt.key"), 1, "a 500 is not retried");
}

#[test]
fn a_long_retry_after_goes_back_to_the_caller_at_once() {
    let emu = emulator();
    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"status","status":429,"retry_after":10}"#,
    );
    let started = Instant::now();
    let answer = send(&transport(), &challenge(&emu)).unwrap();
    assert_eq!(answer.status, 429);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(seen(&emu, "gismt.key"), 1);
    let e = status_error(&answer);
    assert_eq!(e.kind, ErrorKind::TooManyRequests);
    assert_eq!(e.retry_after, Some(Duration::from_secs(10)));
    // With a higher limit it is waited for: here 1 s of a 1 s Retry-After.
    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"status","status":429,"retry_after":1}"#,
    );
    let t = transport_with(r#", "max_retry_after_ms": 500"#, "");
    assert_eq!(
        send(&t, &challenge(&emu)).unwrap().status,
        429,
        "1 s > 500 ms: not waited"
    );
}

#[test]
fn token_posts_are_never_repeated() {
    let emu = emulator();
    fault(
        &emu,
        r#"{"endpoint":"gismt.token","kind":"status","status":503}"#,
    );
    assert_eq!(send(&transport(), &sign_in(&emu)).unwrap().status, 503);
    assert_eq!(seen(&emu, "gismt.token"), 1);
    fault(&emu, r#"{"endpoint":"gismt.token","kind":"cut"}"#);
    let e = send(&transport(), &sign_in(&emu)).unwrap_err();
    assert_eq!(seen(&emu, "gismt.token"), 2, "{e}");
}

#[test]
fn a_refused_connection_is_a_connect_error_retried_for_safe_requests() {
    let url = format!(
        "http://127.0.0.1:{}/gismt/api/v3/auth/cert/key",
        free_port()
    );
    let get = Request::new(Method::Get, url.clone());
    let started = Instant::now();
    let e = send(&transport(), &get).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connect, "{e}");
    // Three attempts: pauses of 50 and 100 ms between them.
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let post = Request::new(Method::Post, url).json(b"{}".to_vec());
    assert_eq!(
        send(&transport(), &post).unwrap_err().kind,
        ErrorKind::Connect
    );
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_total_timeout_bounds_a_slow_answer() {
    let emu = emulator();
    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"delay","delay_ms":3000}"#,
    );
    let t = transport_with("", r#", "timeouts": {"total_ms": 400}"#);
    let started = Instant::now();
    let e = t.send(&challenge(&emu), t.deadline()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // A deadline already passed sends nothing.
    let before = seen(&emu, "gismt.key");
    let e = t.send(&challenge(&emu), Instant::now()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert_eq!(seen(&emu, "gismt.key"), before);
}

#[test]
fn cut_and_truncated_answers_are_classified() {
    let emu = emulator();
    let one = transport_with(r#", "max_attempts": 1"#, "");
    fault(&emu, r#"{"endpoint":"gismt.key","kind":"cut"}"#);
    assert_eq!(
        send(&one, &challenge(&emu)).unwrap_err().kind,
        ErrorKind::Connect
    );
    fault(&emu, r#"{"endpoint":"gismt.key","kind":"truncated"}"#);
    let e = send(&one, &challenge(&emu)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Protocol, "{e}");
    assert_eq!(e.http_status, Some(200));
}

#[test]
fn an_html_page_from_a_proxy_is_described_not_dumped() {
    let emu = emulator();
    fault(
        &emu,
        r#"{"endpoint":"gismt.key","kind":"html","status":403}"#,
    );
    let answer = send(&transport(), &challenge(&emu)).unwrap();
    let e = status_error(&answer);
    assert_eq!(e.kind, ErrorKind::Unauthorized);
    assert!(
        e.message
            .starts_with("the server answered HTTP 403 (an HTML page of"),
        "{e}"
    );
    assert!(!e.message.contains('<'), "{e}");
}

#[test]
fn tls_needs_a_trusted_root() {
    let emu = Emulator::start(EmulatorConfig {
        tls: true,
        ..Default::default()
    })
    .unwrap();
    let request = challenge(&emu);
    assert!(request.url.starts_with("https://"), "{}", request.url);
    let untrusted = transport_with(r#", "max_attempts": 1"#, r#", "tls": {"roots": "webpki"}"#);
    assert_eq!(send(&untrusted, &request).unwrap_err().kind, ErrorKind::Tls);
    let dir = std::env::temp_dir().join(format!("suz-core-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, emu.ca_pem().unwrap()).unwrap();
    let trusted = transport_with(
        "",
        &format!(
            r#", "tls": {{"roots": "webpki", "extra_roots_pem": {:?}}}"#,
            ca.display().to_string()
        ),
    );
    assert_eq!(send(&trusted, &request).unwrap().status, 200);
    std::fs::write(&ca, "not a certificate").unwrap();
    // The error a transport with `ca` as its extra roots fails to be made with.
    let refused = || {
        Transport::new(
            &Config::from_json(&format!(
                r#"{{"tls": {{"extra_roots_pem": {:?}}}}}"#,
                ca.display().to_string()
            ))
            .unwrap(),
        )
        .map(|_| ())
        .unwrap_err()
    };
    let e = refused();
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(
        e.message.starts_with("config key `tls.extra_roots_pem`"),
        "{e}"
    );
    // A file larger than any bundle (sparse: nothing is written) is refused, not read whole.
    std::fs::File::create(&ca)
        .unwrap()
        .set_len(64 * 1024 * 1024)
        .unwrap();
    let e = refused();
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(e.message.contains("is larger than 8388608 bytes"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Copies bytes both ways between two sockets until either side closes.
fn pipe(a: TcpStream, b: TcpStream) {
    let (mut a2, mut b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut a2, &mut b2);
        let _ = b2.shutdown(Shutdown::Write);
    });
    let (mut a, mut b) = (a, b);
    let _ = std::io::copy(&mut b, &mut a);
    let _ = a.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// A local server on 127.0.0.1 that hands each accepted connection to `serve` on its own thread;
/// returns its port and the number of connections accepted so far.
fn local_server(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (count, serve) = (accepted.clone(), Arc::new(serve));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let serve = serve.clone();
            std::thread::spawn(move || serve(stream));
        }
    });
    (port, accepted)
}

/// A TCP relay to the emulator: what arrives on the relay's port is the emulator's traffic.
fn relay_to(emu: &Emulator) -> (u16, Arc<AtomicUsize>) {
    let target = emu.port();
    local_server(move |client| {
        pipe(client, TcpStream::connect(("127.0.0.1", target)).unwrap());
    })
}

#[test]
fn connections_are_pooled() {
    let emu = emulator();
    let (port, accepted) = relay_to(&emu);
    let t = transport();
    let url = format!("http://127.0.0.1:{port}/gismt/api/v3/auth/cert/key");
    for _ in 0..3 {
        assert_eq!(
            send(&t, &Request::new(Method::Get, url.clone()))
                .unwrap()
                .status,
            200
        );
    }
    assert_eq!(seen(&emu, "gismt.key"), 3);
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "three requests of one transport share one connection"
    );
}

/// Answers the first request of each connection (kept alive), then closes it on reading the
/// next one without answering: a kept connection the server dropped.
fn one_answer_per_connection() -> (u16, Arc<AtomicUsize>) {
    local_server(|mut s| {
        read_request(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        read_request(&mut s);
    })
}

#[test]
fn a_kept_connection_found_closed_is_an_attempt_sent_again_at_once() {
    let (port, accepted) = one_answer_per_connection();
    let url = format!("http://127.0.0.1:{port}/gismt/api/v3/auth/cert/key");
    // A 5-second backoff: the second send on a new connection does not wait for it.
    let json = r#"{"retry": {"backoff_ms": 5000}}"#;
    let t = Transport::new(&Config::from_json(json).unwrap()).unwrap();
    for _ in 0..2 {
        let started = Instant::now();
        assert_eq!(
            send(&t, &Request::new(Method::Get, url.clone()))
                .unwrap()
                .status,
            200
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    // With one attempt allowed the request is not sent twice: the closed connection is the answer.
    let t = transport_with(r#", "max_attempts": 1"#, "");
    send(&t, &Request::new(Method::Get, url.clone())).unwrap();
    let e = send(&t, &Request::new(Method::Get, url)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connect, "{e}");
    assert!(e.message.contains("closed before a complete answer"), "{e}");
}

#[test]
fn an_answer_body_is_bounded() {
    // Claims 100 MB and sends 5 MB of it: the transport stops reading at its 4 MiB bound.
    let (port, _) = local_server(|mut s| {
        let mut head = [0u8; 1024];
        let _ = s.read(&mut head);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n");
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..80 {
            if s.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let url = format!("http://127.0.0.1:{port}/gismt/api/v3/auth/cert/key");
    let e = send(&transport(), &Request::new(Method::Get, url)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Protocol, "{e}");
    assert!(e.message.contains("larger than 4194304 bytes"), "{e}");
    assert_eq!(e.http_status, Some(200));
}

/// Reads an HTTP request head and the body its Content-Length announces.
fn read_request(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len = head
        .lines()
        .find_map(|l| {
            let l = l.to_ascii_lowercase();
            l.strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    s.read_exact(&mut body).unwrap();
    (head, body)
}

/// An HTTP proxy that tunnels `CONNECT host:port` (how the transport uses any HTTP proxy, for
/// plain HTTP as well); it records the request lines it received.
fn http_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen_lines = lines.clone();
    let (port, _) = local_server(move |mut client| {
        let (head, _) = read_request(&mut client);
        let first = head.lines().next().unwrap_or_default().to_owned();
        seen_lines.lock().unwrap().push(first.clone());
        let authority = first
            .strip_prefix("CONNECT ")
            .and_then(|rest| rest.split(' ').next())
            .expect("a CONNECT request");
        assert!(
            authority.starts_with("127.0.0.1:"),
            "only loopback is ever tried"
        );
        let upstream = TcpStream::connect(authority).unwrap();
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        pipe(client, upstream);
    });
    (port, lines)
}

/// A SOCKS5 proxy (no authentication, CONNECT to an IPv4 address or a name); it counts the
/// tunnels it opened.
fn socks5_proxy() -> (u16, Arc<AtomicUsize>) {
    let tunnels = Arc::new(AtomicUsize::new(0));
    let count = tunnels.clone();
    let (port, _) = local_server(move |mut client| {
        let mut greeting = [0u8; 2];
        client.read_exact(&mut greeting).unwrap();
        assert_eq!(greeting[0], 5, "SOCKS version 5");
        let mut methods = vec![0u8; greeting[1] as usize];
        client.read_exact(&mut methods).unwrap();
        client.write_all(&[5, 0]).unwrap();
        let mut request = [0u8; 4];
        client.read_exact(&mut request).unwrap();
        assert_eq!(&request[..3], &[5, 1, 0], "a CONNECT request");
        let host = match request[3] {
            1 => {
                let mut ip = [0u8; 4];
                client.read_exact(&mut ip).unwrap();
                std::net::Ipv4Addr::from(ip).to_string()
            }
            3 => {
                let mut len = [0u8; 1];
                client.read_exact(&mut len).unwrap();
                let mut name = vec![0u8; len[0] as usize];
                client.read_exact(&mut name).unwrap();
                String::from_utf8(name).unwrap()
            }
            other => panic!("address type {other}"),
        };
        assert_eq!(host, "127.0.0.1", "only loopback is ever tried");
        let mut port = [0u8; 2];
        client.read_exact(&mut port).unwrap();
        let upstream = TcpStream::connect((host.as_str(), u16::from_be_bytes(port))).unwrap();
        client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).unwrap();
        count.fetch_add(1, Ordering::SeqCst);
        pipe(client, upstream);
    });
    (port, tunnels)
}

#[test]
fn requests_go_through_an_http_proxy() {
    let emu = emulator();
    let (port, lines) = http_proxy();
    let t = transport_with("", &format!(r#", "proxy": "http://127.0.0.1:{port}""#));
    assert_eq!(send(&t, &challenge(&emu)).unwrap().status, 200);
    let lines = lines.lock().unwrap().clone();
    assert_eq!(
        lines,
        [format!("CONNECT 127.0.0.1:{} HTTP/1.1", emu.port())]
    );
    assert_eq!(seen(&emu, "gismt.key"), 1);
}

#[test]
fn requests_go_through_a_socks5_proxy() {
    let emu = emulator();
    let (port, tunnels) = socks5_proxy();
    let t = transport_with("", &format!(r#", "proxy": "socks5://127.0.0.1:{port}""#));
    assert_eq!(send(&t, &challenge(&emu)).unwrap().status, 200);
    assert_eq!(tunnels.load(Ordering::SeqCst), 1);
    assert_eq!(seen(&emu, "gismt.key"), 1);
}

#[test]
fn an_unreachable_proxy_is_a_connect_error() {
    let emu = emulator();
    let t = transport_with(
        r#", "max_attempts": 1"#,
        &format!(r#", "proxy": "http://127.0.0.1:{}""#, free_port()),
    );
    let e = send(&t, &challenge(&emu)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connect, "{e}");
    assert_eq!(seen(&emu, "gismt.key"), 0);
}

#[test]
fn the_connect_timeout_bounds_a_connection_nobody_accepts() {
    // A listener whose accept queue is full drops further SYNs: the connection is never
    // established, and only the connect timeout ends the wait.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut held = Vec::new();
    while held.len() < 4096 {
        let mut probe =
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200));
        match probe.as_mut() {
            Ok(_) => held.push(probe.unwrap()),
            Err(_) => break,
        }
    }
    let t = transport_with(
        r#", "max_attempts": 1"#,
        r#", "timeouts": {"connect_ms": 300, "total_ms": 20000}"#,
    );
    let url = format!("http://127.0.0.1:{port}/gismt/api/v3/auth/cert/key");
    let started = Instant::now();
    let e = send(&t, &Request::new(Method::Get, url)).unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    drop(listener);
}

/// Reads one request's head from `stream` and returns its `RqUID` header, if any.
fn read_rquid(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).ok()? == 1 {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).lines().find_map(|l| {
        l.split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case("rquid"))
            .map(|(_, v)| v.trim().to_owned())
    })
}

#[test]
fn each_retry_sends_a_new_rquid_and_errors_name_the_last() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let (port, _) = local_server(move |mut stream| {
        let rquid = read_rquid(&mut stream).unwrap_or_default();
        log.lock().unwrap().push(rquid);
        let _ = stream.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    });
    let t = transport_with(r#", "max_attempts": 3"#, "");
    let request = Request::new(
        Method::Post,
        format!("http://127.0.0.1:{port}/api/v2/oauth"),
    )
    .rquid("0123456789abcdef0123456789abcdef".into())
    .repeatable(true);
    let answer = send(&t, &request).unwrap();
    assert_eq!(answer.status, 503);
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent[0], "0123456789abcdef0123456789abcdef");
    for (i, id) in sent.iter().enumerate() {
        assert_eq!(id.len(), 32, "the format is kept: {id}");
        assert!(!sent[i + 1..].contains(id), "an RqUID was reused: {sent:?}");
    }
    assert_eq!(answer.rquid.as_deref(), Some(sent[2].as_str()));
    let e = status_error(&answer).with_rquid(answer.rquid.as_deref());
    assert_eq!(
        e.rquid.as_deref(),
        Some(sent[2].as_str()),
        "the last one sent"
    );
}
