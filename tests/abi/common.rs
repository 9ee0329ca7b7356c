//! Test support: a GOST key and certificate made with OpenSSL's GOST engine, a signing callback
//! that signs with them through `openssl cms`, the emulator, and thin safe calls into the C ABI.
#![allow(dead_code)]

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::PathBuf;
use std::process::Command;
use std::ptr;
use std::sync::OnceLock;

use serde_json::Value;
use suz_auth::*;
use suz_emulator::{Emulator, EmulatorConfig};

#[allow(unused_imports)]
pub use suz_emulator::{
    DEFAULT_OMS_CONNECTION, DEFAULT_OMS_ID, DEMO_REGISTRATION_KEY, MDLP_CLIENT_ID,
    MDLP_CLIENT_SECRET, MDLP_PASSWORD, MDLP_PASSWORD_USER, PHARMA_REGISTRATION_KEY,
    SMARTMARKET_CLIENT_ID, SMARTMARKET_CLIENT_SECRET,
};

pub struct Gost {
    pub dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One GOST R 34.10-2012 (256-bit) key and self-signed certificate per test process.
pub fn gost() -> &'static Gost {
    static GOST: OnceLock<Gost> = OnceLock::new();
    GOST.get_or_init(|| {
        assert!(
            suz_emulator::gost_available(),
            "OpenSSL's GOST engine is missing: install libengine-gost-openssl (the README's test command does)"
        );
        let dir = std::env::temp_dir().join(format!("suz-auth-test-gost-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        let status = Command::new("openssl")
            .args(["req", "-x509", "-engine", "gost", "-newkey", "gost2012_256"])
            .args(["-pkeyopt", "paramset:A", "-nodes", "-days", "30"])
            // The MDLP user_id the tests send: MDLP checks it against the signer's serial.
            .args(["-set_serial", "1865725612"])
            .args(["-subj", "/CN=suz-auth test/O=Test LLC"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl runs");
        assert!(status.status.success(), "openssl req: {}", String::from_utf8_lossy(&status.stderr));
        Gost { dir, cert, key }
    })
}

/// Signs with the test GOST key through `openssl cms`; returns DER.
pub fn openssl_sign(data: &[u8], attached: bool) -> Vec<u8> {
    openssl_sign_as(data, attached, false)
}

/// [`openssl_sign`]; with `ber`, OpenSSL's streaming form: BER with indefinite lengths.
pub fn openssl_sign_as(data: &[u8], attached: bool, ber: bool) -> Vec<u8> {
    let g = gost();
    let input = g.dir.join(format!("in-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&input, data).unwrap();
    let mut cmd = Command::new("openssl");
    cmd.args([
        "cms", "-sign", "-engine", "gost", "-binary", "-outform", "DER",
    ])
    .arg("-signer")
    .arg(&g.cert)
    .arg("-inkey")
    .arg(&g.key)
    .arg("-in")
    .arg(&input);
    if attached {
        cmd.arg("-nodetach");
    }
    if ber {
        cmd.arg("-stream");
    }
    let out = cmd.output().expect("openssl runs");
    let _ = std::fs::remove_file(&input);
    assert!(
        out.status.success(),
        "openssl cms: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The DER inside a one-block PEM file.
pub fn pem_body(path: &std::path::Path) -> Vec<u8> {
    use base64::Engine;
    let pem = std::fs::read_to_string(path).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// What the test signing callback does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignMode {
    /// Sign as asked and write DER.
    Correct,
    /// Sign as asked and write base64 with CR/LF every 64 characters, as CryptoPro does.
    Base64Lines,
    /// Make the other kind of signature than the one asked for.
    WrongKind,
    /// Always detached, whatever is asked (as 1C's crypto signs), in DER.
    Detached,
    /// Always detached, base64 with CR/LF every 64 characters (1C's `Base64Строка`).
    DetachedBase64Lines,
    /// Always detached, BER with indefinite lengths (OpenSSL's `-stream`).
    DetachedBer,
    /// Always attached, in DER.
    Attached,
    /// Detached, over other bytes than the ones given: the library cannot tell (it has no
    /// GOST digest), so the server refuses it.
    DetachedOtherContent,
    /// Sign other bytes than the ones given.
    OtherContent,
    /// Return a failure status with a reason.
    Fail,
    /// Return success with bytes that are no signature.
    Garbage,
    /// The host's code throws inside the callback; the callback catches it, as the header
    /// requires, and reports it through the sink.
    Throws,
    /// Return the signer's certificate (PEM) instead of a signature.
    Certificate,
    /// Return the signer's certificate as DER instead of a signature.
    CertificateDer,
    /// Return the signer's private key (the PKCS#8 PEM file) instead of a signature.
    PrivateKey,
}

pub struct SignerState {
    pub mode: SignMode,
    pub calls: std::sync::atomic::AtomicUsize,
}

pub unsafe extern "C" fn sign_callback(
    userdata: *mut c_void,
    data: *const u8,
    len: usize,
    kind: SuzSignatureKind,
    sink: *mut SuzSignatureSink,
) -> i32 {
    let state = &*(userdata as *const SignerState);
    state
        .calls
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let data = std::slice::from_raw_parts(data, len);
    let attached = kind == SuzSignatureKind::Attached;
    let output = match state.mode {
        SignMode::Correct => openssl_sign(data, attached),
        SignMode::Base64Lines => {
            use base64::Engine;
            let b64 =
                base64::engine::general_purpose::STANDARD.encode(openssl_sign(data, attached));
            b64.as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join("\r\n")
                .into_bytes()
        }
        SignMode::WrongKind => openssl_sign(data, !attached),
        SignMode::Detached => openssl_sign(data, false),
        SignMode::DetachedBase64Lines => {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(openssl_sign(data, false));
            b64.as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join("\r\n")
                .into_bytes()
        }
        SignMode::DetachedBer => openssl_sign_as(data, false, true),
        SignMode::Attached => openssl_sign(data, true),
        SignMode::DetachedOtherContent => openssl_sign(b"some other content", false),
        SignMode::OtherContent => openssl_sign(b"some other content", attached),
        SignMode::Fail => {
            let why = CString::new("token PIN was not entered").unwrap();
            suz_signature_sink_fail(sink, why.as_ptr());
            return 7;
        }
        SignMode::Garbage => b"this is not a signature".to_vec(),
        SignMode::Certificate => std::fs::read(&gost().cert).unwrap(),
        SignMode::CertificateDer => pem_body(&gost().cert),
        SignMode::PrivateKey => std::fs::read(&gost().key).unwrap(),
        SignMode::Throws => {
            let thrown = std::panic::catch_unwind(|| -> Vec<u8> {
                panic!("CryptoPro: the certificate's private key is not available")
            });
            let why = thrown
                .err()
                .and_then(|p| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let why = CString::new(format!("the host's signer threw: {why}")).unwrap();
            suz_signature_sink_fail(sink, why.as_ptr());
            return -1;
        }
    };
    suz_signature_sink_write(sink, output.as_ptr(), output.len()) as i32
}

unsafe extern "C" fn free_state(userdata: *mut c_void) {
    drop(Box::from_raw(userdata as *mut SignerState));
}

/// A callback signer owning its state; freed on drop (which calls `free_state`).
pub struct TestSigner(pub *mut SuzSigner);

impl TestSigner {
    pub fn new(mode: SignMode) -> TestSigner {
        let state = Box::into_raw(Box::new(SignerState {
            mode,
            calls: Default::default(),
        }));
        let mut out = ptr::null_mut();
        let rc = unsafe {
            suz_signer_new_callback(
                Some(sign_callback),
                state.cast(),
                Some(free_state),
                &mut out,
            )
        };
        assert_eq!(rc, SuzResult::Ok);
        TestSigner(out)
    }
}

impl Drop for TestSigner {
    fn drop(&mut self) {
        unsafe { suz_signer_free(self.0) };
    }
}

pub fn start_emulator(config: EmulatorConfig) -> Emulator {
    // Signature checks are GOST-only (the emulator's default) wherever the engine exists
    // (always under scripts/test.sh); elsewhere the EC test keys need `allow_rsa`.
    Emulator::start(EmulatorConfig {
        allow_rsa: !suz_emulator::gost_available(),
        ..config
    })
    .expect("the emulator starts")
}

pub fn emulator() -> Emulator {
    start_emulator(EmulatorConfig::default())
}

/// A client handle, freed on drop.
pub struct TestClient(pub *mut SuzClient);

impl TestClient {
    pub fn new(config_json: &str) -> TestClient {
        let json = CString::new(config_json).unwrap();
        let mut out = ptr::null_mut();
        let rc = unsafe { suz_client_new(json.as_ptr(), &mut out) };
        assert_eq!(rc, SuzResult::Ok, "suz_client_new: {}", last_message());
        TestClient(out)
    }

    pub fn for_emulator(emu: &Emulator) -> TestClient {
        Self::with_extra(emu, "")
    }

    /// `extra` is more JSON members, starting with a comma.
    pub fn with_extra(emu: &Emulator, extra: &str) -> TestClient {
        TestClient::new(&format!(
            r#"{{"stand":"emulator","emulator_url":"{}","timeouts":{{"connect_ms":2000,"total_ms":10000}}{extra}}}"#,
            emu.base_url()
        ))
    }
}

// The library documents SuzClient as safe to use from many threads at once.
unsafe impl Send for TestClient {}
unsafe impl Sync for TestClient {}

impl Drop for TestClient {
    fn drop(&mut self) {
        unsafe { suz_client_free(self.0) };
    }
}

pub fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

pub fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

pub fn last_message() -> String {
    text(suz_last_error_message())
}

/// A token handle with its value read out; freed on drop.
pub struct OwnedToken(pub *mut SuzToken);

impl OwnedToken {
    pub fn value(&self) -> String {
        text(unsafe { suz_token_value(self.0) })
    }
    pub fn expires_at_ms(&self) -> i64 {
        unsafe { suz_token_expires_at_ms(self.0) }
    }
    pub fn obtained_at_ms(&self) -> i64 {
        unsafe { suz_token_obtained_at_ms(self.0) }
    }
    pub fn flow(&self) -> u32 {
        unsafe { suz_token_flow(self.0) }
    }
}

impl std::fmt::Debug for OwnedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OwnedToken(flow {}, expires {})",
            self.flow(),
            self.expires_at_ms()
        )
    }
}

impl Drop for OwnedToken {
    fn drop(&mut self) {
        unsafe { suz_token_free(self.0) };
    }
}

pub fn token_result(rc: SuzResult, out: *mut SuzToken) -> Result<OwnedToken, SuzResult> {
    if rc == SuzResult::Ok {
        assert!(!out.is_null());
        Ok(OwnedToken(out))
    } else {
        assert!(out.is_null(), "an out-parameter was written on failure");
        Err(rc)
    }
}

pub fn gismt(
    client: &TestClient,
    connection: &str,
    signer: *const SuzSigner,
) -> Result<OwnedToken, SuzResult> {
    let conn = c(connection);
    let mut out = ptr::null_mut();
    let rc = unsafe { suz_get_token_gismt(client.0, conn.as_ptr(), signer, &mut out) };
    token_result(rc, out)
}

pub fn trueapi(
    client: &TestClient,
    connection: &str,
    inn: Option<&str>,
    signer: *const SuzSigner,
) -> Result<OwnedToken, SuzResult> {
    let conn = c(connection);
    let inn = inn.map(c);
    let mut out = ptr::null_mut();
    let rc = unsafe {
        suz_get_token_trueapi(
            client.0,
            conn.as_ptr(),
            inn.as_ref().map_or(ptr::null(), |i| i.as_ptr()),
            signer,
            &mut out,
        )
    };
    token_result(rc, out)
}

pub fn mdlp(
    client: &TestClient,
    connection: &str,
    secret: &str,
    user: &str,
    password: Option<&str>,
    signer: *const SuzSigner,
) -> Result<OwnedToken, SuzResult> {
    let (conn, id, secret, user) = (c(connection), c(MDLP_CLIENT_ID), c(secret), c(user));
    let password = password.map(c);
    let mut out = ptr::null_mut();
    let rc = unsafe {
        suz_get_token_mdlp(
            client.0,
            conn.as_ptr(),
            id.as_ptr(),
            secret.as_ptr(),
            user.as_ptr(),
            password.as_ref().map_or(ptr::null(), |p| p.as_ptr()),
            signer,
            &mut out,
        )
    };
    token_result(rc, out)
}

pub fn smartmarket(
    client: &TestClient,
    secret: &str,
    scope: Option<&str>,
) -> Result<OwnedToken, SuzResult> {
    let (id, secret) = (c(SMARTMARKET_CLIENT_ID), c(secret));
    let scope = scope.map(c);
    let mut out = ptr::null_mut();
    let rc = unsafe {
        suz_get_token_smartmarket(
            client.0,
            id.as_ptr(),
            secret.as_ptr(),
            scope.as_ref().map_or(ptr::null(), |s| s.as_ptr()),
            &mut out,
        )
    };
    token_result(rc, out)
}

pub fn register(
    client: &TestClient,
    key: &str,
    address: &str,
    pharma: bool,
    signer: *const SuzSigner,
) -> Result<String, SuzResult> {
    register_in(client, DEFAULT_OMS_ID, key, address, pharma, signer)
}

/// `suz_register_connection` for any omsId; the new omsConnection, or the result code.
pub fn register_in(
    client: &TestClient,
    oms_id: &str,
    key: &str,
    address: &str,
    pharma: bool,
    signer: *const SuzSigner,
) -> Result<String, SuzResult> {
    let (oms, key, address) = (c(oms_id), c(key), c(address));
    let mut out: *mut c_char = ptr::null_mut();
    let rc = unsafe {
        suz_register_connection(
            client.0,
            oms.as_ptr(),
            key.as_ptr(),
            address.as_ptr(),
            pharma,
            signer,
            &mut out,
        )
    };
    if rc != SuzResult::Ok {
        assert!(out.is_null());
        return Err(rc);
    }
    let value = text(out);
    unsafe { suz_string_free(out) };
    Ok(value)
}

/// An HTTP exchange with the emulator (admin API, the protected endpoint), through ureq.
pub fn http(
    emu: &Emulator,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    let agent = AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
    });
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{}{path}", emu.port()))
        .header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = if body.is_empty() {
        agent.run(request.body(()).unwrap())
    } else {
        agent.run(request.body(body.as_bytes().to_vec()).unwrap())
    };
    let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, body)
}

/// Whether a test that needs `tool` can run. Without it the test is skipped with a printed
/// reason, unless `SUZ_AUTH_REQUIRE_ALL=1` (set by `scripts/test.sh`) makes that a failure.
pub fn have(tool: &str, available: bool, install: &str) -> bool {
    let required = std::env::var("SUZ_AUTH_REQUIRE_ALL").is_ok_and(|v| v == "1");
    tool_check(tool, available, install, required)
}

/// [`have`] with the requirement given: true when available; when not, false with the reason
/// printed, or a failure when `required`.
pub fn tool_check(tool: &str, available: bool, install: &str, required: bool) -> bool {
    if available {
        return true;
    }
    assert!(
        !required,
        "{tool} is missing: {install} (SUZ_AUTH_REQUIRE_ALL=1 requires it)"
    );
    eprintln!("{}", skip_reason(tool, install));
    false
}

pub fn skip_reason(tool: &str, install: &str) -> String {
    format!("skipped: {tool} is missing ({install})")
}

pub fn have_gost() -> bool {
    static GOST: OnceLock<bool> = OnceLock::new();
    let available = *GOST.get_or_init(suz_emulator::gost_available);
    have(
        "OpenSSL's GOST engine",
        available,
        "apt-get install libengine-gost-openssl",
    )
}

pub fn have_redis() -> bool {
    let available = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    have("redis-server", available, "apt-get install redis-server")
}

/// Returns from the test, with a printed reason, when the GOST engine is missing.
macro_rules! needs_gost {
    () => {
        if !$crate::common::have_gost() {
            return;
        }
    };
}

/// Returns from the test, with a printed reason, when `redis-server` is missing.
macro_rules! needs_redis {
    () => {
        if !$crate::common::have_redis() {
            return;
        }
    };
}

/// Calls the emulator's protected SUZ endpoint with a `clientToken`; returns the HTTP status.
pub fn ping(emu: &Emulator, token: &str) -> u16 {
    let path = format!("/suz/api/v2/pharma/ping?omsId={DEFAULT_OMS_ID}");
    http(emu, "GET", &path, &[("clientToken", token)], "").0
}

pub fn fault(emu: &Emulator, fault_json: &str) {
    let json = [("Content-Type", "application/json")];
    let (status, body) = http(emu, "POST", "/admin/faults", &json, fault_json);
    assert!(
        (200..300).contains(&status),
        "fault not accepted: {status} {body}"
    );
}

pub fn settings(emu: &Emulator, json: &str) {
    let ct = [("Content-Type", "application/json")];
    let (status, body) = http(emu, "POST", "/admin/settings", &ct, json);
    assert!(
        (200..300).contains(&status),
        "settings not accepted: {status} {body}"
    );
}

pub fn stats(emu: &Emulator) -> Value {
    emu.stats()
}

/// Tokens the emulator issued for a connection: 0 when it issued none (the connection is then
/// absent from `tokens_issued`, which itself must exist).
pub fn tokens_issued(emu: &Emulator, connection: &str) -> u64 {
    let stats = stats(emu);
    let issued = stats["tokens_issued"]
        .as_object()
        .unwrap_or_else(|| panic!("no tokens_issued in the emulator's stats: {stats}"));
    issued
        .get(&connection.to_ascii_lowercase())
        .map_or(0, |n| n.as_u64().expect("a count"))
}

/// The `suz` command-line tool of this workspace, as cargo built it with the workspace (`cargo
/// test --workspace`, `cargo nextest run --workspace`; `scripts/test.sh` builds it first). It
/// is another package's binary, so a test of this package alone finds it only once built; a
/// test never runs cargo itself.
pub fn suz_cli() -> &'static std::path::Path {
    static CLI: OnceLock<PathBuf> = OnceLock::new();
    CLI.get_or_init(|| {
        // target/<profile>/deps/abi-<hash> -> target/<profile>/suz
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().and_then(|d| d.parent()).unwrap();
        let cli = dir.join(format!("suz{}", std::env::consts::EXE_SUFFIX));
        assert!(
            cli.exists(),
            "{} is missing: build the workspace (`cargo build --workspace`, or run the tests with --workspace)",
            cli.display()
        );
        cli
    })
}

/// A counter from the emulator's `/admin/stats`, e.g. `counter(&emu, &["requests", "suz.ping"])`.
/// A missing key fails the test, so a misspelt name cannot pass as a zero.
pub fn counter(emu: &Emulator, path: &[&str]) -> u64 {
    let stats = stats(emu);
    let mut value = &stats;
    for key in path {
        value = value
            .get(key)
            .unwrap_or_else(|| panic!("no {path:?} in the emulator's stats: {stats}"));
    }
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{path:?} is not a count: {value}"))
}

/// `suz_request` through the C ABI: the status, the body as text and the Content-Type.
pub fn request(
    client: &TestClient,
    profile: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String, String) {
    let (p, m, path) = (c(profile), c(method), c(path));
    let body = body.map(c);
    let mut response = ptr::null_mut();
    let rc = unsafe {
        suz_request(
            client.0,
            p.as_ptr(),
            m.as_ptr(),
            path.as_ptr(),
            body.as_ref().map_or(ptr::null(), |b| b.as_ptr()),
            &mut response,
        )
    };
    assert_eq!(rc, SuzResult::Ok, "{}", last_message());
    let status = unsafe { suz_response_status(response) };
    let (mut bytes, mut len) = (ptr::null(), 0usize);
    assert_eq!(
        unsafe { suz_response_body(response, &mut bytes, &mut len) },
        SuzResult::Ok
    );
    let text =
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(bytes, len) }).into_owned();
    let content_type =
        text_or_empty(unsafe { suz_response_header(response, c("content-type").as_ptr()) });
    unsafe { suz_response_free(response) };
    (status, text, content_type)
}

fn text_or_empty(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        text(p)
    }
}

/// The lines the log callback received while `capture_log` runs.
pub static LOG_LINES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
/// Serialises the tests that install the (process-wide) log callback.
static LOG_CAPTURE: std::sync::Mutex<()> = std::sync::Mutex::new(());

unsafe extern "C" fn collect_log(
    _userdata: *mut c_void,
    level: SuzLogLevel,
    message: *const c_char,
) {
    LOG_LINES
        .lock()
        .unwrap()
        .push(format!("{level:?} {}", text(message)));
}

/// Runs `f` with the library's log going to a buffer (every level); returns what `f` returned
/// and the log, one line per message as `Level message`. Other tests' messages may appear too.
pub fn capture_log<R>(f: impl FnOnce() -> R) -> (R, String) {
    let _one_at_a_time = LOG_CAPTURE.lock().unwrap_or_else(|e| e.into_inner());
    LOG_LINES.lock().unwrap().clear();
    let rc = unsafe {
        suz_set_log_callback(
            Some(collect_log),
            ptr::null_mut(),
            SuzLogLevel::Debug as u32,
        )
    };
    assert_eq!(rc, SuzResult::Ok);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    unsafe { suz_set_log_callback(None, ptr::null_mut(), SuzLogLevel::Error as u32) };
    let log = std::mem::take(&mut *LOG_LINES.lock().unwrap()).join("\n");
    match result {
        Ok(r) => (r, log),
        Err(panic) => {
            eprintln!("log while the test ran:\n{log}");
            std::panic::resume_unwind(panic)
        }
    }
}

/// Every form a secret takes on the wire and in text: raw, JSON-escaped, and base64 of the
/// Basic `id:secret` pair when `basic_id` is given.
pub fn secret_forms(secret: &str, basic_id: Option<&str>) -> Vec<String> {
    use base64::Engine;
    let mut forms = vec![secret.to_owned()];
    let json = serde_json::to_string(secret).unwrap();
    forms.push(json.trim_matches('"').to_owned());
    if let Some(id) = basic_id {
        forms.push(base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")));
    }
    forms
}

/// Fails, naming the form and the place, if any form of a secret occurs in `text`.
pub fn assert_no_secret(text: &str, forms: &[String], place: &str) {
    for form in forms {
        assert!(
            !text.contains(form.as_str()),
            "a secret ({form}) appears in {place}:\n{text}"
        );
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The bytes a pending operation asks to have signed.
pub fn pending_data(pending: *mut SuzPending) -> Vec<u8> {
    let mut data: *const u8 = ptr::null();
    let mut len = 0usize;
    assert_eq!(
        unsafe { suz_pending_data(pending, &mut data, &mut len) },
        SuzResult::Ok
    );
    unsafe { std::slice::from_raw_parts(data, len) }.to_vec()
}

/// `suz_pending_export`, as a string.
pub fn export_pending(pending: *mut SuzPending) -> String {
    let mut out: *mut c_char = ptr::null_mut();
    assert_eq!(
        unsafe { suz_pending_export(pending, &mut out) },
        SuzResult::Ok
    );
    let s = text(out);
    unsafe { suz_string_free(out) };
    s
}

/// `suz_pending_import`; on failure the out-parameter stays NULL.
pub fn import_pending(client: &TestClient, state: &str) -> Result<*mut SuzPending, SuzResult> {
    let state = c(state);
    let mut out = ptr::null_mut();
    match unsafe { suz_pending_import(client.0, state.as_ptr(), &mut out) } {
        SuzResult::Ok => Ok(out),
        rc => {
            assert!(out.is_null());
            Err(rc)
        }
    }
}

/// Waits (at most 20 s) until a request to `endpoint` has reached the emulator: it is counted
/// when it arrives, before any delay a fault adds.
pub fn wait_for_request(emu: &Emulator, endpoint: &str) {
    let started = std::time::Instant::now();
    while stats(emu)["requests"][endpoint].as_u64().unwrap_or(0) < 1 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no {endpoint} request came"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The token a finished `suz token …` process printed, after checking it succeeded.
pub fn token_of(child: std::process::Child) -> String {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
