//! The signing certificate understood: read from every signature, checked before anything is
//! sent (an expired one sends nothing; a profile `inn` the certificate does not hold is a Warn
//! naming both, or with `strict_inn` an error), its coming expiry logged (Error within 7 days),
//! and kept with the token: `suz_client_status` and `suz status --json` show it, from the
//! process that fetched and from another one reading the store.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use suz_auth::*;
use suz_emulator::Emulator;

use crate::common::*;
use crate::lifecycle::{temp_dir, token_get};

/// `YYYYMMDDHHMMSSZ`, `days` from now.
fn openssl_date(days: i64) -> String {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + days * 86_400;
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{at}"), "+%Y%m%d%H%M%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A GOST certificate and key in `dir`, valid from `from` to `until` days from now, for the
/// organisation `inn` (ИНН ЮЛ) with an ОГРН and a СНИЛС: made with `openssl ca`, which can set
/// the dates.
fn certificate(dir: &Path, from: i64, until: i64, inn: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "1001\n").unwrap();
    std::fs::write(
        dir.join("ca.cnf"),
        format!(
            "oid_section = new_oids\n[new_oids]\nINNLE = 1.2.643.100.4\n\
             [ca]\ndefault_ca = ca1\n[ca1]\ndatabase = index.txt\nserial = serial\n\
             new_certs_dir = .\ndefault_md = md_gost12_256\npolicy = any\nunique_subject = no\n\
             [any]\ncommonName = supplied\n\
             [req]\ndistinguished_name = dn\nprompt = no\nutf8 = yes\nstring_mask = utf8only\n\
             [dn]\nCN = ООО Тест\nO = ООО Тест\nINNLE = {inn}\nOGRN = 1027700132195\n\
             SNILS = 12345678901\n"
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-new",
        "-engine",
        "gost",
        "-newkey",
        "gost2012_256",
        "-pkeyopt",
        "paramset:A",
        "-nodes",
        "-config",
        "ca.cnf",
        "-keyout",
        "key.pem",
        "-out",
        "req.pem",
    ]);
    run(&[
        "ca",
        "-batch",
        "-engine",
        "gost",
        "-config",
        "ca.cnf",
        "-selfsign",
        "-keyfile",
        "key.pem",
        "-in",
        "req.pem",
        "-out",
        "cert.pem",
        "-preserveDN",
        "-startdate",
        &openssl_date(from),
        "-enddate",
        &openssl_date(until),
    ]);
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// A `trueapi_token` profile `own` signing with `cert`/`key` (command signer), for `inn`.
fn config(
    emu: &Emulator,
    cache: &Path,
    cert: &Path,
    key: &Path,
    inn: &str,
    strict: bool,
) -> String {
    let sign = |attached: bool| {
        let mut argv = vec![
            "openssl",
            "cms",
            "-sign",
            "-engine",
            "gost",
            "-binary",
            "-outform",
            "DER",
            "-signer",
            cert.to_str().unwrap(),
            "-inkey",
            key.to_str().unwrap(),
        ];
        if attached {
            argv.push("-nodetach");
        }
        serde_json::to_string(&argv).unwrap()
    };
    format!(
        r#"{{"stand": "emulator", "emulator_url": "{}", "cache": {{"dir": {:?}}},
            "profiles": {{"own": {{"flow": "trueapi_token", "certificate": "c", "inn": "{inn}",
              "strict_inn": {strict},
              "signer": {{"command": {{"attached": {}, "detached": {}}}}}}}}}}}"#,
        emu.base_url(),
        cache.display().to_string(),
        sign(true),
        sign(false)
    )
}

fn requests(emu: &Emulator, endpoint: &str) -> u64 {
    stats(emu)["requests"][endpoint].as_u64().unwrap_or(0)
}

fn status(client: &TestClient) -> Value {
    let mut out = std::ptr::null_mut();
    let rc = unsafe { suz_client_status(client.0, &mut out) };
    assert_eq!(rc, SuzResult::Ok, "{}", last_message());
    let json = text(out);
    unsafe { suz_string_free(out) };
    serde_json::from_str(&json).unwrap()
}

#[test]
fn an_expired_certificate_sends_nothing() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("cert-expired");
    let (cert, key) = certificate(&dir.join("pki"), -400, -30, "7707083893");
    let client = TestClient::new(&config(&emu, &dir, &cert, &key, "7707083893", false));
    assert_eq!(
        token_get(&client, "own").err(),
        Some(SuzResult::SignerFailed)
    );
    let message = last_message();
    assert!(
        message.contains("expired on") && message.contains("nothing was sent"),
        "{message}"
    );
    assert!(message.contains("ООО Тест"), "{message}");
    assert_eq!(
        requests(&emu, "trueapi.sign_in"),
        0,
        "no signed request reached the server"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_certificate_expiring_in_five_days_is_an_error_in_the_log_and_kept_with_the_token() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("cert-5-days");
    let (cert, key) = certificate(&dir.join("pki"), -1, 5, "7707083893");
    let json = config(&emu, &dir, &cert, &key, "7707083893", true);
    let client = TestClient::new(&json);
    let (token, log) = capture_log(|| token_get(&client, "own"));
    let token = token.unwrap_or_else(|_| panic!("{}", last_message()));
    assert!(
        log.lines().any(|l| l.starts_with("Error ")
            && l.contains("expires on")
            && l.contains("days left")
            && l.contains("ИНН ЮЛ 7707083893")),
        "{log}"
    );
    // The status shows the certificate with the token, here and in another process.
    for status in [status(&client), {
        let file = dir.join("config.json");
        std::fs::write(&file, &json).unwrap();
        let out = Command::new(suz_cli())
            .args(["--config", file.to_str().unwrap(), "--json", "status"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }] {
        let own = &status["profiles"][0];
        assert_eq!(own["profile"], "own");
        assert_eq!(own["flow"], "trueapi_token");
        assert_eq!(own["token"]["expires_at_ms"], token.expires_at_ms());
        assert!(
            !status.to_string().contains(&token.value()),
            "the value never appears"
        );
        let c = &own["certificate"];
        assert_eq!(c["inn_le"], "7707083893", "{status}");
        assert_eq!(c["ogrn"], "1027700132195");
        assert_eq!(c["snils"], "12345678901");
        assert_eq!(c["subject"], "ООО Тест");
        assert!(matches!(c["days_left"].as_i64(), Some(4 | 5)), "{c}");
        assert_eq!(c["thumbprint"].as_str().unwrap().len(), 40);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn another_organisations_inn_is_a_warning_or_with_strict_inn_an_error() {
    needs_gost!();
    let emu = emulator();
    let dir = temp_dir("cert-inn");
    let (cert, key) = certificate(&dir.join("pki"), -1, 365, "7707083893");
    // Warned, naming both, and sent (under a power of attorney this is legitimate; the
    // emulator, which knows no МЧД, refuses it).
    let client = TestClient::new(&config(&emu, &dir, &cert, &key, "5003052454", false));
    let (result, log) = capture_log(|| token_get(&client, "own"));
    assert_eq!(result.err(), Some(SuzResult::Unauthorized));
    assert!(
        log.lines().any(|l| l.starts_with("Warn ")
            && l.contains("inn 5003052454")
            && l.contains("ИНН ЮЛ 7707083893")),
        "{log}"
    );
    assert_eq!(requests(&emu, "trueapi.sign_in"), 1);
    // `strict_inn`: refused before sending.
    let strict = TestClient::new(&config(
        &emu,
        &dir.join("strict"),
        &cert,
        &key,
        "5003052454",
        true,
    ));
    assert_eq!(
        token_get(&strict, "own").err(),
        Some(SuzResult::SignerFailed)
    );
    assert!(last_message().contains("strict_inn"), "{}", last_message());
    assert_eq!(
        requests(&emu, "trueapi.sign_in"),
        1,
        "nothing more was sent"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
