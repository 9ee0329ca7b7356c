//! Prints how the emulator serves GOST sign-ins in parallel: N sign-ins (GOST only, the default,
//! GIS MT) one after another, then all at once, and the latency of an unrelated GET
//! (`/admin/stats`) while they run.
//!
//! `cargo run --release -p suz-emulator --example signins [N]` (default 64; needs the GOST
//! engine).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use suz_emulator::{Emulator, EmulatorConfig, DEFAULT_OMS_CONNECTION};

fn request(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(64);
    let dir = std::env::temp_dir().join(format!("suz-emulator-signins-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args(["req", "-x509", "-engine", "gost", "-newkey", "gost2012_256"])
        .args([
            "-pkeyopt",
            "paramset:A",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=load",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl")
        .status
        .success();
    assert!(ok, "openssl req with the GOST engine");
    let emu = Emulator::start(EmulatorConfig::default()).expect("the emulator starts (GOST only)");
    let port = emu.port();
    let path = format!("/gismt/api/v3/auth/cert/{DEFAULT_OMS_CONNECTION}");

    // Signed bodies for 2 N challenges, made before anything is timed.
    let bodies: Vec<String> = (0..2 * n)
        .map(|i| {
            let (_, c) = request(port, "GET", "/gismt/api/v3/auth/cert/key", "");
            let c: serde_json::Value = serde_json::from_str(&c).unwrap();
            let input = dir.join(format!("in-{i}"));
            std::fs::write(&input, c["data"].as_str().unwrap()).unwrap();
            let der = Command::new("openssl")
                .args(["cms", "-sign", "-engine", "gost", "-binary", "-nodetach"])
                .args(["-outform", "DER", "-signer"])
                .arg(&cert)
                .arg("-inkey")
                .arg(&key)
                .arg("-in")
                .arg(&input)
                .output()
                .unwrap()
                .stdout;
            let data = base64::engine::general_purpose::STANDARD.encode(der);
            serde_json::json!({"uuid": c["uuid"], "data": data}).to_string()
        })
        .collect();
    let (serial_bodies, parallel_bodies) = bodies.split_at(n);

    let t = Instant::now();
    for b in serial_bodies {
        assert_eq!(request(port, "POST", &path, b).0, 200);
    }
    let serial = t.elapsed();

    let running = Arc::new(AtomicBool::new(true));
    let probe = {
        let running = running.clone();
        std::thread::spawn(move || {
            let mut latencies = Vec::new();
            while running.load(Ordering::SeqCst) {
                let t = Instant::now();
                assert_eq!(request(port, "GET", "/admin/stats", "").0, 200);
                latencies.push(t.elapsed());
                std::thread::sleep(Duration::from_millis(2));
            }
            latencies
        })
    };
    let t = Instant::now();
    let threads: Vec<_> = parallel_bodies
        .iter()
        .cloned()
        .map(|b| {
            let path = path.clone();
            std::thread::spawn(move || assert_eq!(request(port, "POST", &path, &b).0, 200))
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let parallel = t.elapsed();
    running.store(false, Ordering::SeqCst);
    let mut latencies = probe.join().unwrap();
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let max = latencies[latencies.len() - 1];
    println!(
        "{n} GOST sign-ins, GOST only, {} cores",
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );
    println!(
        "  serial:   {serial:?} ({:.1}/s)",
        n as f64 / serial.as_secs_f64()
    );
    println!(
        "  parallel: {parallel:?} ({:.1}/s)",
        n as f64 / parallel.as_secs_f64()
    );
    println!(
        "  speed-up: {:.2}x",
        serial.as_secs_f64() / parallel.as_secs_f64()
    );
    println!(
        "  GET /admin/stats during the parallel run: p50 {p50:?}, max {max:?} ({} samples)",
        latencies.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
