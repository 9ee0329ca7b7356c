//! Helpers shared by the emulator's tests: HTTP over real loopback sockets, each service's
//! calls, CMS signatures made by the `openssl` command line, the binary.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{json, Value};
use suz_emulator::{
    Emulator, EmulatorConfig, DEFAULT_OMS_ID, MDLP_CLIENT_ID, MDLP_CLIENT_SECRET, MDLP_PASSWORD,
    MDLP_PASSWORD_USER, SMARTMARKET_CLIENT_ID, SMARTMARKET_CLIENT_SECRET,
};
pub const RQUID: &str = "6f0b1291c7f343c6bb2e9f3efb2dc98e";

// ---------------------------------------------------------------------------------------------
// HTTP

/// One answer: status, headers, body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status and that the body says `why`.
    pub fn refused(&self, status: u16, why: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert!(self.body.contains(why), "expected {why:?} in {self:?}");
    }
}

/// Writes one request (`Connection: close`) and reads the answer by its Content-Length.
pub fn exchange(
    stream: &mut (impl Read + Write),
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Resp> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    // `Host: 127.0.0.1` unless the caller names another.
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str("Host: 127.0.0.1\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap_or((l, ""));
        headers.push((n.trim().to_owned(), v.trim().to_owned()));
    }
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        read_chunks(&mut reader)?
    } else {
        let len = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        body
    };
    Ok(Resp {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    })
}

/// A chunked body, de-chunked (sizes in hexadecimal, each chunk followed by CRLF, the last
/// one empty, then trailers up to a blank line).
pub fn read_chunks(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
    }
}

pub fn try_call(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    exchange(&mut s, method, path, headers, body)
}

pub fn call(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    try_call(port, method, path, headers, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

pub fn post_json(port: u16, path: &str, body: &Value) -> Resp {
    let ct = [("Content-Type", "application/json;charset=UTF-8")];
    call(port, "POST", path, &ct, &body.to_string())
}

/// An admin call that must succeed; returns its JSON.
pub fn admin(port: u16, method: &str, path: &str, body: Value) -> Value {
    let json = [("Content-Type", "application/json")];
    let r = call(port, method, path, &json, &body.to_string());
    assert_eq!(r.status, 200, "{method} {path}: {r:?}");
    r.json()
}

pub fn stats(port: u16) -> Value {
    admin(port, "GET", "/admin/stats", Value::Null)
}

pub fn fault(port: u16, f: Value) {
    admin(port, "POST", "/admin/faults", f);
}

pub fn settings(port: u16, s: Value) {
    admin(port, "POST", "/admin/settings", s);
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub fn start(config: EmulatorConfig) -> Emulator {
    Emulator::start(config).expect("the emulator starts")
}

/// The configuration these tests start from: the default with `allow_rsa`, because most
/// tests sign with an EC key made without the GOST engine. The tests of the GOST-only default
/// start from `EmulatorConfig::default()` itself.
pub fn config() -> EmulatorConfig {
    EmulatorConfig {
        allow_rsa: true,
        ..Default::default()
    }
}

pub fn start_default() -> Emulator {
    start(config())
}

// ---------------------------------------------------------------------------------------------
// The services

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Svc {
    Gismt,
    TrueApi,
}

impl Svc {
    pub fn key_path(self) -> &'static str {
        match self {
            Svc::Gismt => "/gismt/api/v3/auth/cert/key",
            Svc::TrueApi => "/trueapi/api/v3/true-api/auth/key",
        }
    }

    /// The status of a refused sign-in: GIS MT 401, True API 403.
    pub fn refusal(self) -> u16 {
        match self {
            Svc::Gismt => 401,
            Svc::TrueApi => 403,
        }
    }

    pub fn token_path(self, connection: &str) -> String {
        match self {
            Svc::Gismt => format!("/gismt/api/v3/auth/cert/{connection}"),
            Svc::TrueApi => format!("/trueapi/api/v3/true-api/auth/simpleSignIn/{connection}"),
        }
    }
}

/// A challenge: (uuid, data).
pub fn challenge(port: u16, svc: Svc) -> (String, String) {
    let r = call(port, "GET", svc.key_path(), &[], "");
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    (
        v["uuid"].as_str().unwrap().to_owned(),
        v["data"].as_str().unwrap().to_owned(),
    )
}

pub fn sign_in(port: u16, svc: Svc, connection: &str, body: Value) -> Resp {
    post_json(port, &svc.token_path(connection), &body)
}

/// A token through a challenge signed (attached) with `key`.
pub fn signed_token(port: u16, svc: Svc, connection: &str, key: &Key) -> String {
    let (uuid, data) = challenge(port, svc);
    let body = json!({"uuid": uuid, "data": sign(key, data.as_bytes(), true)});
    let r = sign_in(port, svc, connection, body);
    assert_eq!(r.status, 200, "{svc:?} sign-in: {r:?}");
    r.json()["token"].as_str().unwrap().to_owned()
}

pub fn mdlp_code(port: u16, auth_type: &str, user_id: &str) -> String {
    let body = json!({"client_id": MDLP_CLIENT_ID, "client_secret": MDLP_CLIENT_SECRET,
                      "user_id": user_id, "auth_type": auth_type});
    let r = post_json(port, "/mdlp/api/v1/auth", &body);
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["code"].as_str().unwrap().to_owned()
}

pub fn mdlp_token(port: u16, connection: &str, body: Value) -> Resp {
    post_json(port, &format!("/mdlp/api/v1/token/{connection}"), &body)
}

/// An MDLP token by password (no signature needed).
pub fn password_token(port: u16, connection: &str) -> String {
    let code = mdlp_code(port, "PASSWORD", MDLP_PASSWORD_USER);
    let r = mdlp_token(
        port,
        connection,
        json!({"code": code, "password": MDLP_PASSWORD}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["token"].as_str().unwrap().to_owned()
}

pub fn ping_oms(port: u16, oms_id: &str, token: &str) -> Resp {
    let path = format!("/suz/api/v2/pharma/ping?omsId={oms_id}");
    call(port, "GET", &path, &[("clientToken", token)], "")
}

pub fn ping(port: u16, token: &str) -> Resp {
    ping_oms(port, DEFAULT_OMS_ID, token)
}

pub fn register(port: u16, oms_id: &str, key: &str, body: &str, signature: Option<&str>) -> Resp {
    let path = format!("/suz/api/v2/integration/connection?omsId={oms_id}");
    let mut headers = vec![
        ("Content-Type", "application/json;charset=UTF-8"),
        ("X-RegistrationKey", key),
    ];
    if let Some(s) = signature {
        headers.push(("X-Signature", s));
    }
    call(port, "POST", &path, &headers, body)
}

pub fn oauth(port: u16, rquid: &str) -> Resp {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{SMARTMARKET_CLIENT_ID}:{SMARTMARKET_CLIENT_SECRET}"
    ));
    let auth = format!("Basic {basic}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("RqUID", rquid),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    call(
        port,
        "POST",
        "/smartmarket/api/v2/oauth",
        &headers,
        "scope=SMART_PUSH",
    )
}

pub fn expires_at(port: u16) -> u64 {
    let r = oauth(port, RQUID);
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["expires_at"].as_u64().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Signatures with the openssl command line

pub struct Key {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub gost: bool,
}

/// This process's directory for keys and files; the first call removes those of test
/// processes that are gone.
pub fn scratch() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let prefix = "suz-emulator-claims-";
        let tmp = std::env::temp_dir();
        for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let gone = name
                .strip_prefix(prefix)
                .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
            if gone && std::path::Path::new("/proc/self").exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = tmp.join(format!("{prefix}{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
    .clone()
}

/// Runs `openssl ARGS…`; returns its stdout.
pub fn openssl(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("openssl runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The serial number of the test certificates: the MDLP `user_id` the project's tests send.
pub const SERIAL: &str = "1865725612";

pub fn make_key(name: &str, gost: bool) -> Key {
    make_key_as(name, gost, "/CN=suz-emulator claims")
}

/// A key and a self-signed certificate (serial [`SERIAL`], 30 days) for `subject`.
pub fn make_key_as(name: &str, gost: bool, subject: &str) -> Key {
    let dir = scratch();
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509"]);
    if gost {
        cmd.args([
            "-engine",
            "gost",
            "-newkey",
            "gost2012_256",
            "-pkeyopt",
            "paramset:A",
        ]);
    } else if name.starts_with("rsa") {
        cmd.args(["-newkey", "rsa:2048"]);
    } else {
        cmd.args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]);
    }
    cmd.args([
        "-nodes",
        "-days",
        "30",
        "-set_serial",
        SERIAL,
        "-subj",
        subject,
    ])
    .arg("-keyout")
    .arg(&key)
    .arg("-out")
    .arg(&cert);
    openssl(&mut cmd);
    Key { cert, key, gost }
}

/// An ECDSA (P-256) key: not GOST, verifiable without the engine.
pub fn ec() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| make_key("ec", false))
}

/// A GOST R 34.10-2012 (256-bit) key; call only after `needs_gost!`.
pub fn gost() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| make_key("gost", true))
}

/// A CMS signature (attached or detached) over `data`, as one line of base64.
pub fn sign(key: &Key, data: &[u8], attached: bool) -> String {
    sign_extra(key, data, attached, &[])
}

/// [`sign`] with more `openssl cms -sign` arguments (e.g. `-certfile` to carry another
/// certificate).
pub fn sign_extra(key: &Key, data: &[u8], attached: bool, extra: &[&std::ffi::OsStr]) -> String {
    let input = scratch().join(format!("in-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&input, data).unwrap();
    let mut cmd = Command::new("openssl");
    cmd.args(["cms", "-sign", "-binary", "-outform", "DER"]);
    if key.gost {
        cmd.args(["-engine", "gost"]);
    }
    if attached {
        cmd.arg("-nodetach");
    }
    cmd.arg("-signer")
        .arg(&key.cert)
        .arg("-inkey")
        .arg(&key.key)
        .arg("-in")
        .arg(&input)
        .args(extra);
    let der = openssl(&mut cmd);
    let _ = std::fs::remove_file(&input);
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// Whether the GOST engine is here. Without it a test is skipped with a printed reason, unless
/// `SUZ_AUTH_REQUIRE_ALL=1` makes that a failure.
pub fn have_gost() -> bool {
    if suz_emulator::gost_available() {
        return true;
    }
    let install = "apt-get install libengine-gost-openssl";
    assert!(
        std::env::var("SUZ_AUTH_REQUIRE_ALL").as_deref() != Ok("1"),
        "OpenSSL's GOST engine is missing: {install} (SUZ_AUTH_REQUIRE_ALL=1 requires it)"
    );
    eprintln!("skipped: OpenSSL's GOST engine is missing ({install})");
    false
}

#[macro_export]
macro_rules! needs_gost {
    () => {
        if !have_gost() {
            return;
        }
    };
}

// ---------------------------------------------------------------------------------------------
// The binary

pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_suz-emulator"));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs the binary to its end (killed after 10 s: it must not keep running).
pub fn run(mut cmd: Command) -> Output {
    let mut child = cmd.spawn().expect("the binary runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after 10 s; stdout {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

pub fn run_args(args: &[&str]) -> Output {
    let mut cmd = bin();
    cmd.args(args);
    run(cmd)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running binary, killed when dropped.
pub struct Running {
    pub child: Child,
    pub port: u16,
    pub first_line: String,
    pub lines: Receiver<String>,
}

impl Running {
    /// The next line of stdout (after the first).
    pub fn next_line(&self) -> String {
        self.lines.recv_timeout(Duration::from_secs(10)).unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary and waits for `suz-emulator listening on http(s)://127.0.0.1:PORT`;
/// on failure returns its stderr.
pub fn try_launch(mut cmd: Command) -> Result<Running, String> {
    let mut child = cmd.spawn().expect("the binary runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = lines.recv_timeout(Duration::from_secs(10));
    let port = first.as_ref().ok().and_then(|l| {
        l.strip_prefix("suz-emulator listening on ")
            .and_then(|u| u.rsplit_once(':'))
            .and_then(|(_, p)| p.parse().ok())
    });
    match (first, port) {
        (Ok(first_line), Some(port)) => Ok(Running {
            child,
            port,
            first_line,
            lines,
        }),
        (first, _) => {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            let first = match first {
                Ok(l) => l,
                Err(RecvTimeoutError::Timeout) => "(timeout)".into(),
                Err(RecvTimeoutError::Disconnected) => "(none)".into(),
            };
            Err(format!(
                "first line {first:?}; stderr {}",
                text(&out.stderr)
            ))
        }
    }
}

/// Starts the binary on a free port with `args`.
pub fn launch(args: &[&str]) -> Running {
    let mut cmd = bin();
    cmd.args(["--port", "0"]).args(args);
    // EC test keys, as `config()`; unless the test asks for the GOST-only default.
    if !args.contains(&"--require-gost") {
        cmd.arg("--allow-rsa");
    }
    try_launch(cmd).unwrap_or_else(|e| panic!("suz-emulator {args:?} did not start: {e}"))
}

/// Every `--option` named in `text`.
pub fn options_in(text: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("--") {
        rest = &rest[i + 2..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        if name.len() > 1 && !name.starts_with('-') {
            found.insert(format!("--{name}"));
        }
    }
    found
}

/// The `--help` paragraph of `option` (from its line to the next option's).
pub fn help_entry(help: &str, option: &str) -> String {
    let start = help
        .lines()
        .position(|l| l.trim_start().starts_with(option))
        .unwrap_or_else(|| panic!("{option} is not in --help:\n{help}"));
    let lines: Vec<&str> = help.lines().collect();
    let end = lines[start + 1..]
        .iter()
        .position(|l| {
            let t = l.trim_start();
            t.starts_with("--") || t.starts_with("-h") || t.starts_with("-V")
        })
        .map_or(lines.len(), |n| start + 1 + n);
    lines[start..end].join("\n")
}

// ---------------------------------------------------------------------------------------------
// TLS

pub fn tls_config(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("a PEM certificate")).unwrap();
    }
    assert!(!roots.is_empty(), "no certificate in {ca_pem:?}");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// GET over TLS to 127.0.0.1:port, verifying the server as `server_name` against `ca_pem`.
pub fn tls_get(port: u16, ca_pem: &str, server_name: &str, path: &str) -> std::io::Result<Resp> {
    let name = rustls_pki_types::ServerName::try_from(server_name.to_owned()).unwrap();
    let conn = rustls::ClientConnection::new(tls_config(ca_pem), name).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    exchange(&mut stream, "GET", path, &[], "")
}

pub fn assert_tls_serves(port: u16, ca_pem: &str) {
    for name in ["localhost", "127.0.0.1"] {
        let r = tls_get(port, ca_pem, name, Svc::Gismt.key_path())
            .unwrap_or_else(|e| panic!("TLS as {name}: {e}"));
        assert_eq!(r.status, 200, "{r:?}");
    }
    let e = tls_get(port, ca_pem, "example.com", Svc::Gismt.key_path())
        .expect_err("a name the certificate does not carry is refused");
    assert!(e.to_string().contains("certificate"), "{e}");
}
