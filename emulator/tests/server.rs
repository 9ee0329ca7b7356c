//! The emulator's own HTTP behaviour over real loopback sockets: keep-alive, chunked bodies,
//! garbage, oversized requests, unknown routes, admin counters and settings.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use suz_emulator::{Emulator, EmulatorConfig};

fn connect(emu: &Emulator) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", emu.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads one response with a Content-Length body; returns (status, body).
fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    s.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mut s = connect(&emu);
    for _ in 0..3 {
        s.write_all(b"GET /trueapi/api/v3/true-api/auth/key HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let (status, body) = read_response(&mut s);
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"].as_str().unwrap().len(), 30);
    }
    assert_eq!(emu.stats()["requests"]["trueapi.key"], 3);
}

#[test]
fn chunked_request_bodies_are_read() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mut s = connect(&emu);
    let body = r#"{"endpoint":"gismt.key","kind":"status","status":418}"#;
    let (a, b) = body.split_at(10);
    let request = format!(
        "POST /admin/faults HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    s.write_all(request.as_bytes()).unwrap();
    assert_eq!(read_response(&mut s).0, 200);
    s.write_all(b"GET /gismt/api/v3/auth/cert/key HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_response(&mut s).0,
        418,
        "the fault queued through a chunked body applies"
    );
}

#[test]
fn garbage_oversized_and_unknown_requests_get_answers_not_crashes() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mut s = connect(&emu);
    s.write_all(b"\x00\x01garbage\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s).0, 400);

    let mut s = connect(&emu);
    s.write_all(b"POST /mdlp/api/v1/auth HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).0, 413);

    let mut s = connect(&emu);
    s.write_all(b"GET /nothing/here HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).0, 404);

    let mut s = connect(&emu);
    s.write_all(b"POST /gismt/api/v3/auth/cert/11b1abc9-f4ee-47db-8a20-f80ac83504e8 HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{{{{{").unwrap();
    let (status, body) = read_response(&mut s);
    assert_eq!(status, 400);
    assert!(body.contains("error_message"), "GIS MT error shape: {body}");

    // Still serving.
    let mut s = connect(&emu);
    s.write_all(b"GET /admin/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).0, 200);
}

#[test]
fn settings_and_reset() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mut s = connect(&emu);
    let body = r#"{"smartmarket_expires_in_seconds":true}"#;
    s.write_all(
        format!(
            "POST /admin/settings HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(read_response(&mut s).0, 200);
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        suz_emulator::SMARTMARKET_CLIENT_ID,
        suz_emulator::SMARTMARKET_CLIENT_SECRET
    ));
    let form = "scope=SMART_PUSH";
    s.write_all(
        format!(
            "POST /smartmarket/api/v2/oauth HTTP/1.1\r\nAuthorization: Basic {basic}\r\nRqUID: 6f0b1291c7f343c6bb2e9f3efb2dc98e\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let (status, body) = read_response(&mut s);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["expires_at"].as_u64().unwrap() < 100_000_000_000,
        "seconds, not milliseconds"
    );
    s.write_all(b"POST /admin/reset HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        .unwrap();
    assert_eq!(read_response(&mut s).0, 200);
    assert_eq!(emu.stats()["smartmarket_tokens_issued"], 0);
}
